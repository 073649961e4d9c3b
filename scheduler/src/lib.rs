//! The CronOps scheduler: every ACTIVE job's next fire time in a Redis sorted set, claims
//! of due slots, HTTP execution, run records in PostgreSQL and run events on pub/sub.
//!
//! The API uses this crate's key names ([`keys::Keys`]) and its [`control`] functions
//! (`schedule`, `unschedule`, `trigger_now`); it never writes Redis keys itself.

pub mod alerts;
pub mod catch_up;
pub mod control;
pub mod criteria;
pub mod cron;
pub mod cron_hash;
pub mod engine;
mod error;
pub mod events;
pub mod execute;
pub mod keys;
pub mod queue;
pub mod reconcile;
pub mod redis;
pub mod retention;
pub mod retry;
pub mod secrets;
pub mod signing;
pub mod ssrf;
pub mod task;
pub mod text;
pub mod timing;
pub mod traces;

pub use engine::{RECORDING_BEHIND_AFTER, Scheduler, SchedulerConfig};
pub use error::Error;
pub use keys::Keys;
