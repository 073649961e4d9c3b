//! Rate limits shared by every API instance: fixed-window counters in Redis, under the
//! key names of `scheduler::Keys` (which names every Redis key of CronOps).

use std::sync::LazyLock;
use std::time::Duration;

use fred::types::scripts::Script;

use fred::error::Error;
use scheduler::Keys;
use scheduler::redis::RedisPool;

static SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("../../lua/rate_limit.lua")));

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

impl Limit {
    fn window_ms(&self) -> u64 {
        u64::try_from(self.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

impl Decision {
    /// Limited until the window ends, `ttl_ms` from now (a whole window when Redis says
    /// the key has no expiry).
    fn limited(ttl_ms: i64, limit: Limit) -> Decision {
        let left = u64::try_from(ttl_ms).unwrap_or(limit.window_ms());
        Decision::Limited {
            retry_after_secs: left.div_ceil(1000).max(1),
        }
    }
}

/// Whether `subject` has reached `limit` in the current window, without counting a hit
/// (for limits counted only on failure, such as wrong passwords).
pub async fn peek(
    redis: &RedisPool,
    keys: &Keys,
    limit: Limit,
    subject: &str,
) -> Result<Decision, Error> {
    use fred::interfaces::KeysInterface;
    let key = keys.rate_limit(limit.name, subject);
    let client = redis.next();
    let hits: Option<u64> = client.get(&key).await?;
    if hits.unwrap_or(0) < u64::from(limit.max) {
        return Ok(Decision::Allowed);
    }
    let ttl_ms: i64 = client.pttl(&key).await?;
    Ok(Decision::limited(ttl_ms, limit))
}

/// Counts one hit of `subject` against `limit`; the hits of the window so far.
pub async fn count(
    redis: &RedisPool,
    keys: &Keys,
    limit: Limit,
    subject: &str,
) -> Result<u64, Error> {
    Ok(count_with_ttl(redis, keys, limit, subject).await?.0)
}

async fn count_with_ttl(
    redis: &RedisPool,
    keys: &Keys,
    limit: Limit,
    subject: &str,
) -> Result<(u64, i64), Error> {
    let key = keys.rate_limit(limit.name, subject);
    SCRIPT
        .evalsha_with_reload(redis.next(), key, limit.window_ms())
        .await
}

/// Counts one hit of `subject` against `limit`.
pub async fn hit(
    redis: &RedisPool,
    keys: &Keys,
    limit: Limit,
    subject: &str,
) -> Result<Decision, Error> {
    let (hits, ttl_ms) = count_with_ttl(redis, keys, limit, subject).await?;
    if hits <= u64::from(limit.max) {
        return Ok(Decision::Allowed);
    }
    Ok(Decision::limited(ttl_ms, limit))
}
