//! Every Redis key and pub/sub channel CronOps uses, in one place, shared with the API.
//!
//! Keys carry a `{prefix}` hash tag, so all of one deployment's scheduling keys live in one
//! Redis Cluster slot and the Lua scripts that touch several of them stay legal there.
//! Tests give each test its own prefix, which isolates them on one Redis server.

use uuid::Uuid;

/// The key and channel names of one deployment (or one test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    tag: String,
}

impl Keys {
    /// Names under `prefix` (the `REDIS_KEY_PREFIX` setting, `cronops` by default).
    pub fn new(prefix: &str) -> Keys {
        Keys {
            tag: format!("{{{prefix}}}"),
        }
    }

    /// Sorted set of ACTIVE job ids scored by next fire time (epoch ms).
    pub fn due(&self) -> String {
        format!("{}:due", self.tag)
    }

    /// Sorted set of claimed slots scored by lease deadline (epoch ms).
    pub fn leases(&self) -> String {
        format!("{}:leases", self.tag)
    }

    /// Hash of claimed slots to the instance holding them, with `:sent` appended once
    /// that instance has committed to sending the request: what tells an instance
    /// taking over a dead holder's work whether the request may have gone out.
    pub fn owners(&self) -> String {
        format!("{}:owners", self.tag)
    }

    /// Sorted set of queued retry and manual tasks scored by the time they may run (ms).
    pub fn queue(&self) -> String {
        format!("{}:queue", self.tag)
    }

    /// Set once the reconciler has rebuilt the due set from PostgreSQL; its absence
    /// means Redis lost its data (flushed or restarted) and a full rebuild is due.
    pub fn rebuilt_marker(&self) -> String {
        format!("{}:rebuilt", self.tag)
    }

    /// Lock that lets one reconciler run at a time across instances.
    pub fn reconcile_lock(&self) -> String {
        format!("{}:reconcile-lock", self.tag)
    }

    /// Rate-limit counter for one limit and one subject (an IP, an email).
    pub fn rate_limit(&self, limit: &str, subject: &str) -> String {
        format!("{}:rl:{limit}:{subject}", self.tag)
    }

    /// Pub/sub channel carrying the execution events of one user's jobs.
    pub fn user_events(&self, user_id: Uuid) -> String {
        format!("{}:events:{user_id}", self.tag)
    }

    /// Channel of control messages for API processes (an account was deleted: end its
    /// subscriptions). It matches [`Keys::all_events_pattern`] too.
    pub fn control_events(&self) -> String {
        format!("{}:events:control", self.tag)
    }

    /// Pattern matching every user's event channel (for the API's single subscription).
    pub fn all_events_pattern(&self) -> String {
        format!("{}:events:*", self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        let keys = Keys::new("cronops");
        assert_eq!(keys.due(), "{cronops}:due");
        assert_eq!(keys.leases(), "{cronops}:leases");
        let user = Uuid::nil();
        assert_eq!(
            keys.user_events(user),
            "{cronops}:events:00000000-0000-0000-0000-000000000000"
        );
        assert!(keys.all_events_pattern().starts_with("{cronops}:"));
    }
}
