//! Listing runs for the API: filters, pages and counts. The scheduler never reads here.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::ExecutionLog;
use crate::enums::ExecutionStatus;
use crate::schema::execution_logs;

/// Which runs a listing shows.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub user_id: Option<Uuid>,
    pub job_id: Option<Uuid>,
    pub status: Option<ExecutionStatus>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl LogFilter {
    fn apply<'a>(
        &self,
        mut query: execution_logs::BoxedQuery<'a, diesel::pg::Pg>,
    ) -> execution_logs::BoxedQuery<'a, diesel::pg::Pg> {
        query = query.filter(execution_logs::status.ne(ExecutionStatus::Prepared));
        if let Some(user_id) = self.user_id {
            query = query.filter(execution_logs::user_id.eq(user_id));
        }
        if let Some(job_id) = self.job_id {
            query = query.filter(execution_logs::job_id.eq(job_id));
        }
        if let Some(status) = self.status {
            query = query.filter(execution_logs::status.eq(status));
        }
        if let Some(since) = self.since {
            query = query.filter(execution_logs::started_at.ge(since));
        }
        if let Some(until) = self.until {
            query = query.filter(execution_logs::started_at.lt(until));
        }
        query
    }
}

impl ExecutionLog {
    /// One page of runs, newest first, keyset after `after` = (started_at, id).
    pub async fn page(
        conn: &mut AsyncPgConnection,
        filter: &LogFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> QueryResult<Vec<ExecutionLog>> {
        let mut query = filter.apply(execution_logs::table.into_boxed());
        if let Some((started_at, id)) = after {
            query = query.filter(
                execution_logs::started_at
                    .lt(started_at)
                    .or(execution_logs::started_at
                        .eq(started_at)
                        .and(execution_logs::id.lt(id))),
            );
        }
        query
            .order((execution_logs::started_at.desc(), execution_logs::id.desc()))
            .limit(limit)
            .select(ExecutionLog::as_select())
            .load(conn)
            .await
    }

    /// How many runs match the filter: from the dashboard counts when they answer it
    /// (all of a user's or everyone's runs, or their successes), else by counting rows.
    pub async fn count(conn: &mut AsyncPgConnection, filter: &LogFilter) -> QueryResult<i64> {
        let by_owner = filter.job_id.is_none() && filter.since.is_none() && filter.until.is_none();
        if by_owner && matches!(filter.status, None | Some(ExecutionStatus::Success)) {
            let (total, success) = crate::models::stats::run_count(conn, filter.user_id).await?;
            return Ok(if filter.status.is_none() {
                total
            } else {
                success
            });
        }
        filter
            .apply(execution_logs::table.into_boxed())
            .count()
            .get_result(conn)
            .await
    }

    /// The newest `limit` runs of each job, in one query (for lists of jobs).
    pub async fn newest_per_job(
        conn: &mut AsyncPgConnection,
        job_ids: &[Uuid],
        limit: i64,
    ) -> QueryResult<Vec<ExecutionLog>> {
        diesel::sql_query(
            "SELECT l.* FROM unnest($1::uuid[]) AS j(id) \
             CROSS JOIN LATERAL (SELECT * FROM execution_logs \
                                 WHERE job_id = j.id AND status <> 'PREPARED' \
                                 ORDER BY started_at DESC, id DESC LIMIT $2) AS l",
        )
        .bind::<Array<SqlUuid>, _>(job_ids.to_vec())
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .load::<ExecutionLog>(conn)
        .await
    }

    /// The latest closed run (SUCCESS, FAILED or TIMEOUT) of each job, by when it was
    /// due: what a job shows as its last run. Jobs without one are absent.
    pub async fn last_closed_per_job(
        conn: &mut AsyncPgConnection,
        job_ids: &[Uuid],
    ) -> QueryResult<Vec<ExecutionLog>> {
        diesel::sql_query(
            "SELECT l.* FROM unnest($1::uuid[]) AS j(id) \
             CROSS JOIN LATERAL (SELECT * FROM execution_logs \
                                 WHERE job_id = j.id AND status IN ('SUCCESS', 'FAILED', 'TIMEOUT') \
                                 ORDER BY started_at DESC, id DESC LIMIT 1) AS l",
        )
        .bind::<Array<SqlUuid>, _>(job_ids.to_vec())
        .load::<ExecutionLog>(conn)
        .await
    }

    /// The slot of the latest scheduled run (or SKIPPED slot) of each job: how far its
    /// schedule got. Jobs that never ran are absent.
    pub async fn latest_slots(
        conn: &mut AsyncPgConnection,
        job_ids: &[Uuid],
    ) -> QueryResult<Vec<(Uuid, DateTime<Utc>)>> {
        #[derive(QueryableByName)]
        struct Latest {
            #[diesel(sql_type = SqlUuid)]
            job_id: Uuid,
            #[diesel(sql_type = diesel::sql_types::Timestamptz)]
            slot: DateTime<Utc>,
        }
        let rows = diesel::sql_query(
            "SELECT j.id AS job_id, l.scheduled_for AS slot FROM unnest($1::uuid[]) AS j(id) \
             CROSS JOIN LATERAL (SELECT scheduled_for FROM execution_logs \
                                 WHERE job_id = j.id AND trigger = 'SCHEDULE' \
                                 ORDER BY started_at DESC, id DESC LIMIT 1) AS l",
        )
        .bind::<Array<SqlUuid>, _>(job_ids.to_vec())
        .load::<Latest>(conn)
        .await?;
        Ok(rows.into_iter().map(|r| (r.job_id, r.slot)).collect())
    }

    /// How many runs each job has (jobs without runs are absent).
    pub async fn count_by_job(
        conn: &mut AsyncPgConnection,
        job_ids: &[Uuid],
    ) -> QueryResult<Vec<(Uuid, i64)>> {
        execution_logs::table
            .filter(execution_logs::job_id.eq_any(job_ids))
            .filter(execution_logs::status.ne(ExecutionStatus::Prepared))
            .group_by(execution_logs::job_id)
            .select((execution_logs::job_id, diesel::dsl::count_star()))
            .load(conn)
            .await
    }
}
