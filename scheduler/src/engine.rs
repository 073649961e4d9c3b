//! One scheduler instance: claim due work, record each run before firing it, fire, and
//! record the outcome. Any number of instances may run against one Redis and PostgreSQL,
//! and any may die at any moment:
//!
//! - work is claimed up to `lookahead` before it is due and prepared then, so requests
//!   leave at their slot rather than after the preparation's round trips;
//! - a claimed slot is leased; a holder that dies stops renewing, and another instance
//!   takes the lease back and finishes the slot;
//! - the run row, unique per (job, slot, trigger, attempt), is written RUNNING before the
//!   request goes out, so a slot is never fired twice, and a row left RUNNING by a dead
//!   instance is closed as FAILED and retried per the job's policy;
//! - the job's next fire time goes back into the due set before the request goes out, so
//!   a slow target never delays the next slot;
//! - results wait in a bounded buffer while PostgreSQL is unreachable and are written
//!   when it returns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use db::models::execution_log::{Completion, NewExecutionLog};
use db::models::{ExecutionLog, Job};
use db::{ExecutionStatus, ExecutionTrigger, JobStatus};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cron::Schedules;
use crate::events::{self, EventKind, ExecutionEvent};
use crate::execute::{self, Executor};
use crate::queue::{self, Claimed};
use crate::redis::RedisPool;
use crate::task::Task;
use crate::{Error, Keys, reconcile, retry};

/// A slot fired more than this after its time is marked late in its row (as is one
/// fired in place of earlier missed slots).
pub const LATE_AFTER: Duration = Duration::from_secs(2);

/// The error written to a run whose instance died mid-run.
pub const ABANDONED: &str = "the scheduler instance running this attempt stopped before it finished (its lease expired); the attempt is counted as failed";

/// Settings of a scheduler instance, built by the binary from its typed config.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Whether job targets on loopback and private networks may be called.
    pub allow_private_targets: bool,
    /// Requests in flight at most; claiming waits when this many are out.
    pub max_in_flight: usize,
    /// Most items one claim takes.
    pub batch_size: usize,
    /// How long a claim holds before another instance may take it back.
    pub lease: Duration,
    /// How far ahead due work is claimed and prepared, so that requests leave at their
    /// slot rather than after the database round trips of preparing them.
    pub lookahead: Duration,
    /// How often the reconciler checks the due set against PostgreSQL.
    pub reconcile_interval: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            allow_private_targets: false,
            max_in_flight: 1_000,
            batch_size: 500,
            lease: Duration::from_secs(15),
            lookahead: Duration::from_secs(1),
            reconcile_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// A finished attempt on its way to PostgreSQL.
#[derive(Debug, Clone)]
struct Finished {
    member: String,
    job_id: Uuid,
    slot_ms: i64,
    max_retries: i32,
    completion: Completion,
    /// Cancelled once the run's STARTED event is out: its outcome is published after.
    announced: CancellationToken,
}

/// A prepared run waiting for its start time.
struct Fire {
    request: execute::Request,
    member: String,
    slot_ms: i64,
    max_retries: i32,
    /// The RUNNING row.
    row: ExecutionLog,
    /// Its STARTED event, encoded while preparing (taken when it is published).
    announcement: Option<events::Encoded>,
    permit: OwnedSemaphorePermit,
}

/// How long before an instant the scheduler checks that its prepared runs' jobs are
/// still there and active: a pause or delete up to this close to a slot stops it.
const LAST_LOOK: chrono::TimeDelta = chrono::TimeDelta::milliseconds(100);

/// Runs committed (marked as sent in Redis) per round trip at the moment of firing.
const COMMIT_SLICE: usize = 250;

/// How often expired runs are swept.
const RETENTION_EVERY: Duration = Duration::from_secs(300);

/// Results wait here while PostgreSQL is unreachable; executors block when it is full.
const RECORD_BUFFER: usize = 10_000;

struct Shared {
    db: db::Pool,
    redis: RedisPool,
    keys: Keys,
    config: SchedulerConfig,
    executor: Executor,
    /// This instance's name in the owners of the tasks it claims.
    instance: String,
    /// Lease members this instance holds (claimed and not yet released).
    held: Mutex<HashSet<String>>,
    permits: Arc<Semaphore>,
}

/// One scheduler instance.
#[derive(Clone)]
pub struct Scheduler(Arc<Shared>);

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("keys", &self.0.keys)
            .finish_non_exhaustive()
    }
}

fn ms_to_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now)
}

impl Scheduler {
    /// An instance over these connections.
    pub fn new(db: db::Pool, redis: RedisPool, keys: Keys, config: SchedulerConfig) -> Scheduler {
        let executor = Executor::new(config.allow_private_targets);
        Scheduler(Arc::new(Shared {
            db,
            redis,
            keys,
            permits: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            config,
            executor,
            instance: Uuid::new_v4().to_string(),
            held: Mutex::new(HashSet::new()),
        }))
    }

    /// Runs until `shutdown` is cancelled, then stops claiming and gives in-flight runs
    /// the grace period to finish and be recorded.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let shared = &self.0;
        tracing::info!(
            allow_private_targets = shared.config.allow_private_targets,
            max_in_flight = shared.config.max_in_flight,
            "scheduler started"
        );
        let (record_tx, record_rx) = mpsc::channel::<Finished>(RECORD_BUFFER);
        let stop_helpers = CancellationToken::new();
        let recorder = tokio::spawn(self.clone().record_loop(record_rx));
        let renewer = tokio::spawn(self.clone().renew_loop(stop_helpers.clone()));
        let retention = tokio::spawn(crate::retention::run(
            shared.db.clone(),
            RETENTION_EVERY,
            stop_helpers.clone(),
        ));
        let reconciler = tokio::spawn(reconcile::run(
            shared.db.clone(),
            shared.redis.clone(),
            shared.keys.clone(),
            shared.config.reconcile_interval,
            stop_helpers.clone(),
        ));

        self.claim_loop(&shutdown, &record_tx).await;

        // Let what is in flight finish: every permit back means every request answered.
        let all = u32::try_from(shared.config.max_in_flight.max(1)).unwrap_or(u32::MAX);
        match tokio::time::timeout(
            shared.config.shutdown_grace,
            shared.permits.acquire_many(all),
        )
        .await
        {
            Ok(_) => tracing::info!("in-flight runs finished"),
            Err(_) => tracing::warn!(
                "runs still in flight at the end of the grace period; their leases will expire and another instance will close them"
            ),
        }
        drop(record_tx);
        let _ = tokio::time::timeout(Duration::from_secs(10), recorder).await;
        stop_helpers.cancel();
        let _ = renewer.await;
        let _ = reconciler.await;
        let _ = retention.await;
        tracing::info!("scheduler stopped");
        Ok(())
    }

    async fn claim_loop(&self, shutdown: &CancellationToken, record_tx: &mpsc::Sender<Finished>) {
        let shared = &self.0;
        let mut failures = 0u32;
        let lookahead = chrono::Duration::from_std(shared.config.lookahead).unwrap_or_default();
        while !shutdown.is_cancelled() {
            let room = shared
                .permits
                .available_permits()
                .min(shared.config.batch_size);
            if room == 0 {
                // Back-pressure: wait for a request to finish rather than pile up tasks.
                tokio::select! {
                    permit = shared.permits.acquire() => drop(permit),
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            let now = Utc::now();
            let horizon = now + lookahead;
            let claimed = match queue::claim(
                &shared.redis,
                &shared.keys,
                &shared.instance,
                now,
                horizon,
                shared.config.lease,
                room,
            )
            .await
            {
                Ok(claimed) => {
                    failures = 0;
                    claimed
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(20) {
                        tracing::warn!(error = %e, "claiming failed; retrying");
                    }
                    sleep_or_stop(shutdown, Duration::from_millis(250)).await;
                    continue;
                }
            };
            if claimed.is_empty() {
                let wake = queue::next_wake(&shared.redis, &shared.keys, lookahead)
                    .await
                    .ok()
                    .flatten();
                let wait = wake
                    .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                    .unwrap_or(Duration::MAX)
                    .clamp(Duration::from_millis(1), Duration::from_millis(50));
                sleep_or_stop(shutdown, wait).await;
                continue;
            }
            metrics::counter!("cronops_scheduler_claimed_total").increment(claimed.len() as u64);
            {
                let mut held = shared.held.lock().expect("held lock");
                held.extend(claimed.iter().map(|c| c.member.clone()));
            }
            if let Err(e) = self.prepare_and_fire(claimed.clone(), record_tx).await {
                tracing::warn!(error = %e, "could not start claimed runs; handing them back");
                if let Err(e) = queue::unclaim(&shared.redis, &shared.keys, &claimed).await {
                    tracing::warn!(error = %e, "handing back failed; the leases will expire instead");
                }
                self.forget(claimed.iter().map(|c| c.member.clone()));
                sleep_or_stop(shutdown, Duration::from_millis(250)).await;
            }
        }
    }

    fn forget(&self, members: impl IntoIterator<Item = String>) {
        let mut held = self.0.held.lock().expect("held lock");
        for member in members {
            held.remove(&member);
        }
    }

    /// Turns claimed tasks into RUNNING rows and fires them. Fails before any side
    /// effect (so the caller can hand the tasks back) or not at all.
    async fn prepare_and_fire(
        &self,
        claimed: Vec<Claimed>,
        record_tx: &mpsc::Sender<Finished>,
    ) -> Result<(), Error> {
        let shared = &self.0;
        let now = Utc::now();
        let clock = Instant::now();
        let mut conn = shared.db.get().await.map_err(db::Error::from)?;

        let job_ids: Vec<Uuid> = claimed
            .iter()
            .filter_map(|c| match c.task {
                Task::Slot { job_id, .. } | Task::Retry { job_id, .. } => Some(job_id),
                Task::Manual { .. } => None,
            })
            .collect();
        let manual_ids: Vec<Uuid> = claimed
            .iter()
            .filter_map(|c| match c.task {
                Task::Manual { log_id } => Some(log_id),
                _ => None,
            })
            .collect();
        let existing_manual = if manual_ids.is_empty() {
            Vec::new()
        } else {
            ExecutionLog::load_batch(&mut conn, &manual_ids)
                .await
                .map_err(db::Error::from)?
        };
        let mut all_job_ids = job_ids;
        all_job_ids.extend(existing_manual.iter().map(|l| l.job_id));
        let jobs: HashMap<Uuid, Job> = Job::load_batch(&mut conn, &all_job_ids)
            .await
            .map_err(db::Error::from)?
            .into_iter()
            .map(|j| (j.id, j))
            .collect();
        let loaded = clock.elapsed();
        let manual_rows: HashMap<Uuid, ExecutionLog> =
            existing_manual.into_iter().map(|l| (l.id, l)).collect();

        let mut new_rows = Vec::new();
        let mut next_runs: Vec<(Uuid, DateTime<Utc>)> = Vec::new();
        let mut to_start: Vec<Uuid> = Vec::new();
        // Rows a dead holder prepared but never sent: they fire now (late if so).
        let mut unsent: Vec<(Uuid, bool)> = Vec::new();
        let mut abandoned: Vec<(Claimed, ExecutionLog)> = Vec::new();
        let mut done_members: Vec<String> = Vec::new();
        // What each row to fire needs besides the row: its lease and the slot it serves.
        let mut pending: HashMap<Uuid, (String, i64)> = HashMap::new();

        let mut schedules = Schedules::default();
        for c in &claimed {
            match c.task {
                Task::Slot { job_id, slot_ms } => {
                    let Some(job) = jobs.get(&job_id).filter(|j| j.status == JobStatus::Active)
                    else {
                        done_members.push(c.member.clone());
                        continue;
                    };
                    let schedule = match schedules.get(&job.cron_expression, &job.timezone) {
                        Ok(schedule) => schedule,
                        Err(e) => {
                            tracing::error!(%job_id, error = %e, "job has an unusable schedule; not rescheduled");
                            done_members.push(c.member.clone());
                            continue;
                        }
                    };
                    let slot = ms_to_time(slot_ms);
                    if c.recovered {
                        // The holder died. Its row, if it wrote one, says how far it got.
                        if let Some(row) = find_slot_row(&mut conn, job_id, slot).await? {
                            if let Some(next) = schedule.next_after(row.scheduled_for.max(now)) {
                                next_runs.push((job_id, next));
                            }
                            if c.unsent && row.status == ExecutionStatus::Running {
                                pending.insert(
                                    row.id,
                                    (c.member.clone(), row.scheduled_for.timestamp_millis()),
                                );
                                unsent.push((row.id, is_late(row.scheduled_for, now)));
                            } else if matches!(
                                row.status,
                                ExecutionStatus::Running | ExecutionStatus::Pending
                            ) {
                                abandoned.push((c.clone(), row));
                            } else {
                                done_members.push(c.member.clone());
                            }
                            continue;
                        }
                    }
                    // Misfire rule: of slots missed while nothing ran, only the latest fires.
                    // A slot claimed ahead fires at its own time.
                    let fire = if slot > now {
                        slot
                    } else {
                        schedule
                            .latest_between(slot - chrono::Duration::milliseconds(1), now)
                            .unwrap_or(slot)
                    };
                    let late = fire != slot || is_late(fire, now);
                    if let Some(next) = schedule.next_after(fire.max(now)) {
                        next_runs.push((job_id, next));
                    }
                    let row = new_row(
                        job,
                        fire,
                        ExecutionTrigger::Schedule,
                        1,
                        late,
                        fire.max(now),
                    );
                    pending.insert(row.id, (c.member.clone(), fire.timestamp_millis()));
                    new_rows.push(row);
                }
                Task::Retry {
                    job_id,
                    slot_ms,
                    attempt,
                } => {
                    let Some(job) = jobs.get(&job_id).filter(|j| j.status == JobStatus::Active)
                    else {
                        done_members.push(c.member.clone());
                        continue;
                    };
                    let slot = ms_to_time(slot_ms);
                    let id = ExecutionLog::slot_id(job_id, slot, ExecutionTrigger::Retry, attempt);
                    if c.recovered
                        && let Some(row) = ExecutionLog::find(&mut conn, id)
                            .await
                            .map_err(db::Error::from)?
                    {
                        if c.unsent && row.status == ExecutionStatus::Running {
                            pending.insert(row.id, (c.member.clone(), slot_ms));
                            unsent.push((row.id, false));
                        } else if matches!(
                            row.status,
                            ExecutionStatus::Running | ExecutionStatus::Pending
                        ) {
                            abandoned.push((c.clone(), row));
                        } else {
                            done_members.push(c.member.clone());
                        }
                        continue;
                    }
                    let at = ms_to_time(c.due_ms).max(now);
                    let row = new_row(job, slot, ExecutionTrigger::Retry, attempt, false, at);
                    pending.insert(row.id, (c.member.clone(), slot_ms));
                    new_rows.push(row);
                }
                Task::Manual { log_id } => match manual_rows.get(&log_id) {
                    Some(row) if row.status == ExecutionStatus::Pending => {
                        pending.insert(
                            log_id,
                            (c.member.clone(), row.scheduled_for.timestamp_millis()),
                        );
                        to_start.push(log_id);
                    }
                    Some(row) if c.unsent && row.status == ExecutionStatus::Running => {
                        pending.insert(
                            log_id,
                            (c.member.clone(), row.scheduled_for.timestamp_millis()),
                        );
                        unsent.push((log_id, false));
                    }
                    Some(row) if c.recovered && row.status == ExecutionStatus::Running => {
                        abandoned.push((c.clone(), row.clone()));
                    }
                    _ => done_members.push(c.member.clone()),
                },
            }
        }

        // Record before firing: only rows this call inserted (or moved to RUNNING) fire.
        let next_pg: Vec<(Uuid, Option<DateTime<Utc>>)> =
            next_runs.iter().map(|(id, at)| (*id, Some(*at))).collect();
        let started =
            ExecutionLog::start_runs(&mut conn, &new_rows, &to_start, &unsent, now, &next_pg)
                .await
                .map_err(db::Error::from)?;
        drop(conn);
        let written = clock.elapsed();

        // From here on the runs are ours: failures are logged, never handed back.
        if let Err(e) = queue::schedule_many(&shared.redis, &shared.keys, &next_runs).await {
            tracing::warn!(error = %e, "could not put next fire times back; the reconciler will");
        }
        let started_ids: HashSet<Uuid> = started.iter().map(|r| r.id).collect();
        for (id, (member, _)) in &pending {
            if !started_ids.contains(id) {
                // Another instance recorded this slot first: it fires it, not us.
                done_members.push(member.clone());
            }
        }
        if !done_members.is_empty() {
            if let Err(e) = queue::release(&shared.redis, &shared.keys, &done_members, &[]).await {
                tracing::warn!(error = %e, "could not release leases; they will expire");
            }
            self.forget(done_members);
        }

        for (c, row) in abandoned {
            let job = jobs.get(&row.job_id);
            tracing::warn!(job_id = %row.job_id, run_id = %row.id, "closing a run abandoned by a dead instance");
            let finished = Finished {
                member: c.member.clone(),
                job_id: row.job_id,
                slot_ms: row.scheduled_for.timestamp_millis(),
                max_retries: job.map_or(0, |j| j.max_retries),
                completion: Completion {
                    id: row.id,
                    status: ExecutionStatus::Failed,
                    finished_at: Utc::now(),
                    duration_ms: i32::try_from((Utc::now() - row.started_at).num_milliseconds())
                        .unwrap_or(i32::MAX)
                        .max(0),
                    http_status: None,
                    response_body: None,
                    response_body_truncated: false,
                    response_content_type: None,
                    error: Some(ABANDONED.to_owned()),
                },
                announced: already_announced(),
            };
            if record_tx.send(finished).await.is_err() {
                tracing::error!(
                    "recorder stopped; an abandoned run stays open until its lease expires again"
                );
            }
        }

        // Each run leaves at its start time (its slot, when claimed ahead): one timer per
        // distinct instant, not per run. The permits travel with the runs, so shutdown
        // waits for runs prepared but not yet fired.
        let mut groups: BTreeMap<DateTime<Utc>, Vec<Fire>> = BTreeMap::new();
        for row in started {
            let Some(job) = jobs.get(&row.job_id) else {
                continue;
            };
            let Some((member, slot_ms)) = pending.get(&row.id).cloned() else {
                continue;
            };
            let permit = shared
                .permits
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let request = execute::Request {
                job_id: job.id,
                execution_id: row.id,
                scheduled_for: row.scheduled_for,
                attempt: row.attempt,
                method: job.http_method,
                url: job.target_url.clone(),
                headers: headers_of(job),
                body: job.body.clone(),
                timeout: Duration::from_millis(u64::try_from(job.timeout_ms).unwrap_or(10_000)),
            };
            let event = ExecutionEvent {
                kind: EventKind::Started,
                log: row,
            };
            let announcement = events::encode(&shared.keys, &event);
            let row = event.log;
            groups.entry(row.started_at).or_default().push(Fire {
                request,
                member,
                slot_ms,
                max_retries: job.max_retries,
                row,
                announcement: Some(announcement),
                permit,
            });
        }
        tracing::debug!(
            claimed = claimed.len(),
            ahead_ms = groups
                .keys()
                .next()
                .map(|at| (*at - Utc::now()).num_milliseconds()),
            load_ms = loaded.as_millis(),
            write_ms = (written - loaded).as_millis(),
            total_ms = clock.elapsed().as_millis(),
            "prepared a batch"
        );
        if !groups.is_empty() {
            tokio::spawn(self.clone().fire_on_time(groups, now, record_tx.clone()));
        }
        Ok(())
    }

    /// Waits for each instant in turn, announces its runs and sends their requests.
    /// `loaded_at` is when their jobs were read to prepare them.
    async fn fire_on_time(
        self,
        groups: BTreeMap<DateTime<Utc>, Vec<Fire>>,
        loaded_at: DateTime<Utc>,
        record_tx: mpsc::Sender<Finished>,
    ) {
        let shared = &self.0;
        for (at, group) in groups {
            let group = if !needs_last_look(loaded_at, at) {
                group
            } else {
                if let Ok(wait) = (at - LAST_LOOK - Utc::now()).to_std() {
                    tokio::time::sleep(wait).await;
                }
                self.last_look(group).await
            };
            if let Ok(wait) = (at - Utc::now()).to_std() {
                tokio::time::sleep(wait).await;
            }
            // Requests first, then their STARTED events; each outcome is published only
            // after `announced`, so subscribers still see STARTED first.
            let announced = CancellationToken::new();
            let mut announcements = Vec::with_capacity(group.len());
            // Committed in slices, each sent as soon as it is committed: the first
            // requests leave after one short round trip, not after the whole group's.
            let mut group = group.into_iter();
            loop {
                let slice: Vec<Fire> = group.by_ref().take(COMMIT_SLICE).collect();
                if slice.is_empty() {
                    break;
                }
                for mut fire in self.commit(slice).await {
                    announcements.extend(fire.announcement.take());
                    self.send(fire, announced.clone(), record_tx.clone());
                }
            }
            // Published on the side, so a slow Redis never holds back the next instant;
            // the guard releases the outcomes even if this task is dropped.
            let redis = shared.redis.clone();
            let guard = announced.drop_guard();
            tokio::spawn(async move {
                if let Err(e) = events::publish_encoded(&redis, announcements).await {
                    tracing::warn!(error = %e, "could not publish STARTED events");
                }
                drop(guard);
            });
        }
    }

    /// Withdraws runs prepared ahead whose job was paused or deleted since (a manual run
    /// only needs its job to exist): their rows are deleted, as they never started, and
    /// their leases released. If PostgreSQL cannot say, everything fires as prepared.
    async fn last_look(&self, group: Vec<Fire>) -> Vec<Fire> {
        let shared = &self.0;
        let mut job_ids: Vec<Uuid> = group.iter().map(|f| f.request.job_id).collect();
        job_ids.sort_unstable();
        job_ids.dedup();
        let looked = async {
            let mut conn = shared.db.get().await.map_err(db::Error::from)?;
            let statuses = Job::statuses(&mut conn, &job_ids)
                .await
                .map_err(db::Error::from)?;
            Ok::<_, db::Error>((conn, statuses))
        };
        let (mut conn, statuses): (_, HashMap<Uuid, JobStatus>) = match looked.await {
            Ok((conn, statuses)) => (conn, statuses.into_iter().collect()),
            Err(e) => {
                tracing::warn!(error = %e, "could not check jobs before firing; firing as prepared");
                return group;
            }
        };
        let (keep, withdrawn): (Vec<Fire>, Vec<Fire>) = group.into_iter().partition(|f| {
            match (statuses.get(&f.request.job_id), f.row.trigger) {
                (None, _) => false,
                (Some(_), ExecutionTrigger::Manual) => true,
                (Some(status), _) => *status == JobStatus::Active,
            }
        });
        if withdrawn.is_empty() {
            return keep;
        }
        let ids: Vec<Uuid> = withdrawn.iter().map(|f| f.row.id).collect();
        let deleted = ExecutionLog::withdraw(&mut conn, &ids).await;
        drop(conn);
        if let Err(e) = deleted {
            tracing::warn!(error = %e, "could not withdraw runs of paused or deleted jobs; firing them");
            return keep.into_iter().chain(withdrawn).collect();
        }
        tracing::info!(
            runs = withdrawn.len(),
            "withdrew prepared runs of jobs paused or deleted since"
        );
        let members: Vec<String> = withdrawn.iter().map(|f| f.member.clone()).collect();
        if let Err(e) = queue::release(&shared.redis, &shared.keys, &members, &[]).await {
            tracing::warn!(error = %e, "could not release withdrawn runs; their leases will expire");
        }
        self.forget(members);
        keep
    }

    /// Marks a group's runs as sent in Redis before any request leaves, keeping those this
    /// instance still owns. The others were taken over (this instance lost their leases)
    /// and are dropped; if Redis cannot be reached none is sent, and their leases expire
    /// so that whichever instance takes them over sends them (their rows say unsent).
    async fn commit(&self, group: Vec<Fire>) -> Vec<Fire> {
        let shared = &self.0;
        let members: Vec<String> = group.iter().map(|f| f.member.clone()).collect();
        let mut delay = Duration::from_millis(20);
        let mut committed = None;
        for _ in 0..5 {
            match queue::commit(&shared.redis, &shared.keys, &shared.instance, &members).await {
                Ok(ours) => {
                    committed = Some(ours);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not mark runs as sent; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        let ours: HashSet<String> = committed.unwrap_or_default().into_iter().collect();
        let (keep, lost): (Vec<Fire>, Vec<Fire>) =
            group.into_iter().partition(|f| ours.contains(&f.member));
        if !lost.is_empty() {
            tracing::warn!(
                runs = lost.len(),
                "not sending runs this instance no longer owns; another instance sends them"
            );
            self.forget(lost.into_iter().map(|f| f.member));
        }
        keep
    }

    /// Sends one request on its own task and hands the outcome to the recorder.
    fn send(&self, fire: Fire, announced: CancellationToken, record_tx: mpsc::Sender<Finished>) {
        let Fire {
            request,
            member,
            slot_ms,
            max_retries,
            row,
            permit,
            ..
        } = fire;
        let lateness = (Utc::now() - row.scheduled_for)
            .to_std()
            .unwrap_or_default();
        metrics::histogram!("cronops_scheduler_lateness_seconds").record(lateness.as_secs_f64());
        metrics::counter!("cronops_scheduler_fired_total", "trigger" => row.trigger.as_str())
            .increment(1);
        let executor = self.0.executor.clone();
        tracing::debug!(job_id = %row.job_id, scheduled_for = %row.scheduled_for, attempt = row.attempt, "firing");
        tokio::spawn(async move {
            metrics::gauge!("cronops_scheduler_in_flight").increment(1.0);
            let started = Instant::now();
            let outcome = executor.execute(&request).await;
            metrics::gauge!("cronops_scheduler_in_flight").decrement(1.0);
            metrics::histogram!("cronops_scheduler_request_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            let finished = Finished {
                member,
                job_id: request.job_id,
                slot_ms,
                max_retries,
                completion: Completion {
                    id: request.execution_id,
                    status: outcome.status,
                    finished_at: outcome.finished_at,
                    duration_ms: outcome.duration_ms,
                    http_status: outcome.http_status,
                    response_body: outcome.response_body,
                    response_body_truncated: outcome.response_body_truncated,
                    response_content_type: outcome.response_content_type,
                    error: outcome.error,
                },
                announced,
            };
            // Waits while the buffer is full (PostgreSQL down): back-pressure, not loss.
            if record_tx.send(finished).await.is_err() {
                tracing::error!(run_id = %request.execution_id, "recorder stopped before this result was written");
            }
            drop(permit);
        });
    }

    /// Writes finished runs in batches; while PostgreSQL is unreachable, keeps the batch
    /// and retries with backoff (the leases stay renewed meanwhile).
    async fn record_loop(self, mut rx: mpsc::Receiver<Finished>) {
        let mut batch: Vec<Finished> = Vec::new();
        loop {
            if batch.is_empty() {
                match rx.recv().await {
                    Some(first) => batch.push(first),
                    None => return,
                }
            }
            while batch.len() < 500 {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let mut delay = Duration::from_millis(100);
            let rows = loop {
                match self.write_results(&batch).await {
                    Ok(rows) => break rows,
                    Err(e) => {
                        tracing::warn!(error = %e, waiting = batch.len(), "cannot record results yet; retrying");
                        metrics::gauge!("cronops_scheduler_unrecorded").set(batch.len() as f64);
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                }
            };
            metrics::gauge!("cronops_scheduler_unrecorded").set(0.0);
            tracing::debug!(runs = batch.len(), "recorded a batch");
            self.after_recorded(std::mem::take(&mut batch), rows).await;
        }
    }

    async fn write_results(&self, batch: &[Finished]) -> Result<Vec<ExecutionLog>, Error> {
        let mut conn = self.0.db.get().await.map_err(db::Error::from)?;
        let completions: Vec<Completion> = batch.iter().map(|f| f.completion.clone()).collect();
        Ok(ExecutionLog::complete_and_record(&mut conn, &completions)
            .await
            .map_err(db::Error::from)?)
    }

    /// Queues retries, releases leases and publishes the outcome of recorded runs.
    async fn after_recorded(&self, batch: Vec<Finished>, rows: Vec<ExecutionLog>) {
        let shared = &self.0;
        let by_id: HashMap<Uuid, &Finished> = batch.iter().map(|f| (f.completion.id, f)).collect();
        let mut follow_ups = Vec::new();
        let mut events = Vec::new();
        for row in &rows {
            let Some(finished) = by_id.get(&row.id) else {
                continue;
            };
            metrics::counter!("cronops_scheduler_runs_total", "status" => row.status.as_str())
                .increment(1);
            let kind = if row.status == ExecutionStatus::Success {
                EventKind::Succeeded
            } else if row.attempt <= finished.max_retries {
                let next_attempt = row.attempt + 1;
                let at = Utc::now() + retry::backoff(next_attempt);
                follow_ups.push((
                    Task::Retry {
                        job_id: finished.job_id,
                        slot_ms: finished.slot_ms,
                        attempt: next_attempt,
                    },
                    at,
                ));
                metrics::counter!("cronops_scheduler_retries_total").increment(1);
                EventKind::Retrying
            } else {
                EventKind::Failed
            };
            tracing::info!(
                job_id = %row.job_id,
                scheduled_for = %row.scheduled_for,
                attempt = row.attempt,
                status = %row.status,
                duration_ms = row.duration_ms,
                "run finished"
            );
            events.push(ExecutionEvent {
                kind,
                log: row.clone(),
            });
        }
        let members: Vec<String> = batch.iter().map(|f| f.member.clone()).collect();
        // Retries ride in the same transaction as the release: keep trying (the leases stay
        // held and renewed meanwhile) rather than drop them.
        let mut delay = Duration::from_millis(50);
        let mut failures = 0u32;
        while let Err(e) = queue::release(&shared.redis, &shared.keys, &members, &follow_ups).await
        {
            failures += 1;
            if failures == 1 || failures.is_multiple_of(20) {
                tracing::warn!(error = %e, "could not release leases and queue retries yet; retrying");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        self.forget(members);
        for finished in &batch {
            finished.announced.cancelled().await;
        }
        if let Err(e) = events::publish(&shared.redis, &shared.keys, &events).await {
            tracing::warn!(error = %e, "could not publish run events");
        }
    }

    /// Keeps the leases of everything this instance holds alive.
    async fn renew_loop(self, stop: CancellationToken) {
        let shared = &self.0;
        let every = shared.config.lease / 3;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
            let members: Vec<String> = shared
                .held
                .lock()
                .expect("held lock")
                .iter()
                .cloned()
                .collect();
            if members.is_empty() {
                continue;
            }
            let deadline =
                Utc::now() + chrono::Duration::from_std(shared.config.lease).unwrap_or_default();
            for chunk in members.chunks(1_000) {
                if let Err(e) = queue::renew(&shared.redis, &shared.keys, chunk, deadline).await {
                    tracing::warn!(error = %e, "could not renew leases");
                    break;
                }
            }
        }
    }
}

/// For a run with no STARTED event to wait for.
fn already_announced() -> CancellationToken {
    let token = CancellationToken::new();
    token.cancel();
    token
}

async fn sleep_or_stop(shutdown: &CancellationToken, wait: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = shutdown.cancelled() => {}
    }
}

/// Whether runs at `at`, prepared from jobs read at `loaded_at`, need another look at
/// their jobs before firing. Runs due now (a burst, a backlog) were prepared from jobs read
/// no earlier than LAST_LOOK before their instant: that read was their last look, and a
/// second would read the same rows again (13 µs of PostgreSQL per run in a burst). A pause
/// after that read, while their rows are written, no longer withdraws them: it comes after
/// the last look, as for any run.
fn needs_last_look(loaded_at: DateTime<Utc>, at: DateTime<Utc>) -> bool {
    loaded_at < at - LAST_LOOK
}

/// Whether a run starting `now` for a slot at `slot` counts as late.
fn is_late(slot: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    (now - slot).to_std().unwrap_or_default() > LATE_AFTER
}

fn new_row(
    job: &Job,
    slot: DateTime<Utc>,
    trigger: ExecutionTrigger,
    attempt: i32,
    late: bool,
    now: DateTime<Utc>,
) -> NewExecutionLog {
    NewExecutionLog {
        id: ExecutionLog::slot_id(job.id, slot, trigger, attempt),
        job_id: job.id,
        user_id: job.user_id,
        status: ExecutionStatus::Running,
        trigger,
        attempt,
        scheduled_for: slot,
        late,
        started_at: now,
    }
}

/// The first SCHEDULE row of a job at or after `slot` (the misfire rule may have fired a
/// later slot than the one claimed).
async fn find_slot_row(
    conn: &mut db::AsyncPgConnection,
    job_id: Uuid,
    slot: DateTime<Utc>,
) -> Result<Option<ExecutionLog>, Error> {
    Ok(
        db::models::execution_log::first_schedule_run_from(conn, job_id, slot)
            .await
            .map_err(db::Error::from)?,
    )
}

/// A job's headers as name/value pairs (a flat JSON object of strings).
fn headers_of(job: &Job) -> Vec<(String, String)> {
    job.headers
        .as_ref()
        .and_then(|h| h.as_object())
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_runs_prepared_ahead_of_their_last_look_get_another() {
        let at = Utc::now();
        // Due now or in the past (a burst, a backlog, a retry): the read that prepared them
        // was their last look.
        assert!(!needs_last_look(at, at));
        assert!(!needs_last_look(at + chrono::Duration::seconds(1), at));
        assert!(!needs_last_look(at - LAST_LOOK, at));
        // Prepared further ahead (the lookahead): looked at again before firing.
        assert!(needs_last_look(
            at - LAST_LOOK - chrono::Duration::milliseconds(1),
            at
        ));
        assert!(needs_last_look(at - chrono::Duration::seconds(3), at));
    }
}
