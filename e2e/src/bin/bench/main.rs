//! The benchmark harness: starts the real `cronops` binaries against the local PostgreSQL
//! and Redis, runs each scenario, and prints one table with the machine and every figure,
//! each with the command that reproduces it alone.
//!
//!   cargo run --release -p e2e --bin bench -- all          (what `make bench` runs)
//!   cargo run --release -p e2e --bin bench -- burst --jobs 10000
//!   cargo run --release -p e2e --bin bench -- --smoke all  (seconds; part of `make test`)

mod fairness;
mod steady;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use diesel_async::RunQueryDsl;
use e2e::fixtures;
use e2e::{Cronops, TestEnv, poll_until};
use fred::prelude::ClientLike;
use serde_json::json;
use uuid::Uuid;

/// The sink and the clients in this process allocate per request from many threads at once;
/// glibc's malloc serialises them on its arena locks, which showed in profiles of `sends`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(about = "CronOps benchmarks")]
struct Args {
    /// Tiny sizes, to check that the harness works (figures are not meaningful).
    #[arg(long, global = true)]
    smoke: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Clone, Subcommand)]
enum Scenario {
    /// Every scenario in turn.
    All,
    /// Many jobs due in the same second.
    Burst {
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        #[arg(long, default_value_t = 2)]
        schedulers: usize,
    },
    /// Many jobs on 1 s to 1 min schedules: how late each run arrives.
    Lateness {
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        #[arg(long, default_value_t = 120)]
        seconds: u64,
    },
    /// Jobs every second with the default settings: lateness, and slots lost or repeated.
    Steady {
        #[arg(long, default_value_t = 1_000)]
        jobs: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Claim cost per run as the scheduled jobs grow.
    Growth,
    /// Many open subscriptions: delivery latency under a steady event rate, and API
    /// memory per idle subscription.
    Live {
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        /// Subscriptions are spread over this many users (each event is for one user).
        #[arg(long, default_value_t = 1_000)]
        users: usize,
        /// Events published per second.
        #[arg(long, default_value_t = 1_000)]
        rate: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The floor under lateness: requests sent at once through the scheduler's HTTP
    /// client to the sink, with nothing else running.
    Sends {
        #[arg(long, default_value_t = 1_000)]
        requests: usize,
    },
    /// Redis bytes per scheduled job and scheduler memory.
    Memory {
        #[arg(long, default_value_t = 100_000)]
        jobs: usize,
    },
    /// `jobs(first: 20)` through the API against a plain handler running the same SQL.
    Api {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Bystanders' every-second jobs alone, then beside users whose targets never answer.
    Fairness {
        #[arg(long, default_value_t = 1_000)]
        jobs: usize,
        /// Users with 500 hanging every-second jobs each.
        #[arg(long, default_value_t = 5)]
        hostile: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
}

/// One line of the result table.
struct Figure {
    scenario: &'static str,
    what: String,
    value: String,
    target: &'static str,
    command: String,
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or("?".to_owned(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    format!("{cores} cores, {memory} memory")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn cmd(args: &str, smoke: bool) -> String {
    format!(
        "cargo run --release -p e2e --bin bench -- {}{args}",
        if smoke { "--smoke " } else { "" }
    )
}

/// Jobs one PRO user may own: the bench's jobs are spread over users as a deployment's
/// are, each within its plan (and so within its concurrency limit).
const JOBS_PER_USER: usize = 500;

/// `count` jobs in all, `JOBS_PER_USER` to a new PRO user, each user's inserted in one
/// statement. Returns (user, job) pairs.
async fn bulk_jobs(env: &TestEnv, count: usize, cron: &str, url: &str) -> Vec<(Uuid, Uuid)> {
    let mut jobs = Vec::with_capacity(count);
    let mut conn = env.database.connect().await;
    for first in (0..count).step_by(JOBS_PER_USER) {
        let user = fixtures::user(&env.database).await;
        let n = JOBS_PER_USER.min(count - first);
        jobs.extend(
            insert_jobs(&mut conn, user, n, cron, url)
                .await
                .into_iter()
                .map(|job| (user, job)),
        );
    }
    jobs
}

/// `count` jobs of `user`, in one statement.
async fn insert_jobs(
    conn: &mut db::AsyncPgConnection,
    user: Uuid,
    count: usize,
    cron: &str,
    url: &str,
) -> Vec<Uuid> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let ids: Vec<Id> = diesel::sql_query(format!(
        "INSERT INTO jobs (user_id, name, cron_expression, target_url, timeout_ms) \
         SELECT '{user}', 'bench ' || i, '{cron}', '{url}', 30000 FROM generate_series(1, {count}) AS i RETURNING id"
    ))
    .load(conn)
    .await
    .expect("insert jobs");
    ids.into_iter().map(|i| i.id).collect()
}

/// Puts (user, job, next fire time) in Redis as the API would, the users as PRO.
async fn schedule_all(env: &TestEnv, jobs: &[(Uuid, Uuid, DateTime<Utc>)]) {
    // A deployment with this many jobs has planner statistics of them (autovacuum takes
    // them within a minute of such a load); the table loaded a moment ago has none.
    let mut conn = env.database.connect().await;
    diesel::sql_query("ANALYZE jobs")
        .execute(&mut conn)
        .await
        .expect("analyze");
    drop(conn);
    let redis = scheduler::redis::connect(&env.redis_url, 2).expect("redis");
    let keys = scheduler::Keys::new(&env.key_prefix);
    let users: HashSet<Uuid> = jobs.iter().map(|(user, ..)| *user).collect();
    let plans: Vec<(Uuid, db::Plan)> = users.into_iter().map(|u| (u, db::Plan::Pro)).collect();
    scheduler::queue::set_plans(&redis, &keys, &plans)
        .await
        .expect("plans");
    for chunk in jobs.chunks(10_000) {
        scheduler::queue::schedule_many(&redis, &keys, chunk)
            .await
            .expect("schedule");
    }
    // The reconciler must not think Redis lost its data and rebuild from scratch.
    let _: () = fred::prelude::KeysInterface::set(
        redis.next(),
        keys.rebuilt_marker(),
        "bench",
        None,
        None,
        false,
    )
    .await
    .expect("marker");
}

fn scheduler_vars(env: &TestEnv, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    // The defaults, as a deployment runs them: the tests' environment shortens the lease
    // (3 s, for quick takeovers) and the reconcile period (500 ms); these put them back.
    let mut vars = env.vars_with(&[
        ("DATABASE_POOL_SIZE", "16"),
        ("RUST_LOG", "warn"),
        ("SCHEDULER_LEASE_MS", "15000"),
        ("SCHEDULER_RECONCILE_INTERVAL_MS", "1000"),
    ]);
    // SCHEDULER_* (and the allocator's MIMALLOC_*) variables in the bench's own environment
    // override these (to compare settings without rebuilding).
    for (key, value) in
        std::env::vars().filter(|(k, _)| k.starts_with("SCHEDULER_") || k.starts_with("MIMALLOC_"))
    {
        vars.retain(|(k, _)| *k != key);
        vars.push((key, value));
    }
    // BENCH_SCHEDULER_LOG=<filter>: scheduler logs at this level, printed at the end.
    if let Ok(filter) = std::env::var("BENCH_SCHEDULER_LOG") {
        vars.retain(|(key, _)| key != "RUST_LOG");
        vars.push(("RUST_LOG".to_owned(), filter));
    }
    for (k, v) in extra {
        vars.retain(|(key, _)| key != k);
        vars.push((k.to_string(), v.to_string()));
    }
    vars
}

/// `count` `cronops scheduler` processes with the bench's settings.
fn start_schedulers(env: &TestEnv, count: usize) -> Vec<Cronops> {
    (0..count)
        .map(|_| {
            Cronops::spawn(
                &["scheduler"],
                &scheduler_vars(env, &[]),
                env.workdir.path(),
            )
        })
        .collect()
}

/// The scheduler logs, when BENCH_SCHEDULER_LOG asked for them.
fn print_logs(processes: &[Cronops]) {
    if std::env::var_os("BENCH_SCHEDULER_LOG").is_some() {
        for (i, process) in processes.iter().enumerate() {
            eprintln!("--- scheduler {i} ---\n{}", process.output());
        }
    }
}

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

async fn burst(jobs: usize, schedulers: usize, smoke: bool) -> Vec<Figure> {
    let env = TestEnv::new().await;
    let ids = bulk_jobs(&env, jobs, "0 0 1 1 *", &env.target.url("/burst")).await;
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
    let args = format!("burst --jobs {jobs} --schedulers {schedulers}");
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

async fn lateness(jobs: usize, seconds: u64, smoke: bool) -> Vec<Figure> {
    let env = TestEnv::new().await;
    let periods = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];
    let mut conn = env.database.connect().await;
    let mut scheduled = Vec::with_capacity(jobs);
    let now = Utc::now() + chrono::Duration::seconds(3);
    // A thousand jobs per period, JOBS_PER_USER to a user.
    for chunk in 0..jobs.div_ceil(1000) {
        let count = 1000.min(jobs - chunk * 1000);
        let period = periods[chunk % periods.len()];
        let cron = if period == 60 {
            "0 * * * * *".to_owned()
        } else {
            format!("*/{period} * * * * *")
        };
        let next = scheduler::cron::Schedule::parse(&cron, "UTC")
            .unwrap()
            .next_after(now)
            .unwrap();
        for first in (0..count).step_by(JOBS_PER_USER) {
            let user = fixtures::user(&env.database).await;
            let n = JOBS_PER_USER.min(count - first);
            let ids = insert_jobs(&mut conn, user, n, &cron, &env.target.url("/late")).await;
            scheduled.extend(ids.into_iter().map(|id| (user, id, next)));
        }
    }
    drop(conn);
    schedule_all(&env, &scheduled).await;
    let processes = start_schedulers(&env, 2);
    let window_start = now;
    let window_end = window_start + chrono::Duration::seconds(seconds as i64);
    let expected: usize = scheduled
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let period = periods[(i / 1000) % periods.len()] as i64;
            ((window_end - window_start).num_seconds() / period) as usize
        })
        .sum();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    // Then until every slot of the window has arrived, for up to 20 s: a run that comes
    // late counts in the lateness figures, not as missed (a fixed 3 s grace could not
    // tell them apart).
    let in_window = |r: &e2e::target::ReceivedRequest| {
        r.headers
            .get("x-cronops-scheduled-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|slot| slot < window_end)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.target.count_on("/late", in_window) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    print_logs(&processes);
    drop(processes);
    let mut lateness_ms = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut repeated = 0;
    let mut dump = Vec::new();
    for request in env.target.received_on("/late") {
        let job = request.headers["x-cronops-job-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let slot_text = request.headers["x-cronops-scheduled-for"]
            .to_str()
            .unwrap()
            .to_owned();
        let slot = DateTime::parse_from_rfc3339(&slot_text)
            .unwrap()
            .with_timezone(&Utc);
        if slot >= window_end {
            continue;
        }
        if !seen.insert((job, slot_text)) {
            repeated += 1;
        }
        let late = (request.received_at - slot).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        dump.push(format!("{},{late:.3}", slot.timestamp_millis()));
        lateness_ms.push(late);
    }
    // BENCH_DUMP=<file>: every arrival as `slot ms,lateness ms`, to see where lateness is.
    if let Some(path) = std::env::var_os("BENCH_DUMP") {
        std::fs::write(path, dump.join("\n")).expect("write BENCH_DUMP");
    }
    lateness_ms.sort_by(f64::total_cmp);
    let args = format!("lateness --jobs {jobs} --seconds {seconds}");
    vec![
        Figure {
            scenario: "lateness",
            what: format!(
                "{jobs} jobs (1 s..1 min) for {seconds} s: arrival minus slot p50 / p99 / max"
            ),
            value: format!(
                "{:.1} / {:.1} / {:.1} ms",
                percentile(&lateness_ms, 50.0),
                percentile(&lateness_ms, 99.0),
                lateness_ms.last().copied().unwrap_or(f64::NAN)
            ),
            target: "p99 <= 25 ms, max <= 100 ms",
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "lateness",
            what: "slots received / expected (about) and repeated".to_owned(),
            value: format!("{} / ~{expected}, {repeated} repeated", seen.len()),
            target: "none missed or repeated",
            command: cmd(&args, smoke),
        },
    ]
}

async fn growth(smoke: bool) -> Vec<Figure> {
    let redis = scheduler::redis::connect(&e2e::shared_redis_url(), 2).expect("redis");
    let sizes: &[usize] = if smoke {
        &[1_000, 10_000]
    } else {
        &[1_000, 100_000, 1_000_000]
    };
    let limits = scheduler::queue::Concurrency::default();
    // Every size filled first, then measured in alternating rounds, each size keeping its
    // best round: a passing disturbance of the machine then cannot land on one size alone.
    let mut sets = Vec::new();
    for &size in sizes {
        let keys = scheduler::Keys::new(&format!("bench-{}", Uuid::new_v4().simple()));
        let far = Utc::now() + chrono::Duration::days(365);
        // Jobs a year away, JOBS_PER_USER to a user, as a deployment of that size has.
        let filler: Vec<(Uuid, Uuid, DateTime<Utc>)> = (0..size.div_ceil(JOBS_PER_USER))
            .flat_map(|_| {
                let user = Uuid::new_v4();
                (0..JOBS_PER_USER).map(move |_| (user, Uuid::new_v4(), far))
            })
            .take(size)
            .collect();
        for chunk in filler.chunks(20_000) {
            scheduler::queue::schedule_many(&redis, &keys, chunk)
                .await
                .unwrap();
        }
        // Script loaded and connections warm before counting.
        scheduler::queue::claim(
            &redis,
            &keys,
            &limits,
            "bench",
            Utc::now(),
            Utc::now(),
            Duration::from_secs(30),
            1,
        )
        .await
        .unwrap();
        sets.push((size, keys, filler, f64::INFINITY, f64::INFINITY));
    }
    for _round in 0..3 {
        for (_, keys, _, best_server, best_wall) in sets.iter_mut() {
            let (server_us, wall_us) = claim_costs(&redis, keys, &limits, 40).await;
            *best_server = best_server.min(server_us);
            *best_wall = best_wall.min(wall_us);
        }
    }
    let base = sets[0].3;
    let mut figures = Vec::new();
    for (size, keys, filler, server_us, wall_us) in sets {
        let users: HashSet<Uuid> = filler.iter().map(|(user, ..)| *user).collect();
        let mut doomed: Vec<String> = users.into_iter().map(|u| keys.work(u)).collect();
        doomed.extend([
            keys.ready(),
            keys.blocked(),
            keys.plans(),
            keys.leases(),
            keys.owners(),
        ]);
        for chunk in doomed.chunks(1_000) {
            let _: () = fred::prelude::KeysInterface::del(redis.next(), chunk.to_vec())
                .await
                .unwrap();
        }
        figures.push(Figure {
            scenario: "growth",
            what: format!("claim cost per run, {size} jobs scheduled"),
            value: format!(
                "{server_us:.2} µs in Redis ({:+.0} % vs smallest); {wall_us:.2} µs wall clock",
                (server_us / base - 1.0) * 100.0
            ),
            target: "flat (within 20 %)",
            command: cmd("growth", smoke),
        });
    }
    figures
}

/// A Redis command fred has no method for (CONFIG, INFO, MEMORY).
async fn redis_command<T: fred::types::FromValue>(
    redis: &scheduler::redis::RedisPool,
    name: &'static str,
    args: &[&str],
) -> T {
    redis
        .next()
        .custom(
            fred::types::CustomCommand::new_static(name, fred::types::ClusterHash::Random, false),
            args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Claims 500 due items (of 50 PRO users) `claims` times from `keys`; returns Redis's own
/// time per claimed item (INFO commandstats around each claim alone, free of the client's
/// and the machine's scheduling noise) and the median wall-clock time per item.
async fn claim_costs(
    redis: &scheduler::redis::RedisPool,
    keys: &scheduler::Keys,
    limits: &scheduler::queue::Concurrency,
    claims: usize,
) -> (f64, f64) {
    let mut per_run_us = Vec::new();
    let mut claimed_total = 0usize;
    let mut script_usec = 0.0;
    for _ in 0..claims {
        let users: Vec<Uuid> = (0..50).map(|_| Uuid::new_v4()).collect();
        let plans: Vec<(Uuid, db::Plan)> = users.iter().map(|u| (*u, db::Plan::Pro)).collect();
        scheduler::queue::set_plans(redis, keys, &plans)
            .await
            .unwrap();
        let due: Vec<(Uuid, Uuid, DateTime<Utc>)> = (0..500)
            .map(|i| {
                let at = Utc::now() - chrono::Duration::seconds(1);
                (users[i % users.len()], Uuid::new_v4(), at)
            })
            .collect();
        scheduler::queue::schedule_many(redis, keys, &due)
            .await
            .unwrap();
        let _: String = redis_command(redis, "CONFIG", &["RESETSTAT"]).await;
        let started = Instant::now();
        let claimed = scheduler::queue::claim(
            redis,
            keys,
            limits,
            "bench",
            Utc::now(),
            Utc::now(),
            Duration::from_secs(30),
            500,
        )
        .await
        .unwrap();
        per_run_us.push(started.elapsed().as_secs_f64() * 1e6 / claimed.len().max(1) as f64);
        let info: String = redis_command(redis, "INFO", &["commandstats"]).await;
        script_usec += info
            .lines()
            .find(|l| l.starts_with("cmdstat_evalsha:"))
            .and_then(|l| l.split(',').find_map(|f| f.strip_prefix("usec=")))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        claimed_total += claimed.len();
        let members: Vec<String> = claimed.iter().map(|c| c.member.clone()).collect();
        scheduler::queue::release(redis, keys, limits, &members, &[])
            .await
            .unwrap();
        for user in users {
            let _: () = fred::prelude::KeysInterface::del(redis.next(), keys.work(user))
                .await
                .unwrap();
        }
    }
    per_run_us.sort_by(f64::total_cmp);
    (
        script_usec / claimed_total.max(1) as f64,
        percentile(&per_run_us, 50.0),
    )
}

async fn sends(requests: usize, smoke: bool) -> Vec<Figure> {
    let target = e2e::target::HttpTarget::start().await;
    let executor = scheduler::execute::Executor::new(scheduler::ssrf::TargetPolicy {
        allow_private: true,
        ..Default::default()
    });
    let request = |i: usize| scheduler::execute::Request {
        job_id: Uuid::new_v4(),
        execution_id: Uuid::new_v4(),
        scheduled_for: Utc::now(),
        attempt: 1,
        method: db::HttpMethod::Get,
        url: target.url(&format!("/send/{i}")),
        headers: Vec::new(),
        body: None,
        timeout: Duration::from_secs(30),
    };
    let send_all = || async {
        let start = Utc::now();
        let handles: Vec<_> = (0..requests)
            .map(|i| {
                let (executor, request) = (executor.clone(), request(i));
                // Fully qualified: diesel's RunQueryDsl, in scope here, has an `execute` too.
                tokio::spawn(async move {
                    scheduler::execute::Executor::execute(&executor, &request).await
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.await.unwrap().status, db::ExecutionStatus::Success);
        }
        let last = target.received().iter().map(|r| r.received_at).max();
        (last.unwrap_or(start) - start).num_milliseconds().max(1)
    };
    // The first round opens the connections, as a running scheduler has them.
    send_all().await;
    let spread = send_all().await;
    vec![Figure {
        scenario: "sends",
        what: format!(
            "{requests} requests at once, one process, the scheduler's HTTP client to the sink, nothing else running: last arrival after"
        ),
        value: format!(
            "{spread} ms ({:.0} requests/s): the floor under lateness for {requests} runs sharing one instant",
            requests as f64 * 1000.0 / spread as f64
        ),
        target: "(no target: explains lateness)",
        command: cmd(&format!("sends --requests {requests}"), smoke),
    }]
}

/// Lets each scenario start on a quiet PostgreSQL: the dirty pages and WAL an earlier
/// scenario left (lateness writes 330,000 runs) are checkpointed now, not in the middle
/// of the next one, and no autovacuum worker is still busy.
async fn settle_postgres() {
    let admin = db::test_db::admin_url();
    let mut conn =
        <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&admin)
            .await
            .expect("connect to the bench's PostgreSQL");
    #[derive(diesel::QueryableByName)]
    struct Busy {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        workers: i64,
    }
    // Autovacuum first, so that the checkpoint also takes what it wrote.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let busy: Busy = diesel::sql_query(
            "SELECT count(*) AS workers FROM pg_stat_activity \
             WHERE backend_type = 'autovacuum worker'",
        )
        .get_result(&mut conn)
        .await
        .expect("count autovacuum workers");
        if busy.workers == 0 {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!("autovacuum still busy after 60 s; starting anyway");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if let Err(e) = diesel::sql_query("CHECKPOINT").execute(&mut conn).await {
        eprintln!("no CHECKPOINT before the scenario ({e}): the bench needs a superuser for it");
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .expect("utime and stime in /proc/<pid>/stat");
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .expect("the clock ticks per second");
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn memory(jobs: usize, smoke: bool) -> Vec<Figure> {
    let env = TestEnv::new().await;
    let ids = bulk_jobs(&env, jobs, "0 0 1 1 *", "http://127.0.0.1:9/never").await;
    let next = Utc::now() + chrono::Duration::days(30);
    let due: Vec<_> = ids.iter().map(|(user, job)| (*user, *job, next)).collect();
    schedule_all(&env, &due).await;
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let keys = scheduler::Keys::new(&env.key_prefix);
    let users: HashSet<Uuid> = ids.iter().map(|(user, _)| *user).collect();
    let mut scheduling_keys: Vec<String> = users.into_iter().map(|u| keys.work(u)).collect();
    scheduling_keys.extend([keys.ready(), keys.plans()]);
    let mut bytes = 0u64;
    for key in &scheduling_keys {
        let used: u64 = redis_command(&redis, "MEMORY", &["USAGE", key, "SAMPLES", "0"]).await;
        bytes += used;
    }
    let process = Cronops::spawn(
        &["scheduler"],
        &scheduler_vars(&env, &[]),
        env.workdir.path(),
    );
    // Let the reconciler page through every job at least once.
    tokio::time::sleep(Duration::from_secs(if smoke { 2 } else { 15 })).await;
    let rss = rss_kib(process.pid());
    drop(process);
    let args = format!("memory --jobs {jobs}");
    vec![
        Figure {
            scenario: "memory",
            what: format!("Redis bytes per scheduled job ({jobs} jobs)"),
            value: format!("{:.0} B", bytes as f64 / jobs as f64),
            target: "<= 150 B",
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "memory",
            what: format!("scheduler RSS with {jobs} jobs"),
            value: format!("{:.1} MiB", rss as f64 / 1024.0),
            target: "<= 64 MiB, flat in job count",
            command: cmd(&args, smoke),
        },
    ]
}

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

async fn api(seconds: u64, smoke: bool) -> Vec<Figure> {
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

/// An access token for `user`, signed as the API signs them (the bench skips logging in
/// 1,000 users through argon2).
fn access_token(user: Uuid) -> String {
    e2e::fixtures::access_token(user, "USER", Uuid::new_v4(), 3600)
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

async fn live(
    subscribers: usize,
    users: usize,
    rate: usize,
    seconds: u64,
    smoke: bool,
) -> Vec<Figure> {
    use e2e::ws::{Incoming, Protocol, WsClient};
    use std::sync::{Arc, Mutex};
    use std::time::Instant as StdInstant;

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
            batch.push(scheduler::events::ExecutionEvent {
                kind: scheduler::events::EventKind::Started,
                log,
            });
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

#[tokio::main]
async fn main() {
    // The bench holds thousands of sockets at once (10,000 sends, 10,000 subscribers);
    // the binaries it starts raise their own limit at start.
    if let Ok((soft, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let args = Args::parse();
    let smoke = args.smoke;
    let scenarios = match args.scenario {
        Scenario::All if smoke => vec![
            Scenario::Burst {
                jobs: 200,
                schedulers: 2,
            },
            Scenario::Lateness {
                jobs: 100,
                seconds: 3,
            },
            Scenario::Steady {
                jobs: 100,
                seconds: 2,
            },
            Scenario::Growth,
            Scenario::Sends { requests: 200 },
            Scenario::Memory { jobs: 1_000 },
            Scenario::Api { seconds: 1 },
            Scenario::Live {
                subscribers: 200,
                users: 20,
                rate: 100,
                seconds: 1,
            },
            Scenario::Fairness {
                jobs: 20,
                hostile: 1,
                seconds: 2,
            },
        ],
        Scenario::All => vec![
            // First, before the heavy scenarios leave PostgreSQL vacuuming in the background.
            Scenario::Growth,
            // Also early: they measure sending with nothing else running, and the bench
            // process is still releasing lateness's 330,000 recorded requests after it
            // (1,000 sends took 46-48 ms right after lateness, 19-25 ms otherwise).
            Scenario::Sends { requests: 1_000 },
            // The floor under the minute's instant of `lateness`, where all 10,000 fall due.
            Scenario::Sends { requests: 10_000 },
            Scenario::Burst {
                jobs: 10_000,
                schedulers: 2,
            },
            Scenario::Lateness {
                jobs: 10_000,
                seconds: 120,
            },
            Scenario::Steady {
                jobs: 1_000,
                seconds: 60,
            },
            Scenario::Steady {
                jobs: 5_000,
                seconds: 60,
            },
            Scenario::Memory { jobs: 100_000 },
            Scenario::Burst {
                jobs: 100_000,
                schedulers: 2,
            },
            Scenario::Api { seconds: 10 },
            Scenario::Live {
                subscribers: 10_000,
                users: 1_000,
                rate: 1_000,
                seconds: 10,
            },
            Scenario::Fairness {
                jobs: 1_000,
                hostile: 5,
                seconds: 20,
            },
        ],
        one => vec![one],
    };
    let mut figures = Vec::new();
    for scenario in scenarios {
        eprintln!("running {scenario:?}");
        settle_postgres().await;
        figures.extend(match scenario {
            Scenario::Burst { jobs, schedulers } => burst(jobs, schedulers, smoke).await,
            Scenario::Lateness { jobs, seconds } => lateness(jobs, seconds, smoke).await,
            Scenario::Steady { jobs, seconds } => steady::steady(jobs, seconds, smoke).await,
            Scenario::Growth => growth(smoke).await,
            Scenario::Sends { requests } => sends(requests, smoke).await,
            Scenario::Memory { jobs } => memory(jobs, smoke).await,
            Scenario::Api { seconds } => api(seconds, smoke).await,
            Scenario::Live {
                subscribers,
                users,
                rate,
                seconds,
            } => live(subscribers, users, rate, seconds, smoke).await,
            Scenario::Fairness {
                jobs,
                hostile,
                seconds,
            } => fairness::fairness(jobs, hostile, seconds, smoke).await,
            Scenario::All => unreachable!("expanded above"),
        });
    }
    let binary = e2e::process::binary();
    println!(
        "CronOps benchmarks on {} ({}){}",
        machine(),
        binary.display(),
        if smoke {
            " - SMOKE RUN, figures not meaningful"
        } else {
            ""
        }
    );
    println!();
    println!("| scenario | what | measured | target | reproduce |");
    println!("|---|---|---|---|---|");
    for f in &figures {
        println!(
            "| {} | {} | {} | {} | `{}` |",
            f.scenario, f.what, f.value, f.target, f.command
        );
    }
}
