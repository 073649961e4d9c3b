//! `history`: the API's reads over a long history of runs. One user with 500 jobs and
//! `user_runs` runs over 30 days, beside other users' runs up to `total_runs` in all;
//! each read is timed through the API, one request at a time.

use super::*;

/// Runs inserted per statement: a statement of a million rows takes seconds, not minutes.
const CHUNK: usize = 1_000_000;

/// Inserts `runs` finished runs of the jobs of `users`, spread evenly over the last 30 days
/// and written in time order, as the scheduler would have written them: 90 % SUCCESS,
/// 7 % FAILED, 3 % TIMEOUT.
async fn insert_runs(conn: &mut db::AsyncPgConnection, users: &[Uuid], runs: usize) {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let jobs = diesel::sql_query("SELECT count(*) AS n FROM jobs WHERE user_id = ANY($1)")
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(users.to_vec())
        .get_result::<Count>(conn)
        .await
        .expect("count jobs")
        .n
        .max(1) as usize;
    let per_job = runs.div_ceil(jobs);
    let rounds_per_chunk = (CHUNK / jobs).max(1);
    let mut round = 0;
    while round < per_job {
        let last = (round + rounds_per_chunk).min(per_job);
        diesel::sql_query(
            "INSERT INTO execution_logs (id, job_id, user_id, status, trigger, attempt, scheduled_for, \
                                         started_at, sent_at, finished_at, duration_ms, http_status, \
                                         response_body, error) \
             SELECT gen_random_uuid(), j.id, j.user_id, r.status, 'SCHEDULE', 1, t.at, t.at, t.at, \
                    t.at + make_interval(secs => r.ms / 1000.0), r.ms, \
                    CASE r.status WHEN 'SUCCESS' THEN 200 WHEN 'FAILED' THEN 500 END, \
                    CASE r.status WHEN 'TIMEOUT' THEN NULL ELSE 'ok' END, \
                    CASE r.status WHEN 'FAILED' THEN 'HTTP 500 Internal Server Error' \
                                  WHEN 'TIMEOUT' THEN 'timed out' END \
             FROM generate_series($2::int, $3::int - 1) AS g \
             CROSS JOIN LATERAL (SELECT id, user_id FROM jobs WHERE user_id = ANY($1) OFFSET 0) AS j \
             CROSS JOIN LATERAL (SELECT date_trunc('second', now()) \
                                        - make_interval(secs => ($4::int - g) * 2592000.0 / $4::int) AS at) AS t \
             CROSS JOIN LATERAL (SELECT CASE WHEN p < 0.90 THEN 'SUCCESS' WHEN p < 0.97 THEN 'FAILED' \
                                             ELSE 'TIMEOUT' END AS status, \
                                        (20 + 480 * random())::int AS ms \
                                 FROM (SELECT random() AS p WHERE g IS NOT NULL AND j.id IS NOT NULL) AS x) AS r",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(users.to_vec())
        .bind::<diesel::sql_types::Integer, _>(round as i32)
        .bind::<diesel::sql_types::Integer, _>(last as i32)
        .bind::<diesel::sql_types::Integer, _>(per_job as i32)
        .execute(conn)
        .await
        .expect("insert runs");
        round = last;
    }
}

/// Latencies in ms of `count` requests of `query`, one at a time, after a few to warm up.
/// Signs in first: loading the history outlasts an access token.
async fn timed(api: &testkit::client::Api, email: &str, query: &str, count: usize) -> Vec<f64> {
    let token = api.login_ok(email, PASSWORD).await.access_token;
    let token = token.as_str();
    for _ in 0..3 {
        let answer = api.graphql(query, json!({}), Some(token)).await;
        assert!(answer["errors"].is_null(), "{query}: {answer}");
    }
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let answer = api.graphql(query, json!({}), Some(token)).await;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(answer["errors"].is_null(), "{query}: {answer}");
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

const READS: &[(&str, &str)] = &[
    (
        "stats",
        "{ stats { totalJobs activeJobs totalExecutions successCount failureCount successRate avgDurationMs executionsLast24h upcomingRuns { nextRunAt } recentExecutions { id } } }",
    ),
    (
        "analytics(days: 30)",
        "{ analytics(days: 30) { successRate dailyTrend { date total success failed avgDurationMs } hourlyDistribution { hour count } durationPercentiles { p50 p95 p99 } topFailingJobs { failures } } }",
    ),
    (
        "executionLogs(first: 20)",
        "{ executionLogs(first: 20) { edges { node { id status startedAt } } pageInfo { hasNextPage } } }",
    ),
    (
        "executionLogs(first: 20, status: FAILED)",
        "{ executionLogs(first: 20, status: FAILED) { edges { node { id status startedAt } } } }",
    ),
    (
        "executionLogs(first: 20) { totalCount }",
        "{ executionLogs(first: 20) { totalCount edges { node { id } } } }",
    ),
];

const PASSWORD: &str = "Password123!";

const ADMIN_READ: &str = "{ adminStats { totalUsers verifiedUsers totalJobs activeJobs totalExecutions executionsLast24h successRate queueDepth } }";

pub async fn history(user_runs: usize, total_runs: usize, smoke: bool) -> Vec<Figure> {
    let env = TestEnv::new().await;
    let server = Cronops::start_server(
        "api",
        env.vars_with(&[("RUST_LOG", "warn")]),
        env.workdir.path(),
    )
    .await;
    let api = server.api().clone();
    let user = api
        .signup_verified(&env.mail, "history@example.com", PASSWORD)
        .await;
    let admin = api
        .signup_verified(&env.mail, "history-admin@example.com", PASSWORD)
        .await;
    let user_id: Uuid = user.user_id.parse().unwrap();
    let mut conn = env.database.connect().await;
    diesel::sql_query("UPDATE users SET plan = 'PRO' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(user_id)
        .execute(&mut conn)
        .await
        .unwrap();
    diesel::sql_query("UPDATE users SET role = 'ADMIN' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(admin.user_id.parse::<Uuid>().unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    insert_jobs(
        &mut conn,
        user_id,
        500,
        "*/5 * * * *",
        "https://example.com/",
    )
    .await;
    let others: Vec<Uuid> = bulk_jobs(&env, 5_000, "*/5 * * * *", "https://example.com/")
        .await
        .into_iter()
        .map(|(user, _)| user)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // The weeks of the history have their partitions, as the migration that partitioned
    // the runs gives an existing history.
    diesel::sql_query("SELECT create_run_partitions(now() - interval '31 days', now())")
        .execute(&mut conn)
        .await
        .unwrap();
    let started = Instant::now();
    insert_runs(&mut conn, &[user_id], user_runs).await;
    insert_runs(&mut conn, &others, total_runs.saturating_sub(user_runs)).await;
    // As autovacuum would after such a load (visibility map, statistics).
    diesel::sql_query("VACUUM (ANALYZE) execution_logs")
        .execute(&mut conn)
        .await
        .unwrap();
    eprintln!(
        "history: {total_runs} runs loaded in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    drop(conn);

    let count = if smoke { 5 } else { 50 };
    let args = format!("history --user-runs {user_runs} --total-runs {total_runs}");
    let mut figures = Vec::new();
    let mut reads: Vec<(String, &str, &str)> = READS
        .iter()
        .map(|(name, query)| {
            (
                format!("{name}, a user with 500 jobs and {user_runs} runs"),
                *query,
                "history@example.com",
            )
        })
        .collect();
    reads.push((
        format!("adminStats over {total_runs} runs"),
        ADMIN_READ,
        "history-admin@example.com",
    ));
    for (what, query, email) in reads {
        let latencies = timed(&api, email, query, count).await;
        figures.push(Figure {
            scenario: "history",
            what: format!("{what}: p50 / p99 / max, one request at a time"),
            value: format!(
                "{:.1} / {:.1} / {:.1} ms",
                percentile(&latencies, 50.0),
                percentile(&latencies, 99.0),
                latencies.last().copied().unwrap_or(f64::NAN)
            ),
            target: "p99 < 50 ms",
            command: cmd(&args, smoke),
        });
    }
    figures
}
