//! Users' work and places: what the API and the reconciler put in and take out, and
//! what an operator watches.

use chrono::{DateTime, Utc};
use db::Plan;
use fred::prelude::*;
use uuid::Uuid;

use super::{Concurrency, DEPTH, PLACE, ms, redis_err};
use crate::redis::RedisPool;
use crate::task::Task;
use crate::{Error, Keys};

/// Runs one of the users scripts with `mode`-specific arguments after the shared ones.
/// The API calls these without knowing the schedulers' limits: the stored ones apply.
async fn place(
    redis: &RedisPool,
    keys: &Keys,
    mode: &str,
    triples: impl IntoIterator<Item = (String, String, String)>,
) -> Result<(), Error> {
    let mut args = Concurrency::default().args(keys);
    args.push(mode.to_owned());
    let before = args.len();
    for (user, entry, value) in triples {
        args.extend([user, entry, value]);
    }
    if args.len() == before {
        return Ok(());
    }
    PLACE
        .evalsha_with_reload::<(), _, _>(redis.next(), vec![keys.ready()], args)
        .await
        .map_err(redis_err)
}

/// Puts (or moves) a user's ACTIVE job at its next fire time.
pub async fn schedule(
    redis: &RedisPool,
    keys: &Keys,
    user_id: Uuid,
    job_id: Uuid,
    next_run_at: DateTime<Utc>,
) -> Result<(), Error> {
    schedule_many(redis, keys, &[(user_id, job_id, next_run_at)]).await
}

/// Puts (or moves) many jobs, `(user, job, next fire time)`, in one call.
pub async fn schedule_many(
    redis: &RedisPool,
    keys: &Keys,
    jobs: &[(Uuid, Uuid, DateTime<Utc>)],
) -> Result<(), Error> {
    place(redis, keys, "set", job_triples(jobs)).await
}

/// Puts back jobs missing from their user's work, never moving one that is there (the
/// reconciler: an instance may have put a newer time there since it looked).
pub async fn schedule_missing(
    redis: &RedisPool,
    keys: &Keys,
    jobs: &[(Uuid, Uuid, DateTime<Utc>)],
) -> Result<(), Error> {
    place(redis, keys, "missing", job_triples(jobs)).await
}

fn job_triples(
    jobs: &[(Uuid, Uuid, DateTime<Utc>)],
) -> impl Iterator<Item = (String, String, String)> + '_ {
    jobs.iter()
        .map(|(user, job, at)| (user.to_string(), job.to_string(), ms(*at)))
}

/// Takes a job off its user's schedule (paused or deleted). A run in flight finishes.
pub async fn unschedule(
    redis: &RedisPool,
    keys: &Keys,
    user_id: Uuid,
    job_id: Uuid,
) -> Result<(), Error> {
    unschedule_many(redis, keys, &[(user_id, job_id)]).await
}

/// Takes many `(user, job)` off their schedules.
pub async fn unschedule_many(
    redis: &RedisPool,
    keys: &Keys,
    jobs: &[(Uuid, Uuid)],
) -> Result<(), Error> {
    let triples = jobs
        .iter()
        .map(|(user, job)| (user.to_string(), job.to_string(), String::new()));
    place(redis, keys, "remove", triples).await
}

/// Records users' plans, which set their concurrency limits (a user not recorded yet gets
/// FREE's), and puts each where its new limit says.
pub async fn set_plans(
    redis: &RedisPool,
    keys: &Keys,
    plans: &[(Uuid, Plan)],
) -> Result<(), Error> {
    let triples = plans
        .iter()
        .map(|(user, plan)| (user.to_string(), String::new(), plan.as_str().to_owned()));
    place(redis, keys, "plan", triples).await
}

/// The recorded plan of each user (`None` where none is), in the order given.
pub async fn plans(
    redis: &RedisPool,
    keys: &Keys,
    users: &[Uuid],
) -> Result<Vec<Option<String>>, Error> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let fields: Vec<String> = users.iter().map(Uuid::to_string).collect();
    redis
        .next()
        .hmget(keys.plans(), fields)
        .await
        .map_err(redis_err)
}

/// Puts users back where their work and leases say (the reconciler's repair of what a
/// crash may leave): leases that no longer exist stop counting, a user below its limit
/// is ready again. Costs a look at each lease the users hold.
pub async fn mend(redis: &RedisPool, keys: &Keys, users: &[Uuid]) -> Result<(), Error> {
    let triples = users
        .iter()
        .map(|user| (user.to_string(), String::new(), String::new()));
    place(redis, keys, "mend", triples).await
}

/// Records one user's plan.
pub async fn set_plan(
    redis: &RedisPool,
    keys: &Keys,
    user_id: Uuid,
    plan: Plan,
) -> Result<(), Error> {
    set_plans(redis, keys, &[(user_id, plan)]).await
}

/// Forgets a deleted user: its work, place and plan (leases it still holds end as
/// their runs do).
pub async fn forget_user(redis: &RedisPool, keys: &Keys, user_id: Uuid) -> Result<(), Error> {
    let user = user_id.to_string();
    let trx = redis.next().multi();
    trx.del::<(), _>(keys.work(user_id))
        .await
        .map_err(redis_err)?;
    trx.zrem::<(), _, _>(keys.ready(), user.clone())
        .await
        .map_err(redis_err)?;
    trx.srem::<(), _, _>(keys.blocked(), user.clone())
        .await
        .map_err(redis_err)?;
    trx.hdel::<(), _, _>(keys.plans(), user)
        .await
        .map_err(redis_err)?;
    trx.exec::<Value>(true).await.map_err(redis_err)?;
    Ok(())
}

/// The next fire time of each `(user, job)` in its user's work (`None` where absent), in
/// the order given.
pub async fn scores(
    redis: &RedisPool,
    keys: &Keys,
    jobs: &[(Uuid, Uuid)],
) -> Result<Vec<Option<f64>>, Error> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let pipe = redis.next().pipeline();
    for (user, job) in jobs {
        pipe.zscore::<(), _, _>(keys.work(*user), job.to_string())
            .await
            .map_err(redis_err)?;
    }
    pipe.all().await.map_err(redis_err)
}

/// Queues a manual run (its PENDING row is `log_id`) for the next free instance; it counts
/// against its user's concurrency like any run.
pub async fn enqueue_manual(
    redis: &RedisPool,
    keys: &Keys,
    user_id: Uuid,
    log_id: Uuid,
) -> Result<(), Error> {
    enqueue(
        redis,
        keys,
        &[(Task::Manual { user_id, log_id }, Utc::now())],
    )
    .await
}

/// Queues tasks to run at the given times.
pub async fn enqueue(
    redis: &RedisPool,
    keys: &Keys,
    tasks: &[(Task, DateTime<Utc>)],
) -> Result<(), Error> {
    let triples = tasks
        .iter()
        .map(|(task, at)| (task.user_id().to_string(), task.encode(), ms(*at)));
    place(redis, keys, "set", triples).await
}

/// The earliest time anything becomes claimable by a claim looking `lookahead` ahead:
/// a ready user's earliest work that long before its time, an expiring lease at its
/// deadline.
pub async fn next_wake(
    redis: &RedisPool,
    keys: &Keys,
    lookahead: chrono::Duration,
) -> Result<Option<DateTime<Utc>>, Error> {
    let ahead = lookahead.num_milliseconds() as f64;
    // Each key with how early a claim takes its first entry: leases expire at their
    // deadline, whatever the lookahead.
    let sources = [(keys.ready(), ahead), (keys.leases(), 0.0)];
    let pipe = redis.next().pipeline();
    for (key, _) in &sources {
        pipe.zrange::<(), _, _, _>(key.as_str(), 0, 0, None, false, None, true)
            .await
            .map_err(redis_err)?;
    }
    let firsts: Vec<Vec<(String, f64)>> = pipe.all().await.map_err(redis_err)?;
    Ok(firsts
        .into_iter()
        .zip(sources)
        .filter_map(|(first, (_, early))| first.first().map(|(_, score)| *score - early))
        .min_by(f64::total_cmp)
        .and_then(|score| DateTime::from_timestamp_millis(score as i64)))
}

/// Entries whose time has come, and how late the oldest is (ms): what an operator
/// watches to see a stalled scheduler (or users held back at their limits).
pub async fn due_depth(
    redis: &RedisPool,
    keys: &Keys,
    now: DateTime<Utc>,
) -> Result<(u64, i64), Error> {
    let mut args = Concurrency::default().args(keys);
    args.push(ms(now));
    let (depth, oldest): (u64, i64) = DEPTH
        .evalsha_with_reload(redis.next(), vec![keys.ready()], args)
        .await
        .map_err(redis_err)?;
    let lag = if depth == 0 || oldest < 0 {
        0
    } else {
        (now.timestamp_millis() - oldest).max(0)
    };
    Ok((depth, lag))
}
