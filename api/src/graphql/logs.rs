//! `executionLog` and `executionLogs`: the caller's runs.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use db::models::execution_log::LogFilter;

use super::ExecutionStatus;
use super::admin::parse_id;
use super::connection::{self, PageRequest};
use super::execution_log::{ExecutionLog, ExecutionLogConnection, Total, logs_connection};
use crate::auth;
use crate::error::ApiResult;
use crate::state::AppState;

/// One page of runs matching `filter`, their total counted if asked for.
pub async fn page(
    state: &AppState,
    filter: LogFilter,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<ExecutionLogConnection> {
    let request = PageRequest::read(first, after.as_deref())?;
    let page = crate::runs::page(state, &filter, request).await?;
    Ok(logs_connection(page, Total::Matching(filter)))
}

#[derive(Default)]
pub struct LogsQuery;

#[Object]
impl LogsQuery {
    /// One of the caller's runs (NOT_FOUND for anyone else's).
    async fn execution_log(&self, ctx: &Context<'_>, id: ID) -> Result<ExecutionLog> {
        let viewer = auth::viewer(ctx)?;
        let state = ctx.data_unchecked::<AppState>();
        let log = crate::runs::owned(state, viewer, parse_id(&id, "execution log")?).await?;
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
        Ok(page(state, filter, first, after).await?)
    }
}
