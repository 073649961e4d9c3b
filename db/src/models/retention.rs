//! Retention of runs: each is kept for its owner's plan's `log_retention_days`.
//!
//! Runs are partitioned by the week of their slot (migration
//! `runs_are_partitioned_by_week`). The runs of the plan that keeps them longest go with
//! their week: a week is dropped whole once it ended that long ago, so those runs leave
//! up to a week after their time, without a row deleted. Runs of plans that keep them
//! less are deleted row by row in small batches, as are runs in the default partition
//! (slots no week partition covered).

use diesel::sql_types::{BigInt, Int4};
use diesel::{QueryResult, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::Plan;

fn days(plan: Plan) -> i32 {
    i32::try_from(plan.limits().log_retention_days).unwrap_or(i32::MAX)
}

/// The longest any plan keeps runs, in days.
pub fn longest_days() -> i32 {
    [Plan::Free, Plan::Premium, Plan::Pro]
        .into_iter()
        .map(days)
        .max()
        .unwrap_or(i32::MAX)
}

/// Deletes up to `batch` runs older than their owner's plan keeps them, except those the
/// drop of their week will take (the longest plan's, outside the default partition).
/// Small batches keep locks short; callers repeat until it returns less.
pub async fn delete_expired_runs(conn: &mut AsyncPgConnection, batch: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM execution_logs WHERE (id, scheduled_for) IN ( \
           SELECT l.id, l.scheduled_for FROM users u \
           CROSS JOIN LATERAL (SELECT CASE u.plan WHEN 'PRO' THEN $4 WHEN 'PREMIUM' THEN $3 \
                                                  ELSE $2 END AS keep) k \
           CROSS JOIN LATERAL ( \
             (SELECT id, scheduled_for FROM execution_logs \
              WHERE k.keep < $5 AND user_id = u.id \
                AND started_at < now() - make_interval(days => k.keep) LIMIT $1) \
             UNION ALL \
             (SELECT id, scheduled_for FROM execution_logs_default \
              WHERE k.keep >= $5 AND user_id = u.id \
                AND started_at < now() - make_interval(days => k.keep) LIMIT $1)) l \
           LIMIT $1)",
    )
    .bind::<BigInt, _>(batch)
    .bind::<Int4, _>(days(Plan::Free))
    .bind::<Int4, _>(days(Plan::Premium))
    .bind::<Int4, _>(days(Plan::Pro))
    .bind::<Int4, _>(longest_days())
    .execute(conn)
    .await
}

/// Deletes up to `batch` notices raised longer ago than any plan keeps runs, unless
/// still to be sent; callers repeat until it returns less.
pub async fn delete_expired_notices(
    conn: &mut AsyncPgConnection,
    batch: i64,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM notifications WHERE id IN ( \
           SELECT id FROM notifications \
           WHERE created_at < now() - make_interval(days => $2) AND status <> 'PENDING' \
           LIMIT $1)",
    )
    .bind::<BigInt, _>(batch)
    .bind::<Int4, _>(longest_days())
    .execute(conn)
    .await
}

/// Creates the week partitions from the current week to the one `ahead` days from now
/// that do not exist yet; returns how many it created.
pub async fn create_partitions(conn: &mut AsyncPgConnection, ahead: i32) -> QueryResult<i32> {
    #[derive(QueryableByName)]
    struct Created {
        #[diesel(sql_type = Int4)]
        created: i32,
    }
    let created: Created = diesel::sql_query(
        "SELECT create_run_partitions(now(), now() + make_interval(days => $1)) AS created",
    )
    .bind::<Int4, _>(ahead)
    .get_result(conn)
    .await?;
    Ok(created.created)
}

/// Drops the weeks that ended before every plan's retention began, with their dashboard
/// counts; returns how many weeks went. Call after [`delete_expired_runs`] has emptied
/// the default partition of what is older: its deletes keep the counts right.
pub async fn drop_partitions(conn: &mut AsyncPgConnection) -> QueryResult<i32> {
    #[derive(QueryableByName)]
    struct Dropped {
        #[diesel(sql_type = Int4)]
        dropped: i32,
    }
    let dropped: Dropped = diesel::sql_query(
        "SELECT drop_run_partitions(now() - make_interval(days => $1)) AS dropped",
    )
    .bind::<Int4, _>(longest_days())
    .get_result(conn)
    .await?;
    Ok(dropped.dropped)
}
