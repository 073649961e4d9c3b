//! `executionLog` and `executionLogs`: the caller's runs.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use db::models::execution_log::LogFilter;

use super::ExecutionStatus;
use super::admin::parse_id;
use super::connection;
use super::execution_log::{ExecutionLog, ExecutionLogConnection, Total, logs_connection};
use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// One page of runs matching `filter` (their total counted if asked for).
pub async fn page(
    state: &AppState,
    filter: &LogFilter,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<ExecutionLogConnection> {
    let size = connection::page_size(first)?;
    let after = connection::decode_cursor(after.as_deref())?;
    let mut conn = state.conn().await?;
    let mut logs = db::models::ExecutionLog::page(&mut conn, filter, after, size + 1).await?;
    let has_next = logs.len() as i64 > size;
    logs.truncate(usize::try_from(size).unwrap_or(0));
    Ok(logs_connection(
        logs,
        has_next,
        Total::Matching(filter.clone()),
    ))
}

#[derive(Default)]
pub struct LogsQuery;

#[Object]
impl LogsQuery {
    /// One of the caller's runs (NOT_FOUND for anyone else's).
    async fn execution_log(&self, ctx: &Context<'_>, id: ID) -> Result<ExecutionLog> {
        let viewer = auth::viewer(ctx)?;
        let state = ctx.data_unchecked::<AppState>();
        let id = parse_id(&id, "execution log")?;
        let mut conn = state.conn().await?;
        let log = db::models::ExecutionLog::find(&mut conn, id)
            .await?
            .filter(|log| log.user_id == viewer.sub && log.is_shown())
            .ok_or_else(|| ApiError::NotFound(format!("no execution log with id {id}")))?;
        Ok(ExecutionLog::from(log))
    }

    /// The caller's runs, newest first, by job, status and start time (`since` inclusive,
    /// `until` exclusive).
    #[expect(clippy::too_many_arguments, reason = "the contract's arguments")]
    #[graphql(complexity = "connection::page_cost(first, child_complexity)")]
    async fn execution_logs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(20)")] first: Option<i32>,
        after: Option<String>,
        job_id: Option<ID>,
        status: Option<ExecutionStatus>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<ExecutionLogConnection> {
        let viewer = auth::viewer(ctx)?;
        let state = ctx.data_unchecked::<AppState>();
        let job_id = match job_id {
            Some(id) => Some(
                crate::jobs::owned(state, viewer, parse_id(&id, "job")?)
                    .await?
                    .id,
            ),
            None => None,
        };
        let filter = LogFilter {
            user_id: Some(viewer.sub),
            job_id,
            status: status.map(Into::into),
            since,
            until,
        };
        Ok(page(state, &filter, first, after).await?)
    }
}
