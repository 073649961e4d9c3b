//! Connecting to Redis with the behaviour every CronOps process wants.

use std::time::Duration;

use fred::prelude::*;

use crate::Error;

/// A pool of Redis connections (round-robin over a few multiplexed clients).
pub type RedisPool = fred::clients::Pool;

/// Builds a pool and starts connecting in the background, without waiting: a process
/// starts, and reports health honestly, while Redis is down, and reconnects by itself
/// when Redis comes back. Commands sent while disconnected fail after a bounded time.
pub fn connect(url: &str, size: usize) -> Result<RedisPool, Error> {
    let mut config = Config::from_url(url).map_err(Error::Redis)?;
    // Keep retrying a first connection that fails instead of giving up at start.
    config.fail_fast = false;
    // A `fred.command` span per command, child of the span that sends it.
    config.tracing = TracingConfig::new(crate::traces::exported());
    let pool = Builder::from_config(config)
        .with_performance_config(|perf| {
            perf.default_command_timeout = Duration::from_secs(5);
        })
        .with_connection_config(|conn| {
            conn.connection_timeout = Duration::from_secs(2);
            conn.internal_command_timeout = Duration::from_secs(2);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .build_pool(size)
        .map_err(Error::Redis)?;
    pool.connect_pool();
    Ok(pool)
}

/// Checks that Redis answers `PING` within `timeout`. A command sent while (re)connecting
/// waits for the connection, so a process that has just started is not reported down.
pub async fn ping(pool: &RedisPool, timeout: Duration) -> Result<(), Error> {
    let options = Options {
        timeout: Some(timeout),
        max_attempts: Some(1),
        ..Default::default()
    };
    let client = pool.next().with_options(&options);
    let _: String = client.ping(None).await.map_err(Error::Redis)?;
    Ok(())
}
