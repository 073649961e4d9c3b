//! `api`: GraphQL throughput and latency against a plain handler on the same server.

use super::*;

/// Requests per second and latencies of `concurrency` workers hammering `send`.
async fn load<F, Fut>(seconds: u64, concurrency: usize, send: F) -> (f64, Vec<f64>)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let send = send.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    if send().await {
                        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    all.sort_by(f64::total_cmp);
    (all.len() as f64 / seconds as f64, all)
}

/// Latencies of requests sent at a fixed `rate` per second for `seconds` (each on its own
/// task, so a slow answer never delays the next send).
async fn paced<F, Fut>(seconds: u64, rate: f64, send: F) -> Vec<f64>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let every = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    while Instant::now() < deadline {
        tick.tick().await;
        let send = send.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            send()
                .await
                .then(|| started.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        if let Ok(Some(ms)) = task.await {
            latencies.push(ms);
        }
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

pub async fn api(seconds: u64, smoke: bool) -> Vec<Figure> {
    let env = TestEnv::new().await;
    let total = if smoke { 2_000 } else { 100_000 };
    bulk_jobs(&env, total - 1_000, "0 0 1 1 *", "https://example.com/").await;
    let server = Cronops::start_server(
        "api",
        env.vars_with(&[("RUST_LOG", "warn"), ("DATABASE_POOL_SIZE", "16")]),
        env.workdir.path(),
    )
    .await;
    let api = server.api().clone();
    let user = api
        .signup_verified(&env.mail, "bench@example.com", "Password123!")
        .await;
    let user_id: Uuid = user.user_id.parse().unwrap();
    let mut conn = env.database.connect().await;
    diesel::sql_query(format!(
        "INSERT INTO jobs (user_id, name, cron_expression, target_url) \
         SELECT '{user_id}', 'mine ' || i, '0 0 1 1 *', 'https://example.com/' FROM generate_series(1, 1000) AS i"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    // As autovacuum would within a minute of the load: without it, whether it ran before
    // or during a round decided whether counting a user's jobs read the heap, and moved
    // both rates by up to 70 % between runs.
    diesel::sql_query("VACUUM (ANALYZE) jobs")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);

    // The baseline: a plain axum handler running the same two queries through a pool of
    // the same size, in this process.
    let pool = db::pool::build(env.database.url(), 16);
    let app = axum::Router::new().route(
        "/plain",
        axum::routing::get(move || {
            let pool = pool.clone();
            async move {
                let mut conn = pool.get().await.unwrap();
                let filter = db::models::job::JobFilter {
                    user_id: Some(user_id),
                    ..Default::default()
                };
                let page = db::models::Job::page(&mut conn, &filter, None, 21)
                    .await
                    .unwrap();
                let count = db::models::Job::count(&mut conn, &filter).await.unwrap();
                axum::Json(
                    json!({"count": count, "ids": page.iter().map(|j| j.id).collect::<Vec<_>>()}),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain = format!("http://{}/plain", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let graphql = format!("{}/graphql", api.base);
    let token = user.access_token.clone();
    let body = json!({"query": "{ jobs(first: 20) { totalCount edges { node { id name } } } }"})
        .to_string();
    let gql = {
        let http = http.clone();
        move || {
            let request = http
                .post(graphql.clone())
                .bearer_auth(token.clone())
                .header("content-type", "application/json")
                .body(body.clone())
                .send();
            async move { request.await.is_ok_and(|r| r.status().is_success()) }
        }
    };
    let base = {
        let http = http.clone();
        move || {
            let request = http.get(plain.clone()).send();
            async move { request.await.is_ok_and(|r| r.status().is_success()) }
        }
    };
    // Alternating rounds, so that a change in the machine's load weighs on both alike.
    let rounds = if smoke { 1 } else { 3 };
    let per_round = seconds.div_ceil(rounds).max(1);
    let (mut plain_rates, mut plain_lat, mut gql_rates, mut gql_lat) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut api_cpu, mut gql_requests) = (Duration::ZERO, 0);
    for _ in 0..rounds {
        let (rps, lat) = load(per_round, 64, base.clone()).await;
        plain_rates.push(rps);
        plain_lat.extend(lat);
        let before = cpu_time(server.pid());
        let (rps, lat) = load(per_round, 64, gql.clone()).await;
        api_cpu += cpu_time(server.pid()).saturating_sub(before);
        gql_requests += lat.len();
        gql_rates.push(rps);
        gql_lat.extend(lat);
    }
    plain_lat.sort_by(f64::total_cmp);
    gql_lat.sort_by(f64::total_cmp);
    let plain_rps = plain_rates.iter().sum::<f64>() / plain_rates.len() as f64;
    let gql_rps = gql_rates.iter().sum::<f64>() / gql_rates.len() as f64;
    let half = paced(seconds, gql_rps / 2.0, gql).await;
    let args = format!("api --seconds {seconds}");
    vec![
        Figure {
            scenario: "api",
            what: "jobs(first: 20) with auth, 64 connections: GraphQL vs plain handler".to_owned(),
            value: format!(
                "{gql_rps:.0} vs {plain_rps:.0} req/s ({:.0} %)",
                gql_rps / plain_rps * 100.0
            ),
            target: ">= 50 %",
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "api",
            what: "latency p50 / p99 at peak (GraphQL; plain)".to_owned(),
            value: format!(
                "{:.1} / {:.1} ms; {:.1} / {:.1} ms",
                percentile(&gql_lat, 50.0),
                percentile(&gql_lat, 99.0),
                percentile(&plain_lat, 50.0),
                percentile(&plain_lat, 99.0)
            ),
            target: "(at peak: no target)",
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "api",
            what: "API process CPU per GraphQL request at peak (user + system)".to_owned(),
            value: format!(
                "{:.0} µs",
                api_cpu.as_secs_f64() * 1e6 / gql_requests.max(1) as f64
            ),
            target: "(no target: explains the ratio)",
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "api",
            what: format!(
                "GraphQL latency p50 / p99 at half the peak rate ({:.0} req/s)",
                gql_rps / 2.0
            ),
            value: format!(
                "{:.1} / {:.1} ms",
                percentile(&half, 50.0),
                percentile(&half, 99.0)
            ),
            target: "p99 < 10 ms",
            command: cmd(&args, smoke),
        },
    ]
}
