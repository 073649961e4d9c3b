//! The scheduler engine end to end: real binaries, PostgreSQL, Redis and HTTP target.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use db::ExecutionStatus;
use e2e::fixtures::{self, JobSpec};
use e2e::{TestEnv, poll_until};

#[tokio::test]
async fn a_job_fires_every_second_and_each_run_is_recorded() {
    let env = TestEnv::new().await;
    let user = fixtures::user(&env.database).await;
    let mut spec = JobSpec::every_second(env.target.url("/tick"));
    spec.headers = Some(serde_json::json!({"x-token": "abc"}));
    let job = fixtures::job(&env.database, user, &spec).await;
    let _server = env.start_all().await;

    let hits = env
        .target
        .wait_for("/tick", 3, Duration::from_secs(15))
        .await;
    assert_eq!(hits[0].headers["x-token"], "abc");
    assert_eq!(hits[0].headers["x-cronops-job-id"], job.to_string());
    let runs = poll_until("three recorded runs", Duration::from_secs(10), || async {
        let runs = fixtures::runs(&env.database, job).await;
        let done: Vec<_> = runs
            .into_iter()
            .filter(|r| r.status == ExecutionStatus::Success)
            .collect();
        (done.len() >= 3).then_some(done)
    })
    .await;
    let slots: HashSet<_> = runs.iter().map(|r| r.scheduled_for).collect();
    assert_eq!(slots.len(), runs.len(), "one row per slot");
    for run in &runs {
        assert_eq!(
            run.scheduled_for.timestamp_subsec_millis(),
            0,
            "slots are whole seconds"
        );
        assert_eq!(run.http_status, Some(200));
        assert_eq!(run.response_body.as_deref(), Some("ok"));
        assert!(run.finished_at.is_some() && run.duration_ms.is_some());
        let lateness = run.started_at - run.scheduled_for;
        assert!(
            lateness < chrono::Duration::seconds(1),
            "fired {lateness} after its slot"
        );
    }
    // The target saw each recorded slot's execution id exactly once.
    let ids: Vec<String> = env
        .target
        .received_on("/tick")
        .iter()
        .map(|r| {
            r.headers["x-cronops-execution-id"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for run in &runs {
        assert_eq!(
            ids.iter().filter(|id| **id == run.id.to_string()).count(),
            1
        );
    }
    let row = fixtures::job_row(&env.database, job).await;
    assert_eq!(row.last_status, Some(ExecutionStatus::Success));
    assert!(row.next_run_at.unwrap() > Utc::now() - chrono::Duration::seconds(2));
}
