//! `overlapPolicy`: with SKIP a slot due while the previous run is still out is recorded
//! as SKIPPED, not fired, so a slow target never has two runs of the job at once; with
//! BUFFER_ONE one such slot waits for the previous run to end.

use std::time::Duration;

use db::ExecutionStatus;
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

#[tokio::test]
async fn a_slot_due_while_the_previous_run_is_out_is_skipped() {
    let env = TestEnv::new().await;
    let (server, token, id) = slow_job(&env, "slow", "SKIP").await;
    let api = server.api();
    let job_id = id.parse().unwrap();

    let runs = poll_until(
        "three runs and some skipped slots",
        Duration::from_secs(30),
        || async {
            let runs = fixtures::runs(&env.database, job_id).await;
            let done = runs
                .iter()
                .filter(|r| r.status == ExecutionStatus::Success)
                .count();
            let skipped = runs
                .iter()
                .filter(|r| r.status == ExecutionStatus::Skipped)
                .count();
            (done >= 3 && skipped >= 3).then_some(runs)
        },
    )
    .await;
    let pause = api
        .graphql(
            "mutation($id: ID!) { pauseJob(id: $id) { status } }",
            json!({"id": id}),
            Some(&token),
        )
        .await;
    assert_eq!(pause["data"]["pauseJob"]["status"], "PAUSED");

    // The runs that fired never overlapped: each went out after the previous finished.
    let mut fired: Vec<_> = runs
        .iter()
        .filter(|r| r.status == ExecutionStatus::Success)
        .collect();
    fired.sort_by_key(|r| r.scheduled_for);
    for pair in fired.windows(2) {
        assert!(
            pair[1].sent_at.unwrap() >= pair[0].finished_at.unwrap(),
            "overlapping runs: {pair:?}"
        );
    }
    let skipped = runs
        .iter()
        .find(|r| r.status == ExecutionStatus::Skipped)
        .unwrap();
    assert!(
        skipped
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
    let api = server.api();
    let job_id = id.parse().unwrap();
    let runs = poll_until("three runs", Duration::from_secs(30), || async {
        let runs = fixtures::runs(&env.database, job_id).await;
        let done = runs
            .iter()
            .filter(|r| r.status == ExecutionStatus::Success)
            .count();
        (done >= 3).then_some(runs)
    })
    .await;
    api.graphql(
        "mutation($id: ID!) { pauseJob(id: $id) { status } }",
        json!({"id": id}),
        Some(&token),
    )
    .await;
    let mut fired: Vec<_> = runs
        .iter()
        .filter(|r| r.status == ExecutionStatus::Success)
        .collect();
    fired.sort_by_key(|r| r.scheduled_for);
    for pair in fired.windows(2) {
        let (previous, next) = (pair[0], pair[1]);
        let gap = next.sent_at.unwrap() - previous.finished_at.unwrap();
        assert!(
            gap >= chrono::Duration::zero() && gap < chrono::Duration::milliseconds(1500),
            "the waiting slot goes as the previous run ends: {gap} between {pair:?}"
        );
    }
    let skipped = runs
        .iter()
        .filter(|r| r.status == ExecutionStatus::Skipped)
        .collect::<Vec<_>>();
    assert!(!skipped.is_empty(), "{runs:?}");
    assert!(
        skipped[0].error.as_deref().unwrap().contains("BUFFER_ONE"),
        "{skipped:?}"
    );
}
