//! `plans`: the plan table of the contract.

use async_graphql::{Object, SimpleObject};

use super::Plan;

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
}

impl From<db::Plan> for PlanInfo {
    fn from(plan: db::Plan) -> PlanInfo {
        let limits = plan.limits();
        let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        PlanInfo {
            plan: plan.into(),
            max_jobs: int(limits.max_jobs),
            min_interval_seconds: int(limits.min_interval_seconds),
            max_timeout_ms: int(limits.max_timeout_ms),
            max_retries: int(limits.max_retries),
            log_retention_days: int(limits.log_retention_days),
        }
    }
}

#[derive(Default)]
pub struct PlansQuery;

#[Object]
impl PlansQuery {
    /// Every plan and its limits, cheapest first.
    async fn plans(&self) -> Vec<PlanInfo> {
        db::Plan::ALL.iter().copied().map(PlanInfo::from).collect()
    }
}
