//! Jobs: what to call, on which schedule, and where the job stands.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
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
}
