//! The jobs and plans API as a client uses it.

use std::collections::HashSet;
use std::time::Duration;

use e2e::accounts::{LoggedIn, error_code};
use e2e::{Api, TestEnv, poll_until};
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CreateJobInput!) { createJob(input: $input) { id name cronExpression timezone targetType targetUrl httpMethod headers body timeout maxRetries status nextRunAt lastRunAt lastStatus createdAt updatedAt owner { id email } logs(first: 5) { totalCount edges { node { id } } } } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateJobInput!) { updateJob(id: $id, input: $input) { id name description cronExpression timezone headers body status nextRunAt timeout maxRetries } }";
const SET_PLAN: &str = "mutation($plan: Plan!) { updatePlan(plan: $plan) { plan } }";

async fn user(env: &TestEnv, api: &Api, name: &str) -> LoggedIn {
    api.signup_verified(&env.mail, &format!("{name}@example.com"), "Password123!")
        .await
}

async fn create(api: &Api, who: &LoggedIn, input: Value) -> Value {
    api.graphql(CREATE, json!({ "input": input }), Some(&who.access_token))
        .await
}

async fn delete(api: &Api, who: &LoggedIn, id: &Value) -> Value {
    api.graphql(
        "mutation($id: ID!) { deleteJob(id: $id) }",
        json!({ "id": id }),
        Some(&who.access_token),
    )
    .await
}

fn job_input(env: &TestEnv, name: &str) -> Value {
    json!({"name": name, "cronExpression": "*/5 * * * *", "targetUrl": env.target.url("/hook")})
}

#[tokio::test]
async fn create_applies_the_contract_defaults_and_schedules() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "ada").await;
    let response = create(api, &ada, job_input(&env, "  Backup  ")).await;
    let job = &response["data"]["createJob"];
    assert_eq!(job["name"], "Backup", "{response}");
    assert_eq!(job["timezone"], "UTC");
    assert_eq!(job["targetType"], "HTTP");
    assert_eq!(job["httpMethod"], "GET");
    assert_eq!(job["timeout"], 10000);
    assert_eq!(job["maxRetries"], 0);
    assert_eq!(job["status"], "ACTIVE");
    assert_eq!(job["owner"]["email"], "ada@example.com");
    assert_eq!(job["logs"]["totalCount"], 0);
    assert!(job["headers"].is_null() && job["body"].is_null() && job["lastRunAt"].is_null());
    let next: chrono::DateTime<chrono::Utc> = job["nextRunAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(next.timestamp() % 300, 0, "the next */5 minute: {next}");

    let keys = scheduler::Keys::new(&env.key_prefix);
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let id: uuid::Uuid = job["id"].as_str().unwrap().parse().unwrap();
    let owner: uuid::Uuid = ada.user_id.parse().unwrap();
    let score = scheduler::queue::scores(&redis, &keys, &[(owner, id)])
        .await
        .unwrap()[0];
    assert_eq!(
        score,
        Some(next.timestamp_millis() as f64),
        "in its owner's schedule at nextRunAt"
    );
    let plan: Option<String> =
        fred::prelude::HashesInterface::hget(redis.next(), keys.plans(), owner.to_string())
            .await
            .unwrap();
    assert_eq!(
        plan.as_deref(),
        Some("FREE"),
        "the owner's plan, for its concurrency"
    );
}

#[tokio::test]
async fn every_field_rule_has_its_error() {
    let env = TestEnv::new().await;
    let mut vars = env.vars();
    vars.retain(|(k, _)| k != "ALLOW_PRIVATE_TARGETS");
    let server = e2e::Cronops::start_server("api", vars, env.workdir.path()).await;
    let api = server.api();
    let ada = user(&env, api, "rules").await;
    let base = json!({"name": "ok", "cronExpression": "*/5 * * * *", "targetUrl": "https://example.com/hook"});
    let ok = create(api, &ada, base.clone()).await;
    assert!(ok["errors"].is_null(), "{ok}");
    let with = |patch: Value| {
        let mut input = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            input[k] = v.clone();
        }
        input
    };
    let long_header = "x".repeat(9000);
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"cronExpression": "* * *"}), "cronExpression"),
        (json!({"cronExpression": "61 * * * *"}), "cronExpression"),
        (json!({"cronExpression": "* * * * *"}), "cronExpression"), // every minute is fine on FREE...
        (
            json!({"cronExpression": "*/10 * * * * *"}),
            "cronExpression",
        ), // ...every 10 s is not
        (json!({"timezone": "Mars/Base"}), "timezone"),
        (json!({"targetUrl": "not a url"}), "targetUrl"),
        (json!({"targetUrl": "ftp://example.com/"}), "targetUrl"),
        (
            json!({"targetUrl": "https://user:pw@example.com/"}),
            "targetUrl",
        ),
        (
            json!({"targetUrl": format!("https://example.com/{}", "a".repeat(2100))}),
            "targetUrl",
        ),
        (json!({"targetUrl": "http://127.0.0.1:8080/"}), "targetUrl"),
        (json!({"targetUrl": "http://[::1]/"}), "targetUrl"),
        (
            json!({"targetUrl": "http://169.254.169.254/latest"}),
            "targetUrl",
        ),
        (json!({"headers": ["a"]}), "headers"),
        (json!({"headers": {"x-a": 1}}), "headers"),
        (json!({"headers": {"Host": "evil"}}), "headers"),
        (
            json!({"headers": {"Transfer-Encoding": "chunked"}}),
            "headers",
        ),
        (json!({"headers": {"bad header": "x"}}), "headers"),
        (json!({"headers": {"x-big": long_header}}), "headers"),
        (
            json!({"headers": (0..51).map(|i| (format!("x-{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
            "headers",
        ),
        (json!({"body": "x"}), "body"), // GET with a body
        (
            json!({"httpMethod": "POST", "body": "x".repeat(64 * 1024 + 1)}),
            "body",
        ),
        (json!({"timeout": 0}), "timeout"),
        (json!({"timeout": 30001}), "timeout"),
        (json!({"maxRetries": -1}), "maxRetries"),
        (json!({"maxRetries": 4}), "maxRetries"),
    ];
    for (patch, field) in cases {
        let input = with(patch.clone());
        let response = create(api, &ada, input).await;
        if patch == json!({"cronExpression": "* * * * *"}) {
            assert!(
                response["errors"].is_null(),
                "every minute is allowed on FREE: {response}"
            );
            continue;
        }
        assert_eq!(
            error_code(&response),
            Some("BAD_USER_INPUT"),
            "{patch}: {response}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{patch}: {response}"
        );
        assert!(
            response["errors"][0]["message"].as_str().unwrap().len() > 10,
            "{patch}: a message a person can act on"
        );
    }
    // Good values at the edges.
    for patch in [
        json!({"name": "x".repeat(100)}),
        json!({"cronExpression": "@hourly", "timezone": "Europe/London"}),
        json!({"cronExpression": "0 0 L * *"}),
        json!({"httpMethod": "POST", "body": "{}", "headers": {"content-type": "application/json"}}),
        json!({"timeout": 30000, "maxRetries": 3}),
    ] {
        let response = create(api, &ada, with(patch.clone())).await;
        assert!(response["errors"].is_null(), "{patch}: {response}");
        // FREE holds 5 jobs: make room so every good value is checked.
        let deleted = delete(api, &ada, &response["data"]["createJob"]["id"]).await;
        assert_eq!(deleted["data"]["deleteJob"], true, "{deleted}");
    }
}

#[tokio::test]
async fn another_users_job_is_not_found_everywhere() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let a = user(&env, api, "owner").await;
    let b = user(&env, api, "other").await;
    let created = create(api, &a, job_input(&env, "mine")).await;
    let id = created["data"]["createJob"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (query, vars) in [
        ("query($id: ID!) { job(id: $id) { id } }", json!({"id": id})),
        (UPDATE, json!({"id": id, "input": {"name": "stolen"}})),
        (
            "mutation($id: ID!) { deleteJob(id: $id) }",
            json!({"id": id}),
        ),
        (
            "mutation($id: ID!) { pauseJob(id: $id) { id } }",
            json!({"id": id}),
        ),
        (
            "mutation($id: ID!) { resumeJob(id: $id) { id } }",
            json!({"id": id}),
        ),
        (
            "mutation($id: ID!) { runJob(id: $id) { id } }",
            json!({"id": id}),
        ),
    ] {
        let response = api
            .graphql(query, vars.clone(), Some(&b.access_token))
            .await;
        assert_eq!(
            error_code(&response),
            Some("NOT_FOUND"),
            "{query}: {response}"
        );
        let unknown = api
            .graphql(
                query,
                json!({"id": uuid::Uuid::new_v4(), "input": {"name": "x"}}),
                Some(&b.access_token),
            )
            .await;
        assert_eq!(
            response["errors"][0]["message"]
                .as_str()
                .unwrap()
                .replace(&id, "<id>"),
            unknown["errors"][0]["message"]
                .as_str()
                .unwrap()
                .split("with id ")
                .next()
                .unwrap()
                .to_owned()
                + "with id <id>",
            "same answer as an unknown id"
        );
    }
    let list = api
        .graphql(
            "{ jobs { totalCount edges { node { id } } } }",
            json!({}),
            Some(&b.access_token),
        )
        .await;
    assert_eq!(list["data"]["jobs"]["totalCount"], 0);
    let mine = api
        .graphql(
            "query($id: ID!) { job(id: $id) { name } }",
            json!({"id": id}),
            Some(&a.access_token),
        )
        .await;
    assert_eq!(mine["data"]["job"]["name"], "mine", "untouched by B");
    let anonymous = api
        .graphql("{ jobs { totalCount } }", json!({}), None)
        .await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn twenty_concurrent_creates_on_five_slots_make_exactly_five() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "racer").await;
    let results = futures_util::future::join_all(
        (0..20).map(|i| create(api, &ada, job_input(&env, &format!("race {i}")))),
    )
    .await;
    let created = results.iter().filter(|r| r["errors"].is_null()).count();
    let refused: Vec<_> = results
        .iter()
        .filter(|r| error_code(r) == Some("PLAN_LIMIT_REACHED"))
        .collect();
    assert_eq!(created, 5);
    assert_eq!(refused.len(), 15);
    assert!(
        refused[0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("allows 5 jobs")
    );
    let count = api
        .graphql("{ me { jobCount } }", json!({}), Some(&ada.access_token))
        .await;
    assert_eq!(count["data"]["me"]["jobCount"], 5);
}

#[tokio::test]
async fn downgrades_the_jobs_exceed_are_refused_upgrades_apply_at_once() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "planner").await;
    let every_second =
        json!({"name": "fast", "cronExpression": "* * * * * *", "targetUrl": env.target.url("/x")});
    assert_eq!(
        error_code(&create(api, &ada, every_second.clone()).await),
        Some("BAD_USER_INPUT")
    );

    let up = api
        .graphql(SET_PLAN, json!({"plan": "PRO"}), Some(&ada.access_token))
        .await;
    assert_eq!(up["data"]["updatePlan"]["plan"], "PRO");
    let fast = create(api, &ada, every_second).await;
    assert!(fast["errors"].is_null(), "PRO allows 1 s at once: {fast}");
    let mut slow = job_input(&env, "slow but long");
    slow["timeout"] = json!(90000);
    assert!(create(api, &ada, slow).await["errors"].is_null());

    let down = api
        .graphql(SET_PLAN, json!({"plan": "FREE"}), Some(&ada.access_token))
        .await;
    assert_eq!(error_code(&down), Some("PLAN_LIMIT_REACHED"), "{down}");
    let message = down["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("`fast`") && message.contains("60 s"),
        "{message}"
    );
    assert!(
        message.contains("`slow but long`") && message.contains("30000 ms"),
        "{message}"
    );
    let me = api
        .graphql("{ me { plan } }", json!({}), Some(&ada.access_token))
        .await;
    assert_eq!(me["data"]["me"]["plan"], "PRO", "nothing changed");
    let plans = api
        .graphql("{ plans { plan maxJobs } }", json!({}), None)
        .await;
    assert_eq!(
        plans["data"]["plans"][2],
        json!({"plan": "PRO", "maxJobs": 500})
    );
}

#[tokio::test]
async fn pause_resume_update_and_delete_follow_in_redis() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "switch").await;
    let created = create(api, &ada, job_input(&env, "switch")).await;
    let id = created["data"]["createJob"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uid: uuid::Uuid = id.parse().unwrap();
    let owner: uuid::Uuid = ada.user_id.parse().unwrap();
    let keys = scheduler::Keys::new(&env.key_prefix);
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let score = || async {
        scheduler::queue::scores(&redis, &keys, &[(owner, uid)])
            .await
            .unwrap()[0]
    };
    assert!(score().await.is_some());

    let paused = api
        .graphql(
            "mutation($id: ID!) { pauseJob(id: $id) { status nextRunAt } }",
            json!({"id": id}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(
        paused["data"]["pauseJob"],
        json!({"status": "PAUSED", "nextRunAt": null})
    );
    assert_eq!(score().await, None);

    let resumed = api
        .graphql(
            "mutation($id: ID!) { resumeJob(id: $id) { status nextRunAt } }",
            json!({"id": id}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(resumed["data"]["resumeJob"]["status"], "ACTIVE");
    let next: chrono::DateTime<chrono::Utc> = resumed["data"]["resumeJob"]["nextRunAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(score().await, Some(next.timestamp_millis() as f64));

    let updated = api
        .graphql(UPDATE, json!({"id": id, "input": {"cronExpression": "30 9 * * *", "timezone": "America/New_York", "description": "d", "headers": {"x-a": "b"}}}), Some(&ada.access_token))
        .await;
    let job = &updated["data"]["updateJob"];
    assert_eq!(job["cronExpression"], "30 9 * * *", "{updated}");
    assert_eq!(job["headers"], json!({"x-a": "b"}));
    let next: chrono::DateTime<chrono::Utc> = job["nextRunAt"].as_str().unwrap().parse().unwrap();
    let local = next.with_timezone(&chrono_tz::America::New_York);
    assert_eq!(local.format("%H:%M").to_string(), "09:30");
    assert_eq!(
        score().await,
        Some(next.timestamp_millis() as f64),
        "rescheduled in Redis"
    );
    let cleared = api
        .graphql(
            UPDATE,
            json!({"id": id, "input": {"description": null, "headers": null}}),
            Some(&ada.access_token),
        )
        .await;
    assert!(
        cleared["data"]["updateJob"]["description"].is_null()
            && cleared["data"]["updateJob"]["headers"].is_null(),
        "{cleared}"
    );
    assert_eq!(
        cleared["data"]["updateJob"]["cronExpression"], "30 9 * * *",
        "untouched fields stay"
    );

    let deleted = delete(api, &ada, &json!(id)).await;
    assert_eq!(deleted["data"]["deleteJob"], true);
    assert_eq!(score().await, None);
    let gone = api
        .graphql(
            "query($id: ID!) { job(id: $id) { id } }",
            json!({"id": id}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(error_code(&gone), Some("NOT_FOUND"));
}

#[tokio::test]
async fn run_job_delivers_to_the_target_while_paused() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let ada = user(&env, api, "runner").await;
    let mut input = job_input(&env, "manual");
    input["cronExpression"] = json!("0 0 1 1 *");
    input["targetUrl"] = json!(env.target.url("/run"));
    let created = create(api, &ada, input).await;
    let id = created["data"]["createJob"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.graphql(
        "mutation($id: ID!) { pauseJob(id: $id) { id } }",
        json!({"id": id}),
        Some(&ada.access_token),
    )
    .await;

    let run = api
        .graphql("mutation($id: ID!) { runJob(id: $id) { id status trigger attempt job { id status } } }", json!({"id": id}), Some(&ada.access_token))
        .await;
    let log = &run["data"]["runJob"];
    assert_eq!(log["trigger"], "MANUAL", "{run}");
    assert_eq!(log["job"]["status"], "PAUSED");
    assert!(matches!(
        log["status"].as_str(),
        Some("PENDING" | "RUNNING" | "SUCCESS")
    ));
    let hits = env
        .target
        .wait_for("/run", 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        hits[0].headers["x-cronops-execution-id"],
        log["id"].as_str().unwrap()
    );
    let job = poll_until("the run recorded on the job", Duration::from_secs(10), || async {
        let job = api.graphql("query($id: ID!) { job(id: $id) { status nextRunAt lastRunAt lastStatus logs { totalCount edges { node { status trigger startedAt } } } } }", json!({"id": id}), Some(&ada.access_token)).await;
        (job["data"]["job"]["lastStatus"] == "SUCCESS").then_some(job)
    })
    .await;
    assert_eq!(
        job["data"]["job"]["status"], "PAUSED",
        "the schedule did not move"
    );
    assert!(job["data"]["job"]["nextRunAt"].is_null());
    assert_eq!(job["data"]["job"]["logs"]["totalCount"], 1);
    let node = &job["data"]["job"]["logs"]["edges"][0]["node"];
    assert_eq!(
        (&node["status"], &node["trigger"]),
        (&json!("SUCCESS"), &json!("MANUAL"))
    );
    assert_eq!(
        job["data"]["job"]["lastRunAt"], node["startedAt"],
        "its last run is the run's start: {job}"
    );
}

#[tokio::test]
async fn pagination_is_stable_while_jobs_are_created() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "pager").await;
    api.graphql(
        SET_PLAN,
        json!({"plan": "PREMIUM"}),
        Some(&ada.access_token),
    )
    .await;
    for i in 0..25 {
        let mut input = job_input(&env, &format!("job {i:02}"));
        if i % 5 == 0 {
            input["name"] = json!(format!("Nightly Backup {i}"));
        }
        assert!(create(api, &ada, input).await["errors"].is_null());
    }
    let page = |after: Option<String>| {
        let token = ada.access_token.clone();
        async move {
            api.graphql(
                "query($after: String) { jobs(first: 10, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name } } } }",
                json!({"after": after}),
                Some(&token),
            )
            .await
        }
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let response = page(after.clone()).await;
        let jobs = &response["data"]["jobs"];
        for edge in jobs["edges"].as_array().unwrap() {
            seen.push(edge["node"]["name"].as_str().unwrap().to_owned());
        }
        // New jobs appear at the top; the pages already handed out do not shift.
        assert!(create(api, &ada, job_input(&env, "newcomer")).await["errors"].is_null());
        if jobs["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = jobs["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let originals: Vec<_> = seen.iter().filter(|n| *n != "newcomer").cloned().collect();
    assert_eq!(originals.len(), 25, "{seen:?}");
    assert_eq!(
        originals.iter().collect::<HashSet<_>>().len(),
        25,
        "no job twice"
    );
    assert_eq!(
        originals.first().map(String::as_str),
        Some("job 24"),
        "newest first"
    );

    let search = api
        .graphql(
            "{ jobs(search: \"backup\") { totalCount edges { node { name } } } }",
            json!({}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(search["data"]["jobs"]["totalCount"], 5, "{search}");
    let wildcard = api
        .graphql(
            "{ jobs(search: \"%\") { totalCount } }",
            json!({}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(
        wildcard["data"]["jobs"]["totalCount"], 0,
        "% is a character, not a wildcard"
    );
    let paused = api
        .graphql(
            "{ jobs(status: PAUSED) { totalCount } }",
            json!({}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(paused["data"]["jobs"]["totalCount"], 0);
    let capped = api
        .graphql(
            "{ jobs(first: 1000) { edges { cursor } } }",
            json!({}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(
        capped["data"]["jobs"]["edges"].as_array().unwrap().len(),
        28,
        "all fit under the cap of 100"
    );
    let bad = api
        .graphql(
            "{ jobs(after: \"garbage\") { totalCount } }",
            json!({}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "after");
}

#[tokio::test]
async fn next_runs_previews_dst_changes() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let query = "query($c: String!, $tz: String, $n: Int, $after: DateTime) { nextRuns(cronExpression: $c, timezone: $tz, count: $n, after: $after) }";
    let spring = api
        .graphql(query, json!({"c": "30 2 * * *", "tz": "America/New_York", "n": 2, "after": "2026-03-07T12:00:00Z"}), None)
        .await;
    assert_eq!(
        spring["data"]["nextRuns"],
        json!(["2026-03-08T07:00:00+00:00", "2026-03-09T06:30:00+00:00"]),
        "{spring}"
    );
    let fall = api
        .graphql(query, json!({"c": "0 30 * * * *", "tz": "Europe/London", "n": 3, "after": "2026-10-24T23:45:00Z"}), None)
        .await;
    assert_eq!(
        fall["data"]["nextRuns"],
        json!([
            "2026-10-25T00:30:00+00:00",
            "2026-10-25T01:30:00+00:00",
            "2026-10-25T02:30:00+00:00"
        ]),
        "01:30 BST and 01:30 GMT both run: {fall}"
    );
    let default = api
        .graphql("{ nextRuns(cronExpression: \"@daily\") }", json!({}), None)
        .await;
    assert_eq!(default["data"]["nextRuns"].as_array().unwrap().len(), 5);
    for (vars, field) in [
        (json!({"c": "nope", "n": 1}), "cronExpression"),
        (json!({"c": "* * * * *", "tz": "Nowhere/City"}), "timezone"),
        (json!({"c": "* * * * *", "n": 51}), "count"),
    ] {
        let response = api.graphql(query, vars, None).await;
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{response}"
        );
    }
}

#[tokio::test]
async fn run_job_is_rate_limited_per_user_by_plan() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "eager").await;
    let bob = user(&env, api, "patient").await;
    let run = |who: &LoggedIn, id: String| {
        let token = who.access_token.clone();
        async move {
            api.graphql(
                "mutation($id: ID!) { runJob(id: $id) { id status } }",
                json!({"id": id}),
                Some(&token),
            )
            .await
        }
    };
    let job_of = |response: Value| {
        response["data"]["createJob"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ada_job = job_of(create(api, &ada, job_input(&env, "mine")).await);
    let bob_job = job_of(create(api, &bob, job_input(&env, "his")).await);

    let allowed = db::Plan::Free.limits().manual_runs_per_minute;
    for i in 0..allowed {
        let ok = run(&ada, ada_job.clone()).await;
        assert_eq!(ok["data"]["runJob"]["status"], "PENDING", "run {i}: {ok}");
    }
    let refused = run(&ada, ada_job.clone()).await;
    assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
    let retry_after = refused["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{refused}");
    assert!(refused["data"].is_null() || refused["data"]["runJob"].is_null());
    // Another user's budget is untouched.
    let other = run(&bob, bob_job).await;
    assert_eq!(other["data"]["runJob"]["status"], "PENDING", "{other}");
}
