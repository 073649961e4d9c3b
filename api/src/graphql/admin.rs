//! Operator operations (ADMIN only). Each checks the caller's current role in the
//! database, so a demoted admin loses access at once.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use db::models::execution_log::LogFilter;
use db::models::job::JobFilter;
use db::models::user::UserFilter;
use uuid::Uuid;

use super::connection::{self, Edge, PageInfo, PageRequest};
use super::execution_log::ExecutionLogConnection;
use super::job::{JobConnection, jobs_connection};
use super::stats::{Analytics, int, rate};
use super::user::User;
use super::{ExecutionStatus, JobStatus, Plan, Role};
use crate::auth::{self, account};
use crate::error::ApiError;
use crate::state::AppState;
use crate::stats::Period;

/// An `ID` argument as a UUID; anything else names no object, so NOT_FOUND.
pub(crate) fn parse_id(id: &ID, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id.as_str())
        .map_err(|_| ApiError::NotFound(format!("no {what} with id {}", id.as_str())))
}

async fn require_admin(ctx: &Context<'_>) -> Result<(), ApiError> {
    let state = ctx.data_unchecked::<AppState>();
    account::require_admin(state, auth::viewer(ctx)?).await?;
    Ok(())
}

/// Users on one plan.
#[derive(SimpleObject, Debug)]
pub struct PlanCount {
    pub plan: Plan,
    pub count: i32,
}

/// The whole system, for operators.
#[derive(SimpleObject, Debug)]
pub struct SystemStats {
    pub total_users: i32,
    pub verified_users: i32,
    pub users_by_plan: Vec<PlanCount>,
    pub total_jobs: i32,
    pub active_jobs: i32,
    pub total_executions: i32,
    #[graphql(name = "executionsLast24h")]
    pub executions_last24h: i32,
    /// Percentage (0 to 100) of finished runs that succeeded.
    pub success_rate: f64,
    /// Scheduled jobs whose fire time has come and that no scheduler has claimed yet.
    pub queue_depth: i32,
    /// How late the oldest of those is, in milliseconds (0 when none is waiting).
    pub scheduler_lag_ms: i32,
}

/// A page of users, newest first.
#[derive(SimpleObject, Debug)]
pub struct UserConnection {
    pub edges: Vec<Edge<User>>,
    pub page_info: PageInfo,
    #[graphql(complexity = "super::limits::COUNT_COST")]
    pub total_count: i32,
}

fn optional_id(id: Option<ID>, what: &str) -> Result<Option<Uuid>, ApiError> {
    id.map(|id| parse_id(&id, what)).transpose()
}

#[derive(Default)]
pub struct AdminQuery;

#[Object]
impl AdminQuery {
    /// System-wide totals and the scheduler's backlog.
    #[graphql(complexity = "super::limits::REPORT_COST + child_complexity")]
    async fn admin_stats(&self, ctx: &Context<'_>) -> Result<SystemStats> {
        require_admin(ctx).await?;
        system_stats(ctx.data_unchecked::<AppState>()).await
    }

    /// Trends over every user's runs.
    #[graphql(complexity = "super::limits::REPORT_COST + child_complexity")]
    async fn admin_analytics(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(7)")] days: Option<i32>,
        #[graphql(default_with = "Some(\"UTC\".to_owned())")] timezone: Option<String>,
    ) -> Result<Analytics> {
        require_admin(ctx).await?;
        let period = Period::last(days.unwrap_or(7), timezone.as_deref().unwrap_or("UTC"))?;
        let state = ctx.data_unchecked::<AppState>();
        Ok(crate::stats::analytics(state, None, period).await?.into())
    }

    /// Every user, newest first; `search` matches email or name.
    #[graphql(complexity = "connection::page_cost(first, child_complexity)")]
    async fn admin_users(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(20)")] first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
        role: Option<Role>,
    ) -> Result<UserConnection> {
        require_admin(ctx).await?;
        let request = PageRequest::read(first, after.as_deref())?;
        let filter = UserFilter {
            search,
            role: role.map(Into::into),
        };
        let (page, total) =
            crate::admin::users(ctx.data_unchecked::<AppState>(), &filter, request).await?;
        let (edges, page_info) = page.edges(User);
        Ok(UserConnection {
            edges,
            page_info,
            total_count: int(total),
        })
    }

    /// Every job, newest first, optionally one user's, by status or with a tag.
    #[graphql(complexity = "connection::page_cost(first, child_complexity)")]
    async fn admin_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(20)")] first: Option<i32>,
        after: Option<String>,
        user_id: Option<ID>,
        status: Option<JobStatus>,
        tag: Option<String>,
    ) -> Result<JobConnection> {
        require_admin(ctx).await?;
        let request = PageRequest::read(first, after.as_deref())?;
        let filter = JobFilter {
            user_id: optional_id(user_id, "user")?,
            status: status.map(Into::into),
            search: None,
            tag,
        };
        let (page, total) =
            crate::jobs::list(ctx.data_unchecked::<AppState>(), &filter, request).await?;
        Ok(jobs_connection(page, total))
    }

    /// Every run, newest first, optionally by user, job and status.
    #[graphql(complexity = "connection::page_cost(first, child_complexity)")]
    async fn admin_logs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(20)")] first: Option<i32>,
        after: Option<String>,
        user_id: Option<ID>,
        job_id: Option<ID>,
        status: Option<ExecutionStatus>,
    ) -> Result<ExecutionLogConnection> {
        require_admin(ctx).await?;
        let filter = LogFilter {
            user_id: optional_id(user_id, "user")?,
            job_id: optional_id(job_id, "job")?,
            status: status.map(Into::into),
            ..Default::default()
        };
        Ok(super::logs::page(ctx.data_unchecked::<AppState>(), filter, first, after).await?)
    }
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Makes a user an ADMIN or a USER. The last ADMIN cannot be demoted (CONFLICT).
    async fn update_user_role(&self, ctx: &Context<'_>, id: ID, role: Role) -> Result<User> {
        require_admin(ctx).await?;
        let state = ctx.data_unchecked::<AppState>();
        let id = parse_id(&id, "user")?;
        Ok(User(crate::admin::set_role(state, id, role.into()).await?))
    }

    /// Deletes a user with their jobs, runs and sessions; their subscriptions end. The
    /// last ADMIN cannot be deleted (CONFLICT).
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        require_admin(ctx).await?;
        Ok(
            crate::admin::delete_user(ctx.data_unchecked::<AppState>(), parse_id(&id, "user")?)
                .await?,
        )
    }
}

/// System-wide totals and the scheduler's backlog, as `adminStats` and `systemStats` give them.
pub(super) async fn system_stats(state: &AppState) -> Result<SystemStats> {
    let t = crate::admin::system_totals(state).await?;
    Ok(SystemStats {
        total_users: int(t.users.total),
        verified_users: int(t.users.verified),
        users_by_plan: vec![
            PlanCount {
                plan: Plan::Free,
                count: int(t.users.free),
            },
            PlanCount {
                plan: Plan::Premium,
                count: int(t.users.premium),
            },
            PlanCount {
                plan: Plan::Pro,
                count: int(t.users.pro),
            },
        ],
        total_jobs: int(t.jobs.total),
        active_jobs: int(t.jobs.active),
        total_executions: int(t.runs.total),
        executions_last24h: int(t.runs.last_24h),
        success_rate: rate(t.runs.success, t.runs.failure),
        queue_depth: int(i64::try_from(t.queue_depth).unwrap_or(i64::MAX)),
        scheduler_lag_ms: int(t.scheduler_lag_ms),
    })
}
