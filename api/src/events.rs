//! Live run events for subscriptions: one Redis pub/sub connection per API process, routed
//! in-process to the subscriptions of the event's user (and to admins watching all users).
//! Each subscription has its own bounded queue: one that falls more than [`CAPACITY`]
//! events behind is told and dropped, so a slow client never slows the others or grows
//! memory, and an event costs work only for the subscriptions it is for.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fred::prelude::*;
use scheduler::Keys;
use scheduler::events::{ControlMessage, ExecutionEvent};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::sockets::{Sockets, Which};

/// What the hub delivers.
#[derive(Debug, Clone)]
pub enum HubMessage {
    /// A run started or finished.
    Event(Arc<ExecutionEvent>),
    /// An account was deleted: its subscriptions end.
    UserDeleted(Uuid),
}

/// Events queued per subscription; a subscription further behind than this is dropped.
/// Queues grow in small blocks as they fill, so an idle subscription costs little.
pub const CAPACITY: usize = 4_096;

/// Messages the Redis subscriber connection buffers before the hub reads them.
const REDIS_BUFFER: usize = 65_536;

/// Why a subscription's stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It fell [`CAPACITY`] events behind.
    Lagged,
    /// The hub stopped (shutdown).
    Closed,
}

struct Subscriber {
    id: u64,
    /// Whose runs (for an admin watching everyone: the admin).
    user: Uuid,
    tx: mpsc::Sender<HubMessage>,
    lagged: Arc<AtomicBool>,
}

impl Subscriber {
    /// Queues a message; false when the subscriber is gone or too far behind (it is then
    /// removed, and a lagging one learns why).
    fn deliver(&self, message: &HubMessage) -> bool {
        match self.tx.try_send(message.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.lagged.store(true, Ordering::Release);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

#[derive(Default)]
struct Routes {
    /// Subscriptions to one user's runs, by user.
    by_user: HashMap<Uuid, Vec<Subscriber>>,
    /// Admin subscriptions to every user's runs.
    everyone: Vec<Subscriber>,
}

impl Routes {
    fn dispatch(&mut self, message: &HubMessage) {
        let user = match message {
            HubMessage::Event(event) => event.log.user_id,
            HubMessage::UserDeleted(user) => *user,
        };
        if let Some(subscribers) = self.by_user.get_mut(&user) {
            subscribers.retain(|s| s.deliver(message));
            if subscribers.is_empty() {
                self.by_user.remove(&user);
            }
        }
        match message {
            HubMessage::Event(_) => self.everyone.retain(|s| s.deliver(message)),
            // An admin watching everyone is ended only by their own deletion.
            HubMessage::UserDeleted(user) => self
                .everyone
                .retain(|s| s.user != *user || s.deliver(message)),
        }
    }

    fn remove(&mut self, id: u64, user: Uuid, everyone: bool) {
        if everyone {
            self.everyone.retain(|s| s.id != id);
        } else if let Some(subscribers) = self.by_user.get_mut(&user) {
            subscribers.retain(|s| s.id != id);
            if subscribers.is_empty() {
                self.by_user.remove(&user);
            }
        }
    }

    fn count(&self) -> usize {
        self.everyone.len() + self.by_user.values().map(Vec::len).sum::<usize>()
    }
}

#[derive(Default)]
struct Inner {
    routes: Mutex<Routes>,
    next_id: AtomicU64,
    sockets: Sockets,
}

/// The process's event fan-out.
#[derive(Clone, Default)]
pub struct EventHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("subscribers", &self.subscribers())
            .finish()
    }
}

/// One subscription's queue; leaving the hub when dropped.
pub struct Subscription {
    rx: mpsc::Receiver<HubMessage>,
    lagged: Arc<AtomicBool>,
    hub: Arc<Inner>,
    id: u64,
    user: Uuid,
    everyone: bool,
}

impl Subscription {
    /// The next message for this subscription, or why there will be none.
    pub async fn recv(&mut self) -> Result<HubMessage, Ended> {
        match self.rx.recv().await {
            Some(message) => Ok(message),
            None if self.lagged.load(Ordering::Acquire) => Err(Ended::Lagged),
            None => Err(Ended::Closed),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Ok(mut routes) = self.hub.routes.lock() {
            routes.remove(self.id, self.user, self.everyone);
        }
    }
}

impl EventHub {
    /// A hub fed by nothing (for schema-only use and tests).
    pub fn idle() -> EventHub {
        EventHub::default()
    }

    /// Delivers a message to the subscriptions it is for.
    pub fn dispatch(&self, message: &HubMessage) {
        self.inner
            .routes
            .lock()
            .expect("event routes lock")
            .dispatch(message);
    }

    /// The authenticated sockets of this process.
    pub fn sockets(&self) -> &Sockets {
        &self.inner.sockets
    }

    /// Acts on a change to an account: ends its subscriptions and closes its sockets.
    pub fn control(&self, message: ControlMessage) {
        match message {
            ControlMessage::UserDeleted { user } => {
                self.dispatch(&HubMessage::UserDeleted(user));
                let all = Which {
                    only: None,
                    keep: None,
                };
                self.sockets().close(
                    user,
                    all,
                    crate::ws::UNAUTHENTICATED,
                    "this account was deleted",
                );
            }
            ControlMessage::SessionsEnded {
                user,
                only,
                keep,
                reason,
            } => {
                self.sockets().close(
                    user,
                    Which { only, keep },
                    crate::ws::UNAUTHENTICATED,
                    &reason,
                );
            }
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
        let routes = hub.clone();
        let mut config = Config::from_url(redis_url)?;
        config.fail_fast = false;
        let client = Builder::from_config(config)
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            // The scheduler publishes a batch's events in one pipeline: fred's own queue
            // (32 messages by default) would drop most of a burst before the hub reads it.
            .with_performance_config(|perf| perf.broadcast_channel_capacity = REDIS_BUFFER)
            .build_subscriber_client()?;
        client.connect();
        // Resubscribes after every reconnect; the task lives as long as the client.
        drop(client.manage_subscriptions());
        let pattern = keys.all_events_pattern();
        tokio::spawn(async move {
            let mut messages = client.message_rx();
            loop {
                match client.psubscribe(pattern.clone()).await {
                    Ok(()) => {
                        // Until then, this process misses events and account changes.
                        metrics::gauge!("cronops_event_hub_subscribed").set(1.0);
                        break;
                    }
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
                            if let Ok(event) = serde_json::from_str::<ExecutionEvent>(&text) {
                                routes.dispatch(&HubMessage::Event(Arc::new(event)));
                                continue;
                            }
                            match serde_json::from_str::<ControlMessage>(&text) {
                                Ok(control) => routes.control(control),
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

    /// A subscription to `user`'s runs, or with `everyone` to every user's (the caller
    /// checks that `user` is an admin); ended when `user` is deleted.
    pub fn subscribe(&self, user: Uuid, everyone: bool) -> Subscription {
        let (tx, rx) = mpsc::channel(CAPACITY);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let subscriber = Subscriber {
            id,
            user,
            tx,
            lagged: lagged.clone(),
        };
        let mut routes = self.inner.routes.lock().expect("event routes lock");
        if everyone {
            routes.everyone.push(subscriber);
        } else {
            routes.by_user.entry(user).or_default().push(subscriber);
        }
        Subscription {
            rx,
            lagged,
            hub: self.inner.clone(),
            id,
            user,
            everyone,
        }
    }

    /// Subscriptions open now.
    pub fn subscribers(&self) -> usize {
        self.inner
            .routes
            .lock()
            .map(|routes| routes.count())
            .unwrap_or(0)
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
