//! The reconciler: PostgreSQL is the source of truth, the users' work in Redis a mirror
//! of it.
//!
//! Every interval, one instance at a time (a Redis lock) checks a page of ACTIVE jobs
//! against their users' work and puts back any that is missing (and their users' plans),
//! and a page of users' work against PostgreSQL, removing jobs that are no longer ACTIVE
//! and mending those users' counts and places. When Redis has lost its data
//! (the rebuilt marker is gone: FLUSHALL, a restart without persistence), it rebuilds
//! everything at once. A job put back late fires every slot it missed when the gap was
//! short (up to `MISFIRE_AFTER`), else per the misfire rule: once, for the latest one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use db::Plan;
use db::models::job::ActiveJob;
use db::models::{ExecutionLog, Job};
use fred::prelude::*;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::redis::RedisPool;
use crate::timing::Timing;
use crate::{Error, Keys, queue};

/// Jobs checked per page by the background pass, one page each way per tick. Each
/// instance keeps its own place, so at the default 1 s interval 100,000 jobs take each
/// instance about 100 ticks to go round. It is a safety net (the API updates Redis
/// itself), and at 5,000 per page it took 8 % of the machine's throughput in a burst of
/// 100,000 runs (bench `burst`, tick at 500 ms against 5 s: 9,096-9,921 against
/// 9,869-10,604 runs/s).
const CHECK_PAGE: i64 = 1_000;
/// Jobs per page when everything is rebuilt after Redis lost it: all pages at once, so
/// fewer round trips for the same rows.
const REBUILD_PAGE: i64 = 5_000;

/// Where an incremental pass stands between ticks.
#[derive(Debug, Default)]
struct Cursor {
    jobs_after: Option<Uuid>,
    users: UserScan,
}

/// A walk over every user with a recorded plan, a few at a time.
#[derive(Debug, Default)]
struct UserScan {
    /// HSCAN cursor of the next step.
    cursor: u64,
    /// Users the last step returned that are not checked yet.
    waiting: VecDeque<Uuid>,
    /// Whether the walk has begun (cursor 0 then means it is over).
    begun: bool,
}

impl UserScan {
    /// The next user, or `None` once every user has been given (the next call starts
    /// over).
    async fn next(&mut self, redis: &RedisPool, keys: &Keys) -> Result<Option<Uuid>, Error> {
        while self.waiting.is_empty() {
            if self.begun && self.cursor == 0 {
                self.begun = false;
                return Ok(None);
            }
            let (next, users) = scan_users(redis, keys, self.cursor).await?;
            self.cursor = next;
            self.begun = true;
            self.waiting.extend(users);
        }
        Ok(self.waiting.pop_front())
    }
}

/// Runs until `stop` is cancelled.
pub async fn run(
    db: db::Pool,
    redis: RedisPool,
    keys: Keys,
    every: Duration,
    stop: CancellationToken,
) {
    let mut cursor = Cursor::default();
    let holder = Uuid::new_v4().to_string();
    loop {
        // Every instance reports the backlog it sees: what an alert on a stalled
        // scheduler watches.
        if let Ok((depth, lag_ms)) = queue::due_depth(&redis, &keys, Utc::now()).await {
            metrics::gauge!("cronops_scheduler_queue_depth").set(depth as f64);
            metrics::gauge!("cronops_scheduler_lag_seconds").set(lag_ms as f64 / 1000.0);
        }
        match tick(&db, &redis, &keys, &mut cursor, &holder, every).await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "reconcile pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
    }
}

async fn tick(
    db: &db::Pool,
    redis: &RedisPool,
    keys: &Keys,
    cursor: &mut Cursor,
    holder: &str,
    every: Duration,
) -> Result<(), Error> {
    let client = redis.next();
    let lock_ms = i64::try_from((every * 5).as_millis())
        .unwrap_or(5_000)
        .max(1_000);
    let locked: Option<String> = client
        .set(
            keys.reconcile_lock(),
            holder,
            Some(Expiration::PX(lock_ms)),
            Some(SetOptions::NX),
            false,
        )
        .await
        .map_err(Error::Redis)?;
    if locked.is_none() {
        return Ok(()); // another instance reconciles this round
    }
    let outcome = async {
        let rebuilt: bool = client
            .exists(keys.rebuilt_marker())
            .await
            .map_err(Error::Redis)?;
        if rebuilt {
            let (done, _) =
                restore_page(db, redis, keys, &mut cursor.jobs_after, CHECK_PAGE).await?;
            if done {
                cursor.jobs_after = None;
            }
            prune_page(db, redis, keys, &mut cursor.users, CHECK_PAGE).await?;
        } else {
            let started = std::time::Instant::now();
            let mut after = None;
            let mut restored = 0;
            loop {
                let (done, added) = restore_page(db, redis, keys, &mut after, REBUILD_PAGE).await?;
                restored += added;
                if done {
                    break;
                }
            }
            let mut users = UserScan::default();
            while !prune_page(db, redis, keys, &mut users, REBUILD_PAGE).await? {}
            let _: () = client
                .set(
                    keys.rebuilt_marker(),
                    Utc::now().to_rfc3339(),
                    None,
                    None,
                    false,
                )
                .await
                .map_err(Error::Redis)?;
            tracing::info!(
                restored,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "schedules rebuilt from PostgreSQL"
            );
        }
        Ok::<_, Error>(())
    }
    .await;
    let _: Result<(), _> = client.del(keys.reconcile_lock()).await;
    outcome
}

/// Puts back the ACTIVE jobs of one page that their users' work lacks, and records their
/// users' plans (which also mends each user's place). Returns whether this was the last
/// page, and how many were put back.
async fn restore_page(
    db: &db::Pool,
    redis: &RedisPool,
    keys: &Keys,
    after: &mut Option<Uuid>,
    size: i64,
) -> Result<(bool, usize), Error> {
    let mut conn = db.get().await.map_err(db::Error::from)?;
    let page = Job::active_page(&mut conn, *after, size)
        .await
        .map_err(db::Error::from)?;
    drop(conn);
    let done = (page.len() as i64) < size;
    *after = page.last().map(|job| job.id);
    let ids: Vec<(Uuid, Uuid)> = page.iter().map(|job| (job.user_id, job.id)).collect();
    let scores = queue::scores(redis, keys, &ids).await?;
    let absent: Vec<&ActiveJob> = page
        .iter()
        .zip(scores)
        .filter(|(_, score)| score.is_none())
        .map(|(job, _)| job)
        .collect();
    let missing = if absent.is_empty() {
        Vec::new()
    } else {
        let ids: Vec<Uuid> = absent.iter().map(|job| job.id).collect();
        let mut conn = db.get().await.map_err(db::Error::from)?;
        let latest: HashMap<Uuid, DateTime<Utc>> = ExecutionLog::latest_slots(&mut conn, &ids)
            .await
            .map_err(db::Error::from)?
            .into_iter()
            .collect();
        drop(conn);
        let now = Utc::now();
        let mut missing = Vec::new();
        let mut done = Vec::new();
        for job in absent {
            let Ok(timing) = Timing::of(job.into()) else {
                continue;
            };
            match resume_at(&timing, job.next_run_at, latest.get(&job.id).copied(), now) {
                Some(slot) => missing.push((job.user_id, job.id, timing.fire_at(slot))),
                // Its last slot was claimed, and the claim's holder died before it could
                // mark the job COMPLETED.
                None if timing.is_finite() => done.push(job.id),
                None => {}
            }
        }
        if !done.is_empty() {
            let mut conn = db.get().await.map_err(db::Error::from)?;
            let completed = Job::complete(&mut conn, &done)
                .await
                .map_err(db::Error::from)?;
            tracing::info!(count = completed.len(), "completing jobs with no slot left");
        }
        missing
    };
    if !missing.is_empty() {
        tracing::info!(count = missing.len(), "putting missing jobs back");
        queue::schedule_missing(redis, keys, &missing).await?;
    }
    // Plans Redis lacks or has wrong (a lost write, a flush): a page of random job ids
    // spans most users, so only those are written.
    let plans: HashMap<Uuid, Plan> = page.iter().map(|job| (job.user_id, job.plan)).collect();
    let users: Vec<Uuid> = plans.keys().copied().collect();
    let recorded = queue::plans(redis, keys, &users).await?;
    let changed: Vec<(Uuid, Plan)> = users
        .iter()
        .zip(recorded)
        .filter(|(user, recorded)| recorded.as_deref() != Some(plans[*user].as_str()))
        .map(|(user, _)| (*user, plans[user]))
        .collect();
    if !changed.is_empty() {
        queue::set_plans(redis, keys, &changed).await?;
    }
    Ok((done, missing.len()))
}

/// Removes from the work of the next users (about `size` entries in all) the jobs that
/// are no longer ACTIVE (paused, deleted), and mends those users' counts and places.
/// Returns whether the walk over all users is complete.
async fn prune_page(
    db: &db::Pool,
    redis: &RedisPool,
    keys: &Keys,
    scan: &mut UserScan,
    size: i64,
) -> Result<bool, Error> {
    let mut users = Vec::new();
    let mut jobs: Vec<(Uuid, Uuid)> = Vec::new();
    let mut complete = false;
    while (jobs.len() as i64) < size {
        let Some(user) = scan.next(redis, keys).await? else {
            complete = true;
            break;
        };
        let entries: Vec<String> = redis
            .next()
            .zrange(keys.work(user), 0, -1, None, false, None, false)
            .await
            .map_err(Error::Redis)?;
        // Job ids only: queued tasks (with a ':') end with their runs.
        jobs.extend(entries.iter().filter_map(|e| Some((user, e.parse().ok()?))));
        users.push(user);
    }
    queue::mend(redis, keys, &users).await?;
    if jobs.is_empty() {
        return Ok(complete);
    }
    let ids: Vec<Uuid> = jobs.iter().map(|(_, job)| *job).collect();
    let mut conn = db.get().await.map_err(db::Error::from)?;
    let active: HashSet<Uuid> = Job::active_among(&mut conn, &ids)
        .await
        .map_err(db::Error::from)?
        .into_iter()
        .collect();
    drop(conn);
    let stale: Vec<(Uuid, Uuid)> = jobs
        .into_iter()
        .filter(|(_, job)| !active.contains(job))
        .collect();
    if !stale.is_empty() {
        tracing::info!(count = stale.len(), "removing jobs that are not active");
        queue::unschedule_many(redis, keys, &stale).await?;
    }
    Ok(complete)
}

/// One HSCAN step over the users with a recorded plan (every user with scheduled work):
/// (next cursor, users).
async fn scan_users(
    redis: &RedisPool,
    keys: &Keys,
    cursor: u64,
) -> Result<(u64, Vec<Uuid>), Error> {
    let reply: (String, Vec<String>) = redis
        .next()
        .custom(
            fred::types::CustomCommand::new_static(
                "HSCAN",
                fred::types::ClusterHash::FirstKey,
                false,
            ),
            vec![
                keys.plans(),
                cursor.to_string(),
                "COUNT".to_owned(),
                "10".to_owned(),
            ],
        )
        .await
        .map_err(Error::Redis)?;
    let next = reply.0.parse().unwrap_or(0);
    // HSCAN returns field, value, field, value, ...
    let users = reply
        .1
        .iter()
        .step_by(2)
        .filter_map(|u| u.parse().ok())
        .collect();
    Ok((next, users))
}

/// Where the schedule of a job missing from Redis resumes: the slot after the latest one
/// it reached (`latest`, from its runs), or the first slot its user set (`next_run_at`,
/// after a resume or edit) if that is later, or the next slot from `now` for a job with
/// neither. Slots missed meanwhile fire late, or by the misfire rule after a gap. `None`:
/// the job has no slot left.
fn resume_at(
    timing: &Timing<'_>,
    next_run_at: Option<DateTime<Utc>>,
    latest: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let after_latest = latest.and_then(|slot| timing.next_after(slot));
    // The slot set by its user, unless the job's bounds leave nothing from it on.
    let set = next_run_at
        .filter(|slot| {
            timing
                .next_after(*slot - chrono::TimeDelta::milliseconds(1))
                .is_some()
        })
        .filter(|slot| latest.is_none_or(|reached| *slot > reached));
    after_latest.max(set).or_else(|| timing.next_after(now))
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
