//! What to do with one claimed item, decided from plain data: the claim, the job, the run
//! row already written for it (if any) and the time. No I/O here, so that every case
//! (recovered, withdrawn, prepared ahead, due now, retry, manual) is a unit test.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use db::models::execution_log::NewExecutionLog;
use db::models::{ExecutionLog, Job};
use db::{ExecutionStatus, ExecutionTrigger, JobStatus};
use uuid::Uuid;

use super::ms_to_time;
use crate::catch_up::{self, CatchUp};
use crate::cron::Schedule;
use crate::queue::Claimed;
use crate::task::Task;

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
    /// The job's schedule; `None` when its expression or timezone cannot be used.
    pub schedule: Option<&'a Schedule>,
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
    pub next_fire: Option<DateTime<Utc>>,
    /// The record of the slots the misfire rule did not fire (SKIPPED, at the claimed
    /// slot, the reason in its error).
    pub skipped: Option<NewExecutionLog>,
    /// Missed slots to replay later (`catchUpPolicy: ALL`), with when each is due.
    pub catch_up: Vec<(Task, DateTime<Utc>)>,
}

impl Decision {
    fn only(action: Action) -> Decision {
        Decision {
            action,
            next_fire: None,
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

fn slot(claim: Claim<'_>, slot: DateTime<Utc>) -> Decision {
    let Some(job) = active(claim.job) else {
        return Decision::only(Action::Release(Idle::Inactive));
    };
    let Some(schedule) = claim.schedule else {
        return Decision::only(Action::Release(Idle::Unschedulable));
    };
    let now = claim.now;
    if claim.claimed.recovered
        && let Some(row) = claim.row
    {
        // The holder died. Its row says how far it got; the schedule goes on from that
        // slot, not from the clock: the slots missed while its lease ran out are a
        // backlog (or, past MISFIRE_AFTER, a gap) when claimed, never silently lost.
        return Decision {
            action: taken_back(claim, row),
            next_fire: schedule.next_after(row.scheduled_for),
            skipped: None,
            catch_up: Vec::new(),
        };
    }
    // A slot claimed ahead fires at its own time, one claimed late but within
    // MISFIRE_AFTER fires late (and its successors after it: the next fire time follows
    // the slot, not the clock). Past MISFIRE_AFTER, the misfire rule: of the slots missed
    // in the gap, only the latest fires.
    let gap = (now - slot)
        .to_std()
        .is_ok_and(|behind| behind > MISFIRE_AFTER);
    if gap {
        match CatchUp::parse(&job.catch_up_policy) {
            CatchUp::LatestOnce => {}
            CatchUp::Skip => return skip_gap(job, schedule, slot, now),
            CatchUp::All => return replay_gap(claim, job, schedule, slot),
        }
    }
    let fire = if gap {
        schedule
            .latest_between(slot - TimeDelta::milliseconds(1), now)
            .unwrap_or(slot)
    } else {
        slot
    };
    let late = fire != slot || is_late(fire, now);
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
    Decision {
        action: Action::Start(new_row(
            job,
            fire,
            ExecutionTrigger::Schedule,
            1,
            late,
            fire.max(now),
        )),
        next_fire: schedule.next_after(if gap { fire.max(now) } else { fire }),
        skipped,
        catch_up: Vec::new(),
    }
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `catchUpPolicy: SKIP` after a gap: nothing fires; one SKIPPED row at the first missed
/// slot says so, and the job goes on at its next slot.
fn skip_gap(job: &Job, schedule: &Schedule, slot: DateTime<Utc>, now: DateTime<Utc>) -> Decision {
    Decision {
        action: Action::Release(Idle::Skipped),
        next_fire: schedule.next_after(now),
        skipped: Some(NewExecutionLog {
            status: ExecutionStatus::Skipped,
            finished_at: Some(now),
            error: Some(format!(
                "not fired: no scheduler claimed this job from {} to {} (more than {} s), and its catchUpPolicy is SKIP: the slots missed in that time do not fire",
                stamp(slot),
                stamp(now),
                MISFIRE_AFTER.as_secs(),
            )),
            ..new_row(job, slot, ExecutionTrigger::Schedule, 1, true, now)
        }),
        catch_up: Vec::new(),
    }
}

/// `catchUpPolicy: ALL` after a gap: the missed slots fire oldest first at the job's own
/// pace (the first now, each next as long after as it was after the previous), at most
/// the latest [`catch_up::MAX_REPLAYED`]; older ones are recorded in one SKIPPED row.
/// The job's next slot goes on as usual meanwhile.
fn replay_gap(claim: Claim<'_>, job: &Job, schedule: &Schedule, slot: DateTime<Utc>) -> Decision {
    let now = claim.now;
    let (slots, dropped) = catch_up::missed(schedule, slot, now);
    let Some(&first) = slots.first() else {
        return Decision::only(Action::Release(Idle::Unschedulable));
    };
    let skipped = dropped.then(|| NewExecutionLog {
        status: ExecutionStatus::Skipped,
        finished_at: Some(now),
        error: Some(format!(
            "not fired: no scheduler claimed this job from {} to {}, and its catchUpPolicy ALL replays only the latest {} missed slots, from {}",
            stamp(slot),
            stamp(now),
            catch_up::MAX_REPLAYED,
            stamp(first),
        )),
        ..new_row(job, slot, ExecutionTrigger::Schedule, 1, true, now)
    });
    let catch_up = slots
        .iter()
        .skip(1)
        .map(|&missed| {
            let task = Task::CatchUp {
                user_id: job.user_id,
                job_id: job.id,
                slot_ms: missed.timestamp_millis(),
            };
            (task, now + (missed - first))
        })
        .collect();
    Decision {
        action: Action::Start(new_row(
            job,
            first,
            ExecutionTrigger::Schedule,
            1,
            true,
            now,
        )),
        next_fire: schedule.next_after(now),
        skipped,
        catch_up,
    }
}

/// A past slot fired later: replayed after a gap (`catchUpPolicy: ALL`: its SCHEDULE
/// run, late, while its job is active) or on request (`backfillJob`: its BACKFILL run,
/// for a paused job too, as a manual run); unless recorded already.
fn past_slot(claim: Claim<'_>, slot: DateTime<Utc>, trigger: ExecutionTrigger) -> Decision {
    let job = match trigger {
        ExecutionTrigger::Backfill => claim.job,
        _ => active(claim.job),
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
    let Some(job) = active(claim.job) else {
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

fn new_row(
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
