//! The `ExecutionLog` object and its connection.

use async_graphql::{ComplexObject, Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{Edge, Page, PageInfo};
use super::job::Job;
use super::job_names::JobNames;
use super::loaders::Loaders;
use super::{ExecutionStatus, ExecutionTrigger};
use crate::error::ApiError;

/// One attempt of one run of a job.
#[derive(Debug, Clone)]
pub struct ExecutionLog(pub db::models::ExecutionLog, pub Body);

/// Where a run's response body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Body {
    /// In the row at hand (`None` there: the run has none).
    #[default]
    InRow,
    /// Left out of a live event: read from the run's row if asked for.
    LeftOut,
}

impl From<db::models::ExecutionLog> for ExecutionLog {
    fn from(row: db::models::ExecutionLog) -> ExecutionLog {
        ExecutionLog(row, Body::InRow)
    }
}

impl ExecutionLog {
    /// When the run's request went out, if it has.
    fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.went_out_at()
    }
}

#[Object]
impl ExecutionLog {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The job that ran.
    async fn job(&self, ctx: &Context<'_>) -> Result<Job> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let job = loaders.jobs.load_one(self.0.job_id).await?;
        Ok(Job(job.ok_or_else(|| {
            ApiError::NotFound("the job no longer exists".into())
        })?))
    }

    /// The id of the job that ran (without loading it).
    async fn job_id(&self) -> ID {
        ID(self.0.job_id.to_string())
    }

    /// The name of the job that ran. Names are kept per API process for 30 s, so a live
    /// feed that shows them costs no read per event (a rename shows within 30 s).
    async fn job_name(&self, ctx: &Context<'_>) -> Result<String> {
        let names = ctx.data_unchecked::<JobNames>();
        let loaders = ctx.data_unchecked::<Loaders>();
        let name = names
            .name(self.0.job_id, || async {
                let job = loaders.jobs.load_one(self.0.job_id).await?;
                Ok::<_, async_graphql::Error>(job.map(|job| job.name))
            })
            .await?;
        let name = name.ok_or_else(|| ApiError::NotFound("the job no longer exists".into()))?;
        Ok(name.to_string())
    }

    async fn status(&self) -> ExecutionStatus {
        self.0.status.into()
    }

    async fn trigger(&self) -> ExecutionTrigger {
        self.0.trigger.into()
    }

    /// 1 for the first try of a slot, n for its (n-1)th retry.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }

    /// The slot this run belongs to.
    async fn scheduled_for(&self) -> DateTime<Utc> {
        self.0.scheduled_for
    }

    /// Fired well after its slot (the scheduler was down, or Redis lost its data).
    async fn late(&self) -> bool {
        self.0.late
    }

    /// When the request went out; null while the run is PENDING (not sent yet).
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.sent_at()
    }

    /// How long after its slot the request went out (`startedAt - scheduledFor`, in
    /// milliseconds): the scheduler's firing delay for a SCHEDULE run, the wait in the
    /// queue for a MANUAL one, and for a RETRY the time since the slot it retries. Null
    /// while PENDING.
    async fn delay_ms(&self) -> Option<i32> {
        self.sent_at().map(|sent| {
            let ms = (sent - self.0.scheduled_for).num_milliseconds();
            i32::try_from(ms).unwrap_or(if ms < 0 { i32::MIN } else { i32::MAX })
        })
    }

    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }

    async fn duration_ms(&self) -> Option<i32> {
        self.0.duration_ms
    }

    async fn http_status(&self) -> Option<i32> {
        self.0.http_status
    }

    /// At most 64 KiB of the response body, as text: bytes that are not UTF-8, and NUL,
    /// show as U+FFFD (�); a character cut by the 64 KiB limit is left out.
    async fn response_body(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        if self.1 == Body::InRow {
            return Ok(self.0.response_body.clone());
        }
        let state = ctx.data_unchecked::<crate::state::AppState>();
        let mut conn = state.conn().await?;
        let row = db::models::ExecutionLog::find(&mut conn, self.0.id)
            .await
            .map_err(ApiError::from)?;
        Ok(row.and_then(|row| row.response_body))
    }

    /// Whether the body went on past the 64 KiB kept in `responseBody` (the rest was not
    /// read).
    async fn response_body_truncated(&self) -> bool {
        self.0.response_body_truncated
    }

    /// The `Content-Type` the target declared (what `responseBody` was meant to be), as
    /// one line of at most 256 characters.
    async fn response_content_type(&self) -> Option<&str> {
        self.0.response_content_type.as_deref()
    }

    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

/// A page of runs, newest first.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct ExecutionLogConnection {
    pub edges: Vec<Edge<ExecutionLog>>,
    pub page_info: PageInfo,
    /// What `totalCount` counts, counted only when it is asked for: over a long history
    /// the count costs far more than the page.
    #[graphql(skip)]
    pub total: Total,
}

/// The runs a connection's `totalCount` counts.
#[derive(Debug, Clone)]
pub enum Total {
    /// Those matching a filter.
    Matching(db::models::execution_log::LogFilter),
    /// One job's, counted with those of the other jobs of the answer.
    OfJob(uuid::Uuid),
}

#[ComplexObject]
impl ExecutionLogConnection {
    /// Runs matching the filters, over all pages.
    #[graphql(complexity = "super::limits::COUNT_COST")]
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let total = match &self.total {
            Total::Matching(filter) => {
                let state = ctx.data_unchecked::<crate::state::AppState>();
                let mut conn = state.conn().await?;
                db::models::ExecutionLog::count(&mut conn, filter)
                    .await
                    .map_err(crate::error::ApiError::from)?
            }
            Total::OfJob(job_id) => {
                let loaders = ctx.data_unchecked::<Loaders>();
                loaders.log_counts.load_one(*job_id).await?.unwrap_or(0)
            }
        };
        Ok(super::stats::int(total))
    }
}

/// Builds a connection from one page.
pub fn logs_connection(
    page: Page<db::models::ExecutionLog>,
    total: Total,
) -> ExecutionLogConnection {
    let (edges, page_info) = page.edges(ExecutionLog::from);
    ExecutionLogConnection {
        edges,
        page_info,
        total,
    }
}
