//! What the API asks of the scheduler: put a job on its schedule, take it off, run it now.
//! The API calls these and never touches the scheduler's Redis keys itself.

use chrono::{DateTime, Utc};
use db::models::execution_log::NewExecutionLog;
use db::models::{ExecutionLog, Job};
use db::{ExecutionStatus, ExecutionTrigger, JobStatus};

use crate::redis::RedisPool;
use crate::timing::Timing;
use crate::{Error, Keys, queue};

/// The slot the scheduler will next fire `job` at after `after`, within its bounds
/// (`None` for a job not ACTIVE or with no slot left).
pub fn next_fire_time(job: &Job, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if job.status != JobStatus::Active {
        return None;
    }
    Timing::of(job.into()).ok()?.next_after(after)
}

/// Puts an ACTIVE job in its owner's work at `next_run_at` (the slot stored in its row,
/// delayed by its jitter), or takes it out when it is not active. The reconciler repairs
/// a failure later; callers report it but need not undo their database write.
pub async fn schedule(redis: &RedisPool, keys: &Keys, job: &Job) -> Result<(), Error> {
    let leaves = job
        .next_run_at
        .filter(|_| job.status == JobStatus::Active)
        .and_then(|slot| Some(Timing::of(job.into()).ok()?.fire_at(slot)));
    match leaves {
        Some(at) => queue::schedule(redis, keys, job.user_id, job.id, at).await,
        None => queue::unschedule(redis, keys, job.user_id, job.id).await,
    }
}

/// Takes a user's job off the schedule (paused or deleted). A run in flight finishes.
pub async fn unschedule(
    redis: &RedisPool,
    keys: &Keys,
    user_id: uuid::Uuid,
    job_id: uuid::Uuid,
) -> Result<(), Error> {
    queue::unschedule(redis, keys, user_id, job_id).await
}

/// Records a MANUAL run as PENDING and queues it for the next free scheduler instance,
/// which fires it outside the regular schedule (paused jobs too). Returns the row.
pub async fn trigger_now(
    conn: &mut db::AsyncPgConnection,
    redis: &RedisPool,
    keys: &Keys,
    job: &Job,
) -> Result<ExecutionLog, Error> {
    let now = Utc::now();
    let row = NewExecutionLog {
        id: uuid::Uuid::new_v4(),
        job_id: job.id,
        user_id: job.user_id,
        status: ExecutionStatus::Pending,
        trigger: ExecutionTrigger::Manual,
        attempt: 1,
        scheduled_for: now,
        late: false,
        started_at: now,
        finished_at: None,
        error: None,
    };
    let mut inserted = ExecutionLog::insert_new(conn, std::slice::from_ref(&row))
        .await
        .map_err(db::Error::from)?;
    let log = inserted
        .pop()
        .ok_or_else(|| Error::Conflict(format!("run {} already exists", row.id)))?;
    if let Err(e) = queue::enqueue_manual(redis, keys, log.user_id, log.id).await {
        // Nothing would ever pick the PENDING row up: take it back and report.
        if let Err(cleanup) = ExecutionLog::delete(conn, log.id).await {
            tracing::error!(run_id = %log.id, error = %cleanup, "could not remove an unqueued manual run");
        }
        return Err(e);
    }
    Ok(log)
}
