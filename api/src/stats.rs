//! The numbers behind `stats`, `analytics` and `adminAnalytics`: a user's dashboard, and
//! trends over a period of whole days in a timezone, for one user or everyone.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use db::models::stats::{self, DayTrend, HourCount, JobTotals, Percentiles, RunTotals};
use db::models::{ExecutionLog, Job};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Jobs shown as firing next on a dashboard.
const UPCOMING: usize = 5;
/// Runs shown as the newest on a dashboard.
const RECENT: i64 = 10;
/// Jobs shown as failing most.
const TOP_FAILING: i64 = 5;

/// A user's dashboard.
pub struct Dashboard {
    pub runs: RunTotals,
    pub jobs: JobTotals,
    /// ACTIVE jobs that fire next, soonest first, with when.
    pub upcoming: Vec<(DateTime<Utc>, Job)>,
    /// The newest runs.
    pub recent: Vec<ExecutionLog>,
}

/// The dashboard of one user.
pub async fn dashboard(state: &AppState, user_id: Uuid) -> ApiResult<Dashboard> {
    let mut conn = state.conn().await?;
    let runs = stats::run_totals(&mut conn, Some(user_id)).await?;
    let jobs = stats::job_totals(&mut conn, Some(user_id)).await?;
    let upcoming = upcoming_runs(&mut conn, user_id, UPCOMING).await?;
    let filter = db::models::execution_log::LogFilter {
        user_id: Some(user_id),
        ..Default::default()
    };
    let recent = ExecutionLog::page(&mut conn, &filter, None, RECENT).await?;
    Ok(Dashboard {
        runs,
        jobs,
        upcoming,
        recent,
    })
}

/// The `limit` ACTIVE jobs that fire next, soonest first, from their expressions (each
/// distinct expression parsed once).
async fn upcoming_runs(
    conn: &mut db::AsyncPgConnection,
    user_id: Uuid,
    limit: usize,
) -> ApiResult<Vec<(DateTime<Utc>, Job)>> {
    let now = Utc::now();
    let mut schedules = scheduler::cron::Schedules::default();
    let mut next: Vec<(DateTime<Utc>, Uuid)> = stats::active_schedules(conn, user_id)
        .await?
        .into_iter()
        .filter_map(|job| {
            let timing = scheduler::timing::Timing::cached((&job).into(), &mut schedules)?;
            Some((timing.next_after(now)?, job.id))
        })
        .collect();
    next.sort_unstable();
    next.truncate(limit);
    let ids: Vec<Uuid> = next.iter().map(|(_, id)| *id).collect();
    let mut jobs: std::collections::HashMap<Uuid, Job> = Job::find_many(conn, &ids)
        .await?
        .into_iter()
        .map(|job| (job.id, job))
        .collect();
    Ok(next
        .into_iter()
        .filter_map(|(at, id)| Some((at, jobs.remove(&id)?)))
        .collect())
}

/// The last `days` whole days in a timezone, today included.
#[derive(Debug, Clone)]
pub struct Period {
    pub days: i32,
    pub timezone: chrono_tz::Tz,
    pub first_day: NaiveDate,
    pub today: NaiveDate,
    /// The first day's midnight.
    pub since: DateTime<Utc>,
}

impl Period {
    /// Checks `days` (1 to 90) and `timezone` (an IANA name): BAD_USER_INPUT otherwise.
    pub fn last(days: i32, timezone: &str) -> ApiResult<Period> {
        if !(1..=90).contains(&days) {
            return Err(ApiError::bad_input("days", "must be 1 to 90"));
        }
        let timezone = scheduler::cron::parse_timezone(timezone)
            .map_err(|e| ApiError::bad_input("timezone", e.to_string()))?;
        let today = Utc::now().with_timezone(&timezone).date_naive();
        let first_day = today - Duration::days(i64::from(days) - 1);
        let since = first_day
            .and_hms_opt(0, 0, 0)
            .and_then(|midnight| midnight.and_local_timezone(timezone).earliest())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc::now() - Duration::days(i64::from(days)));
        Ok(Period {
            days,
            timezone,
            first_day,
            today,
            since,
        })
    }
}

/// Trends over a period.
pub struct Report {
    pub period: Period,
    pub success: i64,
    pub failure: i64,
    /// One entry per day of the period, oldest first.
    pub trend: Vec<DayTrend>,
    pub hours: Vec<HourCount>,
    pub percentiles: Percentiles,
    /// The jobs that failed most, with their failures.
    pub failing: Vec<(Job, i64)>,
}

/// The trends of one user's runs, or (with `None`) everyone's.
pub async fn analytics(
    state: &AppState,
    user_id: Option<Uuid>,
    period: Period,
) -> ApiResult<Report> {
    let tz = period.timezone.name();
    let since = period.since;
    let mut conn = state.conn().await?;
    let trend = stats::daily_trend(&mut conn, user_id, tz, period.first_day, period.today).await?;
    let hours = stats::hourly_distribution(&mut conn, user_id, tz, since).await?;
    let percentiles = stats::duration_percentiles(&mut conn, user_id, since).await?;
    let (success, failure) = stats::outcome_counts(&mut conn, user_id, since).await?;
    let top = stats::top_failing_jobs(&mut conn, user_id, since, TOP_FAILING).await?;
    let ids: Vec<Uuid> = top.iter().map(|f| f.job_id).collect();
    let mut jobs: std::collections::HashMap<Uuid, Job> = Job::find_many(&mut conn, &ids)
        .await?
        .into_iter()
        .map(|job| (job.id, job))
        .collect();
    let failing = top
        .into_iter()
        .filter_map(|f| Some((jobs.remove(&f.job_id)?, f.failures)))
        .collect();
    Ok(Report {
        period,
        success,
        failure,
        trend,
        hours,
        percentiles,
        failing,
    })
}
