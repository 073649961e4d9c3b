//! One-time and bounded jobs, and jitter.

use super::*;

fn decide_for(
    job: &Job,
    claimed: &Claimed,
    row: Option<&ExecutionLog>,
    now: DateTime<Utc>,
) -> Decision {
    let timing = timing(job);
    decide(Claim {
        claimed,
        job: Some(job),
        timing: Some(&timing),
        row,
        now,
    })
}

#[test]
fn a_one_time_job_fires_once_and_completes() {
    let slot = at(10, 5, 30);
    let once = Job {
        cron_expression: None,
        run_at: Some(slot),
        ..job(JobStatus::Active)
    };
    let decision = decide_for(&once, &claimed(slot_task(slot), slot), None, slot);
    assert_eq!(started(&decision).scheduled_for, slot);
    assert_eq!(decision.next_fire, None);
    assert!(decision.complete);
    assert_eq!(decision.counted, 0, "only a maxRuns is counted");
}

#[test]
fn max_runs_and_end_at_complete_the_job_with_its_last_slot() {
    let slot = at(10, 5, 0);
    let item = claimed(slot_task(slot), slot);
    let counted = |made| Job {
        max_runs: Some(3),
        scheduled_runs: made,
        ..job(JobStatus::Active)
    };
    let second = decide_for(&counted(1), &item, None, slot);
    assert_eq!(second.next_fire, Some(at(10, 6, 0)));
    assert_eq!((second.complete, second.counted), (false, 1));
    let last = decide_for(&counted(2), &item, None, slot);
    assert_eq!(started(&last).scheduled_for, slot);
    assert_eq!(last.next_fire, None);
    assert_eq!((last.complete, last.counted), (true, 1));

    let ending = Job {
        end_at: Some(slot + TimeDelta::seconds(30)),
        ..job(JobStatus::Active)
    };
    let decision = decide_for(&ending, &item, None, slot);
    assert_eq!(started(&decision).scheduled_for, slot);
    assert_eq!(decision.next_fire, None, "10:06 is after endAt");
    assert!(decision.complete);
    let open = decide_for(&job(JobStatus::Active), &item, None, slot);
    assert!(!open.complete, "an unbounded job never completes");
}

#[test]
fn a_completed_jobs_last_runs_go_on_and_its_slots_do_not() {
    let slot = at(10, 5, 0);
    let done = job(JobStatus::Completed);
    let retry = Task::Retry {
        user_id: done.user_id,
        job_id: done.id,
        slot_ms: slot.timestamp_millis(),
        attempt: 2,
    };
    let decision = decide_for(&done, &claimed(retry, slot), None, slot);
    assert_eq!(started(&decision).attempt, 2, "its last run's retry fires");
    let replay = Task::CatchUp {
        user_id: done.user_id,
        job_id: done.id,
        slot_ms: slot.timestamp_millis(),
    };
    assert_eq!(
        started(&decide_for(&done, &claimed(replay, slot), None, slot)).scheduled_for,
        slot
    );
    let decision = decide_for(&done, &claimed(slot_task(slot), slot), None, slot);
    assert_eq!(decision.action, Action::Release(Idle::Inactive));
    // Its holder died after writing the last run: the run is taken back.
    let written = row(ExecutionTrigger::Schedule, slot, ExecutionStatus::Prepared);
    let item = taken_back(claimed(slot_task(slot), slot), true);
    let decision = decide_for(&done, &item, Some(&written), slot + TimeDelta::seconds(15));
    assert_eq!(decision.action, Action::Send(written.id));
}

#[test]
fn a_jittered_slot_leaves_late_and_keeps_its_slot_and_id() {
    let jittered = Job {
        jitter_seconds: 25,
        ..job(JobStatus::Active)
    };
    let timing = timing(&jittered);
    let slot = at(10, 5, 0);
    let leaves = timing.fire_at(slot);
    assert!(leaves > slot, "this job and slot draw a delay");
    let item = claimed(slot_task(leaves), leaves);
    let decision = decide_for(&jittered, &item, None, leaves - TimeDelta::seconds(2));
    let row = started(&decision);
    assert_eq!((row.scheduled_for, row.started_at), (slot, leaves));
    assert_eq!(
        row.id,
        ExecutionLog::slot_id(jittered.id, slot, ExecutionTrigger::Schedule, 1)
    );
    assert!(!row.late, "on time for its own instant");
    assert_eq!(decision.next_fire, Some(timing.fire_at(at(10, 6, 0))));
    // Claimed again by another instance (its first holder died), the same slot.
    let again = decide_for(&jittered, &item, None, leaves + TimeDelta::seconds(3));
    assert_eq!(started(&again).id, row.id);
    assert!(started(&again).late, "3 s after its instant");
}
