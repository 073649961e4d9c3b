//! Which failures pass and which do not, as PostgreSQL reports them: what decides whether
//! the scheduler retries a write or isolates the row that caused it.

use db::test_db::TestDatabase;
use diesel_async::RunQueryDsl;

async fn error_of(conn: &mut db::AsyncPgConnection, sql: &str) -> db::Error {
    diesel::sql_query(sql)
        .execute(conn)
        .await
        .expect_err(sql)
        .into()
}

#[tokio::test]
async fn data_and_constraint_errors_are_permanent() {
    let database = TestDatabase::new().await;
    let mut conn = database.connect().await;
    for sql in [
        // A NUL byte in text: what a target's body once did to a whole batch.
        "SELECT convert_from('\\x610062'::bytea, 'UTF8')",
        "SELECT 1 / 0",
        "DO $$ BEGIN RAISE EXCEPTION 'a trigger said no'; END $$",
        "INSERT INTO users (email, name, password_hash) VALUES ('a', 'b', 'c')",
        "SELECT * FROM no_such_table",
    ] {
        let error = error_of(&mut conn, sql).await;
        assert!(!error.is_transient(), "{sql}: {error}");
    }
}

#[tokio::test]
async fn a_lost_connection_or_an_unreachable_server_passes() {
    let database = TestDatabase::new().await;
    let mut conn = database.connect().await;
    let error = error_of(&mut conn, "SELECT pg_terminate_backend(pg_backend_pid())").await;
    assert!(error.is_transient(), "{error}");
    let error = error_of(&mut conn, "SELECT 1").await;
    assert!(error.is_transient(), "on the closed connection: {error}");

    let nowhere = db::pool::build("postgres://postgres@127.0.0.1:1/none", 1);
    let error = db::pool::ping(&nowhere).await.expect_err("nothing listens");
    assert!(error.is_transient(), "{error}");
}
