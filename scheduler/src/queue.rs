//! Every Redis operation of scheduling: the due set, the work queue and leases.
//!
//! The API calls [`schedule`], [`unschedule`] and [`enqueue_manual`]; scheduler instances
//! claim, renew and release. All keys come from [`Keys`], under one hash tag.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use fred::prelude::*;
use fred::types::scripts::Script;
use uuid::Uuid;

use crate::redis::RedisPool;
use crate::task::Task;
use crate::{Error, Keys};

static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("../lua/claim.lua")));
static COMMIT: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("../lua/commit.lua")));

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

fn ms(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64
}

/// Puts (or moves) an ACTIVE job in the due set at its next fire time.
pub async fn schedule(
    redis: &RedisPool,
    keys: &Keys,
    job_id: Uuid,
    next_run_at: DateTime<Utc>,
) -> Result<(), Error> {
    redis
        .next()
        .zadd::<(), _, _>(
            keys.due(),
            None,
            None,
            false,
            false,
            (ms(next_run_at), job_id.to_string()),
        )
        .await
        .map_err(redis_err)
}

/// Puts many jobs in the due set in one command.
pub async fn schedule_many(
    redis: &RedisPool,
    keys: &Keys,
    jobs: &[(Uuid, DateTime<Utc>)],
) -> Result<(), Error> {
    zadd_jobs(redis, keys, jobs, None).await
}

/// Puts back jobs missing from the due set, never moving one that is there (the
/// reconciler: an instance may have put a newer time there since it looked).
pub async fn schedule_missing(
    redis: &RedisPool,
    keys: &Keys,
    jobs: &[(Uuid, DateTime<Utc>)],
) -> Result<(), Error> {
    zadd_jobs(redis, keys, jobs, Some(SetOptions::NX)).await
}

async fn zadd_jobs(
    redis: &RedisPool,
    keys: &Keys,
    jobs: &[(Uuid, DateTime<Utc>)],
    options: Option<SetOptions>,
) -> Result<(), Error> {
    if jobs.is_empty() {
        return Ok(());
    }
    let values: Vec<(f64, String)> = jobs
        .iter()
        .map(|(id, at)| (ms(*at), id.to_string()))
        .collect();
    redis
        .next()
        .zadd::<(), _, _>(keys.due(), options, None, false, false, values)
        .await
        .map_err(redis_err)
}

/// Takes a job out of the due set (paused or deleted). A run already in flight finishes.
pub async fn unschedule(redis: &RedisPool, keys: &Keys, job_id: Uuid) -> Result<(), Error> {
    redis
        .next()
        .zrem::<(), _, _>(keys.due(), job_id.to_string())
        .await
        .map_err(redis_err)
}

/// The due-set score of each job (`None` where absent), in the order given.
pub async fn scores(
    redis: &RedisPool,
    keys: &Keys,
    job_ids: &[Uuid],
) -> Result<Vec<Option<f64>>, Error> {
    if job_ids.is_empty() {
        return Ok(Vec::new());
    }
    let members: Vec<String> = job_ids.iter().map(Uuid::to_string).collect();
    redis
        .next()
        .zmscore(keys.due(), members)
        .await
        .map_err(redis_err)
}

/// Queues a manual run (its PENDING row is `log_id`) for the next free instance.
pub async fn enqueue_manual(redis: &RedisPool, keys: &Keys, log_id: Uuid) -> Result<(), Error> {
    enqueue(redis, keys, &[(Task::Manual { log_id }, Utc::now())]).await
}

/// Queues tasks to run at the given times.
pub async fn enqueue(
    redis: &RedisPool,
    keys: &Keys,
    tasks: &[(Task, DateTime<Utc>)],
) -> Result<(), Error> {
    if tasks.is_empty() {
        return Ok(());
    }
    let values: Vec<(f64, String)> = tasks.iter().map(|(t, at)| (ms(*at), t.encode())).collect();
    redis
        .next()
        .zadd::<(), _, _>(keys.queue(), None, None, false, false, values)
        .await
        .map_err(redis_err)
}

/// Atomically takes up to `max` items due by `horizon` (expired leases first) and leases
/// them to the caller until `now + lease`. A horizon past `now` lets the caller prepare
/// work ahead and fire it on time; it must stay well inside the lease.
pub async fn claim(
    redis: &RedisPool,
    keys: &Keys,
    instance: &str,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
    lease: std::time::Duration,
    max: usize,
) -> Result<Vec<Claimed>, Error> {
    let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
    let pairs: Vec<String> = CLAIM
        .evalsha_with_reload(
            redis.next(),
            vec![keys.due(), keys.queue(), keys.leases(), keys.owners()],
            vec![
                now.timestamp_millis().to_string(),
                lease_ms.to_string(),
                max.to_string(),
                horizon.max(now).timestamp_millis().to_string(),
                instance.to_owned(),
            ],
        )
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
                release(redis, keys, &[member.to_owned()], &[]).await?;
            }
        }
    }
    Ok(claimed)
}

/// Commits to sending the requests of `members`: returns those this instance still owns,
/// now marked as sent. A member missing from the answer was taken over by another
/// instance (this one lost its lease) and must not be sent.
pub async fn commit(
    redis: &RedisPool,
    keys: &Keys,
    instance: &str,
    members: &[String],
) -> Result<Vec<String>, Error> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = Vec::with_capacity(members.len() + 1);
    args.push(instance.to_owned());
    args.extend(members.iter().cloned());
    COMMIT
        .evalsha_with_reload(redis.next(), vec![keys.owners()], args)
        .await
        .map_err(redis_err)
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
    let values: Vec<(f64, String)> = members.iter().map(|m| (ms(deadline), m.clone())).collect();
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

/// Releases finished leases and queues follow-up tasks (retries) in one transaction, so
/// a retry is never lost between the two.
pub async fn release(
    redis: &RedisPool,
    keys: &Keys,
    members: &[String],
    follow_ups: &[(Task, DateTime<Utc>)],
) -> Result<(), Error> {
    if members.is_empty() && follow_ups.is_empty() {
        return Ok(());
    }
    let trx = redis.next().multi();
    if !follow_ups.is_empty() {
        let values: Vec<(f64, String)> = follow_ups
            .iter()
            .map(|(t, at)| (ms(*at), t.encode()))
            .collect();
        trx.zadd::<(), _, _>(keys.queue(), None, None, false, false, values)
            .await
            .map_err(redis_err)?;
    }
    if !members.is_empty() {
        trx.zrem::<(), _, _>(keys.leases(), members.to_vec())
            .await
            .map_err(redis_err)?;
        trx.hdel::<(), _, _>(keys.owners(), members.to_vec())
            .await
            .map_err(redis_err)?;
    }
    trx.exec::<Value>(true).await.map_err(redis_err)?;
    Ok(())
}

/// Gives claimed tasks back untouched (the database was unreachable): slots return to
/// the due set at their own time, other tasks to the queue, and the leases go.
pub async fn unclaim(redis: &RedisPool, keys: &Keys, claimed: &[Claimed]) -> Result<(), Error> {
    if claimed.is_empty() {
        return Ok(());
    }
    let mut due = Vec::new();
    let mut queued = Vec::new();
    for c in claimed {
        match c.task {
            Task::Slot { job_id, slot_ms } => due.push((slot_ms as f64, job_id.to_string())),
            _ => queued.push((c.due_ms as f64, c.member.clone())),
        }
    }
    let trx = redis.next().multi();
    if !due.is_empty() {
        // NX: a newer time put there meanwhile (by the API or another instance) wins.
        trx.zadd::<(), _, _>(keys.due(), Some(SetOptions::NX), None, false, false, due)
            .await
            .map_err(redis_err)?;
    }
    if !queued.is_empty() {
        trx.zadd::<(), _, _>(keys.queue(), None, None, false, false, queued)
            .await
            .map_err(redis_err)?;
    }
    let members: Vec<String> = claimed.iter().map(|c| c.member.clone()).collect();
    trx.zrem::<(), _, _>(keys.leases(), members.clone())
        .await
        .map_err(redis_err)?;
    trx.hdel::<(), _, _>(keys.owners(), members)
        .await
        .map_err(redis_err)?;
    trx.exec::<Value>(true).await.map_err(redis_err)?;
    Ok(())
}

/// The earliest time anything becomes claimable by a claim looking `lookahead` ahead:
/// due and queued work that long before its time, an expiring lease at its deadline.
pub async fn next_wake(
    redis: &RedisPool,
    keys: &Keys,
    lookahead: chrono::Duration,
) -> Result<Option<DateTime<Utc>>, Error> {
    let ahead = lookahead.num_milliseconds() as f64;
    // Each key with how early a claim takes its first entry: leases expire at their
    // deadline, whatever the lookahead.
    let sources = [
        (keys.due(), ahead),
        (keys.queue(), ahead),
        (keys.leases(), 0.0),
    ];
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

/// Entries of the due set whose time has come, and how late the oldest is (ms): what an
/// operator watches to see a stalled scheduler.
pub async fn due_depth(
    redis: &RedisPool,
    keys: &Keys,
    now: DateTime<Utc>,
) -> Result<(u64, i64), Error> {
    let client = redis.next();
    let depth: u64 = client
        .zcount(keys.due(), f64::NEG_INFINITY, ms(now))
        .await
        .map_err(redis_err)?;
    let oldest: Vec<(String, f64)> = client
        .zrange(keys.due(), 0, 0, None, false, None, true)
        .await
        .map_err(redis_err)?;
    let lag = oldest.first().map_or(0, |(_, score)| {
        (now.timestamp_millis() - *score as i64).max(0)
    });
    Ok((depth, if depth == 0 { 0 } else { lag }))
}
