//! `jitterSeconds`: each slot leaves at a delay derived from the job and the slot, the
//! same on every instance, so a takeover fires it at the same instant with the same
//! execution id; the run keeps its nominal slot.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use db::ExecutionTrigger;
use db::models::ExecutionLog;
use serde_json::json;
use testkit::{TestEnv, fixtures, job_api, poll_until};

#[tokio::test]
async fn jittered_slots_leave_at_their_own_delay_on_every_instance() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ann = job_api::pro_user(&env, api, "ann").await;
    let mut input = job_api::job_input(&env, "jittered");
    input["cronExpression"] = json!("*/4 * * * * *");
    input["jitterSeconds"] = json!(2);
    input["targetUrl"] = json!(env.target.url("/jitter"));
    let created = job_api::create(api, &ann, input).await;
    assert!(created["errors"].is_null(), "{created}");
    let id = created["data"]["createJob"]["id"].clone();
    let job_id: uuid::Uuid = id.as_str().unwrap().parse().unwrap();
    let next: DateTime<Utc> = created["data"]["createJob"]["nextRunAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(next.second() % 4, 0, "nextRunAt is the nominal slot");
    assert_eq!(next.nanosecond(), 0);

    // Two runs on one scheduler; it is killed, and another goes on for two more.
    let mut first = env.start_scheduler();
    env.target
        .wait_for("/jitter", 2, Duration::from_secs(30))
        .await;
    first.kill();
    let _second = env.start_scheduler();
    let runs: Vec<ExecutionLog> = poll_until("four runs", Duration::from_secs(40), || async {
        let runs = fixtures::runs(&env.database, job_id).await;
        (runs.iter().filter(|r| r.finished_at.is_some()).count() >= 4).then_some(runs)
    })
    .await;

    let mut delays = HashSet::new();
    let mut on_time = 0;
    for run in runs.iter().filter(|r| r.finished_at.is_some()) {
        let slot = run.scheduled_for;
        assert_eq!(
            (slot.second() % 4, slot.nanosecond()),
            (0, 0),
            "scheduledFor is the nominal slot: {run:?}"
        );
        assert_eq!(
            run.id,
            ExecutionLog::slot_id(job_id, slot, ExecutionTrigger::Schedule, 1),
            "the execution id is the slot's"
        );
        // The instant every instance reckons for this job and slot.
        let due = slot + scheduler::timing::delay(job_id, slot, 2_000);
        let sent = run.sent_at.expect("sent");
        if !run.late {
            on_time += 1;
            assert!(
                sent >= due && sent - due < TimeDelta::milliseconds(1_500),
                "left at {sent}, due at {due}: {run:?}"
            );
        }
        delays.insert(due - slot);
    }
    assert!(
        on_time >= 2,
        "the first scheduler's runs left on time, at their instants: {runs:?}"
    );
    assert!(
        delays.iter().any(|d| *d > TimeDelta::zero()),
        "the slots are delayed: {delays:?}"
    );
    let hits = env.target.received_on("/jitter");
    let slots: HashSet<String> = hits
        .iter()
        .map(|hit| {
            hit.headers["x-cronops-scheduled-for"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(slots.len(), hits.len(), "each slot delivered once");
    assert!(
        slots.iter().all(|s| {
            let at: DateTime<Utc> = s.parse().unwrap();
            at.second().is_multiple_of(4) && at.nanosecond() == 0
        }),
        "the target sees the nominal slot: {slots:?}"
    );
}
