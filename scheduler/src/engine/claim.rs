//! Taking due work from Redis: as much as there is room for in flight, up to the
//! lookahead, with back-pressure when every permit is out.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::record::Record;
use super::{Scheduler, sleep_or_stop};
use crate::queue;

/// The least an instance waits after a claim that took nothing. Work in reach that no
/// claim takes belongs to users with no room (their runs out fill their limits), and room
/// comes back only as runs end: looking again every millisecond would cost Redis a claim
/// per millisecond for nothing, and waiting longer would delay the work that room frees.
const NOTHING_CLAIMED_PAUSE: Duration = Duration::from_millis(10);

impl Scheduler {
    /// Claims and prepares work until `shutdown` is cancelled. Work that cannot be
    /// prepared (PostgreSQL unreachable) is handed back untouched.
    pub(super) async fn claim_loop(
        &self,
        shutdown: &CancellationToken,
        record_tx: &mpsc::Sender<Record>,
    ) {
        let shared = &self.0;
        let mut failures = 0u32;
        let lookahead = chrono::Duration::from_std(shared.config.lookahead).unwrap_or_default();
        while !shutdown.is_cancelled() {
            let room = shared
                .permits
                .available_permits()
                .min(shared.config.batch_size);
            if room == 0 {
                // Back-pressure: wait for a request to finish rather than pile up tasks.
                tokio::select! {
                    permit = shared.permits.acquire() => drop(permit),
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            let now = Utc::now();
            let claimed = match queue::claim(
                &shared.redis,
                &shared.keys,
                &shared.config.concurrency,
                &shared.instance,
                now,
                now + lookahead,
                shared.config.lease,
                room,
            )
            .await
            {
                Ok(claimed) => {
                    failures = 0;
                    claimed
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(error = %e, "claiming failed; retrying");
                    }
                    sleep_or_stop(shutdown, Duration::from_millis(250)).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                let wake = queue::next_wake(&shared.redis, &shared.keys, lookahead)
                    .await
                    .ok()
                    .flatten();
                let wait = wake
                    .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                    .unwrap_or(Duration::MAX)
                    .clamp(NOTHING_CLAIMED_PAUSE, Duration::from_millis(50));
                sleep_or_stop(shutdown, wait).await;
                continue;
            }
            metrics::counter!("cronops_scheduler_claimed_total").increment(claimed.len() as u64);
            shared.held.hold(claimed.iter().map(|c| &c.member));
            if let Err(e) = self.prepare(claimed.clone(), record_tx).await {
                tracing::warn!(error = %e, "could not start claimed runs; handing them back");
                if let Err(e) = queue::unclaim(
                    &shared.redis,
                    &shared.keys,
                    &shared.config.concurrency,
                    &claimed,
                )
                .await
                {
                    tracing::warn!(error = %e, "handing back failed; the leases will expire instead");
                }
                shared.held.forget(claimed.into_iter().map(|c| c.member));
                sleep_or_stop(shutdown, Duration::from_millis(250)).await;
            }
        }
    }
}
