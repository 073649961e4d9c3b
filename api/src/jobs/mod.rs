//! Jobs and plans: the functions behind the job mutations. Each keeps PostgreSQL (the
//! truth) and the scheduler's Redis schedules in step; when the Redis write fails, the database
//! write stands and the reconciler puts Redis right within a second or two.

pub mod backfill;
mod stored;
pub mod validate;

use chrono::Utc;
use db::models::job::{JobFilter, LimitReached, NewJob};
use db::models::{ExecutionLog, Job, User};
use db::{JobStatus, Plan, TargetType};
use uuid::Uuid;

use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};
use crate::graphql::connection::{Page, PageRequest};
use crate::state::AppState;
use scheduler::alerts::AlertPolicy;
use scheduler::criteria::SuccessCriteria;
use stored::{check_channels, criteria_json, policy_json, retry_json};
use validate::Draft;

/// What `createJob` gives (defaults already applied by the schema).
pub type NewJobInput = Draft;

/// What `updateJob` changes: `None` leaves a field as it is; for the nullable fields,
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct JobChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub cron_expression: Option<String>,
    pub timezone: Option<String>,
    pub target_url: Option<String>,
    pub http_method: Option<db::HttpMethod>,
    pub headers: Option<Option<serde_json::Value>>,
    pub body: Option<Option<String>>,
    pub timeout_ms: Option<i64>,
    pub max_retries: Option<i64>,
    /// `Some(None)` goes back to the default (any 2xx).
    pub success_criteria: Option<Option<SuccessCriteria>>,
    /// `Some(None)` removes the policy.
    pub alert_policy: Option<Option<AlertPolicy>>,
    /// `Some(None)` goes back to the defaults.
    pub retry_policy: Option<Option<scheduler::retry::Stored>>,
    pub catch_up: Option<scheduler::catch_up::CatchUp>,
    pub overlap: Option<&'static str>,
}

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

/// `createJob`.
pub async fn create(state: &AppState, viewer: &Claims, mut draft: Draft) -> ApiResult<Job> {
    let plan = plan_of(state, viewer).await?;
    validate::draft(&mut draft, plan, &targets(state))?;
    let now = Utc::now();
    let next_run_at =
        scheduler::cron::Schedule::of_job(&draft.cron_expression, &draft.timezone, draft.id)
            .ok()
            .and_then(|s| s.next_after(now));
    let timeout_ms = i32::try_from(draft.timeout_ms).unwrap_or(i32::MAX);
    let max_retries = i32::try_from(draft.max_retries).unwrap_or(i32::MAX);
    let criteria_json = criteria_json(draft.success_criteria.as_ref());
    let policy_json = policy_json(draft.alert_policy.as_ref());
    let retry_json = retry_json(draft.retry_policy.as_ref());
    let mut conn = state.conn().await?;
    check_channels(&mut conn, viewer, draft.alert_policy.as_ref()).await?;
    let created = Job::create_within_limit(
        &mut conn,
        &NewJob {
            id: draft.id,
            user_id: viewer.sub,
            name: &draft.name,
            description: draft.description.as_deref(),
            cron_expression: draft.cron_expression.trim(),
            timezone: draft.timezone.trim(),
            target_type: TargetType::Http,
            target_url: draft.target_url.trim(),
            http_method: draft.http_method,
            headers: draft.headers.as_ref(),
            body: draft.body.as_deref(),
            timeout_ms,
            max_retries,
            status: JobStatus::Active,
            next_run_at,
            success_criteria: criteria_json.as_ref(),
            alert_policy: policy_json.as_ref(),
            retry_policy: retry_json.as_ref(),
            catch_up_policy: draft.catch_up.as_str(),
            overlap_policy: draft.overlap,
        },
        i64::from(plan.limits().max_jobs),
    )
    .await?;
    drop(conn);
    let job = created.map_err(|LimitReached { owned }| {
        ApiError::PlanLimitReached(format!(
            "the {plan} plan allows {} jobs and you have {owned}: delete one or upgrade with updatePlan",
            plan.limits().max_jobs
        ))
    })?;
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
    let mut draft = Draft {
        id: job.id,
        name: changes.name.unwrap_or(job.name.clone()),
        description: changes.description.unwrap_or(job.description.clone()),
        cron_expression: changes
            .cron_expression
            .unwrap_or(job.cron_expression.clone()),
        timezone: changes.timezone.unwrap_or(job.timezone.clone()),
        target_url: changes.target_url.unwrap_or(job.target_url.clone()),
        http_method: changes.http_method.unwrap_or(job.http_method),
        headers: changes.headers.unwrap_or(job.headers.clone()),
        body: changes.body.unwrap_or(job.body.clone()),
        timeout_ms: changes.timeout_ms.unwrap_or(i64::from(job.timeout_ms)),
        max_retries: changes.max_retries.unwrap_or(i64::from(job.max_retries)),
        success_criteria: match changes.success_criteria {
            Some(criteria) => criteria,
            None => SuccessCriteria::of_job(&job),
        },
        alert_policy: match changes.alert_policy {
            Some(policy) => policy,
            None => AlertPolicy::of_job(&job),
        },
        retry_policy: match changes.retry_policy {
            Some(retry) => retry,
            None => job
                .retry_policy
                .is_some()
                .then(|| scheduler::retry::Stored::of_job(&job)),
        },
        catch_up: changes
            .catch_up
            .unwrap_or_else(|| scheduler::catch_up::CatchUp::parse(&job.catch_up_policy)),
        overlap: changes
            .overlap
            .unwrap_or_else(|| crate::graphql::OverlapPolicy::parse(&job.overlap_policy).as_str()),
    };
    validate::draft(&mut draft, plan, &targets(state))?;
    let schedule_changed = draft.cron_expression.trim() != job.cron_expression
        || draft.timezone.trim() != job.timezone;
    job.name = draft.name;
    job.description = draft.description;
    job.cron_expression = draft.cron_expression.trim().to_owned();
    job.timezone = draft.timezone.trim().to_owned();
    job.target_url = draft.target_url.trim().to_owned();
    job.http_method = draft.http_method;
    job.headers = draft.headers;
    job.body = draft.body;
    job.timeout_ms = i32::try_from(draft.timeout_ms).unwrap_or(i32::MAX);
    job.max_retries = i32::try_from(draft.max_retries).unwrap_or(i32::MAX);
    job.success_criteria = criteria_json(draft.success_criteria.as_ref());
    job.alert_policy = policy_json(draft.alert_policy.as_ref());
    job.retry_policy = retry_json(draft.retry_policy.as_ref());
    job.catch_up_policy = draft.catch_up.as_str().to_owned();
    job.overlap_policy = draft.overlap.to_owned();
    if schedule_changed {
        job.next_run_at = scheduler::control::next_fire_time(&job, Utc::now());
    }
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

/// Longest note `pauseJob` keeps, in characters.
pub const MAX_PAUSE_NOTE: usize = 500;

/// `pauseJob` (with the owner's note, if any) and `resumeJob`. Pausing a paused job
/// replaces its note.
pub async fn set_status(
    state: &AppState,
    viewer: &Claims,
    id: Uuid,
    status: JobStatus,
    note: Option<String>,
) -> ApiResult<Job> {
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
    let plan = plan_of(state, viewer).await?;
    let mut job = owned(state, viewer, id).await?;
    if job.status == status && (status == JobStatus::Active || note.is_none()) {
        return Ok(job);
    }
    let resumed = job.status != status && status == JobStatus::Active;
    job.status = status;
    job.pause_note = note;
    job.next_run_at = scheduler::control::next_fire_time(&job, Utc::now());
    // Resuming a job the scheduler paused starts its count of failures afresh: else the
    // first failure would pause it again.
    let auto_paused = resumed && job.paused_reason.take().is_some();
    let mut conn = state.conn().await?;
    let mut saved = Job::save(&mut conn, &job)
        .await?
        .ok_or_else(|| not_found(id))?;
    if auto_paused {
        Job::clear_failures(&mut conn, id).await?;
        saved.consecutive_failures = 0;
    }
    drop(conn);
    sync_schedule(state, &saved, plan).await;
    Ok(saved)
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

/// `updatePlan`: upgrades apply at once; a downgrade the user's jobs exceed is refused
/// with what to change.
pub async fn update_plan(state: &AppState, viewer: &Claims, plan: Plan) -> ApiResult<User> {
    let mut conn = state.conn().await?;
    let result =
        User::change_plan(&mut conn, viewer.sub, plan, move |jobs| fits(plan, jobs)).await?;
    let user = result.map_err(ApiError::PlanLimitReached)?;
    if let Err(e) = scheduler::queue::set_plan(&state.redis, &state.keys, user.id, plan).await {
        tracing::warn!(user_id = %user.id, error = %e, "new plan not in Redis yet; the reconciler will record it");
    }
    Ok(user)
}

/// Whether a user's jobs fit a plan; otherwise what to change, naming the jobs.
fn fits(plan: Plan, jobs: &[Job]) -> Result<(), String> {
    let limits = plan.limits();
    let mut problems = Vec::new();
    if jobs.len() > limits.max_jobs as usize {
        problems.push(format!(
            "you have {} jobs and the {plan} plan allows {}: delete {}",
            jobs.len(),
            limits.max_jobs,
            jobs.len() - limits.max_jobs as usize
        ));
    }
    for job in jobs {
        if job.timeout_ms > limits.max_timeout_ms as i32 {
            problems.push(format!(
                "lower the timeout of `{}` to {} ms or less",
                job.name, limits.max_timeout_ms
            ));
        }
        if job.max_retries > limits.max_retries as i32 {
            problems.push(format!(
                "lower maxRetries of `{}` to {} or less",
                job.name, limits.max_retries
            ));
        }
        if validate::schedule(&job.cron_expression, &job.timezone, limits, plan, job.id).is_err() {
            problems.push(format!(
                "`{}` runs more often than once every {} s",
                job.name, limits.min_interval_seconds
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let shown = problems.len().min(5);
    let more = problems.len() - shown;
    let mut message = format!(
        "your jobs do not fit the {plan} plan: {}",
        problems[..shown].join("; ")
    );
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    Err(message)
}
