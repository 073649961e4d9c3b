//! The authenticated WebSockets of this process, by account and session, so that a change
//! to an account (a logout, a new password, a new role, its deletion) closes the sockets
//! it concerns, on every API process (each hears the change from Redis), and so that one
//! account cannot hold more than its share of sockets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use uuid::Uuid;

/// How a socket is told to close: the close code and reason.
pub type CloseSender = mpsc::Sender<(u16, String)>;

struct Entry {
    id: u64,
    session: Uuid,
    close: CloseSender,
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
        close: CloseSender,
        max: usize,
    ) -> Option<Registered> {
        let mut by_user = self.0.by_user.lock().expect("sockets lock");
        let entries = by_user.entry(user).or_default();
        // Sockets whose loop has ended but not yet left do not count.
        entries.retain(|e| !e.close.is_closed());
        if entries.len() >= max {
            return None;
        }
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        entries.push(Entry { id, session, close });
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
            .filter(|e| e.close.try_send((code, reason.to_owned())).is_ok())
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
        let (tx_a, mut rx_a) = mpsc::channel(1);
        let (tx_b, mut rx_b) = mpsc::channel(1);
        let (tx_c, mut rx_c) = mpsc::channel(1);
        let a = sockets.register(user, s1, tx_a, 2).unwrap();
        let _b = sockets.register(user, s2, tx_b, 2).unwrap();
        let _c = sockets.register(other, s1, tx_c, 2).unwrap();
        let (tx_d, _rx_d) = mpsc::channel(1);
        assert!(
            sockets.register(user, s1, tx_d, 2).is_none(),
            "the cap holds"
        );

        let keep_s1 = Which {
            only: None,
            keep: Some(s1),
        };
        assert_eq!(sockets.close(user, keep_s1, 4401, "password changed"), 1);
        assert_eq!(rx_b.try_recv().unwrap(), (4401, "password changed".into()));
        assert!(rx_a.try_recv().is_err());
        let only_s1 = Which {
            only: Some(s1),
            keep: None,
        };
        assert_eq!(sockets.close(user, only_s1, 4401, "logged out"), 1);
        assert_eq!(rx_a.try_recv().unwrap().1, "logged out");
        assert!(
            rx_c.try_recv().is_err(),
            "another user's socket is untouched"
        );

        drop(a);
        assert_eq!(sockets.count(), 2);
    }
}
