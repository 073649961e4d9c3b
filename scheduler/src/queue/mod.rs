//! Every Redis operation of scheduling: users' work, claims and leases.
//!
//! Work is kept per user (see `lua/users.lua`): each user's jobs and queued tasks in one
//! sorted set, users ordered by their earliest entry, and a user at its concurrency limit
//! set aside until one of its leases is released. The API calls [`schedule`],
//! [`unschedule`], [`enqueue_manual`] and [`set_plan`]; scheduler instances claim, renew
//! and release. All keys come from [`Keys`], under one hash tag.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use db::Plan;
use fred::types::scripts::Script;

use crate::{Error, Keys};

mod leases;
mod work;

pub use leases::{Claimed, Committed, claim, commit, release, renew, unclaim};
pub use work::{
    due_depth, enqueue, enqueue_manual, forget_user, mend, next_wake, plans, schedule,
    schedule_many, schedule_missing, scores, set_plan, set_plans, unschedule, unschedule_many,
};

/// A Lua script with the shared head of `lua/users.lua` in front.
macro_rules! users_script {
    ($file:literal) => {
        LazyLock::new(|| {
            Script::from_lua(concat!(
                include_str!("../../lua/users.lua"),
                "\n",
                include_str!($file)
            ))
        })
    };
}

static CLAIM: LazyLock<Script> = users_script!("../../lua/claim.lua");
static RELEASE: LazyLock<Script> = users_script!("../../lua/release.lua");
static PLACE: LazyLock<Script> = users_script!("../../lua/place.lua");
static DEPTH: LazyLock<Script> = users_script!("../../lua/depth.lua");
static COMMIT: LazyLock<Script> = users_script!("../../lua/commit.lua");

/// How many runs of one user may be out at once (claimed and not yet recorded), across
/// every scheduler instance, by plan. Schedulers claim with theirs, and those are the
/// limits in force for everyone; run every scheduler with the same ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    pub free: u32,
    pub premium: u32,
    pub pro: u32,
}

impl Default for Concurrency {
    /// The plans' own limits ([`db::PlanLimits::max_concurrent_runs`]).
    fn default() -> Concurrency {
        Concurrency {
            free: Plan::Free.limits().max_concurrent_runs,
            premium: Plan::Premium.limits().max_concurrent_runs,
            pro: Plan::Pro.limits().max_concurrent_runs,
        }
    }
}

impl Concurrency {
    /// The limit of `plan`.
    pub fn of(&self, plan: Plan) -> u32 {
        match plan {
            Plan::Free => self.free,
            Plan::Premium => self.premium,
            Plan::Pro => self.pro,
        }
    }

    /// The arguments every users script starts with.
    fn args(&self, keys: &Keys) -> Vec<String> {
        vec![
            keys.prefix(),
            self.free.to_string(),
            self.premium.to_string(),
            self.pro.to_string(),
        ]
    }
}

fn redis_err(e: fred::error::Error) -> Error {
    Error::Redis(e)
}

fn ms(at: DateTime<Utc>) -> String {
    at.timestamp_millis().to_string()
}
