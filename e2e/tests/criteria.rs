//! Success criteria: a job's runs fail when the answer misses one, with an error naming
//! it, and are retried like any failure; what a user writes is checked when saved.

use std::time::Duration;

use db::ExecutionStatus;
use serde_json::{Value, json};
use testkit::target::Reply;
use testkit::{TestEnv, job_api};

/// Creates a job on `path` with `criteria` and the target's `reply`, runs it now, and
/// returns its runs once `attempts` of them have finished.
async fn run_with(
    env: &TestEnv,
    api: &testkit::Api,
    who: &testkit::accounts::LoggedIn,
    path: &str,
    reply: Reply,
    criteria: Value,
    attempts: usize,
) -> Vec<db::models::ExecutionLog> {
    let extra = json!({"successCriteria": criteria, "maxRetries": attempts - 1});
    job_api::run_once(env, api, who, path, reply, extra, attempts).await
}

#[tokio::test]
async fn runs_that_miss_a_criterion_fail_and_name_it() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let alice = job_api::user(&env, api, "alice").await;
    let plan = api
        .graphql(
            job_api::SET_PLAN,
            json!({"plan": "PRO"}),
            Some(&alice.access_token),
        )
        .await;
    assert!(plan["errors"].is_null(), "{plan}");

    let json_ok = |ok: bool| Reply {
        body: json!({"result": {"ok": ok}}).to_string(),
        ..Reply::default()
    };
    let cases = [
        (
            "/accepted-503",
            Reply {
                status: 503,
                ..Reply::default()
            },
            json!({"statusCodes": ["2xx", "503"]}),
            ExecutionStatus::Success,
            None,
        ),
        (
            "/json-false",
            json_ok(false),
            json!({"jsonPath": "$.result.ok", "jsonEquals": true}),
            ExecutionStatus::Failed,
            Some("$.result.ok is false, expected true"),
        ),
        (
            "/json-true",
            json_ok(true),
            json!({"jsonPath": "$.result.ok", "jsonEquals": true}),
            ExecutionStatus::Success,
            None,
        ),
        (
            "/missing-text",
            Reply {
                body: "all good".into(),
                ..Reply::default()
            },
            json!({"bodyContains": "ok"}),
            ExecutionStatus::Failed,
            Some("body does not contain \"ok\""),
        ),
        (
            "/forbidden-text",
            Reply {
                body: "ERROR: disk full".into(),
                ..Reply::default()
            },
            json!({"bodyNotContains": "ERROR"}),
            ExecutionStatus::Failed,
            Some("body contains \"ERROR\""),
        ),
        (
            "/slow",
            Reply {
                delay: Duration::from_millis(400),
                ..Reply::default()
            },
            json!({"maxDurationMs": 100}),
            ExecutionStatus::Failed,
            Some("over the 100 ms allowed"),
        ),
    ];
    for (path, reply, criteria, status, error) in cases {
        let runs = run_with(&env, api, &alice, path, reply, criteria, 1).await;
        assert_eq!(runs[0].status, status, "{path}: {:?}", runs[0].error);
        match error {
            Some(expected) => {
                let error = runs[0].error.as_deref().unwrap_or_default();
                assert!(error.contains(expected), "{path}: {error}");
            }
            None => assert_eq!(runs[0].error, None, "{path}"),
        }
    }

    // A missed criterion is retried like any failure.
    let runs = run_with(
        &env,
        api,
        &alice,
        "/retried",
        json_ok(false),
        json!({"jsonPath": "$.result.ok", "jsonEquals": true}),
        2,
    )
    .await;
    let mut attempts: Vec<(i32, ExecutionStatus)> =
        runs.iter().map(|r| (r.attempt, r.status)).collect();
    attempts.sort_by_key(|(attempt, _)| *attempt);
    assert_eq!(
        attempts,
        [(1, ExecutionStatus::Failed), (2, ExecutionStatus::Failed)]
    );
}

#[tokio::test]
async fn criteria_are_checked_when_saved_and_can_be_cleared() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let alice = job_api::user(&env, api, "alice").await;
    for (criteria, field) in [
        (
            json!({"statusCodes": ["6xx"]}),
            "successCriteria.statusCodes",
        ),
        (json!({"jsonPath": "$.ok"}), "successCriteria.jsonEquals"),
        (
            json!({"jsonPath": "$.[", "jsonEquals": 1}),
            "successCriteria.jsonPath",
        ),
        (
            json!({"maxDurationMs": 60_000}),
            "successCriteria.maxDurationMs",
        ),
        (json!({"bodyContains": ""}), "successCriteria.bodyContains"),
    ] {
        let mut input = job_api::job_input(&env, "checked");
        input["successCriteria"] = criteria.clone();
        let refused = job_api::create(api, &alice, input).await;
        assert_eq!(
            refused["errors"][0]["extensions"],
            json!({"code": "BAD_USER_INPUT", "field": field}),
            "{criteria}: {refused}"
        );
    }

    let mut input = job_api::job_input(&env, "kept");
    input["successCriteria"] = json!({"statusCodes": [" 204 ", "3XX"], "bodyContains": "ok"});
    let created = job_api::create(api, &alice, input).await;
    let id = created["data"]["createJob"]["id"].clone();
    let read = "query($id: ID!) { job(id: $id) { successCriteria { statusCodes bodyContains jsonPath } } }";
    let job = api
        .graphql(read, json!({"id": id}), Some(&alice.access_token))
        .await;
    assert_eq!(
        job["data"]["job"]["successCriteria"],
        json!({"statusCodes": ["204", "3xx"], "bodyContains": "ok", "jsonPath": null})
    );
    let cleared = api
        .graphql(
            "mutation($id: ID!) { updateJob(id: $id, input: {successCriteria: null}) { successCriteria { statusCodes bodyContains } } }",
            json!({"id": id}),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        cleared["data"]["updateJob"]["successCriteria"],
        json!({"statusCodes": ["2xx"], "bodyContains": null}),
        "{cleared}"
    );
}
