//! Jobs and plans: the functions behind the job mutations. Each keeps PostgreSQL (the
//! truth) and the scheduler's Redis schedules in step; when the Redis write fails, the database
//! write stands and the reconciler puts Redis right within a second or two.

pub mod backfill;
pub mod bulk;
mod changes;
mod entry;
mod plans;
pub mod schedule;
mod status;
mod stored;
pub mod transfer;
pub mod validate;

use chrono::Utc;
use db::Plan;
use db::models::job::{JobFilter, LimitReached, NewJob};
use db::models::{ExecutionLog, Job};
use uuid::Uuid;

use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};
use crate::graphql::connection::{Page, PageRequest};
use crate::state::AppState;
use stored::check_channels;
use validate::Draft;

pub use changes::JobChanges;
pub use plans::update_plan;
pub use status::set_status;

/// What `createJob` gives (defaults already applied by the schema).
pub type NewJobInput = Draft;

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no job with id {id}"))
}

fn targets(state: &AppState) -> scheduler::ssrf::TargetPolicy {
    state.config.scheduler.targets()
}

/// Mirrors the job in its owner's schedule in Redis, with the owner's plan (which sets
/// how many of its runs may be out at once); a failure is logged, the reconciler repairs
/// it.
async fn sync_schedule(state: &AppState, job: &Job, plan: Plan) {
    let synced = async {
        scheduler::queue::set_plan(&state.redis, &state.keys, job.user_id, plan).await?;
        scheduler::control::schedule(&state.redis, &state.keys, job).await
    };
    if let Err(e) = synced.await {
        tracing::warn!(job_id = %job.id, error = %e, "schedule not updated in Redis; the reconciler will");
    }
}

async fn plan_of(state: &AppState, viewer: &Claims) -> ApiResult<Plan> {
    Ok(crate::auth::account::current_user(state, viewer)
        .await?
        .plan)
}

/// A job of the caller's, or NOT_FOUND (also for another user's job).
pub async fn owned(state: &AppState, viewer: &Claims, id: Uuid) -> ApiResult<Job> {
    let mut conn = state.conn().await?;
    Job::find_owned(&mut conn, id, viewer.sub)
        .await?
        .ok_or_else(|| not_found(id))
}

fn limit_reached(plan: Plan, owned: i64) -> ApiError {
    ApiError::PlanLimitReached(format!(
        "the {plan} plan allows {} jobs (active or paused) and you have {owned}: delete one or upgrade with updatePlan",
        plan.limits().max_jobs
    ))
}

/// `createJob`.
pub async fn create(state: &AppState, viewer: &Claims, mut draft: Draft) -> ApiResult<Job> {
    let plan = plan_of(state, viewer).await?;
    validate::draft(&mut draft, plan, &targets(state))?;
    let now = Utc::now();
    schedule::has_next_run(&draft, now)?;
    let next_run_at = scheduler::timing::Timing::of(schedule::fields(&draft))
        .ok()
        .and_then(|timing| timing.next_after(now));
    let mut row = draft.new_row(viewer.sub, now);
    row.next_run_at = next_run_at;
    crate::secrets::check_references(
        state,
        viewer.sub,
        draft.target_url.trim(),
        draft.headers.as_ref(),
        draft.body.as_deref(),
    )
    .await?;
    let mut conn = state.conn().await?;
    check_channels(&mut conn, viewer, draft.alert_policy.as_ref()).await?;
    let created = Job::create_within_limit(
        &mut conn,
        &NewJob::from(&row),
        i64::from(plan.limits().max_jobs),
    )
    .await?;
    drop(conn);
    let job = created.map_err(|LimitReached { owned }| limit_reached(plan, owned))?;
    sync_schedule(state, &job, plan).await;
    Ok(job)
}

/// `updateJob`: applies the changes, validates the result, and reschedules when the
/// schedule changed.
pub async fn update(
    state: &AppState,
    viewer: &Claims,
    id: Uuid,
    changes: JobChanges,
) -> ApiResult<Job> {
    let plan = plan_of(state, viewer).await?;
    let mut job = owned(state, viewer, id).await?;
    let timing_changed = changes.timing();
    let mut draft = Draft::of_job(&job);
    changes.apply(&mut draft);
    validate::draft(&mut draft, plan, &targets(state))?;
    // A new schedule needs a slot to come (a COMPLETED job stays so until resumed).
    if timing_changed {
        schedule::has_next_run(&draft, Utc::now())?;
    }
    let schedule_changed = timing_changed
        && (draft.cron_expression != job.cron_expression
            || draft.timezone != job.timezone
            || draft.run_at != job.run_at
            || draft.start_at != job.start_at
            || draft.end_at != job.end_at
            || draft.max_runs != job.max_runs.map(i64::from)
            || draft.jitter_seconds != i64::from(job.jitter_seconds));
    draft.write_to(&mut job);
    if schedule_changed {
        job.next_run_at = scheduler::control::next_fire_time(&job, Utc::now());
    }
    crate::secrets::check_references(
        state,
        viewer.sub,
        &job.target_url,
        job.headers.as_ref(),
        job.body.as_deref(),
    )
    .await?;
    let mut conn = state.conn().await?;
    check_channels(&mut conn, viewer, draft.alert_policy.as_ref()).await?;
    let saved = Job::save(&mut conn, &job)
        .await?
        .ok_or_else(|| not_found(id))?;
    drop(conn);
    if schedule_changed {
        sync_schedule(state, &saved, plan).await;
    }
    Ok(saved)
}

/// `deleteJob`: the job, its logs, and its place in the schedule.
pub async fn delete(state: &AppState, viewer: &Claims, id: Uuid) -> ApiResult<bool> {
    let mut conn = state.conn().await?;
    if !Job::delete_owned(&mut conn, id, viewer.sub).await? {
        return Err(not_found(id));
    }
    drop(conn);
    if let Err(e) = scheduler::control::unschedule(&state.redis, &state.keys, viewer.sub, id).await
    {
        tracing::warn!(job_id = %id, error = %e, "deleted job left in Redis; the reconciler will remove it");
    }
    Ok(true)
}

/// `runJob`: a MANUAL run now, outside the schedule (paused jobs too). At most the plan's
/// `manualRunsPerMinute` per user (RATE_LIMITED beyond), and each counts against the
/// user's concurrency like any run.
pub async fn run_now(state: &AppState, viewer: &Claims, id: Uuid) -> ApiResult<ExecutionLog> {
    let plan = plan_of(state, viewer).await?;
    let job = owned(state, viewer, id).await?;
    let limit = crate::auth::rate_limit::Limit {
        name: "run-job",
        max: plan.limits().manual_runs_per_minute,
        window: std::time::Duration::from_secs(60),
    };
    crate::auth::limits::check(state, limit, &viewer.sub.to_string()).await?;
    let mut conn = state.conn().await?;
    Ok(scheduler::control::trigger_now(&mut conn, &state.redis, &state.keys, &job).await?)
}

/// `jobs` / `adminJobs`: one page and the total.
pub async fn list(
    state: &AppState,
    filter: &JobFilter,
    request: PageRequest,
) -> ApiResult<(Page<Job>, i64)> {
    let mut conn = state.conn().await?;
    let rows = Job::page(&mut conn, filter, request.after, request.limit()).await?;
    let total = Job::count(&mut conn, filter).await?;
    Ok((request.page(rows), total))
}
