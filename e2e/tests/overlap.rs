//! `overlapPolicy`: with SKIP a slot due while the previous run is still out is recorded
//! as SKIPPED, not fired, so a slow target never has two runs of the job at once; with
//! BUFFER_ONE one such slot waits for the previous run to end.

use std::time::Duration;

use db::ExecutionStatus;
use db::models::ExecutionLog;
use serde_json::json;
use testkit::target::Reply;
use testkit::{Cronops, TestEnv, fixtures, job_api, poll_until};

/// An every-second job of a new PRO user against a target that takes 2.5 s, with
/// `policy`: the running server, the user's token, and the job's id.
async fn slow_job(env: &TestEnv, name: &str, policy: &str) -> (Cronops, String, String) {
    let server = env.start_all().await;
    let who = job_api::pro_user(env, server.api(), name).await;
    let path = format!("/{name}");
    env.target.reply(
        &path,
        Reply {
            delay: Duration::from_millis(2500),
            ..Reply::default()
        },
    );
    let mut input = job_api::job_input(env, name);
    input["cronExpression"] = json!("* * * * * *");
    input["targetUrl"] = json!(env.target.url(&path));
    input["overlapPolicy"] = json!(policy);
    let created = job_api::create(server.api(), &who, input).await;
    assert_eq!(created["errors"], serde_json::Value::Null, "{created}");
    let id = created["data"]["createJob"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (server, who.access_token, id)
}

/// Waits until the job has `done` successful and `skipped` skipped runs, pauses it, and
/// returns its runs.
async fn runs_until(
    env: &TestEnv,
    api: &testkit::Api,
    token: &str,
    id: &str,
    done: usize,
    skipped: usize,
) -> Vec<ExecutionLog> {
    let job_id = id.parse().unwrap();
    let runs = poll_until("the runs to come", Duration::from_secs(30), || async {
        let runs = fixtures::runs(&env.database, job_id).await;
        let count = |status| runs.iter().filter(|r| r.status == status).count();
        (count(ExecutionStatus::Success) >= done && count(ExecutionStatus::Skipped) >= skipped)
            .then_some(runs)
    })
    .await;
    let pause = api
        .graphql(
            "mutation($id: ID!) { pauseJob(id: $id) { status } }",
            json!({"id": id}),
            Some(token),
        )
        .await;
    assert_eq!(pause["data"]["pauseJob"]["status"], "PAUSED");
    runs
}

/// The runs of `status`, by slot.
fn with_status(runs: &[ExecutionLog], status: ExecutionStatus) -> Vec<&ExecutionLog> {
    let mut of: Vec<&ExecutionLog> = runs.iter().filter(|r| r.status == status).collect();
    of.sort_by_key(|r| r.scheduled_for);
    of
}

#[tokio::test]
async fn a_slot_due_while_the_previous_run_is_out_is_skipped() {
    let env = TestEnv::new().await;
    let (server, token, id) = slow_job(&env, "slow", "SKIP").await;
    let api = server.api();
    let runs = runs_until(&env, api, &token, &id, 3, 3).await;

    // The runs that fired never overlapped: each went out after the previous finished.
    for pair in with_status(&runs, ExecutionStatus::Success).windows(2) {
        assert!(
            pair[1].sent_at.unwrap() >= pair[0].finished_at.unwrap(),
            "overlapping runs: {pair:?}"
        );
    }
    let skipped = with_status(&runs, ExecutionStatus::Skipped);
    assert!(
        skipped[0]
            .error
            .as_deref()
            .unwrap()
            .contains("overlapPolicy is SKIP"),
        "{skipped:?}"
    );
    // The job says its policy.
    let shown = api
        .graphql(
            "query($id: ID!) { job(id: $id) { overlapPolicy } }",
            json!({"id": id}),
            Some(&token),
        )
        .await;
    assert_eq!(shown["data"]["job"]["overlapPolicy"], "SKIP");
}

#[tokio::test]
async fn buffer_one_fires_one_waiting_slot_as_soon_as_the_previous_run_ends() {
    let env = TestEnv::new().await;
    let (server, token, id) = slow_job(&env, "slower", "BUFFER_ONE").await;
    let runs = runs_until(&env, server.api(), &token, &id, 3, 1).await;
    for pair in with_status(&runs, ExecutionStatus::Success).windows(2) {
        let gap = pair[1].sent_at.unwrap() - pair[0].finished_at.unwrap();
        assert!(
            gap >= chrono::Duration::zero() && gap < chrono::Duration::milliseconds(1500),
            "the waiting slot goes as the previous run ends: {gap} between {pair:?}"
        );
    }
    let skipped = with_status(&runs, ExecutionStatus::Skipped);
    assert!(
        skipped[0].error.as_deref().unwrap().contains("BUFFER_ONE"),
        "{skipped:?}"
    );
}
