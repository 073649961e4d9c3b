//! The run counts PostgreSQL keeps for the dashboard are always exactly the rows':
//! whatever statement inserts, changes or deletes runs, in batches or one by one.

use chrono::{Duration, DurationRound, Utc};
use db::models::stats;
use db::test_db::TestDatabase;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

async fn run(conn: &mut db::AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).await.unwrap();
}

async fn user_with_jobs(conn: &mut db::AsyncPgConnection, name: &str) -> (Uuid, Vec<Uuid>) {
    let user = diesel::sql_query(format!(
        "INSERT INTO users (email, name, password_hash, email_verified_at) \
         VALUES ('{name}@example.com', '{name}', 'x', now()) RETURNING id"
    ))
    .get_result::<Id>(conn)
    .await
    .unwrap()
    .id;
    let jobs = diesel::sql_query(format!(
        "INSERT INTO jobs (user_id, name, cron_expression, target_url) \
         SELECT '{user}', 'j' || i, '* * * * *', 'https://example.com' \
         FROM generate_series(1, 3) AS i RETURNING id"
    ))
    .load::<Id>(conn)
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.id)
    .collect();
    (user, jobs)
}

/// What the counts say, and what the rows say, for one user or everyone.
async fn both(
    conn: &mut db::AsyncPgConnection,
    user: Option<Uuid>,
) -> (serde_json::Value, serde_json::Value) {
    // As the API asks: from a quarter hour (a timezone's midnight).
    let since = (Utc::now() - Duration::days(3))
        .duration_trunc(Duration::minutes(15))
        .unwrap();
    let day = Utc::now().date_naive();
    let totals = stats::run_totals(conn, user).await.unwrap();
    let (success, failure) = stats::outcome_counts(conn, user, since).await.unwrap();
    let trend = stats::daily_trend(conn, user, "Asia/Kolkata", day - Duration::days(3), day)
        .await
        .unwrap();
    let hours = stats::hourly_distribution(conn, user, "Asia/Kolkata", since)
        .await
        .unwrap();
    let mut failing = stats::top_failing_jobs(conn, user, since, 100)
        .await
        .unwrap();
    failing.sort_by_key(|f| f.job_id);
    let mut listed = Vec::new();
    for status in [
        None,
        Some(db::ExecutionStatus::Success),
        Some(db::ExecutionStatus::Failed),
    ] {
        let filter = db::models::execution_log::LogFilter {
            user_id: user,
            status,
            ..Default::default()
        };
        listed.push(
            db::models::ExecutionLog::count(conn, &filter)
                .await
                .unwrap(),
        );
    }
    let counted = serde_json::json!({
        "total": totals.total, "success": totals.success, "failure": totals.failure,
        "avg": totals.avg_duration_ms.map(round), "last_24h": totals.last_24h,
        "since": [success, failure],
        "trend": trend.iter().map(|d| (d.date.to_string(), d.total, d.success, d.failed, d.avg_duration_ms.map(round))).collect::<Vec<_>>(),
        "hours": hours.iter().map(|h| h.count).collect::<Vec<_>>(),
        "failing": failing.iter().map(|f| (f.job_id, f.failures)).collect::<Vec<_>>(),
        "listed": listed,
    });
    let owner = user.map_or("true".to_owned(), |u| format!("user_id = '{u}'"));
    #[derive(diesel::QueryableByName)]
    struct Json {
        #[diesel(sql_type = diesel::sql_types::Text)]
        json: String,
    }
    let rows: Json = diesel::sql_query(format!(
        "WITH r AS (SELECT * FROM execution_logs WHERE {owner} AND status <> 'PREPARED'), \
              s AS (SELECT $1::timestamptz AS since) \
         SELECT json_build_object( \
           'total', (SELECT count(*) FROM r), \
           'success', (SELECT count(*) FROM r WHERE status = 'SUCCESS'), \
           'listed', json_build_array((SELECT count(*) FROM r), \
                                      (SELECT count(*) FROM r WHERE status = 'SUCCESS'), \
                                      (SELECT count(*) FROM r WHERE status = 'FAILED')), \
           'failure', (SELECT count(*) FROM r WHERE status IN ('FAILED', 'TIMEOUT')), \
           'avg', (SELECT round(avg(duration_ms), 6)::float8 FROM r), \
           'last_24h', (SELECT count(*) FROM r WHERE started_at >= now() - interval '24 hours'), \
           'since', json_build_array( \
              (SELECT count(*) FROM r, s WHERE started_at >= since AND status = 'SUCCESS'), \
              (SELECT count(*) FROM r, s WHERE started_at >= since AND status IN ('FAILED', 'TIMEOUT'))), \
           'trend', (SELECT json_agg(json_build_array(d::date::text, \
                       (SELECT count(*) FROM r WHERE (started_at AT TIME ZONE 'Asia/Kolkata')::date = d), \
                       (SELECT count(*) FROM r WHERE (started_at AT TIME ZONE 'Asia/Kolkata')::date = d AND status = 'SUCCESS'), \
                       (SELECT count(*) FROM r WHERE (started_at AT TIME ZONE 'Asia/Kolkata')::date = d AND status IN ('FAILED', 'TIMEOUT')), \
                       (SELECT round(avg(duration_ms), 6)::float8 FROM r WHERE (started_at AT TIME ZONE 'Asia/Kolkata')::date = d)) ORDER BY d) \
                     FROM generate_series($2::date, $3::date, interval '1 day') AS d), \
           'hours', (SELECT json_agg((SELECT count(*) FROM r, s WHERE started_at >= since \
                        AND extract(hour FROM started_at AT TIME ZONE 'Asia/Kolkata') = h) ORDER BY h) \
                     FROM generate_series(0, 23) AS h), \
           'failing', coalesce((SELECT json_agg(json_build_array(job_id, n) ORDER BY job_id) FROM \
                        (SELECT job_id, count(*) AS n FROM r, s WHERE started_at >= since \
                         AND status IN ('FAILED', 'TIMEOUT') GROUP BY job_id) f), '[]') \
         )::text AS json",
    ))
    .bind::<diesel::sql_types::Timestamptz, _>(since)
    .bind::<diesel::sql_types::Date, _>(day - Duration::days(3))
    .bind::<diesel::sql_types::Date, _>(day)
    .get_result(conn)
    .await
    .unwrap();
    (
        numbers_as_floats(counted),
        numbers_as_floats(serde_json::from_str(&rows.json).unwrap()),
    )
}

/// PostgreSQL writes a whole float8 as `1046`, serde as `1046.0`: compare numbers as floats.
fn numbers_as_floats(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) => n.as_f64().map_or(Value::Null, |f| serde_json::json!(f)),
        Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_floats).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, numbers_as_floats(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Averages to six decimals: a float division and PostgreSQL's numeric `avg` may differ
/// in the last bit.
fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

async fn assert_counts_match(conn: &mut db::AsyncPgConnection, users: &[Uuid], when: &str) {
    for user in users.iter().copied().map(Some).chain([None]) {
        let (counted, rows) = both(conn, user).await;
        assert_eq!(counted, rows, "{when}, user {user:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_follow_every_insert_update_and_delete() {
    let database = TestDatabase::new().await;
    let mut conn = database.connect().await;
    let (ada, ada_jobs) = user_with_jobs(&mut conn, "ada").await;
    let (bob, bob_jobs) = user_with_jobs(&mut conn, "bob").await;
    let users = [ada, bob];
    assert_counts_match(&mut conn, &users, "no run").await;

    // Runs over four days, every seven minutes, in every status; some PREPARED ones.
    let all_jobs: Vec<String> = ada_jobs
        .iter()
        .chain(&bob_jobs)
        .map(|j| format!("'{j}'"))
        .collect();
    run(
        &mut conn,
        &format!(
            "INSERT INTO execution_logs (id, job_id, user_id, status, trigger, scheduled_for, \
                                         started_at, finished_at, duration_ms) \
             SELECT gen_random_uuid(), j.id, j.user_id, \
                    (ARRAY['PREPARED', 'RUNNING', 'SUCCESS', 'FAILED', 'TIMEOUT', 'SKIPPED'])[1 + i % 6], \
                    'SCHEDULE', t, t, t, CASE WHEN i % 6 >= 2 THEN (i * 37) % 3000 END \
             FROM jobs j, generate_series(1, 800) AS i, \
                  LATERAL (SELECT now() - i * interval '7 minutes' AS t) AS s \
             WHERE j.id IN ({})",
            all_jobs.join(", ")
        ),
    )
    .await;
    assert_counts_match(&mut conn, &users, "after a batch insert").await;

    // What the scheduler does: PREPARED go out, RUNNING close, some in one statement.
    run(
        &mut conn,
        "UPDATE execution_logs SET status = 'RUNNING' WHERE status = 'PREPARED'",
    )
    .await;
    assert_counts_match(&mut conn, &users, "after sending").await;
    run(
        &mut conn,
        "UPDATE execution_logs SET status = CASE WHEN duration_ms IS NULL THEN 'FAILED' ELSE 'SUCCESS' END, \
                duration_ms = coalesce(duration_ms, 17) \
         WHERE status = 'RUNNING' AND id < '80000000-0000-0000-0000-000000000000'",
    )
    .await;
    assert_counts_match(&mut conn, &users, "after closing half").await;
    run(
        &mut conn,
        "UPDATE execution_logs SET late = true WHERE status = 'SUCCESS'",
    )
    .await;
    assert_counts_match(&mut conn, &users, "after a change counts ignore").await;

    // Deletes: a few rows, a job (cascade), a user (cascade through jobs).
    run(
        &mut conn,
        "DELETE FROM execution_logs WHERE started_at < now() - interval '3 days'",
    )
    .await;
    assert_counts_match(&mut conn, &users, "after deleting old runs").await;
    run(
        &mut conn,
        &format!("DELETE FROM jobs WHERE id = '{}'", ada_jobs[0]),
    )
    .await;
    assert_counts_match(&mut conn, &users, "after deleting a job").await;
    run(&mut conn, &format!("DELETE FROM users WHERE id = '{bob}'")).await;
    assert_counts_match(&mut conn, &users, "after deleting a user").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn percentiles_are_within_one_percent_of_the_runs() {
    let database = TestDatabase::new().await;
    let mut conn = database.connect().await;
    let (ada, _) = user_with_jobs(&mut conn, "ada").await;
    run(
        &mut conn,
        &format!(
            "INSERT INTO execution_logs (id, job_id, user_id, status, trigger, scheduled_for, \
                                         started_at, duration_ms) \
             SELECT gen_random_uuid(), j.id, j.user_id, 'SUCCESS', 'SCHEDULE', t, t, \
                    (i::bigint * i * 7919 % 60000)::int \
             FROM jobs j, generate_series(1, 3000) AS i, \
                  LATERAL (SELECT now() - i * interval '1 minute' AS t) AS s \
             WHERE j.user_id = '{ada}'"
        ),
    )
    .await;
    #[derive(diesel::QueryableByName)]
    struct Exact {
        #[diesel(sql_type = diesel::sql_types::Double)]
        p50: f64,
        #[diesel(sql_type = diesel::sql_types::Double)]
        p95: f64,
        #[diesel(sql_type = diesel::sql_types::Double)]
        p99: f64,
    }
    // Whole UTC days: the histogram is kept by day.
    let since = (Utc::now() - Duration::hours(40))
        .duration_trunc(Duration::days(1))
        .unwrap();
    let exact: Exact = diesel::sql_query(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50, \
                percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95, \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99 \
         FROM execution_logs WHERE started_at >= $1",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(since)
    .get_result(&mut conn)
    .await
    .unwrap();
    for user in [Some(ada), None] {
        let p = stats::duration_percentiles(&mut conn, user, since)
            .await
            .unwrap();
        for (counted, exact) in [(p.p50, exact.p50), (p.p95, exact.p95), (p.p99, exact.p99)] {
            let counted = counted.unwrap();
            assert!(
                (counted - exact).abs() <= exact * 0.01 + 0.5,
                "{counted} against {exact}"
            );
        }
    }
}
