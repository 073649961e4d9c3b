//! The one error type of the `scheduler` crate.

/// What can go wrong scheduling, firing or recording a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Redis command or connection failed.
    #[error("redis: {0}")]
    Redis(#[source] fred::error::Error),
    /// A write found its row already there.
    #[error("{0}")]
    Conflict(String),
    /// A database read or write failed.
    #[error(transparent)]
    Db(#[from] db::Error),
}
