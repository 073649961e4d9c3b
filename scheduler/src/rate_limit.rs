//! Rate limits shared by every API instance: fixed-window counters in Redis.
//!
//! They live here because this crate owns every Redis key of CronOps (see [`crate::keys`]).

use std::sync::LazyLock;
use std::time::Duration;

use fred::types::scripts::Script;

use crate::redis::RedisPool;
use crate::{Error, Keys};

static SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("../lua/rate_limit.lua")));

/// One limit: at most `max` hits per `window` for each subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Names the limit in its Redis key (`login-email`, `global`, ...).
    pub name: &'static str,
    pub max: u32,
    pub window: Duration,
}

/// The answer to one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit until the window ends, in this many whole seconds (at least 1).
    Limited {
        retry_after_secs: u64,
    },
}

/// Counts one hit of `subject` against `limit`.
pub async fn hit(
    redis: &RedisPool,
    keys: &Keys,
    limit: Limit,
    subject: &str,
) -> Result<Decision, Error> {
    let key = keys.rate_limit(limit.name, subject);
    let window_ms = u64::try_from(limit.window.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let (hits, ttl_ms): (u64, i64) = SCRIPT
        .evalsha_with_reload(redis.next(), key, window_ms)
        .await
        .map_err(Error::Redis)?;
    if hits <= u64::from(limit.max) {
        return Ok(Decision::Allowed);
    }
    let ttl_ms = u64::try_from(ttl_ms).unwrap_or(window_ms);
    Ok(Decision::Limited {
        retry_after_secs: ttl_ms.div_ceil(1000).max(1),
    })
}
