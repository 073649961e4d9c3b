//! Live run events for subscriptions: one Redis pub/sub connection per API process, fanned
//! out in-process through a bounded broadcast channel. A subscriber that falls more than
//! the channel's capacity behind is told and dropped, so a slow client never slows the
//! others or grows memory.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;
use scheduler::Keys;
use scheduler::events::{ControlMessage, ExecutionEvent};
use uuid::Uuid;

/// What the hub fans out.
#[derive(Debug, Clone)]
pub enum HubMessage {
    /// A run started or finished.
    Event(Arc<ExecutionEvent>),
    /// An account was deleted: its subscriptions end.
    UserDeleted(Uuid),
}
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Events buffered per process; a subscriber further behind than this is dropped.
pub const CAPACITY: usize = 4_096;

/// The process's event fan-out.
#[derive(Debug, Clone)]
pub struct EventHub {
    tx: broadcast::Sender<HubMessage>,
}

impl EventHub {
    /// A hub fed by nothing (for schema-only use and tests).
    pub fn idle() -> EventHub {
        EventHub {
            tx: broadcast::channel(CAPACITY).0,
        }
    }

    /// Subscribes to every user's event channel and forwards events until `shutdown`.
    /// Reconnects (and resubscribes) by itself when Redis comes back.
    pub fn start(
        redis_url: &str,
        keys: &Keys,
        shutdown: CancellationToken,
    ) -> anyhow::Result<EventHub> {
        let hub = EventHub::idle();
        let mut config = Config::from_url(redis_url)?;
        config.fail_fast = false;
        let client = Builder::from_config(config)
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .build_subscriber_client()?;
        client.connect();
        // Resubscribes after every reconnect; the task lives as long as the client.
        drop(client.manage_subscriptions());
        let pattern = keys.all_events_pattern();
        let tx = hub.tx.clone();
        tokio::spawn(async move {
            let mut messages = client.message_rx();
            loop {
                match client.psubscribe(pattern.clone()).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "event subscription failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = shutdown.cancelled() => return,
                        }
                    }
                }
            }
            loop {
                tokio::select! {
                    message = messages.recv() => match message {
                        Ok(message) => {
                            let Some(text) = message.value.as_str() else { continue };
                            let parsed = serde_json::from_str::<ExecutionEvent>(&text)
                                .map(|event| HubMessage::Event(Arc::new(event)))
                                .or_else(|_| serde_json::from_str::<ControlMessage>(&text)
                                    .map(|control| HubMessage::UserDeleted(control.user_deleted)));
                            match parsed {
                                // No receiver is fine: nobody is watching right now.
                                Ok(message) => { let _ = tx.send(message); }
                                Err(e) => tracing::warn!(error = %e, "ignoring a malformed event"),
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(dropped = n, "the event reader fell behind Redis");
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    _ = shutdown.cancelled() => {
                        let _ = client.quit().await;
                        return;
                    }
                }
            }
        });
        Ok(hub)
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<HubMessage> {
        self.tx.subscribe()
    }

    /// Subscribers listening now.
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}
