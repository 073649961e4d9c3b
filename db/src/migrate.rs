//! Migrations from `migrations/`, embedded in the binary so a deploy needs no CLI.

use diesel::migration::MigrationVersion;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::Error;

/// Every migration of the workspace, in order.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

type SyncConn = AsyncConnectionWrapper<AsyncPgConnection>;

/// Runs on a blocking thread: diesel's migration harness is synchronous, and the wrapper
/// drives the async connection from there without stalling the runtime.
async fn with_harness<T, F>(url: &str, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&mut SyncConn) -> Result<T, Error> + Send + 'static,
{
    use diesel::Connection;
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = SyncConn::establish(&url)?;
        f(&mut conn)
    })
    .await
    .map_err(|e| Error::Migration(format!("migration task failed: {e}")))?
}

/// Applies every pending migration and returns the versions it applied.
pub async fn run_pending(url: &str) -> Result<Vec<String>, Error> {
    with_harness(url, |conn| {
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| Error::Migration(e.to_string()))?;
        Ok(applied.iter().map(MigrationVersion::to_string).collect())
    })
    .await
}

/// Reverts every applied migration, newest first (each `down.sql`).
pub async fn revert_all(url: &str) -> Result<Vec<String>, Error> {
    with_harness(url, |conn| {
        let reverted = conn
            .revert_all_migrations(MIGRATIONS)
            .map_err(|e| Error::Migration(e.to_string()))?;
        Ok(reverted.iter().map(MigrationVersion::to_string).collect())
    })
    .await
}

/// Versions not yet applied to this database.
pub async fn pending(url: &str) -> Result<Vec<String>, Error> {
    with_harness(url, |conn| {
        let pending = conn
            .pending_migrations(MIGRATIONS)
            .map_err(|e| Error::Migration(e.to_string()))?;
        Ok(pending
            .iter()
            .map(|m| m.name().version().to_string())
            .collect())
    })
    .await
}
