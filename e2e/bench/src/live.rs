//! `live`: many WebSocket subscribers; delivery latency and memory per idle subscriber.

use super::*;

/// An access token for `user`, signed as the API signs them (the bench skips logging in
/// 1,000 users through argon2).
fn access_token(user: Uuid) -> String {
    testkit::fixtures::access_token(user, "USER", Uuid::new_v4(), 3600)
}

/// The API's count of open subscriptions, from its /metrics.
async fn open_subscriptions(base: &str) -> Option<usize> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("cronops_event_receivers "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as usize)
}

pub async fn live(
    subscribers: usize,
    users: usize,
    rate: usize,
    seconds: u64,
    smoke: bool,
) -> Vec<Figure> {
    use std::sync::{Arc, Mutex};
    use std::time::Instant as StdInstant;
    use testkit::ws::{Incoming, Protocol, WsClient};

    let env = TestEnv::new().await;
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let mut conn = env.database.connect().await;
    let user_ids: Vec<Uuid> = diesel::sql_query(format!(
        "INSERT INTO users (email, name, password_hash, email_verified_at) \
         SELECT 'live' || i || '@bench.test', 'live ' || i, 'x', now() \
         FROM generate_series(1, {users}) AS i RETURNING id"
    ))
    .load::<Id>(&mut conn)
    .await
    .expect("insert users")
    .into_iter()
    .map(|i| i.id)
    .collect();
    drop(conn);
    let tokens: Vec<String> = user_ids.iter().map(|u| access_token(*u)).collect();
    let server = Cronops::start_server(
        "api",
        env.vars_with(&[("RUST_LOG", "warn")]),
        env.workdir.path(),
    )
    .await;
    let base = server.api().base.clone();
    let query = "subscription { executionEvents { type log { id status startedAt } } }";

    // Every delivery: the event's id and when the client read it.
    type Deliveries = Arc<Mutex<Vec<(Uuid, StdInstant)>>>;
    let received: Deliveries = Arc::default();
    let open = |index: usize| {
        let base = base.clone();
        let token = tokens[index % users].clone();
        let received = received.clone();
        async move {
            let mut socket = WsClient::authenticated(&base, Protocol::Modern, &token).await;
            socket.subscribe("live", query, json!({})).await;
            (socket, received)
        }
    };
    let read = |(mut socket, received): (WsClient, Deliveries)| {
        tokio::spawn(async move {
            while let Incoming::Json(message) = socket.next(Duration::from_secs(3600)).await {
                let at = StdInstant::now();
                if let Some(id) = message["payload"]["data"]["executionEvents"]["log"]["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                {
                    received.lock().unwrap().push((id, at));
                }
            }
        })
    };
    // Opens subscriptions `range` (500 at a time) and waits until the server counts them.
    let open_all = async |range: std::ops::Range<usize>| {
        let registered = range.end;
        let mut readers = Vec::new();
        for chunk in range.collect::<Vec<_>>().chunks(500) {
            readers.extend(
                futures_util::future::join_all(chunk.iter().map(|i| open(*i)))
                    .await
                    .into_iter()
                    .map(read),
            );
        }
        poll_until(
            "the subscriptions registered",
            Duration::from_secs(120),
            || {
                let base = base.clone();
                async move { (open_subscriptions(&base).await? >= registered).then_some(()) }
            },
        )
        .await;
        readers
    };
    // A first tenth warms the server up; the rest is what idle subscriptions cost.
    let warm = (subscribers / 10).max(1);
    let mut readers = open_all(0..warm).await;
    let rss_before = rss_kib(server.pid());
    readers.extend(open_all(warm..subscribers).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_kib(server.pid());
    let per_idle_kib =
        (rss_after.saturating_sub(rss_before)) as f64 / (subscribers - warm).max(1) as f64;

    // Publish as the scheduler does: one channel per user, the run row as JSON; 10 ms ticks.
    let redis = scheduler::redis::connect(&env.redis_url, 2).expect("redis");
    let keys = scheduler::Keys::new(&env.key_prefix);
    let mut published: std::collections::HashMap<Uuid, StdInstant> = Default::default();
    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut next_user = 0usize;
    let started = StdInstant::now();
    let mut events = 0usize;
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let mut batch = Vec::with_capacity(per_tick);
        for _ in 0..per_tick {
            let user = user_ids[next_user % users];
            next_user += 1;
            let log = db::test_db::running_log(user);
            batch.push(scheduler::events::ExecutionEvent::new(
                scheduler::events::EventKind::Started,
                log,
            ));
        }
        let at = StdInstant::now();
        for event in &batch {
            published.insert(event.log.id, at);
        }
        events += batch.len();
        scheduler::events::publish(&redis, &keys, &batch)
            .await
            .expect("publish");
    }
    let subscribers_per_user =
        |u: usize| subscribers / users + usize::from(u < subscribers % users);
    let expected: usize = (0..events).map(|e| subscribers_per_user(e % users)).sum();
    let settled = poll_until("deliveries to settle", Duration::from_secs(30), || {
        let received = received.clone();
        async move {
            let count = received.lock().unwrap().len();
            (count >= expected).then_some(())
        }
    });
    // Whatever has not arrived 5 s after the last publish counts as lost.
    let _ = tokio::time::timeout(Duration::from_secs(5), settled).await;
    let deliveries: Vec<(Uuid, StdInstant)> = std::mem::take(&mut *received.lock().unwrap());
    for reader in readers {
        reader.abort();
    }
    drop(server);
    let mut latency_ms: Vec<f64> = deliveries
        .iter()
        .filter_map(|(id, at)| {
            published
                .get(id)
                .map(|p| at.duration_since(*p).as_secs_f64() * 1000.0)
        })
        .collect();
    latency_ms.sort_by(f64::total_cmp);
    let args = format!(
        "live --subscribers {subscribers} --users {users} --rate {rate} --seconds {seconds}"
    );
    vec![
        Figure {
            scenario: "live",
            what: format!(
                "{subscribers} graphql-transport-ws subscribers over {users} users, {rate} events/s for {seconds} s: delivery p50 / p99 / max"
            ),
            value: format!(
                "{:.1} / {:.1} / {:.1} ms ({} of {expected} delivered)",
                percentile(&latency_ms, 50.0),
                percentile(&latency_ms, 99.0),
                latency_ms.last().copied().unwrap_or(f64::NAN),
                latency_ms.len()
            ),
            target: "p99 <= 50 ms",
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "live",
            what: format!(
                "API memory per idle subscriber ({} opened after a warm-up of {warm})",
                subscribers - warm
            ),
            value: format!(
                "{per_idle_kib:.1} KiB (RSS {} -> {} MiB)",
                rss_before / 1024,
                rss_after / 1024
            ),
            target: "<= 20 KiB",
            command: cmd(&args, smoke),
        },
    ]
}
