//! `stats` and `analytics`: dashboard numbers from PostgreSQL aggregates.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

use super::execution_log::ExecutionLog;
use super::job::Job;
use super::loaders::Loaders;
use crate::auth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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

/// The `limit` ACTIVE jobs that fire next, soonest first, from their expressions (each
/// distinct expression parsed once).
async fn upcoming_runs(
    conn: &mut db::AsyncPgConnection,
    user_id: Uuid,
    limit: usize,
) -> ApiResult<Vec<UpcomingRun>> {
    let now = chrono::Utc::now();
    let mut schedules = scheduler::cron::Schedules::default();
    let mut next: Vec<(DateTime<Utc>, Uuid)> = db::models::stats::active_schedules(conn, user_id)
        .await?
        .into_iter()
        .filter_map(|(id, expression, timezone)| {
            let schedule = schedules.get(&expression, &timezone).ok()?;
            Some((schedule.next_after(now)?, id))
        })
        .collect();
    next.sort_unstable();
    next.truncate(limit);
    let ids: Vec<Uuid> = next.iter().map(|(_, id)| *id).collect();
    let mut jobs: std::collections::HashMap<Uuid, db::models::Job> =
        db::models::Job::find_many(conn, &ids)
            .await?
            .into_iter()
            .map(|job| (job.id, job))
            .collect();
    Ok(next
        .into_iter()
        .filter_map(|(next_run_at, id)| {
            Some(UpcomingRun {
                next_run_at,
                job: Job(jobs.remove(&id)?),
            })
        })
        .collect())
}

/// The dashboard of one user.
pub async fn dashboard(state: &AppState, user_id: Uuid) -> ApiResult<DashboardStats> {
    use db::models::stats;
    let mut conn = state.conn().await?;
    let runs = stats::run_totals(&mut conn, Some(user_id)).await?;
    let jobs = stats::job_totals(&mut conn, Some(user_id)).await?;
    let upcoming = upcoming_runs(&mut conn, user_id, 5).await?;
    let filter = db::models::execution_log::LogFilter {
        user_id: Some(user_id),
        ..Default::default()
    };
    let recent = db::models::ExecutionLog::page(&mut conn, &filter, None, 10).await?;
    drop(conn);
    Ok(DashboardStats {
        total_jobs: int(jobs.total),
        active_jobs: int(jobs.active),
        paused_jobs: int(jobs.paused),
        total_executions: int(runs.total),
        success_count: int(runs.success),
        failure_count: int(runs.failure),
        success_rate: rate(runs.success, runs.failure),
        avg_duration_ms: runs.avg_duration_ms,
        executions_last24h: int(runs.last_24h),
        upcoming_runs: upcoming,
        recent_executions: recent.into_iter().map(ExecutionLog::from).collect(),
    })
}

/// Analytics over `days` days in `timezone`, for one user or (with `None`) everyone.
pub async fn analytics(
    state: &AppState,
    loaders: &Loaders,
    user_id: Option<Uuid>,
    days: i32,
    timezone: &str,
) -> ApiResult<Analytics> {
    use db::models::stats;
    if !(1..=90).contains(&days) {
        return Err(ApiError::bad_input("days", "must be 1 to 90"));
    }
    let tz = scheduler::cron::parse_timezone(timezone)
        .map_err(|e| ApiError::bad_input("timezone", e.to_string()))?;
    let today: NaiveDate = Utc::now().with_timezone(&tz).date_naive();
    let first_day = today - Duration::days(i64::from(days) - 1);
    let since = first_day
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| midnight.and_local_timezone(tz).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc::now() - Duration::days(i64::from(days)));
    let tz_name = tz.name();
    let mut conn = state.conn().await?;
    let trend = stats::daily_trend(&mut conn, user_id, tz_name, first_day, today).await?;
    let hours = stats::hourly_distribution(&mut conn, user_id, tz_name, since).await?;
    let percentiles = stats::duration_percentiles(&mut conn, user_id, since).await?;
    let (success, failure) = stats::outcome_counts(&mut conn, user_id, since).await?;
    let failing = stats::top_failing_jobs(&mut conn, user_id, since, 5).await?;
    drop(conn);
    let jobs = loaders
        .jobs
        .load_many(failing.iter().map(|f| f.job_id))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("loading jobs: {e}")))?;
    Ok(Analytics {
        days,
        success_rate: rate(success, failure),
        daily_trend: trend
            .into_iter()
            .map(|d| DayTrend {
                date: d.date.format("%Y-%m-%d").to_string(),
                total: int(d.total),
                success: int(d.success),
                failed: int(d.failed),
                avg_duration_ms: d.avg_duration_ms,
            })
            .collect(),
        hourly_distribution: hours
            .into_iter()
            .map(|h| HourCount {
                hour: h.hour,
                count: int(h.count),
            })
            .collect(),
        duration_percentiles: Percentiles {
            p50: percentiles.p50,
            p95: percentiles.p95,
            p99: percentiles.p99,
        },
        top_failing_jobs: failing
            .into_iter()
            .filter_map(|f| {
                Some(JobFailures {
                    job: Job(jobs.get(&f.job_id)?.clone()),
                    failures: int(f.failures),
                })
            })
            .collect(),
    })
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// The caller's dashboard numbers.
    #[graphql(complexity = "super::limits::REPORT_COST + child_complexity")]
    async fn stats(&self, ctx: &Context<'_>) -> Result<DashboardStats> {
        let viewer = auth::viewer(ctx)?;
        Ok(dashboard(ctx.data_unchecked::<AppState>(), viewer.sub).await?)
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
        let timezone = timezone.unwrap_or_else(|| "UTC".to_owned());
        Ok(analytics(
            ctx.data_unchecked::<AppState>(),
            ctx.data_unchecked::<Loaders>(),
            Some(viewer.sub),
            days.unwrap_or(7),
            &timezone,
        )
        .await?)
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
