//! Claims and their leases: taking due work in turns, committing to send it, keeping
//! the leases alive and releasing them with what follows.

use chrono::{DateTime, Utc};
use fred::prelude::*;
use uuid::Uuid;

use super::{CLAIM, COMMIT, Concurrency, RELEASE, ms, redis_err};
use crate::redis::RedisPool;
use crate::task::Task;
use crate::{Error, Keys};

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
    let mut committed = Committed::default();
    // The script unpacks its members in one call: at most a few thousand at a time.
    for chunk in members.chunks(COMMIT_CHUNK) {
        let mut args = Concurrency::default().args(keys);
        args.push(instance.to_owned());
        args.extend(chunk.iter().cloned());
        let (sent, waiting): (Vec<String>, Vec<String>) = COMMIT
            .evalsha_with_reload(redis.next(), vec![keys.ready()], args)
            .await
            .map_err(redis_err)?;
        committed.sent.extend(sent);
        committed.waiting.extend(waiting);
    }
    Ok(committed)
}

/// Most members per commit script call.
const COMMIT_CHUNK: usize = 2_000;

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
