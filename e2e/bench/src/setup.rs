//! What the scenarios share: jobs and users written as a deployment holds them, scheduler
//! processes with the bench's settings, and readings of processes and stores.

use super::*;

/// Jobs one PRO user may own: the bench's jobs are spread over users as a deployment's
/// are, each within its plan (and so within its concurrency limit).
pub(crate) const JOBS_PER_USER: usize = 500;

/// `count` jobs in all, `JOBS_PER_USER` to a new PRO user, each user's inserted in one
/// statement. Returns (user, job) pairs.
pub(crate) async fn bulk_jobs(
    env: &TestEnv,
    count: usize,
    cron: &str,
    url: &str,
) -> Vec<(Uuid, Uuid)> {
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
pub(crate) async fn insert_jobs(
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
pub(crate) async fn schedule_all(env: &TestEnv, jobs: &[(Uuid, Uuid, DateTime<Utc>)]) {
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

pub(crate) fn scheduler_vars(env: &TestEnv, extra: &[(&str, &str)]) -> Vec<(String, String)> {
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
pub(crate) fn start_schedulers(env: &TestEnv, count: usize) -> Vec<Cronops> {
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
pub(crate) fn print_logs(processes: &[Cronops]) {
    if std::env::var_os("BENCH_SCHEDULER_LOG").is_some() {
        for (i, process) in processes.iter().enumerate() {
            eprintln!("--- scheduler {i} ---\n{}", process.output());
        }
    }
}

/// A Redis command fred has no method for (CONFIG, INFO, MEMORY).
pub(crate) async fn redis_command<T: fred::types::FromValue>(
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

/// Lets each scenario start on a quiet PostgreSQL: the dirty pages and WAL an earlier
/// scenario left (lateness writes 330,000 runs) are checkpointed now, not in the middle
/// of the next one, and no autovacuum worker is still busy.
pub(crate) async fn settle_postgres() {
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
pub(crate) fn cpu_time(pid: u32) -> Duration {
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

pub(crate) fn rss_kib(pid: u32) -> u64 {
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
