//! How far a bounded job has got: the scheduled runs of a job with `max_runs`, counted
//! by the scheduler in the transaction that writes them, and the COMPLETED status of a
//! job with no slot left.

use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::enums::JobStatus;
use crate::schema::jobs;

use super::Job;

impl Job {
    /// Adds scheduled runs to these jobs' counts: (job, runs). A job whose count reaches
    /// its `max_runs` while ACTIVE is COMPLETED.
    pub async fn count_scheduled(
        conn: &mut AsyncPgConnection,
        counts: &[(Uuid, i32)],
    ) -> QueryResult<()> {
        if counts.is_empty() {
            return Ok(());
        }
        diesel::sql_query(
            "UPDATE jobs AS j SET scheduled_runs = j.scheduled_runs + v.n,
                 status = CASE WHEN j.status = 'ACTIVE' AND j.scheduled_runs + v.n >= j.max_runs
                               THEN 'COMPLETED' ELSE j.status END
             FROM unnest($1::uuid[], $2::int4[]) AS v(id, n) WHERE j.id = v.id",
        )
        .bind::<Array<SqlUuid>, _>(counts.iter().map(|c| c.0).collect::<Vec<_>>())
        .bind::<Array<Int4>, _>(counts.iter().map(|c| c.1).collect::<Vec<_>>())
        .execute(conn)
        .await
        .map(drop)
    }

    /// Marks these jobs COMPLETED if they are still ACTIVE; returns those it marked.
    pub async fn complete(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(
            jobs::table
                .filter(jobs::id.eq_any(ids))
                .filter(jobs::status.eq(JobStatus::Active)),
        )
        .set(jobs::status.eq(JobStatus::Completed))
        .returning(jobs::id)
        .get_results(conn)
        .await
    }
}
