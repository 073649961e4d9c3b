//! `backfillJob`: a job's past slots fired on request, in order and paced, each as its
//! own BACKFILL run with the slot's execution id. The slots go to the scheduler's queue
//! (a task per slot, due one plan interval after the previous), so any instance fires
//! them and one killed mid-way leaves the rest to the others; a slot inserts its run
//! once, whoever fires it.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use scheduler::task::Task;
use uuid::Uuid;

use crate::auth::rate_limit::Limit;
use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Most slots one backfill fires.
pub const MAX_SLOTS: usize = 1_000;
/// Backfills a user may ask for.
const PER_USER: Limit = Limit {
    name: "backfill",
    max: 10,
    window: Duration::from_secs(3600),
};

/// Queues the job's slots in `[from, to)` that have no run yet; returns them.
pub async fn backfill(
    state: &AppState,
    viewer: &Claims,
    id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<Vec<DateTime<Utc>>> {
    let now = Utc::now();
    if from >= to {
        return Err(ApiError::bad_input("to", "must be after `from`"));
    }
    if to > now {
        return Err(ApiError::bad_input("to", "must not be in the future"));
    }
    let plan = crate::auth::account::current_user(state, viewer)
        .await?
        .plan;
    let job = super::owned(state, viewer, id).await?;
    if job.cron_expression.is_none() {
        return Err(ApiError::bad_input(
            "id",
            "the job runs once (runAt): it has no slots to backfill",
        ));
    }
    // The job's window applies; `maxRuns` counts scheduled runs, not backfills.
    let schedule = scheduler::timing::Timing::of(scheduler::timing::Fields {
        max_runs: None,
        ..(&job).into()
    })
    .map_err(|e| ApiError::bad_input("id", format!("the job's schedule is unusable: {e}")))?;
    let mut slots = Vec::new();
    let mut cursor = from - TimeDelta::milliseconds(1);
    while let Some(slot) = schedule.next_after(cursor).filter(|s| *s < to) {
        if slots.len() == MAX_SLOTS {
            return Err(ApiError::bad_input(
                "from",
                format!("the range holds more than {MAX_SLOTS} slots: backfill it in parts"),
            ));
        }
        slots.push(slot);
        cursor = slot;
    }
    let mut conn = state.conn().await?;
    let recorded: HashSet<DateTime<Utc>> =
        db::models::execution_log::slots_with_runs(&mut conn, job.id, from, to)
            .await?
            .into_iter()
            .collect();
    drop(conn);
    slots.retain(|slot| !recorded.contains(slot));
    if slots.is_empty() {
        return Ok(slots);
    }
    crate::auth::limits::check(state, PER_USER, &viewer.sub.to_string()).await?;
    // Never faster than the plan lets the job run.
    let pace = TimeDelta::seconds(i64::from(plan.limits().min_interval_seconds));
    let tasks: Vec<(Task, DateTime<Utc>)> = slots
        .iter()
        .zip(0..)
        .map(|(slot, n)| {
            let task = Task::Backfill {
                user_id: job.user_id,
                job_id: job.id,
                slot_ms: slot.timestamp_millis(),
            };
            (task, now + pace * n)
        })
        .collect();
    scheduler::queue::enqueue(&state.redis, &state.keys, &tasks).await?;
    Ok(slots)
}
