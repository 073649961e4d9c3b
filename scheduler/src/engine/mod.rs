//! One scheduler instance: claim due work, record each run before firing it, fire, and
//! record the outcome. Any number of instances may run against one Redis and PostgreSQL,
//! and any may die at any moment:
//!
//! - work is claimed up to `lookahead` before it is due and prepared then, so requests
//!   leave at their slot rather than after the preparation's round trips;
//! - a claimed slot is leased; a holder that dies stops renewing, and another instance
//!   takes the lease back and finishes the slot;
//! - the run row, unique per (job, slot, trigger, attempt), is written before the request
//!   goes out, so a slot is never fired twice, and a row left open by a dead instance is
//!   closed as FAILED and retried per the job's policy;
//! - the job's next fire time goes back into Redis before the request goes out, so
//!   a slow target never delays the next slot;
//! - results wait in a bounded buffer while PostgreSQL is unreachable and are written
//!   when it returns.
//!
//! Each step is a module: [`claim`] takes work from Redis, [`load`] reads what deciding
//! needs, [`decide`] says what to do with each claimed item (a pure function),
//! [`prepare`] writes the rows, [`fire`] sends the requests on time, [`record`] writes
//! the outcomes, and [`lease`] keeps the claims.

mod claim;
mod decide;
mod finished;
mod fire;
mod gap;
mod isolate;
mod lease;
mod load;
mod overlap;
mod prepare;
mod record;
mod request;
mod sent;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::execute::Executor;
use crate::queue::Concurrency;
use crate::redis::RedisPool;
use crate::{Error, Keys, reconcile};

pub use decide::{ABANDONED, LATE_AFTER};

/// Settings of a scheduler instance, built by the binary from its typed config.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// What job targets may be: internal addresses or not, which ports.
    pub targets: crate::ssrf::TargetPolicy,
    /// Requests in flight at most; claiming waits when this many are out.
    pub max_in_flight: usize,
    /// Most items one claim takes.
    pub batch_size: usize,
    /// How long a claim holds before another instance may take it back.
    pub lease: Duration,
    /// How far ahead due work is claimed and prepared, so that requests leave at their
    /// slot rather than after the database round trips of preparing them.
    pub lookahead: Duration,
    /// How often the reconciler checks Redis against PostgreSQL.
    pub reconcile_interval: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// How many runs of one user may be out at once, by plan, across all instances.
    pub concurrency: Concurrency,
    /// The cap on notices per user.
    pub alerts: crate::alerts::Settings,
    /// The keys that open users' secrets, written into requests as they fire.
    pub secrets: Arc<crate::secrets::Keyring>,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            // Tests' and benchmarks' key; the binary always sets its own.
            secrets: Arc::new(crate::secrets::Keyring::new(&[7; 32], &[])),
            targets: crate::ssrf::TargetPolicy::default(),
            max_in_flight: 10_000,
            batch_size: 1_000,
            lease: Duration::from_secs(15),
            lookahead: Duration::from_secs(3),
            reconcile_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(20),
            concurrency: Concurrency::default(),
            alerts: crate::alerts::Settings::default(),
        }
    }
}

/// How often expired runs are swept.
const RETENTION_EVERY: Duration = Duration::from_secs(300);

/// How long a finished run's result may wait to be written before the instance reports
/// itself behind (its `/health` degraded): a healthy recorder writes within a second.
pub const RECORDING_BEHIND_AFTER: Duration = Duration::from_secs(5);

struct Shared {
    db: db::Pool,
    redis: RedisPool,
    keys: Keys,
    config: SchedulerConfig,
    executor: Executor,
    /// This instance's name in the owners of the tasks it claims.
    instance: String,
    /// Lease members this instance holds (claimed and not yet released).
    held: lease::Held,
    /// One per request that may be in flight; a prepared run holds its permit until its
    /// request is answered.
    permits: Arc<Semaphore>,
    /// Since when the oldest result the recorder is writing has waited, if it is writing.
    unrecorded_since: Mutex<Option<Instant>>,
    /// Cancelled when the instance stops claiming: what waits for room gives up.
    stopping: CancellationToken,
}

/// One scheduler instance.
#[derive(Clone)]
pub struct Scheduler(Arc<Shared>);

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("keys", &self.0.keys)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// An instance over these connections.
    pub fn new(db: db::Pool, redis: RedisPool, keys: Keys, config: SchedulerConfig) -> Scheduler {
        let executor = Executor::new(config.targets.clone());
        Scheduler(Arc::new(Shared {
            db,
            redis,
            keys,
            permits: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            config,
            executor,
            instance: Uuid::new_v4().to_string(),
            held: lease::Held::default(),
            unrecorded_since: Mutex::new(None),
            stopping: CancellationToken::new(),
        }))
    }

    /// How long the oldest result of this instance has been waiting to be written (zero
    /// when none waits). Past [`RECORDING_BEHIND_AFTER`] the instance is behind: its
    /// database writes are failing or slower than its runs.
    pub fn unrecorded_for(&self) -> Duration {
        self.0
            .unrecorded_since
            .lock()
            .expect("unrecorded lock")
            .map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// Runs until `shutdown` is cancelled, then stops claiming and gives in-flight runs
    /// the grace period to finish and be recorded.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let shared = &self.0;
        tracing::info!(
            allow_private_targets = shared.config.targets.allow_private,
            max_in_flight = shared.config.max_in_flight,
            "scheduler started"
        );
        let (record_tx, record_rx) = mpsc::channel(record::BUFFER);
        let stop_helpers = CancellationToken::new();
        let recorder = tokio::spawn(self.clone().record_loop(record_rx));
        let renewer = tokio::spawn(self.clone().renew_loop(stop_helpers.clone()));
        let retention = tokio::spawn(crate::retention::run(
            shared.db.clone(),
            RETENTION_EVERY,
            stop_helpers.clone(),
        ));
        let reconciler = tokio::spawn(reconcile::run(
            shared.db.clone(),
            shared.redis.clone(),
            shared.keys.clone(),
            shared.config.reconcile_interval,
            stop_helpers.clone(),
        ));

        self.claim_loop(&shutdown, &record_tx).await;
        shared.stopping.cancel();

        // Let what is in flight finish: every permit back means every request answered.
        let all = u32::try_from(shared.config.max_in_flight.max(1)).unwrap_or(u32::MAX);
        match tokio::time::timeout(
            shared.config.shutdown_grace,
            shared.permits.acquire_many(all),
        )
        .await
        {
            Ok(_) => tracing::info!("in-flight runs finished"),
            Err(_) => tracing::warn!(
                "runs still in flight at the end of the grace period; their leases will expire and another instance will close them"
            ),
        }
        drop(record_tx);
        let _ = tokio::time::timeout(Duration::from_secs(10), recorder).await;
        stop_helpers.cancel();
        let _ = renewer.await;
        let _ = reconciler.await;
        let _ = retention.await;
        tracing::info!("scheduler stopped");
        Ok(())
    }
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now)
}

async fn sleep_or_stop(shutdown: &CancellationToken, wait: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = shutdown.cancelled() => {}
    }
}
