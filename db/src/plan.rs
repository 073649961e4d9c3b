//! The limits each plan grants, from the contract's plan table.

use crate::enums::Plan;

/// What a plan allows. Enforced by the API on writes and by retention on old logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    /// Jobs a user may own.
    pub max_jobs: u32,
    /// Shortest allowed gap between two consecutive runs of one job.
    pub min_interval_seconds: u32,
    /// Largest request timeout.
    pub max_timeout_ms: u32,
    /// Largest `maxRetries`.
    pub max_retries: u32,
    /// Days execution logs are kept.
    pub log_retention_days: u32,
    /// Runs of the user's the scheduler has out at once (claimed and not yet recorded),
    /// across every instance, unless the deployment sets otherwise: twice `max_jobs`, so
    /// that all of a user's jobs can share one instant with room for retries and manual
    /// runs, while a user whose targets hang holds no more than that.
    pub max_concurrent_runs: u32,
    /// `runJob` calls per minute.
    pub manual_runs_per_minute: u32,
    /// Longest wait before a retry a job may set (`retryPolicy.backoffMaxMs`), which also
    /// bounds how long a target's `Retry-After` is honoured.
    pub max_backoff_ms: u32,
}

impl Plan {
    /// The limits of this plan.
    pub const fn limits(self) -> PlanLimits {
        match self {
            Plan::Free => PlanLimits {
                max_jobs: 5,
                min_interval_seconds: 60,
                max_timeout_ms: 30_000,
                max_retries: 3,
                log_retention_days: 7,
                max_concurrent_runs: 10,
                manual_runs_per_minute: 10,
                max_backoff_ms: 3_600_000,
            },
            Plan::Premium => PlanLimits {
                max_jobs: 50,
                min_interval_seconds: 10,
                max_timeout_ms: 60_000,
                max_retries: 5,
                log_retention_days: 30,
                max_concurrent_runs: 100,
                manual_runs_per_minute: 30,
                max_backoff_ms: 21_600_000,
            },
            Plan::Pro => PlanLimits {
                max_jobs: 500,
                min_interval_seconds: 1,
                max_timeout_ms: 120_000,
                max_retries: 10,
                log_retention_days: 90,
                max_concurrent_runs: 1_000,
                manual_runs_per_minute: 60,
                max_backoff_ms: 86_400_000,
            },
        }
    }
}
