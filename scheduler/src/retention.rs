//! Log retention: runs older than their owner's plan keeps them go, a whole week
//! partition at a time for the plan that keeps them longest and in small batches of rows
//! otherwise (see `db::models::retention`). Each sweep also creates the coming weeks'
//! partitions, and deletes notices as old as the oldest runs kept.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Rows per delete statement.
const BATCH: i64 = 1_000;

/// Deletes expired runs every `every` until `stop` is cancelled.
pub async fn run(db: db::Pool, every: Duration, stop: CancellationToken) {
    loop {
        match sweep(&db, &stop).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted runs past their plan's retention"),
            Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Weeks of partitions kept ready ahead of the current one, in days.
const PARTITIONS_AHEAD_DAYS: i32 = 14;

/// One sweep: the coming weeks' partitions, batches of row deletes until one is not full,
/// then the weeks every plan has let go. Returns how many runs were deleted row by row.
pub async fn sweep(db: &db::Pool, stop: &CancellationToken) -> Result<usize, db::Error> {
    use db::models::retention;
    let mut conn = db.get().await?;
    let created = retention::create_partitions(&mut conn, PARTITIONS_AHEAD_DAYS).await?;
    if created > 0 {
        tracing::info!(created, "created week partitions of runs");
    }
    drop(conn);
    let mut deleted = 0;
    while !stop.is_cancelled() {
        let mut conn = db.get().await?;
        let batch = retention::delete_expired_runs(&mut conn, BATCH).await?;
        drop(conn);
        deleted += batch;
        if (batch as i64) < BATCH {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while !stop.is_cancelled() {
        let mut conn = db.get().await?;
        let batch = retention::delete_expired_notices(&mut conn, BATCH).await?;
        if (batch as i64) < BATCH {
            break;
        }
    }
    if stop.is_cancelled() {
        // The default partition may still hold older runs, whose counts the drop trims.
        return Ok(deleted);
    }
    let mut conn = db.get().await?;
    let dropped = retention::drop_partitions(&mut conn).await?;
    if dropped > 0 {
        tracing::info!(
            dropped,
            "dropped week partitions of runs past every plan's retention"
        );
    }
    Ok(deleted)
}
