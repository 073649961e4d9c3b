//! The authenticated WebSockets of this process, by account and session, so that a change
//! to an account (a logout, a new password, a new role, its deletion) closes the sockets
//! it concerns, on every API process (each hears the change from Redis), and so that one
//! account cannot hold more than its share of sockets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use uuid::Uuid;

/// How a socket's loop is told things from elsewhere: close (with this code and reason),
/// or send these messages. A lock and a `Notify`, not a channel or a task: thousands of
/// idle subscribers must stay cheap (a bounded channel allocated a block of slots each).
#[derive(Default)]
pub struct Signal {
    close: Mutex<Option<(u16, String)>>,
    outbox: Mutex<Vec<String>>,
    wake: Notify,
}

impl Signal {
    /// Asks the socket to close (the first request wins).
    pub fn close(&self, code: u16, reason: &str) {
        self.close
            .lock()
            .expect("signal lock")
            .get_or_insert_with(|| (code, reason.to_owned()));
        self.wake.notify_one();
    }

    /// Queues a message for the client.
    pub fn send(&self, message: String) {
        self.outbox.lock().expect("signal lock").push(message);
        self.wake.notify_one();
    }

    /// Wakes the loop without a message (something else changed).
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Until something is asked (at once if it was asked since the last wait).
    pub async fn wait(&self) {
        self.wake.notified().await;
    }

    /// The close asked for, if any.
    pub fn take_close(&self) -> Option<(u16, String)> {
        self.close.lock().expect("signal lock").take()
    }

    /// The messages queued since the last call.
    pub fn take_messages(&self) -> Vec<String> {
        std::mem::take(&mut *self.outbox.lock().expect("signal lock"))
    }
}

struct Entry {
    id: u64,
    session: Uuid,
    signal: Arc<Signal>,
}

#[derive(Default)]
struct Inner {
    by_user: Mutex<HashMap<Uuid, Vec<Entry>>>,
    next_id: AtomicU64,
}

/// The registry (cheap to clone).
#[derive(Clone, Default)]
pub struct Sockets(Arc<Inner>);

/// A socket's place in the registry; leaving it when dropped.
pub struct Registered {
    sockets: Sockets,
    user: Uuid,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut by_user = self.sockets.0.by_user.lock().expect("sockets lock");
        if let Some(entries) = by_user.get_mut(&self.user) {
            entries.retain(|e| e.id != self.id);
            if entries.is_empty() {
                by_user.remove(&self.user);
            }
        }
    }
}

/// Which of an account's sockets a change concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Which {
    /// Only those of this session.
    pub only: Option<Uuid>,
    /// All but those of this session.
    pub keep: Option<Uuid>,
}

impl Sockets {
    /// Adds a socket of `user` opened with `session`; `None` when the user holds `max`
    /// sockets on this process already.
    pub fn register(
        &self,
        user: Uuid,
        session: Uuid,
        signal: Arc<Signal>,
        max: usize,
    ) -> Option<Registered> {
        let mut by_user = self.0.by_user.lock().expect("sockets lock");
        let entries = by_user.entry(user).or_default();
        if entries.len() >= max {
            return None;
        }
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        entries.push(Entry {
            id,
            session,
            signal,
        });
        Some(Registered {
            sockets: self.clone(),
            user,
            id,
        })
    }

    /// Closes the sockets of `user` that `which` names, with `code` and `reason`; how many.
    pub fn close(&self, user: Uuid, which: Which, code: u16, reason: &str) -> usize {
        let by_user = self.0.by_user.lock().expect("sockets lock");
        let Some(entries) = by_user.get(&user) else {
            return 0;
        };
        entries
            .iter()
            .filter(|e| which.only.is_none_or(|s| s == e.session))
            .filter(|e| which.keep != Some(e.session))
            .inspect(|e| e.signal.close(code, reason))
            .count()
    }

    /// Sockets registered now.
    pub fn count(&self) -> usize {
        let by_user = self.0.by_user.lock().expect("sockets lock");
        by_user.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_close_the_sockets_they_name_and_caps_hold() {
        let sockets = Sockets::default();
        let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
        let (s1, s2) = (Uuid::new_v4(), Uuid::new_v4());
        let [sa, sb, sc, sd] = std::array::from_fn(|_| Arc::new(Signal::default()));
        let a = sockets.register(user, s1, sa.clone(), 2).unwrap();
        let _b = sockets.register(user, s2, sb.clone(), 2).unwrap();
        let _c = sockets.register(other, s1, sc.clone(), 2).unwrap();
        assert!(sockets.register(user, s1, sd, 2).is_none(), "the cap holds");

        let keep_s1 = Which {
            only: None,
            keep: Some(s1),
        };
        assert_eq!(sockets.close(user, keep_s1, 4401, "password changed"), 1);
        assert_eq!(sb.take_close(), Some((4401, "password changed".into())));
        assert_eq!(sa.take_close(), None);
        let only_s1 = Which {
            only: Some(s1),
            keep: None,
        };
        assert_eq!(sockets.close(user, only_s1, 4401, "logged out"), 1);
        assert_eq!(sa.take_close().unwrap().1, "logged out");
        assert_eq!(sc.take_close(), None, "another user's socket is untouched");

        drop(a);
        assert_eq!(sockets.count(), 2);
    }
}
