//! One module per table: the row types and the queries that read and write them.

pub mod execution_log;
pub mod job;
pub mod user;

pub use execution_log::ExecutionLog;
pub use job::Job;
pub use user::{NewUser, User};
