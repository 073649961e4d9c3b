//! `pauseJob` and `resumeJob`: a job's status as its owner sets it.

use chrono::Utc;
use db::JobStatus;
use db::models::Job;
use db::models::job::LimitReached;
use uuid::Uuid;

use super::{limit_reached, not_found, owned, plan_of, sync_schedule};
use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Longest note `pauseJob` keeps, in characters.
pub const MAX_PAUSE_NOTE: usize = 500;

/// A pause note as kept: trimmed, `None` when blank, at most [`MAX_PAUSE_NOTE`].
pub(super) fn pause_note(note: Option<String>) -> ApiResult<Option<String>> {
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_PAUSE_NOTE)
    {
        return Err(ApiError::bad_input(
            "note",
            format!("must be at most {MAX_PAUSE_NOTE} characters"),
        ));
    }
    Ok(note)
}

/// `pauseJob` (with the owner's note, if any) and `resumeJob`. Pausing a paused job
/// replaces its note.
pub async fn set_status(
    state: &AppState,
    viewer: &Claims,
    id: Uuid,
    status: JobStatus,
    note: Option<String>,
) -> ApiResult<Job> {
    let note = pause_note(note)?;
    let plan = plan_of(state, viewer).await?;
    let mut job = owned(state, viewer, id).await?;
    if job.status == status && (status == JobStatus::Active || note.is_none()) {
        return Ok(job);
    }
    let completed = job.status == JobStatus::Completed;
    if completed && status == JobStatus::Paused {
        return Err(ApiError::Conflict(
            "the job is COMPLETED: it has no run left to pause".into(),
        ));
    }
    let resumed = job.status != status && status == JobStatus::Active;
    job.status = status;
    job.pause_note = note;
    job.next_run_at = scheduler::control::next_fire_time(&job, Utc::now());
    if resumed && job.next_run_at.is_none() {
        if completed {
            return Err(ApiError::bad_input(
                "id",
                "the job has no run left: give it a later runAt or endAt, or a higher maxRuns, then resume it",
            ));
        }
        // Its window ended or its runs were made while it was paused.
        job.status = JobStatus::Completed;
    }
    // Resuming a job the scheduler paused starts its count of failures afresh: else the
    // first failure would pause it again.
    let auto_paused = resumed && job.paused_reason.take().is_some();
    let mut conn = state.conn().await?;
    let saved = if completed {
        // Completed jobs do not count against the plan; an active one does.
        let max_jobs = i64::from(plan.limits().max_jobs);
        Job::reactivate_within_limit(&mut conn, &job, max_jobs)
            .await?
            .map_err(|LimitReached { owned }| limit_reached(plan, owned))?
    } else {
        Job::save(&mut conn, &job).await?
    };
    let mut saved = saved.ok_or_else(|| not_found(id))?;
    if auto_paused {
        Job::clear_failures(&mut conn, id).await?;
        saved.consecutive_failures = 0;
    }
    drop(conn);
    sync_schedule(state, &saved, plan).await;
    Ok(saved)
}
