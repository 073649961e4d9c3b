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

    /// What every key of this deployment starts with (`{prefix}:`): the Lua scripts build
    /// per-user key names from it (see `lua/users.lua`).
    pub fn prefix(&self) -> String {
        format!("{}:", self.tag)
    }

    /// Sorted set of one user's work: its ACTIVE jobs by next fire time (the member is the
    /// job id) and its queued retries and manual runs by run-at time (the member is the
    /// task), epoch ms.
    pub fn work(&self, user_id: Uuid) -> String {
        format!("{}:work:{user_id}", self.tag)
    }

    /// Sorted set of the users with work, by their earliest entry, that are below their
    /// concurrency limit: where a claim looks, user by user.
    pub fn ready(&self) -> String {
        format!("{}:ready", self.tag)
    }

    /// Set of the users at their concurrency limit with work waiting: out of `ready` until
    /// one of their leases is released.
    pub fn blocked(&self) -> String {
        format!("{}:blocked", self.tag)
    }

    /// Set of one user's lease members that are due or sent: its concurrency.
    pub fn held(&self, user_id: Uuid) -> String {
        format!("{}:held:{user_id}", self.tag)
    }

    /// Sorted set of one user's lease members claimed ahead of their time and not sent
    /// yet, by that time (epoch ms).
    pub fn ahead(&self, user_id: Uuid) -> String {
        format!("{}:ahead:{user_id}", self.tag)
    }

    /// Hash of users to their plan, which sets their concurrency limit.
    pub fn plans(&self) -> String {
        format!("{}:plans", self.tag)
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

    /// Set once the reconciler has rebuilt the schedules from PostgreSQL; its absence
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
        assert_eq!(keys.ready(), "{cronops}:ready");
        assert_eq!(
            keys.work(Uuid::nil()),
            "{cronops}:work:00000000-0000-0000-0000-000000000000"
        );
        assert!(keys.work(Uuid::nil()).starts_with(&keys.prefix()));
        assert_eq!(keys.leases(), "{cronops}:leases");
        let user = Uuid::nil();
        assert_eq!(
            keys.user_events(user),
            "{cronops}:events:00000000-0000-0000-0000-000000000000"
        );
        assert!(keys.all_events_pattern().starts_with("{cronops}:"));
    }
}
