//! What to do with one claimed item, decided from plain data: the claim, the job, the run
//! row already written for it (if any) and the time. No I/O here, so that every case
//! (recovered, withdrawn, prepared ahead, due now, retry, manual) is a unit test.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use db::models::execution_log::NewExecutionLog;
use db::models::{ExecutionLog, Job};
use db::{ExecutionStatus, ExecutionTrigger, JobStatus};
use uuid::Uuid;

use super::gap;
use super::ms_to_time;
use crate::catch_up::CatchUp;
use crate::queue::Claimed;
use crate::task::Task;
use crate::timing::Timing;

/// A slot fired more than this after its time is marked late in its row (as is one
/// fired in place of earlier missed slots).
pub const LATE_AFTER: Duration = Duration::from_secs(2);

/// A slot claimed more than this after its time was missed in a gap (no scheduler
/// claimed its job for that long: all were down, or Redis lost the schedule), and the
/// misfire rule applies: only the latest missed slot fires. A slot claimed sooner is a
/// backlog, not a gap: it fires, late, and so does every slot after it.
pub const MISFIRE_AFTER: Duration = Duration::from_secs(30);

/// The error written to a run whose instance died mid-run.
pub const ABANDONED: &str = "the scheduler instance running this attempt stopped before it finished (its lease expired); the attempt is counted as failed";

/// What one claimed item needs to be decided.
#[derive(Debug, Clone, Copy)]
pub(super) struct Claim<'a> {
    pub claimed: &'a Claimed,
    /// The job it belongs to, if it still exists.
    pub job: Option<&'a Job>,
    /// When the job fires; `None` when its expression or timezone cannot be used.
    pub timing: Option<&'a Timing<'a>>,
    /// The row already written for it: a manual run's row, or for work taken back from a
    /// dead holder, the row that holder wrote (for a slot: the job's first SCHEDULE row at
    /// or after the slot, since the misfire rule may have fired a later one).
    pub row: Option<&'a ExecutionLog>,
    pub now: DateTime<Utc>,
}

/// Why a claimed item fires nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Idle {
    /// Its job is gone or paused.
    Inactive,
    /// Its job's schedule cannot be computed.
    Unschedulable,
    /// Its run is already closed, or another instance has it.
    Done,
    /// Its slots were missed in a gap and its job skips those (`catchUpPolicy: SKIP`).
    Skipped,
}

/// What to do with a claimed item.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Action {
    /// Nothing to fire: release the lease.
    Release(Idle),
    /// Write this run (PREPARED) and fire it at its `started_at`.
    Start(NewExecutionLog),
    /// Fire now this run already written and never sent: a manual run's PENDING row, or
    /// a run a dead holder prepared.
    Send(Uuid),
    /// Close as FAILED the run a dead holder may have sent, and retry it per the job.
    Abandon(ExecutionLog),
}

/// The action, and for a slot, the job's next fire time to put back in its user's work.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Decision {
    pub action: Action,
    /// The instant the job's next slot leaves (its slot plus its jitter).
    pub next_fire: Option<DateTime<Utc>>,
    /// The job has no slot left (`runAt` fired, `endAt` passed, `maxRuns` reached): it
    /// is COMPLETED.
    pub complete: bool,
    /// Scheduled runs this decision makes, counted against a `maxRuns` once its row is
    /// written (the run, and the replays it queues).
    pub counted: i32,
    /// The record of the slots the misfire rule did not fire (SKIPPED, at the claimed
    /// slot, the reason in its error).
    pub skipped: Option<NewExecutionLog>,
    /// Missed slots to replay later (`catchUpPolicy: ALL`), with when each is due.
    pub catch_up: Vec<(Task, DateTime<Utc>)>,
}

impl Decision {
    pub(super) fn only(action: Action) -> Decision {
        Decision {
            action,
            next_fire: None,
            complete: false,
            counted: 0,
            skipped: None,
            catch_up: Vec::new(),
        }
    }

    /// The decision for a slot whose job goes on at `next` (a nominal slot), after
    /// `counted` more scheduled runs.
    pub(super) fn then(
        action: Action,
        timing: &Timing<'_>,
        next: Option<DateTime<Utc>>,
        counted: i32,
    ) -> Decision {
        Decision {
            action,
            next_fire: next.map(|slot| timing.fire_at(slot)),
            complete: next.is_none() && timing.is_finite(),
            counted: if timing.runs_left().is_some() {
                counted
            } else {
                0
            },
            skipped: None,
            catch_up: Vec::new(),
        }
    }
}

/// Decides what to do with one claimed item.
pub(super) fn decide(claim: Claim<'_>) -> Decision {
    match claim.claimed.task {
        Task::Slot { slot_ms, .. } => slot(claim, ms_to_time(slot_ms)),
        Task::Retry {
            slot_ms, attempt, ..
        } => retry(claim, ms_to_time(slot_ms), attempt),
        Task::Manual { .. } => manual(claim),
        Task::CatchUp { slot_ms, .. } => {
            past_slot(claim, ms_to_time(slot_ms), ExecutionTrigger::Schedule)
        }
        Task::Backfill { slot_ms, .. } => {
            past_slot(claim, ms_to_time(slot_ms), ExecutionTrigger::Backfill)
        }
    }
}

fn active(job: Option<&Job>) -> Option<&Job> {
    job.filter(|j| j.status == JobStatus::Active)
}

/// A job whose runs already made go on: ACTIVE, or COMPLETED by them (the retries, the
/// replays and the takeover of its last runs still happen).
fn going(job: Option<&Job>) -> Option<&Job> {
    job.filter(|j| matches!(j.status, JobStatus::Active | JobStatus::Completed))
}

/// A regular slot. Redis holds the instant it leaves (`fire_at`, its slot plus the job's
/// jitter); the nominal slot is what its run records.
fn slot(claim: Claim<'_>, fire_at: DateTime<Utc>) -> Decision {
    let Some(timing) = claim.timing else {
        return match going(claim.job) {
            Some(_) => Decision::only(Action::Release(Idle::Unschedulable)),
            None => Decision::only(Action::Release(Idle::Inactive)),
        };
    };
    let slot = timing.slot_of(fire_at);
    let now = claim.now;
    if claim.claimed.recovered
        && let (Some(_), Some(row)) = (going(claim.job), claim.row)
    {
        // The holder died. Its row says how far it got; the schedule goes on from that
        // slot, not from the clock: the slots missed while its lease ran out are a
        // backlog (or, past MISFIRE_AFTER, a gap) when claimed, never silently lost.
        // Its run is counted already.
        let next = timing.next_after(row.scheduled_for);
        return Decision::then(taken_back(claim, row), timing, next, 0);
    }
    let Some(job) = active(claim.job) else {
        return Decision::only(Action::Release(Idle::Inactive));
    };
    // A slot claimed ahead fires at its own time, one claimed late but within
    // MISFIRE_AFTER fires late (and its successors after it: the next fire time follows
    // the slot, not the clock). Past MISFIRE_AFTER, the misfire rule: of the slots missed
    // in the gap, only the latest fires.
    let gap = (now - fire_at)
        .to_std()
        .is_ok_and(|behind| behind > MISFIRE_AFTER);
    if gap {
        match CatchUp::parse(&job.catch_up_policy) {
            CatchUp::LatestOnce => {}
            CatchUp::Skip => return gap::skip(job, timing, slot, now),
            CatchUp::All => return gap::replay(claim, job, timing, slot),
        }
    }
    let fire = if gap {
        timing
            .latest_between(slot - TimeDelta::milliseconds(1), now)
            .unwrap_or(slot)
    } else {
        slot
    };
    let leaves = if fire == slot { fire_at } else { now };
    let late = fire != slot || is_late(leaves, now);
    let skipped = (fire != slot).then(|| NewExecutionLog {
        status: ExecutionStatus::Skipped,
        finished_at: Some(now),
        error: Some(format!(
            "not fired: no scheduler claimed this job from {} to {} (more than {} s), so of the slots missed in that time only the latest, {}, fired (the misfire rule)",
            stamp(slot),
            stamp(now),
            MISFIRE_AFTER.as_secs(),
            stamp(fire),
        )),
        ..new_row(job, slot, ExecutionTrigger::Schedule, 1, true, now)
    });
    let next = timing
        .spent(1)
        .next_after(if gap { fire.max(now) } else { fire });
    Decision {
        skipped,
        ..Decision::then(
            Action::Start(new_row(
                job,
                fire,
                ExecutionTrigger::Schedule,
                1,
                late,
                leaves.max(now),
            )),
            timing,
            next,
            1,
        )
    }
}

pub(super) fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A past slot fired later: replayed after a gap (`catchUpPolicy: ALL`: its SCHEDULE
/// run, late, while its job is active) or on request (`backfillJob`: its BACKFILL run,
/// for a paused job too, as a manual run); unless recorded already.
fn past_slot(claim: Claim<'_>, slot: DateTime<Utc>, trigger: ExecutionTrigger) -> Decision {
    let job = match trigger {
        ExecutionTrigger::Backfill => claim.job,
        _ => going(claim.job),
    };
    let Some(job) = job else {
        return Decision::only(Action::Release(Idle::Inactive));
    };
    if claim.claimed.recovered
        && let Some(row) = claim.row
    {
        return Decision::only(taken_back(claim, row));
    }
    let late = trigger == ExecutionTrigger::Schedule;
    Decision::only(Action::Start(new_row(
        job, slot, trigger, 1, late, claim.now,
    )))
}

fn retry(claim: Claim<'_>, slot: DateTime<Utc>, attempt: i32) -> Decision {
    let Some(job) = going(claim.job) else {
        return Decision::only(Action::Release(Idle::Inactive));
    };
    if claim.claimed.recovered
        && let Some(row) = claim.row
    {
        return Decision::only(taken_back(claim, row));
    }
    let at = ms_to_time(claim.claimed.due_ms).max(claim.now);
    Decision::only(Action::Start(new_row(
        job,
        slot,
        ExecutionTrigger::Retry,
        attempt,
        false,
        at,
    )))
}

fn manual(claim: Claim<'_>) -> Decision {
    let (Some(row), Some(_)) = (claim.row, claim.job) else {
        return Decision::only(Action::Release(Idle::Inactive));
    };
    if claim.claimed.recovered {
        return Decision::only(taken_back(claim, row));
    }
    Decision::only(match row.status {
        ExecutionStatus::Pending => Action::Send(row.id),
        _ => Action::Release(Idle::Done),
    })
}

/// Work a dead holder had written a row for: fired if the holder never sent it, closed
/// as abandoned if it may have (Redis says which: a row turns RUNNING only after its
/// request went out, but a holder may die between the two), left alone if it finished.
fn taken_back(claim: Claim<'_>, row: &ExecutionLog) -> Action {
    match row.status {
        ExecutionStatus::Prepared | ExecutionStatus::Pending if claim.claimed.unsent => {
            Action::Send(row.id)
        }
        ExecutionStatus::Prepared | ExecutionStatus::Pending | ExecutionStatus::Running => {
            Action::Abandon(row.clone())
        }
        ExecutionStatus::Success
        | ExecutionStatus::Failed
        | ExecutionStatus::Timeout
        | ExecutionStatus::Skipped => Action::Release(Idle::Done),
    }
}

/// Whether a run sent at `sent` for a slot at `slot` counts as late.
pub(super) fn is_late(slot: DateTime<Utc>, sent: DateTime<Utc>) -> bool {
    (sent - slot).to_std().unwrap_or_default() > LATE_AFTER
}

pub(super) fn new_row(
    job: &Job,
    slot: DateTime<Utc>,
    trigger: ExecutionTrigger,
    attempt: i32,
    late: bool,
    start: DateTime<Utc>,
) -> NewExecutionLog {
    NewExecutionLog {
        id: ExecutionLog::slot_id(job.id, slot, trigger, attempt),
        job_id: job.id,
        user_id: job.user_id,
        status: ExecutionStatus::Prepared,
        trigger,
        attempt,
        scheduled_for: slot,
        late,
        started_at: start,
        finished_at: None,
        error: None,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
