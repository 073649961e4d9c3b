//! `plans`: the plan table of the contract.

use async_graphql::{Context, Object, SimpleObject};

use super::Plan;
use crate::state::AppState;

/// What one plan allows.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct PlanInfo {
    pub plan: Plan,
    /// Jobs a user may own.
    pub max_jobs: i32,
    /// Shortest gap between two runs of one job.
    pub min_interval_seconds: i32,
    /// Largest request timeout, in milliseconds.
    pub max_timeout_ms: i32,
    /// Largest number of retries after a failed run.
    pub max_retries: i32,
    /// Days execution logs are kept.
    pub log_retention_days: i32,
    /// Runs of the user's out at once (claimed by a scheduler and not yet recorded); the
    /// user's further due runs wait their turn, late but never lost, while other users'
    /// go first.
    pub max_concurrent_runs: i32,
    /// `runJob` calls per minute (RATE_LIMITED beyond).
    pub manual_runs_per_minute: i32,
    /// Longest wait before a retry (`retryPolicy.backoffMaxMs`), in milliseconds.
    pub max_backoff_ms: i32,
}

impl PlanInfo {
    /// The plan's limits, with this deployment's concurrency.
    fn new(plan: db::Plan, concurrency: &scheduler::queue::Concurrency) -> PlanInfo {
        let limits = plan.limits();
        let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        PlanInfo {
            plan: plan.into(),
            max_jobs: int(limits.max_jobs),
            min_interval_seconds: int(limits.min_interval_seconds),
            max_timeout_ms: int(limits.max_timeout_ms),
            max_retries: int(limits.max_retries),
            log_retention_days: int(limits.log_retention_days),
            max_concurrent_runs: int(concurrency.of(plan)),
            manual_runs_per_minute: int(limits.manual_runs_per_minute),
            max_backoff_ms: int(limits.max_backoff_ms),
        }
    }
}

#[derive(Default)]
pub struct PlansQuery;

#[Object]
impl PlansQuery {
    /// Every plan and its limits, cheapest first.
    async fn plans(&self, ctx: &Context<'_>) -> Vec<PlanInfo> {
        let concurrency = ctx
            .data_unchecked::<AppState>()
            .config
            .scheduler
            .concurrency();
        db::Plan::ALL
            .iter()
            .map(|plan| PlanInfo::new(*plan, &concurrency))
            .collect()
    }
}
