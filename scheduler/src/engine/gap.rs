//! What a slot claimed after a gap does under `catchUpPolicy` SKIP and ALL (the misfire
//! rule, LATEST_ONCE, is the slot's own case in [`super::decide`]).

use chrono::{DateTime, Utc};
use db::models::Job;
use db::models::execution_log::NewExecutionLog;
use db::{ExecutionStatus, ExecutionTrigger};

use super::decide::{Action, Claim, Decision, Idle, MISFIRE_AFTER, new_row, stamp};
use crate::catch_up;
use crate::task::Task;
use crate::timing::Timing;

/// `catchUpPolicy: SKIP` after a gap: nothing fires; one SKIPPED row at the first missed
/// slot says so, and the job goes on at its next slot.
pub(super) fn skip(
    job: &Job,
    timing: &Timing<'_>,
    slot: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Decision {
    let next = timing.next_after(now);
    Decision {
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
        ..Decision::then(Action::Release(Idle::Skipped), timing, next, 0)
    }
}

/// `catchUpPolicy: ALL` after a gap: the missed slots fire oldest first at the job's own
/// pace (the first now, each next as long after as it was after the previous), at most
/// the latest [`catch_up::MAX_REPLAYED`]; older ones are recorded in one SKIPPED row.
/// The job's next slot goes on as usual meanwhile. The replays count against `maxRuns`.
pub(super) fn replay(
    claim: Claim<'_>,
    job: &Job,
    timing: &Timing<'_>,
    slot: DateTime<Utc>,
) -> Decision {
    let now = claim.now;
    let (slots, dropped) = catch_up::missed(timing, slot, now);
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
    let fired = i32::try_from(slots.len()).unwrap_or(i32::MAX);
    let next = timing.spent(fired).next_after(now);
    Decision {
        skipped,
        catch_up,
        ..Decision::then(
            Action::Start(new_row(
                job,
                first,
                ExecutionTrigger::Schedule,
                1,
                true,
                now,
            )),
            timing,
            next,
            fired,
        )
    }
}
