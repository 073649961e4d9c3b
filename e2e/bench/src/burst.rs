//! `burst`: many jobs due in the same instant, fired, recorded and published end to end.

use super::*;

async fn final_runs(env: &TestEnv) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = env.database.connect().await;
    let count: Count = diesel::sql_query(
        "SELECT count(*) AS n FROM execution_logs WHERE status IN ('SUCCESS','FAILED','TIMEOUT')",
    )
    .get_result(&mut conn)
    .await
    .expect("count");
    count.n
}

/// Redis's output limit for pubsub clients, lifted while the bench listens to a burst's
/// events: Redis drops a subscriber more than 32 MB behind, and a burst of 100,000
/// publishes about 110 MB.
struct PubsubLimit {
    redis: scheduler::redis::RedisPool,
    previous: String,
}

impl PubsubLimit {
    async fn lift(env: &TestEnv) -> PubsubLimit {
        let redis = scheduler::redis::connect(&env.redis_url, 1).expect("redis");
        let limits: Vec<String> =
            redis_command(&redis, "CONFIG", &["GET", "client-output-buffer-limit"]).await;
        let previous = limits
            .get(1)
            .and_then(|all| all.split("pubsub ").nth(1))
            .map(|rest| {
                rest.split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|| "33554432 8388608 60".to_owned());
        let limit = PubsubLimit { redis, previous };
        limit.set("0 0 0").await;
        limit
    }

    async fn set(&self, limit: &str) {
        let class = format!("pubsub {limit}");
        let _: String = redis_command(
            &self.redis,
            "CONFIG",
            &["SET", "client-output-buffer-limit", &class],
        )
        .await;
    }

    async fn restore(self) {
        self.set(&self.previous).await;
    }
}

/// When the `count`-th outcome (any event but STARTED) of any user's runs is published:
/// the scheduler publishes it once the run is recorded. Listening costs PostgreSQL
/// nothing, where counting finished rows every 50 ms took a sizeable share of the cores
/// the schedulers measured here need. Run it under a lifted [`PubsubLimit`].
async fn outcomes_published(
    env: &TestEnv,
    count: usize,
) -> tokio::sync::oneshot::Receiver<Result<DateTime<Utc>, String>> {
    use fred::prelude::{Builder, Config, EventInterface, PubsubInterface};
    let client = Builder::from_config(Config::from_url(&env.redis_url).expect("redis url"))
        .with_performance_config(|perf| perf.broadcast_channel_capacity = 65_536)
        .build_subscriber_client()
        .expect("subscriber");
    client.init().await.expect("connect the subscriber");
    let mut messages = client.message_rx();
    let pattern = scheduler::Keys::new(&env.key_prefix).all_events_pattern();
    client.psubscribe(pattern).await.expect("subscribe");
    let (done, at) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _client = client;
        let mut seen = 0;
        let ended = loop {
            match messages.recv().await {
                Ok(message) => {
                    let outcome = message.value.as_str().is_some_and(|text| {
                        text.starts_with(r#"{"type":""#)
                            && !text.starts_with(r#"{"type":"STARTED""#)
                    });
                    seen += usize::from(outcome);
                    if seen == count {
                        break Ok(Utc::now());
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    break Err(format!("the event listener fell {n} events behind"));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    break Err(format!(
                        "the event subscription closed after {seen} outcomes"
                    ));
                }
            }
        };
        let _ = done.send(ended);
    });
    at
}

/// What the burst's jobs are like.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Every job has an alert policy naming its owner's email: each run is counted in
    /// the transaction that records it.
    pub alerts: bool,
    /// Every run fails: with `alerts`, every job turns FAILING at once.
    pub fail: bool,
}

pub async fn burst(jobs: usize, schedulers: usize, options: Options, smoke: bool) -> Vec<Figure> {
    let env = TestEnv::new().await;
    let ids = bulk_jobs(&env, jobs, "0 0 1 1 *", &env.target.url("/burst")).await;
    if options.fail {
        env.target.reply(
            "/burst",
            testkit::target::Reply {
                status: 500,
                ..testkit::target::Reply::default()
            },
        );
    }
    if options.alerts {
        let mut conn = env.database.connect().await;
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query(
                "UPDATE jobs AS j SET alert_policy = jsonb_build_object('channelIds', jsonb_build_array(c.id)) \
                 FROM notification_channels c WHERE c.user_id = j.user_id AND c.account_email",
            ),
            &mut conn,
        )
        .await
        .expect("alert policies");
    }
    let pubsub_limit = PubsubLimit::lift(&env).await;
    let published = outcomes_published(&env, jobs).await;
    let start = Utc::now() + chrono::Duration::seconds(5);
    let slot = DateTime::from_timestamp(start.timestamp(), 0).unwrap();
    let due: Vec<_> = ids.iter().map(|(user, job)| (*user, *job, slot)).collect();
    schedule_all(&env, &due).await;
    let processes = start_schedulers(&env, schedulers);
    let outcome = tokio::time::timeout(Duration::from_secs(300), published).await;
    pubsub_limit.restore().await;
    print_logs(&processes);
    let recorded_at = match outcome {
        Ok(Ok(Ok(at))) => at,
        Ok(Ok(Err(why))) => panic!("{why}; {} runs recorded", final_runs(&env).await),
        Ok(Err(_)) => panic!("the event listener stopped"),
        Err(_) => panic!(
            "not every outcome published within 300 s; {} of {jobs} runs recorded",
            final_runs(&env).await
        ),
    };
    assert_eq!(final_runs(&env).await as usize, jobs, "runs recorded");
    drop(processes);
    let arrivals: Vec<DateTime<Utc>> = env
        .target
        .received_on("/burst")
        .iter()
        .map(|r| r.received_at)
        .collect();
    let within_1s = arrivals
        .iter()
        .filter(|t| **t <= slot + chrono::Duration::seconds(1))
        .count();
    let last = arrivals.iter().max().copied().unwrap_or(slot);
    let e2e_secs = (recorded_at - slot).num_milliseconds().max(1) as f64 / 1000.0;
    let mut args = format!("burst --jobs {jobs} --schedulers {schedulers}");
    for (on, flag) in [(options.alerts, " --alerts"), (options.fail, " --fail")] {
        if on {
            args.push_str(flag);
        }
    }
    vec![
        Figure {
            scenario: "burst",
            what: format!("{jobs} due at once: runs/s end to end (fired, recorded, published)"),
            value: format!("{:.0} runs/s ({e2e_secs:.2} s)", jobs as f64 / e2e_secs),
            target: ">= 10,000 runs/s",
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "burst",
            what: format!("{jobs} due at once: fired within 1 s of the slot"),
            value: format!(
                "{within_1s} of {} (last after {} ms)",
                arrivals.len(),
                (last - slot).num_milliseconds()
            ),
            target: "all",
            command: cmd(&args, smoke),
        },
    ]
}
