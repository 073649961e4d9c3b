//! Every case of [`decide`]: a slot due now, ahead, missed; a retry; a manual run;
//! withdrawn jobs; and, in `taken_back`, work taken back from a dead holder.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use db::models::{ExecutionLog, Job};
use db::{ExecutionStatus, ExecutionTrigger, HttpMethod, JobStatus, TargetType};
use uuid::Uuid;

use super::*;
use crate::queue::Claimed;
use crate::task::Task;
use crate::timing::Timing;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, h, m, s).unwrap()
}

fn job(status: JobStatus) -> Job {
    Job {
        id: Uuid::from_u128(1),
        user_id: Uuid::from_u128(2),
        name: "job".into(),
        description: None,
        cron_expression: Some("0 * * * * *".into()),
        timezone: "UTC".into(),
        target_type: TargetType::Http,
        target_url: "https://example.com/".into(),
        http_method: HttpMethod::Get,
        headers: None,
        body: None,
        timeout_ms: 1_000,
        max_retries: 2,
        status,
        next_run_at: None,
        created_at: at(0, 0, 0),
        success_criteria: None,
        alert_policy: None,
        consecutive_failures: 0,
        paused_reason: None,
        pause_note: None,
        retry_policy: None,
        catch_up_policy: "LATEST_ONCE".to_owned(),
        overlap_policy: "ALLOW".to_owned(),
        updated_at: at(0, 0, 0),
        run_at: None,
        start_at: None,
        end_at: None,
        max_runs: None,
        scheduled_runs: 0,
        jitter_seconds: 0,
        tags: Vec::new(),
    }
}

/// When `job` fires (every minute, on the minute, for [`job`]).
fn timing(job: &Job) -> Timing<'static> {
    Timing::of(job.into()).unwrap()
}

/// An ACTIVE job firing every second.
fn every_second() -> Job {
    Job {
        cron_expression: Some("* * * * * *".into()),
        ..job(JobStatus::Active)
    }
}

fn claimed(task: Task, due: DateTime<Utc>) -> Claimed {
    Claimed {
        member: task.encode(),
        task,
        recovered: false,
        unsent: false,
        due_ms: due.timestamp_millis(),
    }
}

fn taken_back(mut claimed: Claimed, unsent: bool) -> Claimed {
    claimed.recovered = true;
    claimed.unsent = unsent;
    claimed
}

fn slot_task(slot: DateTime<Utc>) -> Task {
    Task::Slot {
        user_id: Uuid::from_u128(2),
        job_id: Uuid::from_u128(1),
        slot_ms: slot.timestamp_millis(),
    }
}

fn row(trigger: ExecutionTrigger, slot: DateTime<Utc>, status: ExecutionStatus) -> ExecutionLog {
    ExecutionLog {
        id: ExecutionLog::slot_id(Uuid::from_u128(1), slot, trigger, 1),
        job_id: Uuid::from_u128(1),
        user_id: Uuid::from_u128(2),
        status,
        trigger,
        attempt: 1,
        scheduled_for: slot,
        late: false,
        started_at: slot,
        finished_at: None,
        duration_ms: None,
        http_status: None,
        response_body: None,
        error: None,
        response_body_truncated: false,
        response_content_type: None,
        sent_at: None,
    }
}

fn decide_with(
    claimed: &Claimed,
    job: Option<&Job>,
    row: Option<&ExecutionLog>,
    now: DateTime<Utc>,
) -> Decision {
    let timing = timing(job.unwrap_or(&self::job(JobStatus::Active)));
    decide(Claim {
        claimed,
        job,
        timing: Some(&timing),
        row,
        now,
    })
}

fn started(decision: &Decision) -> &db::models::execution_log::NewExecutionLog {
    match &decision.action {
        Action::Start(row) => row,
        other => panic!("expected a new run, got {other:?}"),
    }
}

#[test]
fn a_slot_due_now_starts_on_time_and_schedules_the_next() {
    let active = job(JobStatus::Active);
    let slot = at(10, 5, 0);
    let now = slot + TimeDelta::milliseconds(30);
    let decision = decide_with(&claimed(slot_task(slot), slot), Some(&active), None, now);
    let row = started(&decision);
    assert_eq!(
        row.status,
        ExecutionStatus::Prepared,
        "not shown until sent"
    );
    assert_eq!(row.scheduled_for, slot);
    assert_eq!(row.started_at, now);
    assert_eq!(row.trigger, ExecutionTrigger::Schedule);
    assert_eq!(row.attempt, 1);
    assert!(!row.late);
    assert_eq!(
        row.id,
        ExecutionLog::slot_id(active.id, slot, ExecutionTrigger::Schedule, 1)
    );
    assert_eq!(decision.next_fire, Some(at(10, 6, 0)));
}

#[test]
fn a_slot_claimed_ahead_starts_at_its_own_time() {
    let active = job(JobStatus::Active);
    let slot = at(10, 5, 0);
    let now = slot - TimeDelta::milliseconds(800);
    let decision = decide_with(&claimed(slot_task(slot), slot), Some(&active), None, now);
    let row = started(&decision);
    assert_eq!((row.scheduled_for, row.started_at), (slot, slot));
    assert!(!row.late);
    assert_eq!(decision.next_fire, Some(at(10, 6, 0)));
}

#[test]
fn missed_slots_fire_once_for_the_latest_marked_late() {
    let active = job(JobStatus::Active);
    let slot = at(10, 5, 0);
    let now = at(12, 30, 20);
    let decision = decide_with(&claimed(slot_task(slot), slot), Some(&active), None, now);
    let row = started(&decision);
    assert_eq!(row.scheduled_for, at(12, 30, 0), "the latest missed slot");
    assert_eq!(row.started_at, now);
    assert!(row.late);
    assert_eq!(decision.next_fire, Some(at(12, 31, 0)));

    // A slot only a little late is still itself, and late past LATE_AFTER.
    let now = slot + TimeDelta::seconds(3);
    let row = decide_with(&claimed(slot_task(slot), slot), Some(&active), None, now);
    assert_eq!(started(&row).scheduled_for, slot);
    assert!(started(&row).late);
}

#[test]
fn a_backlog_fires_every_slot_late_and_only_a_gap_skips() {
    let active = every_second();
    let every_second = timing(&active);
    let decide_at = |slot: DateTime<Utc>, now: DateTime<Utc>| {
        decide(Claim {
            claimed: &claimed(slot_task(slot), slot),
            job: Some(&active),
            timing: Some(&every_second),
            row: None,
            now,
        })
    };
    let slot = at(10, 5, 0);
    // Claimed 1.2 s after its slot (a busy engine): the slot itself fires, and the next
    // one, due already, follows at once; none is skipped.
    for behind in [1_200, 5_000, MISFIRE_AFTER.as_millis() as i64] {
        let decision = decide_at(slot, slot + TimeDelta::milliseconds(behind));
        let row = started(&decision);
        assert_eq!(row.scheduled_for, slot, "{behind} ms behind");
        assert_eq!(row.late, behind > 2_000, "{behind} ms behind");
        assert_eq!(decision.next_fire, Some(slot + TimeDelta::seconds(1)));
    }
    // Past MISFIRE_AFTER nothing claimed the job: a gap, and the misfire rule applies.
    let now = slot + TimeDelta::seconds(MISFIRE_AFTER.as_secs() as i64 + 1);
    let decision = decide_at(slot, now + TimeDelta::milliseconds(300));
    assert_eq!(
        started(&decision).scheduled_for,
        now,
        "the latest missed slot"
    );
    assert_eq!(decision.next_fire, Some(now + TimeDelta::seconds(1)));
    // The slots it did not fire are recorded, at the first of them, with the reason.
    let skipped = decision.skipped.expect("a record of the skipped slots");
    assert_eq!(skipped.status, ExecutionStatus::Skipped);
    assert_eq!(skipped.scheduled_for, slot);
    assert_eq!(
        skipped.id,
        ExecutionLog::slot_id(active.id, slot, ExecutionTrigger::Schedule, 1)
    );
    assert!(skipped.finished_at.is_some() && skipped.late);
    let reason = skipped.error.unwrap();
    assert!(
        reason.contains("misfire rule") && reason.contains("10:05:31"),
        "{reason}"
    );
    // A backlog skips nothing.
    let backlog = decide_at(slot, slot + TimeDelta::milliseconds(1_200));
    assert_eq!(backlog.skipped, None);
}

#[test]
fn slots_of_withdrawn_or_unschedulable_jobs_fire_nothing() {
    let slot = at(10, 5, 0);
    let item = claimed(slot_task(slot), slot);
    for job in [None, Some(job(JobStatus::Paused))] {
        let decision = decide_with(&item, job.as_ref(), None, slot);
        assert_eq!(decision.action, Action::Release(Idle::Inactive));
        assert_eq!(
            decision.next_fire, None,
            "a withdrawn job leaves its user's work"
        );
    }
    let active = job(JobStatus::Active);
    let decision = decide(Claim {
        claimed: &item,
        job: Some(&active),
        timing: None,
        row: None,
        now: slot,
    });
    assert_eq!(decision.action, Action::Release(Idle::Unschedulable));
    assert_eq!(decision.next_fire, None);
}

#[test]
fn a_retry_starts_at_its_time_for_its_original_slot() {
    let active = job(JobStatus::Active);
    let slot = at(10, 5, 0);
    let due = slot + TimeDelta::seconds(4);
    let task = Task::Retry {
        user_id: active.user_id,
        job_id: active.id,
        slot_ms: slot.timestamp_millis(),
        attempt: 3,
    };
    for now in [
        due - TimeDelta::milliseconds(500),
        due + TimeDelta::seconds(1),
    ] {
        let decision = decide_with(&claimed(task, due), Some(&active), None, now);
        let row = started(&decision);
        assert_eq!(row.trigger, ExecutionTrigger::Retry);
        assert_eq!((row.attempt, row.scheduled_for), (3, slot));
        assert_eq!(row.started_at, due.max(now));
        assert!(!row.late);
        assert_eq!(decision.next_fire, None, "a retry never moves the schedule");
    }
    let paused = job(JobStatus::Paused);
    let decision = decide_with(&claimed(task, due), Some(&paused), None, due);
    assert_eq!(decision.action, Action::Release(Idle::Inactive));

    let prepared = row(ExecutionTrigger::Retry, slot, ExecutionStatus::Prepared);
    let unsent = taken_back(claimed(task, due), true);
    assert_eq!(
        decide_with(&unsent, Some(&active), Some(&prepared), due).action,
        Action::Send(prepared.id)
    );
    let sent = taken_back(claimed(task, due), false);
    assert_eq!(
        decide_with(&sent, Some(&active), Some(&prepared), due).action,
        Action::Abandon(prepared.clone())
    );
    let failed = row(ExecutionTrigger::Retry, slot, ExecutionStatus::Failed);
    assert_eq!(
        decide_with(&sent, Some(&active), Some(&failed), due).action,
        Action::Release(Idle::Done)
    );
}

#[test]
fn a_manual_run_fires_its_pending_row_even_for_a_paused_job() {
    let paused = job(JobStatus::Paused);
    let now = at(10, 5, 0);
    let pending = row(ExecutionTrigger::Manual, now, ExecutionStatus::Pending);
    let task = Task::Manual {
        user_id: paused.user_id,
        log_id: pending.id,
    };
    let decision = decide_with(&claimed(task, now), Some(&paused), Some(&pending), now);
    assert_eq!(
        decision.action,
        Action::Send(pending.id),
        "no write before it goes"
    );
    assert_eq!(decision.next_fire, None);

    // Taken back: sent again only if the dead holder never sent it.
    let unsent = taken_back(claimed(task, now), true);
    assert_eq!(
        decide_with(&unsent, Some(&paused), Some(&pending), now).action,
        Action::Send(pending.id)
    );
    let sent = taken_back(claimed(task, now), false);
    assert_eq!(
        decide_with(&sent, Some(&paused), Some(&pending), now).action,
        Action::Abandon(pending.clone())
    );
    let running = row(ExecutionTrigger::Manual, now, ExecutionStatus::Running);
    assert_eq!(
        decide_with(&sent, Some(&paused), Some(&running), now).action,
        Action::Abandon(running.clone())
    );
    // Already closed, or its job (and so its row) deleted: nothing to do.
    let done = row(ExecutionTrigger::Manual, now, ExecutionStatus::Success);
    assert_eq!(
        decide_with(&claimed(task, now), Some(&paused), Some(&done), now).action,
        Action::Release(Idle::Done)
    );
    assert_eq!(
        decide_with(&claimed(task, now), None, None, now).action,
        Action::Release(Idle::Inactive)
    );
}

#[path = "decide_taken_back_tests.rs"]
mod taken_back;

#[path = "decide_catch_up_tests.rs"]
mod catch_up;

#[path = "decide_bounds_tests.rs"]
mod bounds;
