//! Jobs: what to call, on which schedule, and where the job stands.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::enums::{ExecutionStatus, HttpMethod, JobStatus, TargetType};
use crate::schema::jobs;

/// A scheduled HTTP call as stored. PostgreSQL is its source of truth; the scheduler's
/// Redis due set only mirrors `next_run_at` of ACTIVE jobs.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct Job {
    pub id: Uuid,
    /// The owner; every read is filtered by it.
    pub user_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub cron_expression: String,
    /// IANA name the cron expression is read in.
    pub timezone: String,
    pub target_type: TargetType,
    pub target_url: String,
    pub http_method: HttpMethod,
    /// A flat JSON object of string values.
    pub headers: Option<serde_json::Value>,
    pub body: Option<String>,
    pub timeout_ms: i32,
    pub max_retries: i32,
    pub status: JobStatus,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_status: Option<ExecutionStatus>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns a new job needs; validation happens before this (in the API).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = jobs)]
pub struct NewJob<'a> {
    pub user_id: Uuid,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub cron_expression: &'a str,
    pub timezone: &'a str,
    pub target_type: TargetType,
    pub target_url: &'a str,
    pub http_method: HttpMethod,
    pub headers: Option<&'a serde_json::Value>,
    pub body: Option<&'a str>,
    pub timeout_ms: i32,
    pub max_retries: i32,
    pub status: JobStatus,
    pub next_run_at: Option<DateTime<Utc>>,
}

impl Job {
    /// Inserts a job and returns the stored row.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewJob<'_>) -> QueryResult<Job> {
        diesel::insert_into(jobs::table)
            .values(new)
            .returning(Job::as_returning())
            .get_result(conn)
            .await
    }

    /// The job with this id if `user_id` owns it. Another user's job is indistinguishable
    /// from a missing one, so callers answer NOT_FOUND for both.
    pub async fn find_owned(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<Option<Job>> {
        jobs::table
            .find(id)
            .filter(jobs::user_id.eq(user_id))
            .select(Job::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The jobs with these ids (any order; missing ids are simply absent).
    pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<Job>> {
        jobs::table
            .filter(jobs::id.eq_any(ids))
            .select(Job::as_select())
            .load(conn)
            .await
    }

    /// Sets `next_run_at` of many jobs in one statement (what the scheduler will use).
    pub async fn set_next_runs(
        conn: &mut AsyncPgConnection,
        next: &[(Uuid, Option<DateTime<Utc>>)],
    ) -> QueryResult<usize> {
        if next.is_empty() {
            return Ok(0);
        }
        let ids: Vec<Uuid> = next.iter().map(|(id, _)| *id).collect();
        let times: Vec<Option<DateTime<Utc>>> = next.iter().map(|(_, t)| *t).collect();
        diesel::sql_query(
            "UPDATE jobs AS j SET next_run_at = v.next_run_at \
             FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, next_run_at) \
             WHERE j.id = v.id AND j.status = 'ACTIVE' AND j.next_run_at IS DISTINCT FROM v.next_run_at",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Nullable<Timestamptz>>, _>(times)
        .execute(conn)
        .await
    }

    /// Records the latest run of many jobs in one statement; an older run finishing late
    /// never overwrites a newer one.
    pub async fn record_last_runs(
        conn: &mut AsyncPgConnection,
        runs: &[(Uuid, DateTime<Utc>, ExecutionStatus)],
    ) -> QueryResult<usize> {
        if runs.is_empty() {
            return Ok(0);
        }
        let ids: Vec<Uuid> = runs.iter().map(|(id, _, _)| *id).collect();
        let at: Vec<DateTime<Utc>> = runs.iter().map(|(_, t, _)| *t).collect();
        let statuses: Vec<String> = runs.iter().map(|(_, _, s)| s.as_str().to_owned()).collect();
        diesel::sql_query(
            "UPDATE jobs AS j SET last_run_at = v.at, last_status = v.status \
             FROM (SELECT DISTINCT ON (id) id, at, status \
                   FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS u(id, at, status) \
                   ORDER BY id, at DESC) AS v \
             WHERE j.id = v.id AND (j.last_run_at IS NULL OR j.last_run_at <= v.at)",
        )
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Timestamptz>, _>(at)
        .bind::<Array<Text>, _>(statuses)
        .execute(conn)
        .await
    }

    /// One page of ACTIVE jobs ordered by id, after `after` (keyset), for the reconciler.
    pub async fn active_page(
        conn: &mut AsyncPgConnection,
        after: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<(Uuid, Option<DateTime<Utc>>, String, String)>> {
        let mut query = jobs::table
            .filter(jobs::status.eq(JobStatus::Active))
            .select((
                jobs::id,
                jobs::next_run_at,
                jobs::cron_expression,
                jobs::timezone,
            ))
            .order(jobs::id)
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(jobs::id.gt(after));
        }
        query.load(conn).await
    }

    /// Which of these ids are ACTIVE jobs.
    pub async fn active_among(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
    ) -> QueryResult<Vec<Uuid>> {
        jobs::table
            .filter(jobs::id.eq_any(ids))
            .filter(jobs::status.eq(JobStatus::Active))
            .select(jobs::id)
            .load(conn)
            .await
    }
}
