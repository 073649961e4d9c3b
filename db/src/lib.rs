//! CronOps data model: the diesel schema, one module per table, the connection pool and
//! the embedded migrations.
//!
//! This crate knows nothing of GraphQL or Redis. Queries are plain async functions taking
//! `&mut AsyncPgConnection`, so the API and the scheduler share them.

mod batch;
pub mod enums;
mod error;
pub mod histogram;
pub mod migrate;
pub mod models;
pub mod plan;
pub mod pool;
mod query_spans;
pub mod schema;
#[cfg(feature = "test-utils")]
pub mod test_db;

pub use diesel::result::Error as QueryError;
pub use diesel_async::AsyncPgConnection;
pub use enums::{ExecutionStatus, ExecutionTrigger, HttpMethod, JobStatus, Plan, Role, TargetType};
pub use error::Error;
pub use plan::PlanLimits;
pub use pool::{Conn, Pool};
pub use query_spans::{QUERY_SPAN, trace_queries};
