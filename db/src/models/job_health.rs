//! A job's count of runs failed in a row, kept by the scheduler (see
//! `scheduler::alerts`), and its pause when the count says so. A recorded batch of runs
//! reads and writes the counts of all its jobs in one statement each.

use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::batch::load_by_key;
use crate::enums::JobStatus;
use crate::schema::jobs;

use super::Job;

/// What counting a job's runs reads of it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Counted {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub status: JobStatus,
    pub alert_policy: Option<serde_json::Value>,
    pub consecutive_failures: i32,
}

impl Job {
    /// Reads and locks (until the transaction ends) the counts of these jobs, in the
    /// order of their ids, so that concurrent batches never wait on each other in a
    /// cycle. Jobs gone are absent.
    pub async fn lock_counts(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
    ) -> QueryResult<Vec<Counted>> {
        let query = jobs::table
            .filter(jobs::id.eq_any(ids.to_vec()))
            .order(jobs::id)
            .select((
                jobs::id,
                jobs::user_id,
                jobs::name,
                jobs::status,
                jobs::alert_policy,
                jobs::consecutive_failures,
            ))
            .for_no_key_update();
        load_by_key(conn, query).await
    }

    /// Sets the counts of these jobs: (job, count).
    pub async fn set_counts(
        conn: &mut AsyncPgConnection,
        counts: &[(Uuid, i32)],
    ) -> QueryResult<()> {
        if counts.is_empty() {
            return Ok(());
        }
        diesel::sql_query(
            "UPDATE jobs AS j SET consecutive_failures = v.n \
             FROM unnest($1::uuid[], $2::int4[]) AS v(id, n) WHERE j.id = v.id",
        )
        .bind::<Array<SqlUuid>, _>(counts.iter().map(|c| c.0).collect::<Vec<_>>())
        .bind::<Array<Int4>, _>(counts.iter().map(|c| c.1).collect::<Vec<_>>())
        .execute(conn)
        .await
        .map(drop)
    }

    /// Pauses an ACTIVE job for `reason`.
    pub async fn auto_pause(
        conn: &mut AsyncPgConnection,
        job_id: Uuid,
        reason: &str,
    ) -> QueryResult<bool> {
        diesel::update(
            jobs::table
                .find(job_id)
                .filter(jobs::status.eq(JobStatus::Active)),
        )
        .set((
            jobs::status.eq(JobStatus::Paused),
            jobs::paused_reason.eq(reason),
        ))
        .execute(conn)
        .await
        .map(|n| n > 0)
    }

    /// Starts the job's count afresh (its owner resumed it).
    pub async fn clear_failures(conn: &mut AsyncPgConnection, job_id: Uuid) -> QueryResult<()> {
        diesel::update(jobs::table.find(job_id))
            .set(jobs::consecutive_failures.eq(0))
            .execute(conn)
            .await
            .map(drop)
    }
}
