//! Every Redis operation of scheduling: users' work, claims and leases.
//!
//! Work is kept per user (see `lua/users.lua`): each user's jobs and queued tasks in one
//! sorted set, users ordered by their earliest entry, and a user at its concurrency limit
//! set aside until one of its leases is released. The API calls [`schedule`],
//! [`unschedule`], [`enqueue_manual`] and [`set_plan`]; scheduler instances claim, renew
//! and release. All keys come from [`Keys`], under one hash tag.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use db::Plan;
use fred::prelude::*;
use fred::types::scripts::Script;
use uuid::Uuid;

use crate::redis::RedisPool;
use crate::task::Task;
use crate::{Error, Keys};

/// A Lua script with the shared head of `lua/users.lua` in front.
macro_rules! users_script {
    ($file:literal) => {
        LazyLock::new(|| {
            Script::from_lua(concat!(
                include_str!("../lua/users.lua"),
                "\n",
                include_str!($file)
            ))
        })
    };
}

static CLAIM: LazyLock<Script> = users_script!("../lua/claim.lua");
static RELEASE: LazyLock<Script> = users_script!("../lua/release.lua");
static PLACE: LazyLock<Script> = users_script!("../lua/place.lua");
static DEPTH: LazyLock<Script> = users_script!("../lua/depth.lua");
static COMMIT: LazyLock<Script> = users_script!("../lua/commit.lua");

/// How many runs of one user may be out at once (claimed and not yet recorded), across
/// every scheduler instance, by plan. Schedulers claim with theirs, and those are the
/// limits in force for everyone; run every scheduler with the same ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    pub free: u32,
    pub premium: u32,
    pub pro: u32,
}

impl Default for Concurrency {
    /// The plans' own limits ([`db::PlanLimits::max_concurrent_runs`]).
    fn default() -> Concurrency {
        Concurrency {
            free: Plan::Free.limits().max_concurrent_runs,
            premium: Plan::Premium.limits().max_concurrent_runs,
            pro: Plan::Pro.limits().max_concurrent_runs,
        }
    }
}

impl Concurrency {
    /// The limit of `plan`.
    pub fn of(&self, plan: Plan) -> u32 {
        match plan {
            Plan::Free => self.free,
            Plan::Premium => self.premium,
            Plan::Pro => self.pro,
        }
    }

    /// The arguments every users script starts with.
    fn args(&self, keys: &Keys) -> Vec<String> {
        vec![
            keys.prefix(),
            self.free.to_string(),
            self.premium.to_string(),
            self.pro.to_string(),
        ]
    }
}

/// A task handed to this instance by [`claim`].
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub task: Task,
    /// The lease member, to renew and release.
    pub member: String,
    /// Taken back from an instance whose lease expired (it probably died mid-task).
    pub recovered: bool,
    /// Taken back, and that instance had not committed to sending the request: the
    /// task has not run and is fired, not closed as abandoned.
    pub unsent: bool,
    /// When it is due (epoch ms): its slot, its retry time, or the claim time for work
    /// taken back. It may lie ahead of the claim, up to the claim's horizon.
    pub due_ms: i64,
}

fn redis_err(e: fred::error::Error) -> Error {
    Error::Redis(e)
}

fn ms(at: DateTime<Utc>) -> String {
    at.timestamp_millis().to_string()
}

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

/// Atomically takes up to `max` items due by `horizon` (expired leases first), users in
/// turns and each within its limit, and leases them to the caller until `now + lease`.
/// A horizon past `now` lets the caller prepare work ahead and fire it on time; it must
/// stay well inside the lease.
#[expect(clippy::too_many_arguments, reason = "one claim's every parameter")]
pub async fn claim(
    redis: &RedisPool,
    keys: &Keys,
    limits: &Concurrency,
    instance: &str,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
    lease: std::time::Duration,
    max: usize,
) -> Result<Vec<Claimed>, Error> {
    let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
    let mut args = limits.args(keys);
    args.extend([
        ms(now),
        lease_ms.to_string(),
        max.to_string(),
        ms(horizon.max(now)),
        instance.to_owned(),
    ]);
    let pairs: Vec<String> = CLAIM
        .evalsha_with_reload(redis.next(), vec![keys.ready()], args)
        .await
        .map_err(redis_err)?;
    let mut claimed = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks(2) {
        let [tagged, due] = pair else { continue };
        let (flag, member) = tagged.split_at(1);
        match (Task::decode(member), crate::task::parse_ms(due)) {
            (Some(task), Some(due_ms)) => claimed.push(Claimed {
                task,
                member: member.to_owned(),
                recovered: flag == "x" || flag == "u",
                unsent: flag == "u",
                due_ms,
            }),
            _ => {
                tracing::warn!(member, "dropping a malformed scheduler entry");
                release(redis, keys, limits, &[member.to_owned()], &[]).await?;
            }
        }
    }
    Ok(claimed)
}

/// What [`commit`] made of the members it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// Marked as sent (and counted in their users' concurrency, if claimed ahead): send
    /// these now.
    pub sent: Vec<String>,
    /// Claimed ahead, and their users have their limit out (work that fell due meanwhile
    /// took the room): still this instance's, to commit again once a run ends.
    pub waiting: Vec<String>,
}

/// Commits to sending the requests of `members`. A member in neither list of the answer
/// was taken over by another instance (this one lost its lease) and must not be sent.
pub async fn commit(
    redis: &RedisPool,
    keys: &Keys,
    instance: &str,
    members: &[String],
) -> Result<Committed, Error> {
    if members.is_empty() {
        return Ok(Committed::default());
    }
    let mut args = Concurrency::default().args(keys);
    args.push(instance.to_owned());
    args.extend(members.iter().cloned());
    let (sent, waiting): (Vec<String>, Vec<String>) = COMMIT
        .evalsha_with_reload(redis.next(), vec![keys.ready()], args)
        .await
        .map_err(redis_err)?;
    Ok(Committed { sent, waiting })
}

/// Extends the leases this instance still holds.
pub async fn renew(
    redis: &RedisPool,
    keys: &Keys,
    members: &[String],
    deadline: DateTime<Utc>,
) -> Result<(), Error> {
    if members.is_empty() {
        return Ok(());
    }
    let values: Vec<(f64, String)> = members
        .iter()
        .map(|m| (deadline.timestamp_millis() as f64, m.clone()))
        .collect();
    redis
        .next()
        .zadd::<(), _, _>(
            keys.leases(),
            Some(SetOptions::XX),
            None,
            false,
            false,
            values,
        )
        .await
        .map_err(redis_err)
}

/// Releases finished leases and queues follow-up tasks (retries) in one script, so a
/// retry is never lost between the two; each user's concurrency counts down with its
/// released leases.
pub async fn release(
    redis: &RedisPool,
    keys: &Keys,
    limits: &Concurrency,
    members: &[String],
    follow_ups: &[(Task, DateTime<Utc>)],
) -> Result<(), Error> {
    let work = follow_ups
        .iter()
        .map(|(task, at)| (task.user_id(), task.encode(), ms(*at)));
    release_and_queue(redis, keys, limits, members, work).await
}

/// Gives claimed tasks back untouched (the database was unreachable): slots return to
/// their user's work at their own time (unless a newer time was put there meanwhile),
/// other tasks to the queue, and the leases go.
pub async fn unclaim(
    redis: &RedisPool,
    keys: &Keys,
    limits: &Concurrency,
    claimed: &[Claimed],
) -> Result<(), Error> {
    let members: Vec<String> = claimed.iter().map(|c| c.member.clone()).collect();
    let work = claimed.iter().map(|c| match c.task {
        Task::Slot {
            user_id,
            job_id,
            slot_ms,
        } => (user_id, job_id.to_string(), slot_ms.to_string()),
        task => (task.user_id(), c.member.clone(), c.due_ms.to_string()),
    });
    release_and_queue(redis, keys, limits, &members, work).await
}

async fn release_and_queue(
    redis: &RedisPool,
    keys: &Keys,
    limits: &Concurrency,
    members: &[String],
    work: impl Iterator<Item = (Uuid, String, String)>,
) -> Result<(), Error> {
    let mut args = limits.args(keys);
    args.push(members.len().to_string());
    args.extend(members.iter().cloned());
    let before = args.len();
    for (user, entry, at) in work {
        args.extend([user.to_string(), entry, at]);
    }
    if members.is_empty() && args.len() == before {
        return Ok(());
    }
    RELEASE
        .evalsha_with_reload::<(), _, _>(redis.next(), vec![keys.ready()], args)
        .await
        .map_err(redis_err)
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
