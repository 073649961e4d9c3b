//! Log retention: runs older than their owner's plan keeps them are deleted in small
//! batches, so no delete holds locks for long.

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

/// One sweep: batches until none is full, then the counts of buckets no run is kept
/// for. Returns how many runs went.
pub async fn sweep(db: &db::Pool, stop: &CancellationToken) -> Result<usize, db::Error> {
    let mut deleted = 0;
    while !stop.is_cancelled() {
        let mut conn = db.get().await?;
        let batch = db::models::stats::delete_expired_runs(&mut conn, BATCH).await?;
        drop(conn);
        deleted += batch;
        if (batch as i64) < BATCH {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut conn = db.get().await?;
    db::models::stats::delete_expired_counts(&mut conn).await?;
    Ok(deleted)
}
