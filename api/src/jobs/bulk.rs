//! `pauseJobs`, `resumeJobs` and `deleteJobs` (all of the caller's jobs with a tag, in one
//! transaction), and `cloneJob`.

use chrono::Utc;
use db::models::Job;
use uuid::Uuid;

use super::validate::Draft;
use super::{owned, plan_of, sync_schedule};
use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn tag_of(tag: &str) -> ApiResult<String> {
    let mut tags = vec![tag.to_owned()];
    super::validate::tags(&mut tags)
        .map_err(|_| ApiError::bad_input("tag", "a tag is 1 to 50 letters, digits or -_.:/"))?;
    Ok(tags.remove(0))
}

fn count(jobs: usize) -> i32 {
    i32::try_from(jobs).unwrap_or(i32::MAX)
}

/// `pauseJobs`: the caller's ACTIVE jobs tagged `tag`; how many.
pub async fn pause(
    state: &AppState,
    viewer: &Claims,
    tag: &str,
    note: Option<String>,
) -> ApiResult<i32> {
    let tag = tag_of(tag)?;
    let note = super::status::pause_note(note)?;
    let plan = plan_of(state, viewer).await?;
    let mut conn = state.conn().await?;
    let paused = Job::pause_tagged(&mut conn, viewer.sub, &tag, note.as_deref()).await?;
    drop(conn);
    for job in &paused {
        sync_schedule(state, job, plan).await;
    }
    Ok(count(paused.len()))
}

/// `resumeJobs`: the caller's PAUSED jobs tagged `tag`, each from its next slot (or
/// COMPLETED when it has none left); how many.
pub async fn resume(state: &AppState, viewer: &Claims, tag: &str) -> ApiResult<i32> {
    let tag = tag_of(tag)?;
    let plan = plan_of(state, viewer).await?;
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let resumed = Job::resume_tagged(&mut conn, viewer.sub, &tag, |job| {
        scheduler::control::next_fire_time(job, now)
    })
    .await?;
    drop(conn);
    for job in &resumed {
        sync_schedule(state, job, plan).await;
    }
    Ok(count(resumed.len()))
}

/// `deleteJobs`: the caller's jobs tagged `tag`, with their runs; how many.
pub async fn delete(state: &AppState, viewer: &Claims, tag: &str) -> ApiResult<i32> {
    let tag = tag_of(tag)?;
    let mut conn = state.conn().await?;
    let deleted = Job::delete_tagged(&mut conn, viewer.sub, &tag).await?;
    drop(conn);
    for id in &deleted {
        if let Err(e) =
            scheduler::control::unschedule(&state.redis, &state.keys, viewer.sub, *id).await
        {
            tracing::warn!(job_id = %id, error = %e, "deleted job left in Redis; the reconciler will remove it");
        }
    }
    Ok(count(deleted.len()))
}

/// `cloneJob`: a new ACTIVE job like `id` (named "<name> (copy)"), within the plan's
/// limits and the rules of a new job.
pub async fn clone(state: &AppState, viewer: &Claims, id: Uuid) -> ApiResult<Job> {
    let job = owned(state, viewer, id).await?;
    let mut draft = Draft::of_job(&job);
    draft.id = Uuid::new_v4();
    draft.scheduled_runs = 0;
    let name: String = job.name.chars().take(93).collect();
    draft.name = format!("{name} (copy)");
    super::create(state, viewer, draft).await
}
