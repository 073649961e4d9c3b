//! A job's count of runs failed in a row, kept by the scheduler (see
//! `scheduler::alerts`), and its pause when the count says so.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Int4, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::enums::JobStatus;
use crate::schema::jobs;

use super::Job;

/// A job's count as one run changed it.
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Counted {
    #[diesel(sql_type = Int4)]
    pub before: i32,
    #[diesel(sql_type = Int4)]
    pub after: i32,
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub status: JobStatus,
    #[diesel(sql_type = Nullable<diesel::sql_types::Jsonb>)]
    pub alert_policy: Option<serde_json::Value>,
}

impl Job {
    /// Counts a final run of the job: a failure adds one, a success resets the count.
    /// `None` when nothing changed (a success with no failures before) or the job is
    /// gone. The row is locked for the rest of the transaction.
    pub async fn count_outcome(
        conn: &mut AsyncPgConnection,
        job_id: Uuid,
        success: bool,
    ) -> QueryResult<Option<Counted>> {
        diesel::sql_query(
            "UPDATE jobs AS j SET consecutive_failures = CASE WHEN $2 THEN 0 ELSE o.before + 1 END \
             FROM (SELECT id, consecutive_failures AS before FROM jobs WHERE id = $1 FOR NO KEY UPDATE) AS o \
             WHERE j.id = o.id AND (NOT $2 OR o.before > 0) \
             RETURNING o.before, j.consecutive_failures AS after, j.user_id, j.name, j.status, j.alert_policy",
        )
        .bind::<SqlUuid, _>(job_id)
        .bind::<Bool, _>(success)
        .get_result(conn)
        .await
        .optional()
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
