//! Retry policies: which failures are retried, how long each retry waits, and a
//! target's `Retry-After`; checked when saved.

use serde_json::{Value, json};
use testkit::target::Reply;
use testkit::{TestEnv, fixtures, job_api};

/// Creates a job on `path` with `policy` answering `reply`, runs it once, and returns its
/// runs once `attempts` have finished.
async fn runs_of(
    env: &TestEnv,
    api: &testkit::Api,
    who: &testkit::accounts::LoggedIn,
    path: &str,
    reply: Reply,
    policy: Value,
    attempts: usize,
) -> Vec<db::models::ExecutionLog> {
    let extra = json!({"retryPolicy": policy});
    job_api::run_once(env, api, who, path, reply, extra, attempts).await
}

#[tokio::test]
async fn only_the_failures_a_job_names_are_retried_and_retry_after_is_honoured() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let ann = job_api::user(&env, api, "ann").await;
    let fast = json!({"maxRetries": 2, "backoffBaseMs": 100, "backoffMaxMs": 200, "retryOn": ["HTTP_5XX"]});

    // A 404 is not in retryOn: one attempt, final.
    let not_found = runs_of(
        &env,
        api,
        &ann,
        "/gone",
        Reply {
            status: 404,
            ..Reply::default()
        },
        fast.clone(),
        1,
    )
    .await;
    // A 503 is: the first attempt and two retries.
    let down = runs_of(
        &env,
        api,
        &ann,
        "/down",
        Reply {
            status: 503,
            ..Reply::default()
        },
        fast,
        3,
    )
    .await;
    assert_eq!(down.len(), 3, "{down:?}");
    assert!(down.iter().all(|r| r.http_status == Some(503)));
    let again = fixtures::runs(&env.database, not_found[0].job_id).await;
    assert_eq!(again.len(), 1, "a 404 is final at once: {again:?}");

    // A 429 asking for 2 s waits that long (within backoffMaxMs), not the 100 ms backoff.
    let slow = json!({"maxRetries": 1, "backoffBaseMs": 100, "backoffMaxMs": 5000});
    let limited = Reply {
        status: 429,
        headers: vec![("Retry-After".to_owned(), "2".to_owned())],
        ..Reply::default()
    };
    let runs = runs_of(&env, api, &ann, "/limited", limited, slow, 2).await;
    let mut sent: Vec<_> = env
        .target
        .received_on("/limited")
        .iter()
        .map(|r| r.received_at)
        .collect();
    sent.sort();
    assert_eq!((runs.len(), sent.len()), (2, 2));
    let waited = (sent[1] - sent[0]).num_milliseconds();
    assert!((2000..4500).contains(&waited), "waited {waited} ms");

    // The job shows its policy, defaults filled in.
    let shown = api
        .graphql(
            "query($id: ID!) { job(id: $id) { maxRetries retryPolicy { maxRetries backoffBaseMs backoffMaxMs retryOn } } }",
            json!({"id": runs[0].job_id.to_string()}),
            Some(&ann.access_token),
        )
        .await;
    assert_eq!(
        shown["data"]["job"],
        json!({"maxRetries": 1, "retryPolicy": {"maxRetries": 1, "backoffBaseMs": 100, "backoffMaxMs": 5000,
               "retryOn": ["TIMEOUT", "NETWORK_ERROR", "HTTP_5XX", "HTTP_429", "HTTP_4XX", "CRITERIA_FAILED"]}})
    );
}

#[tokio::test]
async fn retry_policies_are_checked_against_the_plan() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let bob = job_api::user(&env, api, "bob").await;
    for (policy, field) in [
        (json!({"backoffBaseMs": 50}), "retryPolicy.backoffBaseMs"),
        (
            json!({"backoffBaseMs": 5000, "backoffMaxMs": 1000}),
            "retryPolicy.backoffMaxMs",
        ),
        (
            json!({"backoffMaxMs": 7_200_000}),
            "retryPolicy.backoffMaxMs",
        ),
        (json!({"backoffMaxMs": -1}), "retryPolicy.backoffMaxMs"),
        (json!({"maxRetries": 99}), "maxRetries"),
    ] {
        let mut input = job_api::job_input(&env, "/x");
        input["retryPolicy"] = policy.clone();
        let refused = job_api::create(api, &bob, input).await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{policy}: {refused}"
        );
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], field,
            "{policy}: {refused}"
        );
    }
    // Top-level maxRetries still works, and null goes back to the defaults.
    let mut input = job_api::job_input(&env, "/x");
    input["maxRetries"] = json!(2);
    input["retryPolicy"] = json!({"retryOn": ["TIMEOUT"]});
    let created = job_api::create(api, &bob, input).await;
    let id = created["data"]["createJob"]["id"].clone();
    let updated = api
        .graphql(
            "mutation($id: ID!) { updateJob(id: $id, input: {retryPolicy: null}) { maxRetries retryPolicy { retryOn } } }",
            json!({"id": id}),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(updated["data"]["updateJob"]["maxRetries"], 2, "{updated}");
    assert_eq!(
        updated["data"]["updateJob"]["retryPolicy"]["retryOn"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}
