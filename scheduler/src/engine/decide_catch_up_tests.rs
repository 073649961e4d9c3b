//! A job's catch-up policy after a gap (no scheduler claimed it for over MISFIRE_AFTER).

use super::*;

fn with_policy(policy: &str) -> Job {
    Job {
        catch_up_policy: policy.to_owned(),
        ..job(JobStatus::Active)
    }
}

#[test]
fn skip_fires_nothing_records_the_gap_and_goes_on_from_now() {
    let skipping = with_policy("SKIP");
    let slot = at(10, 5, 0);
    let now = at(10, 9, 20);
    let decision = decide_with(&claimed(slot_task(slot), slot), Some(&skipping), None, now);
    assert_eq!(decision.action, Action::Release(Idle::Skipped));
    assert_eq!(decision.next_fire, Some(at(10, 10, 0)));
    let skipped = decision.skipped.expect("the gap is recorded");
    assert_eq!(
        (skipped.status, skipped.scheduled_for),
        (ExecutionStatus::Skipped, slot)
    );
    assert!(skipped.error.unwrap().contains("catchUpPolicy is SKIP"));
    assert!(decision.catch_up.is_empty());

    // A backlog (claimed late within MISFIRE_AFTER) still fires, whatever the policy.
    let now = slot + TimeDelta::seconds(10);
    let decision = decide_with(&claimed(slot_task(slot), slot), Some(&skipping), None, now);
    assert_eq!(started(&decision).scheduled_for, slot);
}

#[test]
fn all_fires_the_oldest_now_and_queues_the_rest_at_the_jobs_pace() {
    let replaying = with_policy("ALL");
    let slot = at(10, 5, 0);
    let now = at(10, 8, 30);
    let decision = decide_with(&claimed(slot_task(slot), slot), Some(&replaying), None, now);
    let first = started(&decision);
    assert_eq!((first.scheduled_for, first.started_at), (slot, now));
    assert!(first.late);
    assert!(decision.skipped.is_none(), "nothing left out");
    let queued: Vec<(Task, DateTime<Utc>)> = [(6, 60), (7, 120), (8, 180)]
        .into_iter()
        .map(|(minute, after)| {
            (
                Task::CatchUp {
                    user_id: replaying.user_id,
                    job_id: replaying.id,
                    slot_ms: at(10, minute, 0).timestamp_millis(),
                },
                now + TimeDelta::seconds(after),
            )
        })
        .collect();
    assert_eq!(decision.catch_up, queued);
    assert_eq!(
        decision.next_fire,
        Some(at(10, 9, 0)),
        "the schedule goes on"
    );

    // A replayed slot is the slot's own run, late.
    let (task, due) = queued[1];
    let replay = decide_with(&claimed(task, due), Some(&replaying), None, due);
    let row = started(&replay);
    assert_eq!(
        row.id,
        ExecutionLog::slot_id(replaying.id, at(10, 7, 0), ExecutionTrigger::Schedule, 1)
    );
    assert!(row.late);
    assert_eq!(replay.next_fire, None);
    // Not for a job paused meanwhile.
    let paused = Job {
        status: JobStatus::Paused,
        ..replaying.clone()
    };
    let dropped = decide_with(&claimed(task, due), Some(&paused), None, due);
    assert_eq!(dropped.action, Action::Release(Idle::Inactive));
}

#[test]
fn all_replays_at_most_the_latest_hundred() {
    let replaying = with_policy("ALL");
    let slot = at(8, 0, 0);
    let now = at(10, 30, 30);
    let decision = decide_with(&claimed(slot_task(slot), slot), Some(&replaying), None, now);
    assert_eq!(
        started(&decision).scheduled_for,
        at(8, 51, 0),
        "150 missed, the latest 100"
    );
    assert_eq!(decision.catch_up.len(), 99);
    let skipped = decision.skipped.expect("the older ones are recorded");
    assert_eq!(skipped.scheduled_for, slot);
    assert!(skipped.error.unwrap().contains("only the latest 100"));
}
