//! Creating jobs as a client does: the contract's defaults, every field rule, and
//! another user's job kept out of reach.

use serde_json::{Value, json};
use testkit::TestEnv;
use testkit::accounts::error_code;
use testkit::job_api::{UPDATE, create, delete, job_input, user};

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
    let server = testkit::Cronops::start_server("api", vars, env.workdir.path()).await;
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
