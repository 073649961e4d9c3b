//! A job's runs looked up by slot: what a takeover, a backfill and the overlap check ask
//! of a job's recent runs, and the SKIPPED record of a slot not fired.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{ExecutionLog, NewExecutionLog, status_among};
use crate::enums::{ExecutionStatus, ExecutionTrigger};
use crate::schema::execution_logs;

/// The first SCHEDULE run of a job at or after `slot` (SKIPPED rows are not runs: one
/// for the claimed slot sits before the run the misfire rule fired in its place).
pub async fn first_schedule_run_from(
    conn: &mut AsyncPgConnection,
    job_id: Uuid,
    slot: DateTime<Utc>,
) -> QueryResult<Option<ExecutionLog>> {
    // A run is due no earlier than its slot: the bound lets the (job, started_at) index
    // narrow the search to the job's runs since `slot`.
    execution_logs::table
        .filter(execution_logs::job_id.eq(job_id))
        .filter(execution_logs::started_at.ge(slot))
        .filter(execution_logs::trigger.eq(ExecutionTrigger::Schedule))
        .filter(execution_logs::status.ne(ExecutionStatus::Skipped))
        .filter(execution_logs::scheduled_for.ge(slot))
        .order(execution_logs::scheduled_for.asc())
        .select(ExecutionLog::as_select())
        .first(conn)
        .await
        .optional()
}

/// The slots in `[from, to)` for which the job has a run of any kind (what a backfill
/// leaves out).
pub async fn slots_with_runs(
    conn: &mut AsyncPgConnection,
    job_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<Vec<DateTime<Utc>>> {
    // A run is due no earlier than its slot, as above.
    execution_logs::table
        .filter(execution_logs::job_id.eq(job_id))
        .filter(execution_logs::started_at.ge(from))
        .filter(execution_logs::scheduled_for.ge(from))
        .filter(execution_logs::scheduled_for.lt(to))
        .select(execution_logs::scheduled_for)
        .distinct()
        .load(conn)
        .await
}

/// Of these (job, slot) pairs, those whose job has earlier runs still out (PREPARED,
/// PENDING or RUNNING): (job, slot, the earliest such run's slot, how many).
pub async fn still_out_before(
    conn: &mut AsyncPgConnection,
    slots: &[(Uuid, DateTime<Utc>)],
) -> QueryResult<Vec<(Uuid, DateTime<Utc>, DateTime<Utc>, i64)>> {
    #[derive(QueryableByName)]
    struct Out {
        #[diesel(sql_type = SqlUuid)]
        job_id: Uuid,
        #[diesel(sql_type = Timestamptz)]
        slot: DateTime<Utc>,
        #[diesel(sql_type = Timestamptz)]
        running: DateTime<Utc>,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    // A run is due no earlier than its slot, and none is out for a day: the bounds let
    // the (job, started_at) index find them.
    let out: Vec<Out> = diesel::sql_query(format!(
        "SELECT v.job_id, v.slot, min(l.scheduled_for) AS running, count(*) AS count \
         FROM unnest($1::uuid[], $2::timestamptz[]) AS v(job_id, slot) \
         JOIN execution_logs AS l ON l.job_id = v.job_id AND l.scheduled_for < v.slot \
          AND l.started_at >= v.slot - interval '1 day' AND l.scheduled_for >= v.slot - interval '1 day' \
          AND {} \
         GROUP BY v.job_id, v.slot",
        status_among(&[
            ExecutionStatus::Prepared,
            ExecutionStatus::Pending,
            ExecutionStatus::Running,
        ])
    ))
    .bind::<Array<SqlUuid>, _>(slots.iter().map(|s| s.0).collect::<Vec<_>>())
    .bind::<Array<Timestamptz>, _>(slots.iter().map(|s| s.1).collect::<Vec<_>>())
    .load(conn)
    .await?;
    Ok(out
        .into_iter()
        .map(|o| (o.job_id, o.slot, o.running, o.count))
        .collect())
}

/// Turns prepared runs that never went out into SKIPPED records (`rows`, same ids and
/// slots), in one transaction: the prepared rows go as a withdrawal does, and the records
/// come in as the misfire rule's do, so every count follows.
pub async fn skip_prepared(
    conn: &mut AsyncPgConnection,
    rows: Vec<NewExecutionLog>,
) -> QueryResult<Vec<ExecutionLog>> {
    use diesel_async::AsyncConnection;
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        let runs: Vec<(Uuid, DateTime<Utc>)> =
            rows.iter().map(|r| (r.id, r.scheduled_for)).collect();
        ExecutionLog::withdraw(conn, &runs).await?;
        ExecutionLog::insert_new(conn, &rows).await
    })
    .await
}
