//! Execution logs: one row per attempt of one slot.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::batch::load_by_key;
use crate::enums::{ExecutionStatus, ExecutionTrigger};
use crate::schema::execution_logs;

mod by_slot;
mod listing;

pub use by_slot::{first_schedule_run_from, skip_prepared, slots_with_runs, still_out_before};
pub use listing::LogFilter;

/// One run of a job as recorded. `(job_id, scheduled_for, trigger, attempt)` is unique,
/// which is what keeps a slot from being recorded, and so fired, twice: the id of a
/// scheduled run or a retry is derived from those four ([`ExecutionLog::slot_id`]), so
/// the primary key holds it.
///
/// It serialises with the contract's field names: run events carry it as JSON.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Queryable,
    QueryableByName,
    Selectable,
    Identifiable,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(table_name = execution_logs, check_for_backend(diesel::pg::Pg))]
#[serde(rename_all = "camelCase")]
pub struct ExecutionLog {
    pub id: Uuid,
    pub job_id: Uuid,
    /// The job's owner, copied for tenant filters without a join.
    pub user_id: Uuid,
    pub status: ExecutionStatus,
    pub trigger: ExecutionTrigger,
    /// 1 for the first try of a slot, n for its (n-1)th retry.
    pub attempt: i32,
    pub scheduled_for: DateTime<Utc>,
    /// Fired after its slot had passed while no scheduler ran.
    pub late: bool,
    /// When the run was due to go out: its slot, or when it was prepared if that was
    /// later, or a manual run's request time. Fixed once written: listings order by it,
    /// and a page's cursor stays valid; when it actually went out is [`Self::sent_at`].
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i32>,
    pub http_status: Option<i32>,
    /// At most 64 KiB of the response body, as storable text (invalid UTF-8 and NUL
    /// replaced by U+FFFD).
    pub response_body: Option<String>,
    pub error: Option<String>,
    /// Whether the body went on past what `response_body` keeps.
    #[serde(default)]
    pub response_body_truncated: bool,
    /// The `Content-Type` the target declared.
    #[serde(default)]
    pub response_content_type: Option<String>,
    /// When its request went out (null until then, and in rows written before this
    /// column: [`Self::went_out_at`] falls back to `started_at`).
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
}

/// A run about to start, written before its request goes out (as PREPARED), or a slot
/// recorded as not fired (SKIPPED, finished at once, the reason in `error`).
#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = execution_logs)]
pub struct NewExecutionLog {
    pub id: Uuid,
    pub job_id: Uuid,
    pub user_id: Uuid,
    pub status: ExecutionStatus,
    pub trigger: ExecutionTrigger,
    pub attempt: i32,
    pub scheduled_for: DateTime<Utc>,
    pub late: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// How one attempt ended, to be written to its row (PREPARED, PENDING or RUNNING).
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub id: Uuid,
    /// The run's slot: with the id, it names the run's partition, so a batch is probed
    /// in one week's partition per run, not in every week's.
    pub scheduled_for: DateTime<Utc>,
    pub status: ExecutionStatus,
    /// When its request went out.
    pub sent_at: DateTime<Utc>,
    /// Whether it went out late (ORed into the row's flag).
    pub late: bool,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub http_status: Option<i32>,
    pub response_body: Option<String>,
    pub response_body_truncated: bool,
    pub response_content_type: Option<String>,
    pub error: Option<String>,
}

/// A run whose request went out, for [`ExecutionLog::mark_sent`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SentMark {
    pub id: Uuid,
    /// The run's slot (see [`Completion::scheduled_for`]).
    pub scheduled_for: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
    pub late: bool,
}

impl ExecutionLog {
    /// The row with this id.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<ExecutionLog>> {
        execution_logs::table
            .find(id)
            .select(ExecutionLog::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The rows with these ids (any order), a scheduler batch probed by key (see
    /// [`crate::batch`]).
    pub async fn load_batch(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
    ) -> QueryResult<Vec<ExecutionLog>> {
        let query = execution_logs::table
            .filter(execution_logs::id.eq_any(ids.to_vec()))
            .select(ExecutionLog::as_select());
        load_by_key(conn, query).await
    }

    /// Inserts the runs about to start; a slot already recorded (by any instance) is
    /// skipped. Returns the rows actually inserted: those, and only those, may be fired.
    pub async fn insert_new(
        conn: &mut AsyncPgConnection,
        rows: &[NewExecutionLog],
    ) -> QueryResult<Vec<ExecutionLog>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // One array per column rather than a VALUES list: a thousand rows are eleven binds,
        // not eleven thousand, which PostgreSQL parses and plans several times faster.
        diesel::sql_query(
            "INSERT INTO execution_logs \
                    (id, job_id, user_id, status, trigger, attempt, scheduled_for, late, started_at, \
                     finished_at, error) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], \
                                  $6::int4[], $7::timestamptz[], $8::bool[], $9::timestamptz[], \
                                  $10::timestamptz[], $11::text[]) \
             ON CONFLICT DO NOTHING \
             RETURNING *",
        )
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.job_id).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.user_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(
            rows.iter()
                .map(|r| r.status.as_str().to_owned())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(
            rows.iter()
                .map(|r| r.trigger.as_str().to_owned())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Int4>, _>(rows.iter().map(|r| r.attempt).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.scheduled_for).collect::<Vec<_>>())
        .bind::<Array<diesel::sql_types::Bool>, _>(rows.iter().map(|r| r.late).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(rows.iter().map(|r| r.started_at).collect::<Vec<_>>())
        .bind::<Array<diesel::sql_types::Nullable<Timestamptz>>, _>(
            rows.iter().map(|r| r.finished_at).collect::<Vec<_>>(),
        )
        .bind::<Array<diesel::sql_types::Nullable<Text>>, _>(
            rows.iter().map(|r| r.error.clone()).collect::<Vec<_>>(),
        )
        .load::<ExecutionLog>(conn)
        .await
    }

    /// Marks runs as sent: RUNNING since `sent_at`, the moment their request went out
    /// (late ORed in). A run already closed is left alone, so this may come after
    /// its outcome.
    pub async fn mark_sent(conn: &mut AsyncPgConnection, sent: &[SentMark]) -> QueryResult<usize> {
        if sent.is_empty() {
            return Ok(0);
        }
        let query = diesel::sql_query(format!(
            "UPDATE execution_logs AS l SET status = 'RUNNING', sent_at = v.sent_at, \
                    late = l.late OR v.late \
             FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::bool[]) \
                  AS v(id, scheduled_for, sent_at, late) \
             WHERE l.id = v.id AND l.scheduled_for = v.scheduled_for \
               AND {}",
            status_among(&[ExecutionStatus::Prepared, ExecutionStatus::Pending])
        ))
        .bind::<Array<SqlUuid>, _>(sent.iter().map(|s| s.id).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(sent.iter().map(|s| s.scheduled_for).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(sent.iter().map(|s| s.sent_at).collect::<Vec<_>>())
        .bind::<Array<diesel::sql_types::Bool>, _>(sent.iter().map(|s| s.late).collect::<Vec<_>>());
        crate::batch::execute_in_partitions(conn, query).await
    }

    /// Writes the outcome of each run that is still open (PREPARED, PENDING or RUNNING; a
    /// row closed by another instance meanwhile is left alone) and returns the rows as
    /// they now stand. One statement for the whole batch, probed by key.
    pub async fn complete_many(
        conn: &mut AsyncPgConnection,
        completions: &[Completion],
    ) -> QueryResult<Vec<ExecutionLog>> {
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = completions.iter().map(|c| c.id).collect();
        let slots: Vec<DateTime<Utc>> = completions.iter().map(|c| c.scheduled_for).collect();
        let statuses: Vec<String> = completions
            .iter()
            .map(|c| c.status.as_str().to_owned())
            .collect();
        let sent: Vec<DateTime<Utc>> = completions.iter().map(|c| c.sent_at).collect();
        let late: Vec<bool> = completions.iter().map(|c| c.late).collect();
        let finished: Vec<DateTime<Utc>> = completions.iter().map(|c| c.finished_at).collect();
        let durations: Vec<i32> = completions.iter().map(|c| c.duration_ms).collect();
        let http: Vec<Option<i32>> = completions.iter().map(|c| c.http_status).collect();
        let bodies: Vec<Option<String>> = completions
            .iter()
            .map(|c| c.response_body.clone())
            .collect();
        let errors: Vec<Option<String>> = completions.iter().map(|c| c.error.clone()).collect();
        let truncated: Vec<bool> = completions
            .iter()
            .map(|c| c.response_body_truncated)
            .collect();
        let content_types: Vec<Option<String>> = completions
            .iter()
            .map(|c| c.response_content_type.clone())
            .collect();
        let query = diesel::sql_query(format!(
            "UPDATE execution_logs AS l SET status = v.status, finished_at = v.finished_at, \
                    duration_ms = v.duration_ms, http_status = v.http_status, \
                    response_body = v.response_body, error = v.error, \
                    response_body_truncated = v.truncated, response_content_type = v.content_type, \
                    sent_at = v.sent_at, late = l.late OR v.late \
             FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::int4[], $5::int4[], $6::text[], $7::text[], \
                         $8::bool[], $9::text[], $10::timestamptz[], $11::bool[], $12::timestamptz[]) \
                  AS v(id, status, finished_at, duration_ms, http_status, response_body, error, truncated, content_type, \
                       sent_at, late, scheduled_for) \
             WHERE l.id = v.id AND l.scheduled_for = v.scheduled_for \
               AND {} \
             RETURNING l.*",
            status_among(&[
                ExecutionStatus::Prepared,
                ExecutionStatus::Pending,
                ExecutionStatus::Running
            ])
        ))
        .bind::<Array<SqlUuid>, _>(ids)
        .bind::<Array<Text>, _>(statuses)
        .bind::<Array<Timestamptz>, _>(finished)
        .bind::<Array<Int4>, _>(durations)
        .bind::<Array<Nullable<Int4>>, _>(http)
        .bind::<Array<Nullable<Text>>, _>(bodies)
        .bind::<Array<Nullable<Text>>, _>(errors)
        .bind::<Array<diesel::sql_types::Bool>, _>(truncated)
        .bind::<Array<Nullable<Text>>, _>(content_types)
        .bind::<Array<Timestamptz>, _>(sent)
        .bind::<Array<diesel::sql_types::Bool>, _>(late)
        .bind::<Array<Timestamptz>, _>(slots);
        crate::batch::load_from_partitions(conn, query).await
    }

    /// Deletes runs that never went out (prepared ahead for a job paused or deleted
    /// before their slot). They were never shown, so no listing or count changes.
    /// Each run is named by its id and slot (see [`Completion::scheduled_for`]).
    pub async fn withdraw(
        conn: &mut AsyncPgConnection,
        runs: &[(Uuid, DateTime<Utc>)],
    ) -> QueryResult<usize> {
        let query = diesel::sql_query(format!(
            "DELETE FROM execution_logs AS l \
             USING unnest($1::uuid[], $2::timestamptz[]) AS v(id, scheduled_for) \
             WHERE l.id = v.id AND l.scheduled_for = v.scheduled_for \
               AND {}",
            status_among(&[ExecutionStatus::Prepared])
        ))
        .bind::<Array<SqlUuid>, _>(runs.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind::<Array<Timestamptz>, _>(runs.iter().map(|r| r.1).collect::<Vec<_>>());
        crate::batch::execute_in_partitions(conn, query).await
    }

    /// Deletes a run (a manual run that could not be queued).
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        diesel::delete(execution_logs::table.find(id))
            .execute(conn)
            .await
    }

    /// When its request went out: `None` while PREPARED or PENDING (not sent yet).
    pub fn went_out_at(&self) -> Option<DateTime<Utc>> {
        match self.status {
            ExecutionStatus::Prepared | ExecutionStatus::Pending => None,
            _ => Some(self.sent_at.unwrap_or(self.started_at)),
        }
    }

    /// Whether the API shows this run: every run but one PREPARED ahead and not yet sent.
    pub fn is_shown(&self) -> bool {
        self.status != ExecutionStatus::Prepared
    }

    /// The deterministic id of one attempt of one slot: the same whichever instance
    /// computes it, so the target sees one `X-CronOps-Execution-Id` per attempt.
    pub fn slot_id(
        job_id: Uuid,
        scheduled_for: DateTime<Utc>,
        trigger: ExecutionTrigger,
        attempt: i32,
    ) -> Uuid {
        let name = format!(
            "{job_id}/{}/{}/{attempt}",
            scheduled_for.timestamp_millis(),
            trigger.as_str()
        );
        Uuid::new_v5(&SLOT_NAMESPACE, name.as_bytes())
    }
}

/// The condition that run `l`'s status is one of `open`, written as the statuses it is
/// not: a `NOT IN` gives the planner no status index to drive a batch by, so each run is
/// probed by key in its week (see `batch::probe_partitions_by_key`).
fn status_among(open: &[ExecutionStatus]) -> String {
    let others: Vec<String> = ExecutionStatus::ALL
        .iter()
        .filter(|status| !open.contains(status))
        .map(|status| format!("'{}'", status.as_str()))
        .collect();
    format!("l.status NOT IN ({})", others.join(", "))
}

/// Namespace of [`ExecutionLog::slot_id`].
const SLOT_NAMESPACE: Uuid = Uuid::from_u128(0x6b1c_3a0e_5f1d_4c8e_9a57_c7d0_5e2f_0a11);
