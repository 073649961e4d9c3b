//! Runs as their owners and operators read them: one run, and pages of runs.

use db::models::ExecutionLog;
use db::models::execution_log::LogFilter;
use uuid::Uuid;

use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};
use crate::graphql::connection::{Page, PageRequest};
use crate::state::AppState;

/// One of the viewer's runs; anyone else's, or one not shown yet, is NOT_FOUND.
pub async fn owned(state: &AppState, viewer: &Claims, id: Uuid) -> ApiResult<ExecutionLog> {
    let mut conn = state.conn().await?;
    db::models::ExecutionLog::find(&mut conn, id)
        .await?
        .filter(|log| log.user_id == viewer.sub && log.is_shown())
        .ok_or_else(|| ApiError::NotFound(format!("no execution log with id {id}")))
}

/// One page of the runs matching `filter`, newest first.
pub async fn page(
    state: &AppState,
    filter: &LogFilter,
    request: PageRequest,
) -> ApiResult<Page<ExecutionLog>> {
    let mut conn = state.conn().await?;
    let rows = ExecutionLog::page(&mut conn, filter, request.after, request.limit()).await?;
    Ok(request.page(rows))
}
