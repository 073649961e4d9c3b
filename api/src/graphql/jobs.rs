//! Jobs and plans: `job`, `jobs`, `nextRuns` and the job mutations, plus `updatePlan`.
//! Resolvers read their input, call `crate::jobs`, and map the result.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};

use super::admin::parse_id;
use super::alerts::AlertPolicyInput;
use super::connection;
use super::criteria::SuccessCriteriaInput;
use super::execution_log::ExecutionLog;
use super::job::{Job, JobConnection, jobs_connection};
use super::retry::{CatchUpPolicy, OverlapPolicy, RetryPolicyInput};
use super::user::User;
use super::{HttpMethod, JobStatus, Plan, TargetType};
use crate::auth;
use crate::error::ApiError;
use crate::jobs::{self, JobChanges, validate::Draft};
use crate::state::AppState;

fn state<'a>(ctx: &'a Context<'_>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// `createJob`'s input.
#[derive(InputObject, Debug)]
pub struct CreateJobInput {
    /// 1 to 100 characters.
    name: String,
    description: Option<String>,
    /// 5 fields, or 6 with a leading seconds field; names, `L`, `W`, `#`, `H` and
    /// `@hourly`-style nicknames. Give this or `runAt`.
    cron_expression: Option<String>,
    /// The one instant a job that runs once fires at (then it is COMPLETED); instead of
    /// `cronExpression`.
    run_at: Option<DateTime<Utc>>,
    /// No slot of the cron expression before this.
    start_at: Option<DateTime<Utc>>,
    /// No slot of the cron expression after this; then the job is COMPLETED.
    end_at: Option<DateTime<Utc>>,
    /// Scheduled runs the job makes at most (1 to 1,000,000); then it is COMPLETED.
    max_runs: Option<i32>,
    /// Each slot leaves up to this many seconds late, by a delay derived from the job
    /// and the slot; at most half the shortest interval. `scheduledFor` stays the slot.
    #[graphql(default_with = "Some(0)")]
    jitter_seconds: Option<i32>,
    /// An IANA name.
    #[graphql(default_with = "Some(\"UTC\".to_owned())")]
    timezone: Option<String>,
    #[graphql(default_with = "Some(TargetType::Http)")]
    target_type: Option<TargetType>,
    /// An absolute http(s) URL.
    target_url: String,
    #[graphql(default_with = "Some(HttpMethod::Get)")]
    http_method: Option<HttpMethod>,
    /// A JSON object of header names to string values.
    headers: Option<Json<serde_json::Value>>,
    /// Request body (not for GET or HEAD), at most 64 KiB.
    body: Option<String>,
    /// Request timeout in milliseconds, up to the plan's maximum.
    #[graphql(default_with = "Some(10_000)")]
    timeout: Option<i32>,
    /// Further attempts after a failed run, up to the plan's maximum.
    #[graphql(default_with = "Some(0)")]
    max_retries: Option<i32>,
    /// What an answer must be for a run to succeed. Default: any 2xx.
    success_criteria: Option<SuccessCriteriaInput>,
    /// When the job's failures are told, and to which channels. Default: never.
    alert_policy: Option<AlertPolicyInput>,
    /// Which failures are retried and how long each retry waits. Its `maxRetries`
    /// replaces the top-level one.
    retry_policy: Option<RetryPolicyInput>,
    /// What the job does with slots missed while no scheduler claimed it.
    #[graphql(default_with = "Some(CatchUpPolicy::LatestOnce)")]
    catch_up_policy: Option<CatchUpPolicy>,
    /// Whether a slot fires while the previous run is still out.
    #[graphql(default_with = "Some(OverlapPolicy::Allow)")]
    overlap_policy: Option<OverlapPolicy>,
    /// Labels to group jobs by: at most 20, each 1 to 50 letters, digits or `-_.:/`.
    tags: Option<Vec<String>>,
}

/// What `backfillJob` queued.
#[derive(async_graphql::SimpleObject, Debug)]
pub struct BackfillPayload {
    /// The slots that will fire, oldest first (those with a run already are left out).
    pub slots: Vec<DateTime<Utc>>,
}

/// `updateJob`'s input: every field optional; `null` clears description, headers and body.
#[derive(InputObject, Debug)]
pub struct UpdateJobInput {
    name: Option<String>,
    description: MaybeUndefined<String>,
    /// Makes a job that ran once a cron job.
    cron_expression: Option<String>,
    timezone: Option<String>,
    /// Makes a cron job one that runs once, then.
    run_at: Option<DateTime<Utc>>,
    /// `null` removes the bound.
    start_at: MaybeUndefined<DateTime<Utc>>,
    /// `null` removes the bound.
    end_at: MaybeUndefined<DateTime<Utc>>,
    /// `null` removes the bound.
    max_runs: MaybeUndefined<i32>,
    jitter_seconds: Option<i32>,
    target_type: Option<TargetType>,
    target_url: Option<String>,
    http_method: Option<HttpMethod>,
    headers: MaybeUndefined<Json<serde_json::Value>>,
    body: MaybeUndefined<String>,
    timeout: Option<i32>,
    max_retries: Option<i32>,
    /// `null` goes back to the default (any 2xx).
    success_criteria: MaybeUndefined<SuccessCriteriaInput>,
    /// `null` removes the policy.
    alert_policy: MaybeUndefined<AlertPolicyInput>,
    /// `null` goes back to the defaults (every failure, 1 s base, 5 min cap); its
    /// `maxRetries` replaces the top-level one.
    retry_policy: MaybeUndefined<RetryPolicyInput>,
    catch_up_policy: Option<CatchUpPolicy>,
    overlap_policy: Option<OverlapPolicy>,
    /// Replaces the job's tags.
    tags: Option<Vec<String>>,
}

fn maybe<T, U>(value: MaybeUndefined<T>, map: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(map(v))),
    }
}

fn job_id(id: &ID) -> Result<uuid::Uuid, ApiError> {
    parse_id(id, "job")
}

#[derive(Default)]
pub struct JobsQuery;

#[Object]
impl JobsQuery {
    /// One of the caller's jobs (NOT_FOUND for anyone else's).
    async fn job(&self, ctx: &Context<'_>, id: ID) -> Result<Job> {
        let viewer = auth::viewer(ctx)?;
        Ok(Job(jobs::owned(state(ctx), viewer, job_id(&id)?).await?))
    }

    /// The caller's jobs, newest first.
    #[graphql(complexity = "connection::page_cost(first, child_complexity)")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(20)")] first: Option<i32>,
        after: Option<String>,
        status: Option<JobStatus>,
        search: Option<String>,
        tag: Option<String>,
    ) -> Result<JobConnection> {
        let viewer = auth::viewer(ctx)?;
        let request = connection::PageRequest::read(first, after.as_deref())?;
        let filter = db::models::job::JobFilter {
            user_id: Some(viewer.sub),
            status: status.map(Into::into),
            search,
            tag,
        };
        let (page, total) = jobs::list(state(ctx), &filter, request).await?;
        Ok(jobs_connection(page, total))
    }

    /// The next `count` (1 to 50) fire times of an expression in a timezone, after `after`
    /// (default: now), within `startAt`, `endAt` and `maxRuns` as a job would have them,
    /// without creating anything. `H` fields resolve as for the job `jobId` (an id of
    /// the caller's jobs); without it, as for the nil id, which shows the shape, not a
    /// new job's own times (those derive from its id, once made).
    #[graphql(
        complexity = "super::limits::REPORT_COST / 10 + count.unwrap_or(5).clamp(0, 50) as usize"
    )]
    #[expect(clippy::too_many_arguments, reason = "the contract's arguments")]
    async fn next_runs(
        &self,
        ctx: &Context<'_>,
        cron_expression: String,
        #[graphql(default_with = "Some(\"UTC\".to_owned())")] timezone: Option<String>,
        #[graphql(default_with = "Some(5)")] count: Option<i32>,
        after: Option<DateTime<Utc>>,
        #[graphql(name = "jobId")] for_job: Option<ID>,
        start_at: Option<DateTime<Utc>>,
        end_at: Option<DateTime<Utc>>,
        max_runs: Option<i32>,
    ) -> Result<Vec<DateTime<Utc>>> {
        let count = count.unwrap_or(5);
        if !(1..=50).contains(&count) {
            return Err(ApiError::bad_input("count", "must be 1 to 50").into());
        }
        let timezone = timezone.unwrap_or_else(|| "UTC".to_owned());
        let seed = match for_job {
            Some(id) => {
                let viewer = auth::viewer(ctx)?;
                jobs::owned(state(ctx), viewer, job_id(&id)?).await?.id
            }
            None => uuid::Uuid::nil(),
        };
        let resolved = scheduler::cron_hash::resolve(&cron_expression, seed)
            .map_err(|e| ApiError::bad_input("cronExpression", e.to_string()))?;
        scheduler::cron::parse_expression(&resolved)
            .map_err(|e| ApiError::bad_input("cronExpression", e.to_string()))?;
        scheduler::cron::parse_timezone(&timezone)
            .map_err(|e| ApiError::bad_input("timezone", e.to_string()))?;
        if max_runs.is_some_and(|max| max < 1) {
            return Err(ApiError::bad_input("maxRuns", "must be 1 or more").into());
        }
        let timing = scheduler::timing::Timing::of(scheduler::timing::Fields {
            id: seed,
            cron_expression: Some(&cron_expression),
            timezone: &timezone,
            run_at: None,
            start_at,
            end_at,
            max_runs,
            scheduled_runs: 0,
            jitter_seconds: 0,
        })
        .map_err(|e| ApiError::bad_input("cronExpression", e.to_string()))?;
        Ok(timing.upcoming(after.unwrap_or_else(Utc::now), count as usize))
    }
}

#[derive(Default)]
pub struct JobsMutation;

#[Object]
impl JobsMutation {
    /// Creates a job; it is ACTIVE and on the schedule at once.
    async fn create_job(&self, ctx: &Context<'_>, input: CreateJobInput) -> Result<Job> {
        let viewer = auth::viewer(ctx)?;
        let _ = input.target_type; // HTTP is the only kind
        let draft = Draft {
            id: uuid::Uuid::new_v4(),
            name: input.name,
            description: input.description,
            cron_expression: input.cron_expression,
            // An explicit null means the default, as an omitted field does.
            timezone: input.timezone.unwrap_or_else(|| "UTC".to_owned()),
            run_at: input.run_at,
            start_at: input.start_at,
            end_at: input.end_at,
            max_runs: input.max_runs.map(i64::from),
            scheduled_runs: 0,
            jitter_seconds: i64::from(input.jitter_seconds.unwrap_or(0)),
            target_url: input.target_url,
            http_method: input.http_method.unwrap_or(HttpMethod::Get).into(),
            headers: input.headers.map(|h| h.0),
            body: input.body,
            timeout_ms: i64::from(input.timeout.unwrap_or(10_000)),
            max_retries: i64::from(
                input
                    .retry_policy
                    .as_ref()
                    .and_then(|p| p.max_retries)
                    .or(input.max_retries)
                    .unwrap_or(0),
            ),
            success_criteria: input.success_criteria.map(Into::into),
            alert_policy: input.alert_policy.map(AlertPolicyInput::read).transpose()?,
            retry_policy: input
                .retry_policy
                .as_ref()
                .map(RetryPolicyInput::read)
                .transpose()?,
            catch_up: input.catch_up_policy.map(Into::into).unwrap_or_default(),
            overlap: input
                .overlap_policy
                .unwrap_or(OverlapPolicy::Allow)
                .as_str(),
            tags: input.tags.unwrap_or_default(),
        };
        Ok(Job(jobs::create(state(ctx), viewer, draft).await?))
    }

    /// Changes a job; a new schedule or timezone takes effect at once.
    async fn update_job(&self, ctx: &Context<'_>, id: ID, input: UpdateJobInput) -> Result<Job> {
        let viewer = auth::viewer(ctx)?;
        let changes = JobChanges {
            name: input.name,
            description: maybe(input.description, |d| d),
            cron_expression: input.cron_expression,
            timezone: input.timezone,
            run_at: input.run_at,
            start_at: maybe(input.start_at, |at| at),
            end_at: maybe(input.end_at, |at| at),
            max_runs: maybe(input.max_runs, i64::from),
            jitter_seconds: input.jitter_seconds.map(i64::from),
            target_url: input.target_url,
            http_method: input.http_method.map(Into::into),
            headers: maybe(input.headers, |h| h.0),
            body: maybe(input.body, |b| b),
            timeout_ms: input.timeout.map(i64::from),
            max_retries: match &input.retry_policy {
                MaybeUndefined::Value(p) if p.max_retries.is_some() => p.max_retries,
                _ => input.max_retries,
            }
            .map(i64::from),
            success_criteria: maybe(input.success_criteria, Into::into),
            alert_policy: match input.alert_policy {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(policy) => Some(Some(policy.read()?)),
            },
            retry_policy: match &input.retry_policy {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(policy) => Some(Some(policy.read()?)),
            },
            catch_up: input.catch_up_policy.map(Into::into),
            overlap: input.overlap_policy.map(OverlapPolicy::as_str),
            tags: input.tags,
        };
        let _ = input.target_type;
        Ok(Job(
            jobs::update(state(ctx), viewer, job_id(&id)?, changes).await?
        ))
    }

    /// Deletes a job with its logs.
    async fn delete_job(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let viewer = auth::viewer(ctx)?;
        Ok(jobs::delete(state(ctx), viewer, job_id(&id)?).await?)
    }

    /// Stops firing a job until `resumeJob`.
    async fn pause_job(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(
            desc = "Why, for whoever looks at the job (at most 500 characters); kept in `pauseNote` until it is resumed. Pausing a paused job replaces it."
        )]
        note: Option<String>,
    ) -> Result<Job> {
        let viewer = auth::viewer(ctx)?;
        Ok(Job(jobs::set_status(
            state(ctx),
            viewer,
            job_id(&id)?,
            db::JobStatus::Paused,
            note,
        )
        .await?))
    }

    /// Puts a paused job back on its schedule, from now on.
    async fn resume_job(&self, ctx: &Context<'_>, id: ID) -> Result<Job> {
        let viewer = auth::viewer(ctx)?;
        Ok(Job(jobs::set_status(
            state(ctx),
            viewer,
            job_id(&id)?,
            db::JobStatus::Active,
            None,
        )
        .await?))
    }

    /// Fires the job's slots in `[from, to)` (at most 1,000; `to` not in the future) that
    /// have no run yet, oldest first, one per plan interval: each a BACKFILL run with its
    /// slot's `X-CronOps-Scheduled-For` and execution id, for a paused job too. Answers
    /// the slots queued. At most 10 backfills an hour.
    async fn backfill_job(
        &self,
        ctx: &Context<'_>,
        id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<BackfillPayload> {
        let viewer = auth::viewer(ctx)?;
        let slots = jobs::backfill::backfill(state(ctx), viewer, job_id(&id)?, from, to).await?;
        Ok(BackfillPayload { slots })
    }

    /// Fires a job now, outside its schedule (paused jobs too). Returns the run as it
    /// starts; follow it with `executionLog` or the `executionEvents` subscription.
    async fn run_job(&self, ctx: &Context<'_>, id: ID) -> Result<ExecutionLog> {
        let viewer = auth::viewer(ctx)?;
        Ok(ExecutionLog::from(
            jobs::run_now(state(ctx), viewer, job_id(&id)?).await?,
        ))
    }

    /// Switches the caller's plan. Upgrades apply at once; a downgrade that the jobs
    /// exceed is refused with what to change.
    async fn update_plan(&self, ctx: &Context<'_>, plan: Plan) -> Result<User> {
        let viewer = auth::viewer(ctx)?;
        Ok(User(
            jobs::update_plan(state(ctx), viewer, plan.into()).await?,
        ))
    }
}
