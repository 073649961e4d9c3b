//! Liveness of the two stores, answered for real (a query and a PING), never cached.

use std::time::Duration;

use serde::Serialize;

use crate::state::AppState;

/// How long each store may take to answer before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The health report of `/health` and of the `health` query.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, async_graphql::SimpleObject)]
pub struct Health {
    /// `ok` when both stores answer, `degraded` otherwise.
    pub status: String,
    /// The running build's version.
    pub version: String,
    /// `up` or `down`.
    pub database: String,
    /// `up` or `down`.
    pub redis: String,
    /// Where this process runs a scheduler: `ok`, or `behind` while a finished run's
    /// result has waited more than a few seconds to be written (its database writes
    /// fail or cannot keep up). Absent from a process without a scheduler.
    pub recorder: Option<String>,
}

impl Health {
    /// The report for these answers (`recording`: whether this process's scheduler keeps
    /// up with writing its results, if it runs one).
    pub fn from_checks(database: bool, redis: bool, recording: Option<bool>) -> Health {
        metrics::gauge!("cronops_store_up", "store" => "postgres")
            .set(f64::from(u8::from(database)));
        metrics::gauge!("cronops_store_up", "store" => "redis").set(f64::from(u8::from(redis)));
        let ok = database && redis && recording.unwrap_or(true);
        Health {
            status: if ok { "ok" } else { "degraded" }.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            database: up_or_down(database),
            redis: up_or_down(redis),
            recorder: recording
                .map(|keeping_up| if keeping_up { "ok" } else { "behind" }.to_owned()),
        }
    }

    /// Whether both stores answered.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

fn up_or_down(ok: bool) -> String {
    if ok { "up" } else { "down" }.to_owned()
}

/// The API's report: its own PostgreSQL and Redis, and its scheduler if it runs one.
pub async fn check(state: &AppState) -> Health {
    check_stores(&state.db, &state.redis, state.scheduler.as_ref()).await
}

/// Asks PostgreSQL and Redis at the same time, each with a deadline, and `scheduler`
/// whether it keeps up with writing its results.
pub async fn check_stores(
    db: &db::Pool,
    redis: &scheduler::redis::RedisPool,
    scheduler: Option<&scheduler::Scheduler>,
) -> Health {
    let database = async {
        match tokio::time::timeout(CHECK_TIMEOUT, db::pool::ping(db)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health: database check failed");
                false
            }
            Err(_) => {
                tracing::warn!("health: database check timed out");
                false
            }
        }
    };
    let redis = async {
        match scheduler::redis::ping(redis, CHECK_TIMEOUT).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "health: redis check failed");
                false
            }
        }
    };
    let (database, redis) = tokio::join!(database, redis);
    let recording = scheduler.map(|s| s.unrecorded_for() <= scheduler::RECORDING_BEHIND_AFTER);
    Health::from_checks(database, redis, recording)
}
