//! Listing runs reads about what it shows, however many runs the user has.

use db::ExecutionStatus;
use db::models::ExecutionLog;
use db::models::execution_log::LogFilter;
use db::test_db::TestDatabase;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

#[derive(diesel::QueryableByName, Debug)]
struct Read {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    tuples: i64,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_one_status_reads_only_runs_of_that_status() {
    // 20,000 successful runs and no failure: a page of FAILED runs must not read all
    // 20,000 to find there is none (with a million runs, that was seconds a request).
    let database = TestDatabase::new().await;
    let mut conn = database.connect().await;
    let user = diesel::sql_query(
        "WITH u AS (INSERT INTO users (email, name, password_hash, email_verified_at) \
                    VALUES ('many@example.com', 'Many', 'x', now()) RETURNING id), \
              j AS (INSERT INTO jobs (user_id, name, cron_expression, target_url) \
                    SELECT id, 'j', '* * * * *', 'https://example.com' FROM u RETURNING id, user_id), \
              l AS (INSERT INTO execution_logs (id, job_id, user_id, status, trigger, scheduled_for, \
                                                started_at, sent_at, finished_at, duration_ms) \
                    SELECT gen_random_uuid(), j.id, j.user_id, 'SUCCESS', 'SCHEDULE', t, t, t, t, 5 \
                    FROM j, generate_series(1, 20000) AS i, \
                         LATERAL (SELECT now() - i * interval '1 minute' AS t) AS s) \
         SELECT id FROM u",
    )
    .get_result::<Id>(&mut conn)
    .await
    .unwrap()
    .id;
    diesel::sql_query("ANALYZE execution_logs")
        .execute(&mut conn)
        .await
        .unwrap();

    let read = conn
        .transaction::<_, diesel::result::Error, _>(async move |conn| {
            let filter = LogFilter {
                user_id: Some(user),
                status: Some(ExecutionStatus::Failed),
                ..Default::default()
            };
            assert!(
                ExecutionLog::page(conn, &filter, None, 21)
                    .await?
                    .is_empty()
            );
            diesel::sql_query(
                "SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)::int8 \
                        AS tuples \
                 FROM pg_stat_xact_user_tables WHERE relname LIKE 'execution_logs%'",
            )
            .get_result::<Read>(conn)
            .await
        })
        .await
        .unwrap();
    assert!(
        read.tuples < 100,
        "read {} runs for an empty page",
        read.tuples
    );
}
