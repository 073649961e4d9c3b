//! Delivering notices from the outbox (see `scheduler::alerts` for how they are raised):
//! at least once, with retries and backoff, never by two instances at once.
//!
//! Each round, an instance leases due notices, the oldest of each channel only (moving
//! their next attempt past the longest a send may take), sends them, and records each
//! outcome; a notice whose
//! instance dies mid-send is sent again once its lease runs out. Each round also folds
//! the notices held back by the hourly cap into digests when a user's window has room.
//! Webhook notices are signed with the user's signing secret (`scheduler::signing`).

pub mod render;

use std::time::Duration;

use chrono::Utc;
use db::models::notification::Cap;
use db::models::{Notification, NotificationChannel, SigningSecret};
use futures_util::StreamExt;
use scheduler::execute::Executor;
use tokio_util::sync::CancellationToken;

use crate::email::Mailer;

/// Notices leased per round (at most one per channel).
const LEASE_BATCH: i64 = 64;
/// How long a leased notice is left to its instance: well past the longest send.
const LEASE: Duration = Duration::from_secs(60);
/// How long a webhook or Slack call may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Sends in flight at once in one instance (to as many channels).
const SENDS_AT_ONCE: usize = 32;
/// How often an idle instance looks for due notices.
const ROUND_EVERY: Duration = Duration::from_secs(1);
/// Attempts before a notice is FAILED for good, and the waits between them.
const BACKOFF: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
    Duration::from_secs(7200),
];

/// When to try a notice again after its `attempts`-th failure; `None`: give up.
fn retry_after(attempts: i32) -> Option<Duration> {
    usize::try_from(attempts)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|n| BACKOFF.get(n))
        .copied()
}

/// What delivering needs.
#[derive(Clone)]
pub struct Notifier {
    pub db: db::Pool,
    pub mailer: Mailer,
    /// Guarded like job requests: webhook URLs are tenants' input.
    pub http: Executor,
    pub frontend_url: String,
    pub cap: Cap,
}

impl Notifier {
    /// Delivers until `shutdown`; a round in progress finishes first.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!("notice delivery started");
        loop {
            let busy = match self.round().await {
                Ok(sent) => sent > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "notice delivery round failed; trying again");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(ROUND_EVERY) => {}
                    _ = shutdown.cancelled() => break,
                }
            } else if shutdown.is_cancelled() {
                break;
            }
        }
        tracing::info!("notice delivery stopped");
    }

    /// Folds held-back notices into digests, then sends what is due. Returns how many
    /// notices it tried.
    async fn round(&self) -> Result<usize, db::Error> {
        self.make_digests().await?;
        let leased = {
            let mut conn = self.db.get().await?;
            Notification::lease_due(&mut conn, LEASE_BATCH, LEASE).await?
        };
        let tried = leased.len();
        // At most one notice per channel (see `Notification::lease_due`), a few at a
        // time: each send takes pooled connections briefly, shared with the recorder.
        futures_util::stream::iter(leased.into_iter().map(|notice| self.deliver(notice)))
            .buffer_unordered(SENDS_AT_ONCE)
            .collect::<Vec<()>>()
            .await;
        Ok(tried)
    }

    async fn make_digests(&self) -> Result<(), db::Error> {
        let mut conn = self.db.get().await?;
        for user_id in Notification::users_with_folded(&mut conn, 100).await? {
            Notification::digest(&mut conn, user_id, self.cap, render::digest_content).await?;
        }
        Ok(())
    }

    /// Sends one leased notice and records how it went.
    async fn deliver(&self, notice: Notification) {
        let outcome = self.send(&notice).await;
        let recorded = async {
            let mut conn = self.db.get().await?;
            match &outcome {
                Ok(()) => Notification::sent(&mut conn, &notice).await?,
                Err(Failure { error, retry }) => {
                    let retry_at = retry
                        .then(|| retry_after(notice.attempts))
                        .flatten()
                        .and_then(|wait| chrono::Duration::from_std(wait).ok())
                        .map(|wait| Utc::now() + wait);
                    Notification::attempt_failed(&mut conn, &notice, error, retry_at).await?;
                }
            }
            Ok::<_, db::Error>(())
        };
        let status = if outcome.is_ok() { "sent" } else { "failed" };
        metrics::counter!("cronops_notifications_total", "kind" => notice.kind.clone(), "outcome" => status)
            .increment(1);
        if let Err(e) = recorded.await {
            // The lease runs out and the notice is tried again: at least once.
            tracing::warn!(notification_id = %notice.id, error = %e, "could not record a delivery");
        }
    }

    async fn send(&self, notice: &Notification) -> Result<(), Failure> {
        let channel = {
            let mut conn = self.db.get().await.map_err(Failure::again)?;
            match notice.channel_id {
                Some(id) => NotificationChannel::find(&mut conn, id)
                    .await
                    .map_err(Failure::again)?,
                None => None,
            }
        };
        let Some(channel) = channel else {
            return Err(Failure::for_good("the channel was deleted"));
        };
        if channel.verified_at.is_none() {
            return Err(Failure::for_good("the channel is not verified"));
        }
        match channel.kind.as_str() {
            "EMAIL" => {
                let email = render::email(notice, &channel.target, &self.frontend_url);
                self.mailer
                    .send(&email)
                    .await
                    .map_err(|e| Failure::again(format!("{e:#}")))
            }
            "SLACK" => {
                let body = render::slack(notice, &self.frontend_url).to_string();
                self.http
                    .post_notice(&channel.target, &[], body.into_bytes(), SEND_TIMEOUT)
                    .await
                    .map_err(Failure::again)
            }
            _ => {
                let secret = {
                    let mut conn = self.db.get().await.map_err(Failure::again)?;
                    SigningSecret::of_user(
                        &mut conn,
                        notice.user_id,
                        scheduler::signing::new_secret,
                    )
                    .await
                    .map_err(Failure::again)?
                };
                let body = render::webhook(notice, &self.frontend_url).to_string();
                let secrets = scheduler::signing::Secrets {
                    current: secret.current,
                    next: secret.next,
                };
                let signature = scheduler::signing::header_value(
                    &secrets,
                    Utc::now().timestamp(),
                    &[body.as_bytes()],
                );
                let headers = [
                    (scheduler::signing::HEADER, signature),
                    ("X-CronOps-Notification-Id", notice.id.to_string()),
                ];
                self.http
                    .post_notice(&channel.target, &headers, body.into_bytes(), SEND_TIMEOUT)
                    .await
                    .map_err(Failure::again)
            }
        }
    }
}

/// Why a send failed, and whether trying again may help.
struct Failure {
    error: String,
    retry: bool,
}

impl Failure {
    fn again(error: impl std::fmt::Display) -> Failure {
        Failure {
            error: error.to_string(),
            retry: true,
        }
    }

    fn for_good(error: &str) -> Failure {
        Failure {
            error: error.to_owned(),
            retry: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_then_stop() {
        assert_eq!(retry_after(1), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(2), Some(Duration::from_secs(30)));
        assert_eq!(retry_after(7), Some(Duration::from_secs(7200)));
        assert_eq!(retry_after(8), None);
        assert_eq!(retry_after(0), None);
    }
}
