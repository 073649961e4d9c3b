//! The one error type of the `db` crate.

use diesel_async::pooled_connection::PoolError;

/// Anything that can go wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query failed (constraint violation, lost connection, ...).
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// No connection could be had from the pool in time.
    #[error("database connection unavailable: {0}")]
    Pool(#[from] bb8::RunError<PoolError>),
    /// A direct connection (migrations, test set-up) could not be made.
    #[error("cannot connect to the database: {0}")]
    Connection(#[from] diesel::ConnectionError),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl Error {
    /// The name of the constraint a write violated, if that is what failed. Lets callers
    /// turn a unique violation into a field error by constraint name.
    pub fn violated_constraint(&self) -> Option<&str> {
        match self {
            Error::Query(diesel::result::Error::DatabaseError(_, info)) => info.constraint_name(),
            _ => None,
        }
    }
}
