//! Every migration applies, every `down.sql` undoes its `up.sql`, and the schema the code
//! declares matches the one the migrations build.

use db::test_db::{TestDatabase, query_bool};

const TABLES: &[&str] = &[
    "users",
    "email_verification_codes",
    "password_reset_tokens",
    "refresh_sessions",
    "jobs",
    "execution_logs",
    "api_keys",
    "secrets",
    "run_counts",
    "run_duration_counts",
    "job_failure_counts",
];

async fn table_exists(conn: &mut db::AsyncPgConnection, table: &str) -> bool {
    query_bool(
        conn,
        &format!("SELECT to_regclass('public.{table}') IS NOT NULL AS value"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_go_up_down_and_up_again() {
    let database = TestDatabase::empty().await;
    let all = db::migrate::pending(database.url()).await.unwrap();
    assert!(
        all.len() >= 3,
        "expected the three base migrations, got {all:?}"
    );

    let applied = db::migrate::run_pending(database.url()).await.unwrap();
    assert_eq!(applied, all);
    let mut conn = database.connect().await;
    for table in TABLES {
        assert!(
            table_exists(&mut conn, table).await,
            "{table} missing after up"
        );
    }

    let reverted = db::migrate::revert_all(database.url()).await.unwrap();
    let mut newest_first = all.clone();
    newest_first.reverse();
    assert_eq!(reverted, newest_first);
    for table in TABLES {
        assert!(
            !table_exists(&mut conn, table).await,
            "{table} left after down"
        );
    }
    assert!(
        !query_bool(
            &mut conn,
            "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'set_updated_at') AS value"
        )
        .await,
        "down.sql must drop the trigger function too"
    );

    assert_eq!(db::migrate::run_pending(database.url()).await.unwrap(), all);
    assert!(
        db::migrate::pending(database.url())
            .await
            .unwrap()
            .is_empty()
    );
}

/// `schema.rs` is written by hand: reading a row of every table through it proves that
/// column names and types agree with what the migrations built.
#[tokio::test(flavor = "multi_thread")]
async fn schema_rs_matches_the_migrated_database() {
    use db::schema::*;
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;

    let database = TestDatabase::new().await;
    let mut conn = database.connect().await;
    diesel::sql_query(
        "WITH u AS (INSERT INTO users (email, name, password_hash, email_verified_at) \
                    VALUES ('a@example.com', 'A', 'x', now()) RETURNING id), \
              j AS (INSERT INTO jobs (user_id, name, cron_expression, target_url, headers, body, \
                                      next_run_at) \
                    SELECT id, 'j', '* * * * *', 'https://example.com', '{\"a\":\"b\"}', 'b', \
                           now() FROM u RETURNING id, user_id), \
              l AS (INSERT INTO execution_logs (job_id, user_id, status, trigger, scheduled_for, \
                                                finished_at, duration_ms, http_status, response_body, error, \
                                                sent_at) \
                    SELECT id, user_id, 'SUCCESS', 'SCHEDULE', now(), now(), 5, 200, 'ok', 'e', now() FROM j), \
              c AS (INSERT INTO email_verification_codes (user_id, code_hash, expires_at) \
                    SELECT id, 'h', now() FROM u), \
              p AS (INSERT INTO password_reset_tokens (user_id, token_hash, expires_at, used_at) \
                    SELECT id, 'h', now(), now() FROM u) \
         INSERT INTO refresh_sessions (user_id, family_id, token_hash, expires_at, rotated_at, revoked_at) \
         SELECT id, gen_random_uuid(), 'h', now(), now(), now() FROM u",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let users = users::table
        .select(db::models::User::as_select())
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
    let jobs = jobs::table
        .select(db::models::Job::as_select())
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    let logs = execution_logs::table
        .select(db::models::ExecutionLog::as_select())
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
    let codes = email_verification_codes::table
        .select(email_verification_codes::all_columns)
        .load::<(
            uuid::Uuid,
            String,
            chrono::DateTime<chrono::Utc>,
            i32,
            chrono::DateTime<chrono::Utc>,
        )>(&mut conn)
        .await
        .unwrap();
    assert_eq!(codes.len(), 1);
    let tokens = password_reset_tokens::table
        .select(password_reset_tokens::all_columns)
        .load::<(
            uuid::Uuid,
            uuid::Uuid,
            String,
            chrono::DateTime<chrono::Utc>,
            Option<chrono::DateTime<chrono::Utc>>,
            chrono::DateTime<chrono::Utc>,
        )>(&mut conn)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 1);
    let sessions = refresh_sessions::table
        .select(refresh_sessions::all_columns)
        .load::<(
            uuid::Uuid,
            uuid::Uuid,
            uuid::Uuid,
            String,
            chrono::DateTime<chrono::Utc>,
            Option<chrono::DateTime<chrono::Utc>>,
            Option<chrono::DateTime<chrono::Utc>>,
            chrono::DateTime<chrono::Utc>,
        )>(&mut conn)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    diesel::sql_query(
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, scopes, last_used_at, expires_at) \
         SELECT gen_random_uuid(), id, 'k', 'cok_', 'h', ARRAY['READ'], now(), now() FROM users",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let keys = api_keys::table
        .select(db::models::ApiKey::as_select())
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    diesel::sql_query(
        "INSERT INTO secrets (user_id, name, key_id, nonce, ciphertext) \
         SELECT id, 'TOKEN', 'k', '\\x00', '\\x01' FROM users",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let sealed = secrets::table
        .select(db::models::secret::StoredSecret::as_select())
        .load(&mut conn)
        .await
        .unwrap();
    assert_eq!(sealed.len(), 1);
}
