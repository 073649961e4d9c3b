//! One-time and bounded schedules: `runAt`, `startAt`, `endAt` and `maxRuns`, kept by the
//! scheduler across a loss of Redis and a restart; COMPLETED jobs, which plan limits do
//! not count; and the input rules.

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use db::{ExecutionStatus, ExecutionTrigger};
use serde_json::{Value, json};
use testkit::accounts::LoggedIn;
use testkit::{Api, TestEnv, fixtures, job_api, poll_until};
use uuid::Uuid;

const JOB: &str = "query($id: ID!) { job(id: $id) { status cronExpression runAt startAt endAt maxRuns runsLeft nextRunAt } }";
const CREATE: &str = "mutation($input: CreateJobInput!) { createJob(input: $input) { id status cronExpression runAt startAt endAt maxRuns runsLeft jitterSeconds nextRunAt } }";

async fn create(api: &Api, who: &LoggedIn, input: Value) -> Value {
    let created = api
        .graphql(CREATE, json!({ "input": input }), Some(&who.access_token))
        .await;
    assert!(created["errors"].is_null(), "{created}");
    created["data"]["createJob"].clone()
}

fn uuid_of(job: &Value) -> Uuid {
    job["id"].as_str().unwrap().parse().unwrap()
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().expect("a time").parse().expect("RFC 3339")
}

/// Every Redis key of this test's deployment deleted, as if Redis had been lost.
async fn lose_redis(env: &TestEnv) {
    use fred::prelude::*;
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let keys = scheduler::Keys::new(&env.key_prefix);
    let pattern = format!("{}*", keys.prefix());
    let _: i64 = redis
        .next()
        .eval(
            "for _, key in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', key) end return 0",
            Vec::<String>::new(),
            vec![pattern],
        )
        .await
        .unwrap();
}

async fn status_of(api: &Api, who: &LoggedIn, id: &Value) -> Value {
    let answer = api
        .graphql(JOB, json!({"id": id}), Some(&who.access_token))
        .await;
    answer["data"]["job"].clone()
}

#[tokio::test]
async fn bounded_jobs_fire_within_their_bounds_across_a_restart_and_then_complete() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ann = job_api::pro_user(&env, api, "ann").await;
    let now = Utc::now();
    let second = |s: i64| {
        (now + TimeDelta::seconds(s))
            .duration_trunc(TimeDelta::seconds(1))
            .unwrap()
    };

    // Once, 6 s from now.
    let run_at = (now + TimeDelta::milliseconds(6_250))
        .duration_trunc(TimeDelta::milliseconds(1))
        .unwrap();
    let once = create(
        api,
        &ann,
        json!({"name": "once", "runAt": run_at, "targetUrl": env.target.url("/once")}),
    )
    .await;
    assert_eq!(once["cronExpression"], "@once");
    assert_eq!(time(&once["runAt"]), run_at);
    assert_eq!(time(&once["nextRunAt"]), run_at);
    // Every second from 4 s to 10 s from now.
    let (start, end) = (second(4), second(10));
    let window = create(
        api,
        &ann,
        json!({"name": "window", "cronExpression": "* * * * * *", "startAt": start,
               "endAt": end, "targetUrl": env.target.url("/window")}),
    )
    .await;
    assert_eq!(time(&window["nextRunAt"]), start);
    // Every 2 s, 4 runs.
    let counted = create(
        api,
        &ann,
        json!({"name": "counted", "cronExpression": "*/2 * * * * *", "maxRuns": 4,
               "targetUrl": env.target.url("/counted")}),
    )
    .await;
    assert_eq!(counted["runsLeft"], 4);
    // nextRuns previews the same bounds.
    let preview = api
        .graphql(
            "query($s: DateTime, $e: DateTime) { a: nextRuns(cronExpression: \"* * * * * *\", count: 50, startAt: $s, endAt: $e) b: nextRuns(cronExpression: \"* * * * * *\", count: 50, maxRuns: 3) }",
            json!({"s": start, "e": end}),
            Some(&ann.access_token),
        )
        .await;
    let previewed = job_api::times(&preview, "/data/a");
    assert_eq!(previewed.first(), Some(&start));
    assert_eq!(previewed.last(), Some(&end));
    assert_eq!(previewed.len(), 7);
    assert_eq!(job_api::times(&preview, "/data/b").len(), 3);

    // Redis is lost before any scheduler starts: the first rebuilds the schedules from
    // PostgreSQL. It runs a while and is killed, and another takes over.
    lose_redis(&env).await;
    let mut first = env.start_scheduler();
    env.target
        .wait_for("/window", 2, Duration::from_secs(30))
        .await;
    first.kill();
    let _second = env.start_scheduler();

    let all_done = poll_until("every job to complete", Duration::from_secs(60), || async {
        let mut states = Vec::new();
        for job in [&once, &window, &counted] {
            let state = status_of(api, &ann, &job["id"]).await;
            if state["status"] != "COMPLETED" {
                return None;
            }
            states.push(state);
        }
        Some(states)
    })
    .await;
    assert!(
        all_done.iter().all(|s| s["nextRunAt"].is_null()),
        "{all_done:?}"
    );
    assert_eq!(all_done[2]["runsLeft"], 0);

    // Each fired exactly its slots, each once.
    let scheduled = |runs: Vec<db::models::ExecutionLog>| -> Vec<DateTime<Utc>> {
        let mut slots: Vec<_> = runs
            .iter()
            .filter(|r| r.trigger == ExecutionTrigger::Schedule && r.attempt == 1)
            .filter(|r| r.status != ExecutionStatus::Skipped)
            .map(|r| r.scheduled_for)
            .collect();
        slots.sort();
        slots
    };
    let runs = fixtures::runs(&env.database, uuid_of(&once)).await;
    assert_eq!(scheduled(runs), vec![run_at]);
    let runs = fixtures::runs(&env.database, uuid_of(&window)).await;
    let slots = scheduled(runs.clone());
    assert_eq!(slots, previewed, "every slot of the window once: {runs:?}");
    let runs = fixtures::runs(&env.database, uuid_of(&counted)).await;
    let slots = scheduled(runs.clone());
    assert_eq!(slots.len(), 4, "{runs:?}");
    slots
        .windows(2)
        .for_each(|w| assert!(w[0] < w[1], "{slots:?}"));
    for path in ["/once", "/window", "/counted"] {
        assert!(
            env.target.deliveries(path).values().all(|n| *n == 1),
            "{path} delivered once per run"
        );
    }
    assert_eq!(env.target.received_on("/once").len(), 1);
    assert_eq!(env.target.received_on("/counted").len(), 4);

    // A completed job cannot be paused, nor resumed while it has no run left; with a
    // higher maxRuns it resumes, makes one more run, and completes again.
    let token = Some(ann.access_token.as_str());
    let paused = api
        .graphql(
            "mutation($id: ID!) { pauseJob(id: $id) { status } }",
            json!({"id": counted["id"]}),
            token,
        )
        .await;
    assert_eq!(
        paused["errors"][0]["extensions"]["code"], "CONFLICT",
        "{paused}"
    );
    let resume = "mutation($id: ID!) { resumeJob(id: $id) { status runsLeft nextRunAt } }";
    let refused = api
        .graphql(resume, json!({"id": counted["id"]}), token)
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    let raised = api
        .graphql(
            job_api::UPDATE,
            json!({"id": counted["id"], "input": {"maxRuns": 5}}),
            token,
        )
        .await;
    assert_eq!(
        raised["data"]["updateJob"]["status"], "COMPLETED",
        "{raised}"
    );
    let resumed = api
        .graphql(resume, json!({"id": counted["id"]}), token)
        .await;
    assert_eq!(
        resumed["data"]["resumeJob"]["status"], "ACTIVE",
        "{resumed}"
    );
    assert_eq!(resumed["data"]["resumeJob"]["runsLeft"], 1);
    env.target
        .wait_for("/counted", 5, Duration::from_secs(30))
        .await;
    let state = status_of(api, &ann, &counted["id"]).await;
    assert_eq!(
        (&state["status"], &state["runsLeft"]),
        (&json!("COMPLETED"), &json!(0))
    );
}

#[tokio::test]
async fn completed_jobs_leave_room_in_the_plan_and_bad_bounds_are_refused() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    // FREE: 5 jobs at most, one run a minute at most.
    let bob = job_api::user(&env, api, "bob").await;
    let token = Some(bob.access_token.as_str());
    let once = create(
        api,
        &bob,
        json!({"name": "soon", "runAt": Utc::now() + TimeDelta::seconds(2),
               "targetUrl": env.target.url("/soon")}),
    )
    .await;
    for n in 0..4 {
        create(api, &bob, job_api::job_input(&env, &format!("job {n}"))).await;
    }
    let refused = job_api::create(api, &bob, job_api::job_input(&env, "sixth")).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "PLAN_LIMIT_REACHED",
        "{refused}"
    );
    poll_until(
        "the one-time job to complete",
        Duration::from_secs(30),
        || async {
            (status_of(api, &bob, &once["id"]).await["status"] == "COMPLETED").then_some(())
        },
    )
    .await;
    let sixth = job_api::create(api, &bob, job_api::job_input(&env, "sixth")).await;
    assert!(
        sixth["errors"].is_null(),
        "a completed job is not counted: {sixth}"
    );
    let listed = api
        .graphql(
            "{ jobs(status: COMPLETED) { totalCount } }",
            json!({}),
            token,
        )
        .await;
    assert_eq!(listed["data"]["jobs"]["totalCount"], 1, "{listed}");

    // The rules, each naming its field.
    let url = env.target.url("/x");
    let soon = Utc::now() + TimeDelta::hours(1);
    let cases = [
        (json!({"name": "n", "targetUrl": url}), "cronExpression"),
        (
            json!({"name": "n", "targetUrl": url, "cronExpression": "0 * * * *", "runAt": soon}),
            "runAt",
        ),
        (
            json!({"name": "n", "targetUrl": url, "runAt": Utc::now() - TimeDelta::minutes(1)}),
            "runAt",
        ),
        (
            json!({"name": "n", "targetUrl": url, "runAt": soon, "maxRuns": 2}),
            "maxRuns",
        ),
        (
            json!({"name": "n", "targetUrl": url, "cronExpression": "@once"}),
            "runAt",
        ),
        (
            json!({"name": "n", "targetUrl": url, "cronExpression": "0 * * * *",
                   "startAt": soon, "endAt": soon - TimeDelta::minutes(1)}),
            "endAt",
        ),
        (
            json!({"name": "n", "targetUrl": url, "cronExpression": "0 * * * *",
                   "endAt": Utc::now() - TimeDelta::days(1)}),
            "endAt",
        ),
        (
            json!({"name": "n", "targetUrl": url, "cronExpression": "0 * * * *", "maxRuns": 0}),
            "maxRuns",
        ),
        (
            json!({"name": "n", "targetUrl": url, "cronExpression": "0 * * * *", "jitterSeconds": 1801}),
            "jitterSeconds",
        ),
    ];
    // Room for each case, were it valid.
    job_api::delete(api, &bob, &sixth["data"]["createJob"]["id"]).await;
    for (input, field) in cases {
        let answer = job_api::create(api, &bob, input.clone()).await;
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{input}: {answer}"
        );
        assert_eq!(
            answer["errors"][0]["extensions"]["field"], field,
            "{input}: {answer}"
        );
    }
    // `@once` with runAt reads as a one-time job (what Job.cronExpression shows), so an
    // answer sent back as input is accepted.
    let echoed = create(
        api,
        &bob,
        json!({"name": "echo", "targetUrl": url, "cronExpression": "@once", "runAt": soon}),
    )
    .await;
    assert_eq!(echoed["cronExpression"], "@once");
    // Half the hourly interval is the most jitter.
    let mut input = job_api::job_input(&env, "jittered");
    input["cronExpression"] = json!("0 * * * *");
    input["jitterSeconds"] = json!(1800);
    job_api::delete(api, &bob, &echoed["id"]).await;
    assert_eq!(create(api, &bob, input).await["jitterSeconds"], 1800);
}
