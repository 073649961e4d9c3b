//! The `Job` object and its connection.

use async_graphql::{Context, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{self, Edge, Page, PageInfo, PageRequest};
use super::execution_log::{ExecutionLogConnection, Total, logs_connection};
use super::loaders::Loaders;
use super::user::User;
use super::{ExecutionStatus, HttpMethod, JobStatus, TargetType};
use crate::error::ApiError;

/// A scheduled HTTP call.
#[derive(Debug, Clone)]
pub struct Job(pub db::models::Job);

impl Job {
    /// Its latest finished run, loaded with those of the other jobs of the answer.
    async fn last_run(&self, ctx: &Context<'_>) -> Result<Option<db::models::ExecutionLog>> {
        let loaders = ctx.data_unchecked::<Loaders>();
        Ok(loaders.last_runs.load_one(self.0.id).await?)
    }
}

#[Object]
impl Job {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// 5 fields (minute precision) or 6 (leading seconds), or a nickname like `@hourly`;
    /// `@once` for a job that runs once, at `runAt`.
    async fn cron_expression(&self) -> &str {
        self.0
            .cron_expression
            .as_deref()
            .unwrap_or(crate::jobs::schedule::ONCE)
    }

    /// The one instant a job that runs once fires at.
    async fn run_at(&self) -> Option<DateTime<Utc>> {
        self.0.run_at
    }

    /// No slot of its cron expression before this.
    async fn start_at(&self) -> Option<DateTime<Utc>> {
        self.0.start_at
    }

    /// No slot of its cron expression after this.
    async fn end_at(&self) -> Option<DateTime<Utc>> {
        self.0.end_at
    }

    /// Scheduled runs it makes at most.
    async fn max_runs(&self) -> Option<i32> {
        self.0.max_runs
    }

    /// Scheduled runs it may still make under `maxRuns` (null without `maxRuns`).
    async fn runs_left(&self) -> Option<i32> {
        self.0
            .max_runs
            .map(|max| (max - self.0.scheduled_runs).max(0))
    }

    /// Labels its owner groups jobs by.
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }

    /// Each slot leaves up to this many seconds after its time.
    async fn jitter_seconds(&self) -> i32 {
        self.0.jitter_seconds
    }

    /// IANA timezone the expression is read in.
    async fn timezone(&self) -> &str {
        &self.0.timezone
    }

    async fn target_type(&self) -> TargetType {
        self.0.target_type.into()
    }

    async fn target_url(&self) -> &str {
        &self.0.target_url
    }

    async fn http_method(&self) -> HttpMethod {
        self.0.http_method.into()
    }

    /// Extra request headers: a JSON object of string values. To anyone but the job's
    /// owner, the values of headers that look secret (`Authorization`, `Cookie`,
    /// `X-Api-Key`, names with `token`, `secret`, `password` or `key`) read `[masked]`.
    async fn headers(&self, ctx: &Context<'_>) -> Option<Json<serde_json::Value>> {
        let owner = crate::auth::viewer(ctx).is_ok_and(|viewer| viewer.sub == self.0.user_id);
        let mut headers = self.0.headers.clone()?;
        if !owner && let Some(map) = headers.as_object_mut() {
            for (name, value) in map.iter_mut() {
                if looks_secret(name) {
                    *value = serde_json::Value::from("[masked]");
                }
            }
        }
        Some(Json(headers))
    }

    async fn body(&self) -> Option<&str> {
        self.0.body.as_deref()
    }

    /// Request timeout in milliseconds.
    async fn timeout(&self) -> i32 {
        self.0.timeout_ms
    }

    /// Further attempts after a failed run.
    async fn max_retries(&self) -> i32 {
        self.0.max_retries
    }

    async fn status(&self) -> JobStatus {
        self.0.status.into()
    }

    /// The slot it fires next (null while paused, and once COMPLETED); its run leaves up
    /// to `jitterSeconds` later.
    async fn next_run_at(&self) -> Option<DateTime<Utc>> {
        scheduler::control::next_fire_time(&self.0, Utc::now())
    }

    /// When its latest finished run went out.
    async fn last_run_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        Ok(self.last_run(ctx).await?.and_then(|run| run.went_out_at()))
    }

    /// How its latest finished run ended.
    async fn last_status(&self, ctx: &Context<'_>) -> Result<Option<ExecutionStatus>> {
        Ok(self.last_run(ctx).await?.map(|run| run.status.into()))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The job's owner.
    async fn owner(&self, ctx: &Context<'_>) -> Result<User> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let user = loaders.users.load_one(self.0.user_id).await?;
        Ok(User(user.ok_or_else(|| {
            ApiError::NotFound("the owner no longer exists".into())
        })?))
    }

    /// What an answer must be for a run to succeed.
    async fn success_criteria(&self) -> super::criteria::SuccessCriteria {
        scheduler::criteria::SuccessCriteria::of_job(&self.0).into()
    }

    /// When its failures are told; null: never.
    async fn alert_policy(&self) -> Option<super::alerts::AlertPolicy> {
        scheduler::alerts::AlertPolicy::of_job(&self.0).map(Into::into)
    }

    /// Runs failed in a row, each counted once its retries are spent; a success resets
    /// it, and so does resuming a job the scheduler paused.
    async fn consecutive_failures(&self) -> i32 {
        self.0.consecutive_failures
    }

    /// Where the job stands with its failures.
    async fn health(&self) -> super::alerts::JobHealth {
        scheduler::alerts::health(&self.0).into()
    }

    /// Why the scheduler paused the job (`autoPauseAfter`); cleared by `resumeJob`.
    async fn paused_reason(&self) -> Option<&str> {
        self.0.paused_reason.as_deref()
    }

    /// Whether a slot fires while the previous run is still out.
    async fn overlap_policy(&self) -> super::retry::OverlapPolicy {
        super::retry::OverlapPolicy::parse(&self.0.overlap_policy)
    }

    /// What it does with the slots it missed while no scheduler claimed it.
    async fn catch_up_policy(&self) -> super::retry::CatchUpPolicy {
        scheduler::catch_up::CatchUp::parse(&self.0.catch_up_policy).into()
    }

    /// When its failed runs are tried again.
    async fn retry_policy(&self) -> super::retry::RetryPolicy {
        super::retry::RetryPolicy::of_job(&self.0)
    }

    /// What its owner wrote when pausing it (`pauseJob(note:)`); cleared by `resumeJob`.
    async fn pause_note(&self) -> Option<&str> {
        self.0.pause_note.as_deref()
    }

    /// The job's runs, newest first.
    #[graphql(complexity = "connection::page_cost(first, child_complexity)")]
    async fn logs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ExecutionLogConnection> {
        let request = PageRequest::read(first, after.as_deref())?;
        let total = Total::OfJob(self.0.id);
        if request.after.is_none() {
            // The first page of many jobs comes from one query.
            let loaders = ctx.data_unchecked::<Loaders>();
            let logs = loaders
                .newest_logs
                .load_one((self.0.id, request.limit()))
                .await?
                .unwrap_or_default();
            return Ok(logs_connection(request.page(logs), total));
        }
        let state = ctx.data_unchecked::<crate::state::AppState>();
        let filter = db::models::execution_log::LogFilter {
            job_id: Some(self.0.id),
            ..Default::default()
        };
        let page = crate::runs::page(state, &filter, request).await?;
        Ok(logs_connection(page, total))
    }
}

/// Whether a header's value is likely a credential.
fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || ["token", "secret", "password", "key", "auth"]
        .iter()
        .any(|word| name.contains(word))
}

/// A page of jobs, newest first.
#[derive(SimpleObject, Debug)]
pub struct JobConnection {
    pub edges: Vec<Edge<Job>>,
    pub page_info: PageInfo,
    /// Jobs matching the filters, over all pages.
    #[graphql(complexity = "super::limits::COUNT_COST")]
    pub total_count: i32,
}

/// Builds a connection from one page.
pub fn jobs_connection(page: Page<db::models::Job>, total: i64) -> JobConnection {
    let (edges, page_info) = page.edges(Job);
    JobConnection {
        edges,
        page_info,
        total_count: super::stats::int(total),
    }
}
