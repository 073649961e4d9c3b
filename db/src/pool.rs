//! The connection pool every process shares (bb8 over diesel-async).

use std::time::Duration;

use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::bb8::{self, PooledConnection};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::Error;

/// A pool of PostgreSQL connections.
pub type Pool = bb8::Pool<AsyncPgConnection>;

/// A connection borrowed from [`Pool`].
pub type Conn<'a> = PooledConnection<'a, AsyncPgConnection>;

/// Builds a pool without connecting: the process starts, and reports health honestly,
/// even while PostgreSQL is down; connections are made on first use.
pub fn build(url: &str, max_size: u32) -> Pool {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    bb8::Pool::builder()
        .max_size(max_size)
        // Fail a checkout in bounded time so a dead database becomes an error, not a hang.
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(false)
        .build_unchecked(manager)
}

/// Checks that the database answers a trivial query.
pub async fn ping(pool: &Pool) -> Result<(), Error> {
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}
