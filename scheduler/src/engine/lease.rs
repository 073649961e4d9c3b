//! The claims this instance holds, and keeping them alive: a holder renews its leases a
//! few times per lease period, so only a dead (or cut off) holder loses them.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::Scheduler;
use crate::queue;

/// Lease members this instance holds: claimed, and not yet released.
#[derive(Debug, Default)]
pub(super) struct Held(Mutex<HashSet<String>>);

impl Held {
    /// Starts holding these members (just claimed).
    pub(super) fn hold<'a>(&self, members: impl IntoIterator<Item = &'a String>) {
        let mut held = self.0.lock().expect("held lock");
        held.extend(members.into_iter().cloned());
    }

    /// Stops holding these members (released, handed back, or lost to another instance).
    pub(super) fn forget(&self, members: impl IntoIterator<Item = String>) {
        let mut held = self.0.lock().expect("held lock");
        for member in members {
            held.remove(&member);
        }
    }

    fn members(&self) -> Vec<String> {
        self.0.lock().expect("held lock").iter().cloned().collect()
    }
}

impl Scheduler {
    /// Gives up the leases of work that fires nothing (withdrawn, skipped, taken by
    /// another instance) and stops renewing them. If Redis cannot be reached they expire.
    pub(super) async fn release_leases(&self, members: Vec<String>) {
        if members.is_empty() {
            return;
        }
        let shared = &self.0;
        if let Err(e) = queue::release(
            &shared.redis,
            &shared.keys,
            &shared.config.concurrency,
            &members,
            &[],
        )
        .await
        {
            tracing::warn!(error = %e, count = members.len(), "could not release leases; they will expire");
        }
        shared.held.forget(members);
    }

    /// Keeps the leases of everything this instance holds alive.
    pub(super) async fn renew_loop(self, stop: CancellationToken) {
        let shared = &self.0;
        let every = shared.config.lease / 3;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
            let members = shared.held.members();
            if members.is_empty() {
                continue;
            }
            let deadline =
                Utc::now() + chrono::Duration::from_std(shared.config.lease).unwrap_or_default();
            for chunk in members.chunks(1_000) {
                if let Err(e) = queue::renew(&shared.redis, &shared.keys, chunk, deadline).await {
                    tracing::warn!(error = %e, "could not renew leases");
                    break;
                }
            }
        }
    }
}
