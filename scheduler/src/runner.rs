//! The scheduler process's main loop.

use tokio_util::sync::CancellationToken;

use crate::Keys;
use crate::redis::RedisPool;

/// Settings of a scheduler instance, built by the binary from its typed config.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Whether job targets on loopback and private networks may be called.
    pub allow_private_targets: bool,
}

/// One scheduler instance. Any number may run against the same Redis and PostgreSQL.
#[derive(Debug)]
pub struct Scheduler {
    #[expect(dead_code, reason = "used by the engine (claims, firing, recording)")]
    db: db::Pool,
    #[expect(dead_code, reason = "used by the engine (claims, firing, recording)")]
    redis: RedisPool,
    #[expect(dead_code, reason = "used by the engine (claims, firing, recording)")]
    keys: Keys,
    config: SchedulerConfig,
}

impl Scheduler {
    /// An instance over these connections.
    pub fn new(db: db::Pool, redis: RedisPool, keys: Keys, config: SchedulerConfig) -> Scheduler {
        Scheduler {
            db,
            redis,
            keys,
            config,
        }
    }

    /// Runs until `shutdown` is cancelled. The claim/fire/record engine is not built yet:
    /// for now the loop only holds its place in the process.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), crate::Error> {
        tracing::info!(
            allow_private_targets = self.config.allow_private_targets,
            "scheduler started"
        );
        shutdown.cancelled().await;
        tracing::info!("scheduler stopped");
        Ok(())
    }
}
