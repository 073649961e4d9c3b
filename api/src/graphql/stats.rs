//! `stats` and `analytics`: the dashboard's types, read from [`crate::stats`].

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::execution_log::ExecutionLog;
use super::job::Job;
use crate::auth;
use crate::state::AppState;
use crate::stats::Period;

/// A job and when it fires next.
#[derive(SimpleObject, Debug)]
pub struct UpcomingRun {
    pub job: Job,
    pub next_run_at: DateTime<Utc>,
}

/// The caller's dashboard.
#[derive(SimpleObject, Debug)]
pub struct DashboardStats {
    pub total_jobs: i32,
    pub active_jobs: i32,
    pub paused_jobs: i32,
    pub total_executions: i32,
    pub success_count: i32,
    /// FAILED and TIMEOUT runs.
    pub failure_count: i32,
    /// Percentage (0 to 100) of finished runs that succeeded; 0 with no finished run.
    pub success_rate: f64,
    pub avg_duration_ms: Option<f64>,
    #[graphql(name = "executionsLast24h")]
    pub executions_last24h: i32,
    /// The next 5 runs of ACTIVE jobs.
    #[graphql(complexity = "5 * child_complexity + 1")]
    pub upcoming_runs: Vec<UpcomingRun>,
    /// The 10 newest runs.
    #[graphql(complexity = "10 * child_complexity + 1")]
    pub recent_executions: Vec<ExecutionLog>,
}

/// One day of the trend.
#[derive(SimpleObject, Debug)]
pub struct DayTrend {
    /// `YYYY-MM-DD` in the requested timezone.
    pub date: String,
    pub total: i32,
    pub success: i32,
    pub failed: i32,
    pub avg_duration_ms: Option<f64>,
}

/// Runs started in one hour of the day.
#[derive(SimpleObject, Debug)]
pub struct HourCount {
    /// 0 to 23 in the requested timezone.
    pub hour: i32,
    pub count: i32,
}

/// Duration percentiles, in milliseconds: from a histogram kept as runs finish, each
/// within 1 % of the exact figure, over whole UTC days (from the day the period starts in).
#[derive(SimpleObject, Debug)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// A job and how many of its runs failed in the period.
#[derive(SimpleObject, Debug)]
pub struct JobFailures {
    pub job: Job,
    pub failures: i32,
}

/// Trends over the last `days` days.
#[derive(SimpleObject, Debug)]
pub struct Analytics {
    pub days: i32,
    /// Percentage (0 to 100) of the period's finished runs that succeeded.
    pub success_rate: f64,
    /// One entry per day, oldest first; days without runs are zeros.
    #[graphql(complexity = "90 * child_complexity + 1")]
    pub daily_trend: Vec<DayTrend>,
    /// 24 entries, hours 0 to 23.
    #[graphql(complexity = "24 * child_complexity + 1")]
    pub hourly_distribution: Vec<HourCount>,
    pub duration_percentiles: Percentiles,
    /// Up to 5 jobs with the most failures.
    #[graphql(complexity = "5 * child_complexity + 1")]
    pub top_failing_jobs: Vec<JobFailures>,
}

/// A count as a GraphQL `Int` (saturating: no count here comes near 2^31).
pub(crate) fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Percentage with two decimals; 0 when nothing finished.
pub fn rate(success: i64, failure: i64) -> f64 {
    let finished = success + failure;
    if finished == 0 {
        return 0.0;
    }
    (success as f64 * 10_000.0 / finished as f64).round() / 100.0
}

impl From<crate::stats::Dashboard> for DashboardStats {
    fn from(d: crate::stats::Dashboard) -> DashboardStats {
        DashboardStats {
            total_jobs: int(d.jobs.total),
            active_jobs: int(d.jobs.active),
            paused_jobs: int(d.jobs.paused),
            total_executions: int(d.runs.total),
            success_count: int(d.runs.success),
            failure_count: int(d.runs.failure),
            success_rate: rate(d.runs.success, d.runs.failure),
            avg_duration_ms: d.runs.avg_duration_ms,
            executions_last24h: int(d.runs.last_24h),
            upcoming_runs: d
                .upcoming
                .into_iter()
                .map(|(next_run_at, job)| UpcomingRun {
                    job: Job(job),
                    next_run_at,
                })
                .collect(),
            recent_executions: d.recent.into_iter().map(ExecutionLog::from).collect(),
        }
    }
}

impl From<crate::stats::Report> for Analytics {
    fn from(r: crate::stats::Report) -> Analytics {
        Analytics {
            days: r.period.days,
            success_rate: rate(r.success, r.failure),
            daily_trend: r
                .trend
                .into_iter()
                .map(|d| DayTrend {
                    date: d.date.format("%Y-%m-%d").to_string(),
                    total: int(d.total),
                    success: int(d.success),
                    failed: int(d.failed),
                    avg_duration_ms: d.avg_duration_ms,
                })
                .collect(),
            hourly_distribution: r
                .hours
                .into_iter()
                .map(|h| HourCount {
                    hour: h.hour,
                    count: int(h.count),
                })
                .collect(),
            duration_percentiles: Percentiles {
                p50: r.percentiles.p50,
                p95: r.percentiles.p95,
                p99: r.percentiles.p99,
            },
            top_failing_jobs: r
                .failing
                .into_iter()
                .map(|(job, failures)| JobFailures {
                    job: Job(job),
                    failures: int(failures),
                })
                .collect(),
        }
    }
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// The caller's dashboard numbers.
    #[graphql(complexity = "super::limits::REPORT_COST + child_complexity")]
    async fn stats(&self, ctx: &Context<'_>) -> Result<DashboardStats> {
        let viewer = auth::viewer(ctx)?;
        let state = ctx.data_unchecked::<AppState>();
        Ok(crate::stats::dashboard(state, viewer.sub).await?.into())
    }

    /// The caller's trends over the last `days` (1 to 90) days, bucketed in `timezone`.
    #[graphql(complexity = "super::limits::REPORT_COST + child_complexity")]
    async fn analytics(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(7)")] days: Option<i32>,
        #[graphql(default_with = "Some(\"UTC\".to_owned())")] timezone: Option<String>,
    ) -> Result<Analytics> {
        let viewer = auth::viewer(ctx)?;
        let period = Period::last(days.unwrap_or(7), timezone.as_deref().unwrap_or("UTC"))?;
        let state = ctx.data_unchecked::<AppState>();
        Ok(crate::stats::analytics(state, Some(viewer.sub), period)
            .await?
            .into())
    }
}

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn success_rate_is_a_percentage_of_finished_runs() {
        assert_eq!(rate(0, 0), 0.0);
        assert_eq!(rate(3, 1), 75.0);
        assert_eq!(rate(2, 1), 66.67);
    }
}
