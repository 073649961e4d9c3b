//! Dashboard statistics and analytics, computed by PostgreSQL aggregates over indexed
//! columns (never by loading runs into the server).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Double, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// Counts of one owner's (or, with `None`, everyone's) runs.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct RunTotals {
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub success: i64,
    /// FAILED and TIMEOUT.
    #[diesel(sql_type = BigInt)]
    pub failure: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_duration_ms: Option<f64>,
    #[diesel(sql_type = BigInt)]
    pub last_24h: i64,
}

/// Job counts by status.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct JobTotals {
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub active: i64,
    #[diesel(sql_type = BigInt)]
    pub paused: i64,
}

/// One day of the trend, in the requested timezone.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct DayTrend {
    #[diesel(sql_type = Date)]
    pub date: NaiveDate,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub success: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub avg_duration_ms: Option<f64>,
}

/// Runs started in one hour of the day (0..=23), in the requested timezone.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct HourCount {
    #[diesel(sql_type = Int4)]
    pub hour: i32,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// Duration percentiles of finished runs.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Percentiles {
    #[diesel(sql_type = Nullable<Double>)]
    pub p50: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub p95: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub p99: Option<f64>,
}

/// A job and how many of its runs failed.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct JobFailures {
    #[diesel(sql_type = SqlUuid)]
    pub job_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub failures: i64,
}

/// The condition selecting one owner's rows, or everyone's when `$1` is null.
const OWNER: &str = "($1::uuid IS NULL OR user_id = $1)";

/// [`OWNER`] for runs: only shown ones (a run PREPARED ahead has not gone out and counts
/// nowhere).
const RUNS: &str = "($1::uuid IS NULL OR user_id = $1) AND status <> 'PREPARED'";

/// Run counts for the dashboard.
pub async fn run_totals(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
) -> QueryResult<RunTotals> {
    diesel::sql_query(format!(
        "SELECT count(*) AS total, \
                count(*) FILTER (WHERE status = 'SUCCESS') AS success, \
                count(*) FILTER (WHERE status IN ('FAILED', 'TIMEOUT')) AS failure, \
                avg(duration_ms)::float8 AS avg_duration_ms, \
                count(*) FILTER (WHERE started_at >= now() - interval '24 hours') AS last_24h \
         FROM execution_logs WHERE {RUNS}"
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .get_result(conn)
    .await
}

/// Job counts for the dashboard.
pub async fn job_totals(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
) -> QueryResult<JobTotals> {
    diesel::sql_query(format!(
        "SELECT count(*) AS total, \
                count(*) FILTER (WHERE status = 'ACTIVE') AS active, \
                count(*) FILTER (WHERE status = 'PAUSED') AS paused \
         FROM jobs WHERE {OWNER}"
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .get_result(conn)
    .await
}

/// One row per day from `first_day` to `last_day` (inclusive) in `timezone`, empty days
/// as zeros.
pub async fn daily_trend(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
    timezone: &str,
    first_day: NaiveDate,
    last_day: NaiveDate,
) -> QueryResult<Vec<DayTrend>> {
    diesel::sql_query(format!(
        "WITH days AS (SELECT generate_series($3::date, $4::date, interval '1 day')::date AS date), \
              runs AS (SELECT (started_at AT TIME ZONE $2)::date AS date, status, duration_ms \
                       FROM execution_logs \
                       WHERE {RUNS} AND started_at >= ($3::date::timestamp AT TIME ZONE $2) \
                         AND started_at < (($4::date + 1)::timestamp AT TIME ZONE $2)) \
         SELECT d.date, count(r.status) AS total, \
                count(*) FILTER (WHERE r.status = 'SUCCESS') AS success, \
                count(*) FILTER (WHERE r.status IN ('FAILED', 'TIMEOUT')) AS failed, \
                avg(r.duration_ms)::float8 AS avg_duration_ms \
         FROM days d LEFT JOIN runs r ON r.date = d.date GROUP BY d.date ORDER BY d.date"
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .bind::<Text, _>(timezone)
    .bind::<Date, _>(first_day)
    .bind::<Date, _>(last_day)
    .load(conn)
    .await
}

/// 24 rows, hours 0..=23 in `timezone`, of runs started since `since`.
pub async fn hourly_distribution(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
    timezone: &str,
    since: DateTime<Utc>,
) -> QueryResult<Vec<HourCount>> {
    diesel::sql_query(format!(
        "SELECT h.hour, count(r.hour) AS count \
         FROM generate_series(0, 23) AS h(hour) \
         LEFT JOIN (SELECT extract(hour FROM started_at AT TIME ZONE $2)::int AS hour \
                    FROM execution_logs WHERE {RUNS} AND started_at >= $3) r ON r.hour = h.hour \
         GROUP BY h.hour ORDER BY h.hour"
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .bind::<Text, _>(timezone)
    .bind::<Timestamptz, _>(since)
    .load(conn)
    .await
}

/// p50/p95/p99 of the durations of finished runs started since `since`.
pub async fn duration_percentiles(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
    since: DateTime<Utc>,
) -> QueryResult<Percentiles> {
    diesel::sql_query(format!(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)::float8 AS p50, \
                percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)::float8 AS p95, \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms)::float8 AS p99 \
         FROM execution_logs WHERE {RUNS} AND started_at >= $2 AND duration_ms IS NOT NULL"
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .bind::<Timestamptz, _>(since)
    .get_result(conn)
    .await
}

/// Success and failure counts since `since` (for the success rate of a period).
pub async fn outcome_counts(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
    since: DateTime<Utc>,
) -> QueryResult<(i64, i64)> {
    #[derive(QueryableByName)]
    struct Counts {
        #[diesel(sql_type = BigInt)]
        success: i64,
        #[diesel(sql_type = BigInt)]
        failure: i64,
    }
    let counts: Counts = diesel::sql_query(format!(
        "SELECT count(*) FILTER (WHERE status = 'SUCCESS') AS success, \
                count(*) FILTER (WHERE status IN ('FAILED', 'TIMEOUT')) AS failure \
         FROM execution_logs WHERE {RUNS} AND started_at >= $2"
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .bind::<Timestamptz, _>(since)
    .get_result(conn)
    .await?;
    Ok((counts.success, counts.failure))
}

/// The jobs with the most failed runs since `since`, most first.
pub async fn top_failing_jobs(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
    since: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<JobFailures>> {
    diesel::sql_query(format!(
        "SELECT job_id, count(*) AS failures FROM execution_logs \
         WHERE {RUNS} AND started_at >= $2 AND status IN ('FAILED', 'TIMEOUT') \
         GROUP BY job_id ORDER BY failures DESC, job_id LIMIT $3"
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .bind::<Timestamptz, _>(since)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Most ACTIVE jobs [`active_schedules`] reads: more than any plan allows, so the bound
/// only caps the cost of an account that somehow has more.
const ACTIVE_JOBS_READ: i64 = 5_000;

/// The schedules of a user's ACTIVE jobs: (id, expression, timezone). The dashboard
/// reckons which fire next from them, then loads only those jobs (a job's row carries
/// headers and a body of up to 64 KiB).
pub async fn active_schedules(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<(Uuid, String, String)>> {
    use crate::schema::jobs;
    jobs::table
        .filter(jobs::user_id.eq(user_id))
        .filter(jobs::status.eq(crate::JobStatus::Active))
        .order(jobs::id)
        .limit(ACTIVE_JOBS_READ)
        .select((jobs::id, jobs::cron_expression, jobs::timezone))
        .load(conn)
        .await
}

fn retention(plan: crate::Plan) -> i32 {
    i32::try_from(plan.limits().log_retention_days).unwrap_or(i32::MAX)
}

/// Deletes up to `batch` runs older than their owner's plan keeps them (the plan's
/// `log_retention_days`). Small batches keep locks short; callers repeat until it returns less.
pub async fn delete_expired_runs(conn: &mut AsyncPgConnection, batch: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM execution_logs WHERE id IN ( \
           SELECT l.id FROM users u \
           CROSS JOIN LATERAL (SELECT id FROM execution_logs \
                               WHERE user_id = u.id AND started_at < now() - make_interval(days => \
                                 CASE u.plan WHEN 'PRO' THEN $4 WHEN 'PREMIUM' THEN $3 ELSE $2 END) \
                               LIMIT $1) l \
           LIMIT $1)",
    )
    .bind::<BigInt, _>(batch)
    .bind::<Int4, _>(retention(crate::Plan::Free))
    .bind::<Int4, _>(retention(crate::Plan::Premium))
    .bind::<Int4, _>(retention(crate::Plan::Pro))
    .execute(conn)
    .await
}

/// User counts for the operator.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct UserTotals {
    #[diesel(sql_type = BigInt)]
    pub total: i64,
    #[diesel(sql_type = BigInt)]
    pub verified: i64,
    #[diesel(sql_type = BigInt)]
    pub free: i64,
    #[diesel(sql_type = BigInt)]
    pub premium: i64,
    #[diesel(sql_type = BigInt)]
    pub pro: i64,
}

/// Users in all, verified, and by plan.
pub async fn user_totals(conn: &mut AsyncPgConnection) -> QueryResult<UserTotals> {
    diesel::sql_query(
        "SELECT count(*) AS total, count(email_verified_at) AS verified, \
                count(*) FILTER (WHERE plan = 'FREE') AS free, \
                count(*) FILTER (WHERE plan = 'PREMIUM') AS premium, \
                count(*) FILTER (WHERE plan = 'PRO') AS pro \
         FROM users",
    )
    .get_result(conn)
    .await
}
