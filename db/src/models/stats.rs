//! Dashboard statistics and analytics, summed from the run counts PostgreSQL keeps as
//! runs change (never by scanning or loading runs).

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

/// The counts of one owner, or everyone's (kept under the nil user id) when `$1` is null.
/// Counts are kept by quarter hour of `started_at` (see the migration
/// `runs_are_counted_as_they_change`): every timezone's midnights and hours fall on a
/// quarter hour, so a day or an hour of any timezone is a sum of whole buckets.
const COUNTS: &str = "user_id = coalesce($1::uuid, '00000000-0000-0000-0000-000000000000')";

/// `sum` of a count column as a bigint, 0 over no row.
fn total(column: &str) -> String {
    format!("coalesce(sum({column}), 0)::int8")
}

/// Run counts for the dashboard.
pub async fn run_totals(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
) -> QueryResult<RunTotals> {
    // The last 24 hours: whole buckets from the counts, and the runs of the bucket the
    // window starts in read from the rows (at most a quarter hour of them).
    diesel::sql_query(format!(
        "WITH edge AS (SELECT now() - interval '24 hours' AS since, \
                              date_bin('15 minutes', now() - interval '24 hours', 'epoch') \
                                + interval '15 minutes' AS whole) \
         SELECT {total} AS total, {success} AS success, {failure} AS failure, \
                sum(duration_sum)::float8 / nullif(sum(timed), 0) AS avg_duration_ms, \
                coalesce(sum(total) FILTER (WHERE bucket >= (SELECT whole FROM edge)), 0)::int8 \
                  + (SELECT count(*) FROM execution_logs \
                     WHERE {OWNER} AND status <> 'PREPARED' \
                       AND started_at >= (SELECT since FROM edge) \
                       AND started_at < (SELECT whole FROM edge)) AS last_24h \
         FROM run_counts WHERE {COUNTS}",
        total = total("total"),
        success = total("success"),
        failure = total("failure"),
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .get_result(conn)
    .await
}

/// How many runs, and successful runs, one owner (or everyone) has: the counts alone,
/// without the last day's window of [`run_totals`].
pub async fn run_count(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
) -> QueryResult<(i64, i64)> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        total: i64,
        #[diesel(sql_type = BigInt)]
        success: i64,
    }
    let count: Count = diesel::sql_query(format!(
        "SELECT {total} AS total, {success} AS success FROM run_counts WHERE {COUNTS}",
        total = total("total"),
        success = total("success"),
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .get_result(conn)
    .await?;
    Ok((count.total, count.success))
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
              b AS (SELECT (bucket AT TIME ZONE $2)::date AS date, total, success, failure, \
                           timed, duration_sum \
                    FROM run_counts \
                    WHERE {COUNTS} AND bucket >= ($3::date::timestamp AT TIME ZONE $2) \
                      AND bucket < (($4::date + 1)::timestamp AT TIME ZONE $2)) \
         SELECT d.date, {total} AS total, {success} AS success, {failure} AS failed, \
                sum(b.duration_sum)::float8 / nullif(sum(b.timed), 0) AS avg_duration_ms \
         FROM days d LEFT JOIN b ON b.date = d.date GROUP BY d.date ORDER BY d.date",
        total = total("b.total"),
        success = total("b.success"),
        failure = total("b.failure"),
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .bind::<Text, _>(timezone)
    .bind::<Date, _>(first_day)
    .bind::<Date, _>(last_day)
    .load(conn)
    .await
}

/// 24 rows, hours 0..=23 in `timezone`, of runs started since `since` (a quarter hour).
pub async fn hourly_distribution(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
    timezone: &str,
    since: DateTime<Utc>,
) -> QueryResult<Vec<HourCount>> {
    diesel::sql_query(format!(
        "SELECT h.hour, {count} AS count \
         FROM generate_series(0, 23) AS h(hour) \
         LEFT JOIN (SELECT extract(hour FROM bucket AT TIME ZONE $2)::int AS hour, total \
                    FROM run_counts WHERE {COUNTS} AND bucket >= $3) r ON r.hour = h.hour \
         GROUP BY h.hour ORDER BY h.hour",
        count = total("r.total"),
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .bind::<Text, _>(timezone)
    .bind::<Timestamptz, _>(since)
    .load(conn)
    .await
}

/// p50/p95/p99 of the durations of finished runs started since the UTC day `since`
/// falls in, from the daily histogram (each within 1 % of the exact figure).
pub async fn duration_percentiles(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
    since: DateTime<Utc>,
) -> QueryResult<Percentiles> {
    let bins: Vec<DurationBin> = diesel::sql_query(format!(
        "SELECT bin, sum(runs)::int8 AS runs FROM run_duration_counts \
         WHERE {COUNTS} AND bucket >= date_bin('1 day', $2, 'epoch') \
         GROUP BY bin HAVING sum(runs) > 0 ORDER BY bin"
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .bind::<Timestamptz, _>(since)
    .load(conn)
    .await?;
    let histogram = crate::histogram::Histogram::new(bins.iter().map(|b| (b.bin, b.runs)));
    Ok(Percentiles {
        p50: histogram.percentile(0.5),
        p95: histogram.percentile(0.95),
        p99: histogram.percentile(0.99),
    })
}

#[derive(QueryableByName)]
struct DurationBin {
    #[diesel(sql_type = diesel::sql_types::SmallInt)]
    bin: i16,
    #[diesel(sql_type = BigInt)]
    runs: i64,
}

/// Success and failure counts since `since` (a quarter hour), for the success rate of a
/// period.
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
        "SELECT {success} AS success, {failure} AS failure \
         FROM run_counts WHERE {COUNTS} AND bucket >= $2",
        success = total("success"),
        failure = total("failure"),
    ))
    .bind::<Nullable<SqlUuid>, _>(user_id)
    .bind::<Timestamptz, _>(since)
    .get_result(conn)
    .await?;
    Ok((counts.success, counts.failure))
}

/// The jobs with the most failed runs since `since`, most first: whole UTC days from the
/// daily counts, the part before the first UTC midnight from the runs (through the
/// (user, status, started_at) index: at most a day of failures).
pub async fn top_failing_jobs(
    conn: &mut AsyncPgConnection,
    user_id: Option<Uuid>,
    since: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<JobFailures>> {
    diesel::sql_query(format!(
        "WITH edge AS (SELECT date_bin('1 day', $2 - interval '1 microsecond', 'epoch') \
                              + interval '1 day' AS whole), \
              f AS (SELECT job_id, failures FROM job_failure_counts \
                    WHERE {OWNER} AND bucket >= (SELECT whole FROM edge) \
                    UNION ALL \
                    SELECT job_id, count(*) FROM execution_logs \
                    WHERE {OWNER} AND status IN ('FAILED', 'TIMEOUT') \
                      AND started_at >= $2 AND started_at < (SELECT whole FROM edge) \
                    GROUP BY job_id) \
         SELECT job_id, sum(failures)::int8 AS failures FROM f \
         GROUP BY job_id HAVING sum(failures) > 0 ORDER BY failures DESC, job_id LIMIT $3"
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

/// The schedules of a user's ACTIVE jobs. The dashboard reckons which fire next from
/// them, then loads only those jobs (a job's row carries headers and a body of up to
/// 64 KiB).
pub async fn active_schedules(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<crate::models::job::ActiveJob>> {
    use crate::schema::{jobs, users};
    jobs::table
        .inner_join(users::table)
        .filter(jobs::user_id.eq(user_id))
        .filter(jobs::status.eq(crate::JobStatus::Active))
        .order(jobs::id)
        .limit(ACTIVE_JOBS_READ)
        .select(crate::models::job::ActiveJob::as_select())
        .load(conn)
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
