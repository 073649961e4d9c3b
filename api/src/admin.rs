//! Operator operations behind the ADMIN resolvers: system statistics and account deletion.

use chrono::Utc;
use db::models::User;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::graphql::connection::{Page, PageRequest};
use crate::state::AppState;

/// Numbers an operator watches.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemTotals {
    pub users: db::models::stats::UserTotals,
    pub jobs: db::models::stats::JobTotals,
    pub runs: db::models::stats::RunTotals,
    /// Scheduled entries whose time has come (a stalled scheduler makes this grow).
    pub queue_depth: u64,
    /// How late the oldest due entry is, in milliseconds.
    pub scheduler_lag_ms: i64,
}

/// Reads the system totals from PostgreSQL and the scheduler's queue from Redis.
pub async fn system_totals(state: &AppState) -> ApiResult<SystemTotals> {
    use db::models::stats;
    let mut conn = state.conn().await?;
    let users = stats::user_totals(&mut conn).await?;
    let jobs = stats::job_totals(&mut conn, None).await?;
    let runs = stats::run_totals(&mut conn, None).await?;
    drop(conn);
    let (queue_depth, scheduler_lag_ms) =
        scheduler::queue::due_depth(&state.redis, &state.keys, Utc::now()).await?;
    Ok(SystemTotals {
        users,
        jobs,
        runs,
        queue_depth,
        scheduler_lag_ms,
    })
}

/// Makes a user an ADMIN or a USER; their open sockets close, so that what they see
/// live follows the new role at once. The last ADMIN cannot be demoted.
/// `adminUsers`: one page of the users matching `filter`, and how many match.
pub async fn users(
    state: &AppState,
    filter: &db::models::user::UserFilter,
    request: PageRequest,
) -> ApiResult<(Page<User>, i64)> {
    let mut conn = state.conn().await?;
    let rows = User::page(&mut conn, filter, request.after, request.limit()).await?;
    let total = User::count(&mut conn, filter).await?;
    Ok((request.page(rows), total))
}

pub async fn set_role(state: &AppState, id: Uuid, role: db::Role) -> ApiResult<User> {
    let mut conn = state.conn().await?;
    match User::set_role(&mut conn, id, role).await? {
        Ok(Some(user)) => {
            drop(conn);
            tracing::info!(user_id = %user.id, role = %user.role, "role changed");
            let reason = "your role changed: reconnect";
            crate::auth::session::announce_ended(state, user.id, None, None, reason).await;
            Ok(user)
        }
        Ok(None) => Err(ApiError::NotFound(format!("no user with id {id}"))),
        Err(db::models::user::LastAdmin) => Err(ApiError::Conflict(
            "this is the last administrator: promote someone else first".into(),
        )),
    }
}

/// Deletes a user with everything they own: their jobs leave the schedule, the rows go in
/// one transaction, and their open subscriptions end. The last ADMIN cannot be deleted.
pub async fn delete_user(state: &AppState, id: Uuid) -> ApiResult<bool> {
    let mut conn = state.conn().await?;
    let existing = User::find_optional(&mut conn, id).await?;
    if existing.is_none() {
        return Err(ApiError::NotFound(format!("no user with id {id}")));
    }
    match User::delete_cascade(&mut conn, id).await? {
        Err(db::models::user::LastAdmin) => Err(ApiError::Conflict(
            "this is the last administrator: promote someone else first".into(),
        )),
        Ok(None) => Err(ApiError::NotFound(format!("no user with id {id}"))),
        Ok(Some(jobs)) => {
            drop(conn);
            tracing::debug!(user_id = %id, jobs = jobs.len(), "deleting the user's schedules");
            if let Err(e) = scheduler::queue::forget_user(&state.redis, &state.keys, id).await {
                tracing::warn!(user_id = %id, error = %e, "deleted user's schedules left in Redis; their runs find no job and stop");
            }
            if let Err(e) =
                scheduler::events::publish_user_deleted(&state.redis, &state.keys, id).await
            {
                tracing::warn!(user_id = %id, error = %e, "could not end the deleted user's subscriptions");
            }
            tracing::info!(user_id = %id, "user deleted");
            Ok(true)
        }
    }
}
