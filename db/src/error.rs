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

/// What PostgreSQL says (in its default English messages) when a statement failed for
/// a reason that passes: a deadlock (40P01), the server shutting down or starting up
/// (57P01-57P03), a cancelled statement (57014), no connection slot (53300), no memory or
/// disk (53200, 53100). diesel-async drops the SQLSTATE of errors it has no kind for, so
/// these are recognised by their text; an unrecognised one is treated as permanent, which
/// costs a batch a split (see `scheduler`'s isolation of refused rows), never a record.
const TRANSIENT_MESSAGES: &[&str] = &[
    "deadlock detected",
    "terminating connection",
    "the database system is",
    "canceling statement",
    "too many clients",
    "remaining connection slots",
    "out of memory",
    "could not extend file",
    "no space left on device",
];

impl Error {
    /// Whether the same statement may succeed when tried again: the database could not be
    /// reached, went away, or the transaction lost a race (serialization failure,
    /// deadlock). Anything else (a data exception, a constraint violation, an error a
    /// trigger raised) fails the same way every time, and retrying it would wedge
    /// whatever waits behind it.
    pub fn is_transient(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as Kind, Error as Query};
        match self {
            Error::Pool(_) | Error::Connection(_) => true,
            Error::Migration(_) => false,
            Error::Query(Query::DatabaseError(
                Kind::ClosedConnection
                | Kind::UnableToSendCommand
                | Kind::SerializationFailure
                | Kind::ReadOnlyTransaction,
                _,
            )) => true,
            Error::Query(Query::DatabaseError(_, info)) => {
                let message = info.message().to_lowercase();
                TRANSIENT_MESSAGES.iter().any(|m| message.contains(m))
            }
            Error::Query(Query::BrokenTransactionManager | Query::RollbackErrorOnCommit { .. }) => {
                true
            }
            Error::Query(_) => false,
        }
    }

    /// The name of the constraint a write violated, if that is what failed. Lets callers
    /// turn a unique violation into a field error by constraint name.
    pub fn violated_constraint(&self) -> Option<&str> {
        match self {
            Error::Query(diesel::result::Error::DatabaseError(_, info)) => info.constraint_name(),
            _ => None,
        }
    }
}
