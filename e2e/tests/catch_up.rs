//! Catch-up policies after every scheduler was away: a job whose next slot lies 40 s in
//! the past when a scheduler starts (as after an outage of all of them) skips the missed
//! slots, or replays them oldest first at its own pace.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use db::ExecutionStatus;
use diesel_async::RunQueryDsl;
use testkit::fixtures::{self, JobSpec};
use testkit::{TestEnv, poll_until};

/// An every-second job of a new user whose schedule stopped 40 s ago, with `policy`.
async fn stopped_job(env: &TestEnv, path: &str, policy: &str) -> uuid::Uuid {
    let user = fixtures::user(&env.database).await;
    let spec = JobSpec {
        next_run_at: Some(Utc::now() - chrono::Duration::seconds(40)),
        ..JobSpec::every_second(env.target.url(path))
    };
    let job = fixtures::job(&env.database, user, &spec).await;
    let mut conn = env.database.connect().await;
    diesel::sql_query("UPDATE jobs SET catch_up_policy = $1 WHERE id = $2")
        .bind::<diesel::sql_types::Text, _>(policy)
        .bind::<diesel::sql_types::Uuid, _>(job)
        .execute(&mut conn)
        .await
        .unwrap();
    job
}

#[tokio::test]
async fn after_a_gap_skip_fires_no_missed_slot_and_all_replays_them_in_order() {
    let env = TestEnv::new().await;
    let skip = stopped_job(&env, "/skip", "SKIP").await;
    let all = stopped_job(&env, "/all", "ALL").await;
    let started = Utc::now();
    let mut scheduler = env.start_scheduler();

    // ALL: the missed slots arrive oldest first, each once, marked late, while the
    // schedule goes on.
    env.target
        .wait_for("/all", 8, Duration::from_secs(30))
        .await;
    let runs = fixtures::runs(&env.database, all).await;
    // Only runs whose request went out: a run prepared ahead, not yet sent, has no place
    // in the order yet (it sorted first, as `None`, on a loaded machine).
    let mut replayed: Vec<_> = runs
        .iter()
        .filter(|r| r.scheduled_for < started && r.status != ExecutionStatus::Skipped)
        .filter(|r| r.sent_at.is_some())
        .collect();
    replayed.sort_by_key(|r| r.sent_at);
    assert!(replayed.len() >= 3, "{runs:?}");
    assert!(replayed.iter().all(|r| r.late));
    assert!(
        replayed
            .windows(2)
            .all(|w| w[0].scheduled_for < w[1].scheduled_for),
        "oldest first: {replayed:?}"
    );
    assert!(
        replayed[0].scheduled_for < started - chrono::Duration::seconds(35),
        "from the first missed slot: {:?}",
        replayed[0]
    );
    let slots: HashSet<_> = runs.iter().map(|r| r.scheduled_for).collect();
    assert_eq!(slots.len(), runs.len(), "each slot once");
    assert!(env.target.deliveries("/all").values().all(|n| *n == 1));
    assert!(
        runs.iter().any(|r| r.scheduled_for > started),
        "the schedule goes on meanwhile: {runs:?}"
    );

    // SKIP: one SKIPPED record of the gap, and only slots after it fire.
    let runs = poll_until(
        "the skipping job to run again",
        Duration::from_secs(30),
        || async {
            let runs = fixtures::runs(&env.database, skip).await;
            (runs
                .iter()
                .filter(|r| r.status == ExecutionStatus::Success)
                .count()
                >= 2)
                .then_some(runs)
        },
    )
    .await;
    let skipped: Vec<_> = runs
        .iter()
        .filter(|r| r.status == ExecutionStatus::Skipped)
        .collect();
    assert_eq!(skipped.len(), 1, "{runs:?}");
    assert!(
        skipped[0]
            .error
            .as_deref()
            .unwrap()
            .contains("catchUpPolicy is SKIP")
    );
    assert!(
        runs.iter()
            .filter(|r| r.status != ExecutionStatus::Skipped)
            .all(|r| r.scheduled_for >= started),
        "no missed slot fired: {runs:?}"
    );
    scheduler.kill();
}
