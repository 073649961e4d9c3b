//! Turning claimed work into written runs: load what each item needs, decide, write the
//! new rows in one statement, put the next fire times back in Redis, then hand the runs to
//! [`super::fire`].

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use db::models::execution_log::NewExecutionLog;
use db::models::{ExecutionLog, Job};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::Scheduler;
use super::decide::{self, Action, Claim, Idle};
use super::finished::{Finished, FollowUp};
use super::fire::Groups;
use super::isolate::Isolation;
use super::load::Loaded;
use super::record::Record;
use crate::Error;
use crate::cron::Schedules;
use crate::queue::{self, Claimed};
use crate::task::Task;
use crate::timing::Timing;

/// The database writes one claimed item needs before its run may fire.
#[derive(Debug, Clone)]
struct Write {
    member: String,
    /// The run to insert (PREPARED).
    row: Option<NewExecutionLog>,
    /// The record of slots not fired (SKIPPED), inserted with it.
    skipped: Option<NewExecutionLog>,
    /// The job's next fire time: (user, job, time).
    next: Option<(Uuid, Uuid, DateTime<Utc>)>,
    /// The job to mark COMPLETED: it has no slot left.
    complete: Option<Uuid>,
    /// Scheduled runs to count against the job's `maxRuns` if `row` is inserted.
    counted: i32,
}

/// The writes and follow-ups of one batch's decisions.
#[derive(Default)]
struct Plan {
    writes: Vec<Write>,
    abandoned: Vec<(Claimed, ExecutionLog)>,
    release: Vec<String>,
    /// Rows already written to send as they are, by lease member.
    sends: Vec<String>,
    /// Missed slots to replay later, with when each is due.
    catch_up: Vec<(Task, DateTime<Utc>)>,
}

impl Plan {
    fn add(&mut self, claimed: &Claimed, job: Option<&Job>, decision: decide::Decision) {
        let member = claimed.member.clone();
        self.catch_up.extend(decision.catch_up);
        let next = job
            .zip(decision.next_fire)
            .map(|(job, at)| (job.user_id, job.id, at));
        let complete = job.filter(|_| decision.complete).map(|job| job.id);
        let mut row = None;
        match decision.action {
            Action::Release(why) => {
                if why == Idle::Unschedulable
                    && let Some(job) = job
                {
                    tracing::error!(job_id = %job.id, "job has an unusable schedule; not rescheduled");
                }
                self.release.push(member.clone());
            }
            Action::Start(new) => row = Some(new),
            Action::Send(_) => self.sends.push(member.clone()),
            Action::Abandon(open) => self.abandoned.push((claimed.clone(), open)),
        }
        if row.is_some() || next.is_some() || complete.is_some() {
            self.writes.push(Write {
                member,
                row,
                skipped: decision.skipped,
                next,
                complete,
                counted: decision.counted,
            });
        }
    }
}

/// Inserts the rows of `writes` in one statement (a slot already recorded is skipped),
/// returning those inserted. The runs of jobs with a `maxRuns` are counted, and jobs with
/// no slot left completed, in the same transaction: a run is counted if and only if it
/// is written.
async fn start(pool: &db::Pool, writes: Vec<Write>) -> Result<Vec<ExecutionLog>, db::Error> {
    use diesel_async::AsyncConnection;
    let mut conn = pool.get().await?;
    let rows: Vec<NewExecutionLog> = writes
        .iter()
        .flat_map(|w| w.row.iter().chain(&w.skipped).cloned())
        .collect();
    if writes
        .iter()
        .all(|w| w.counted == 0 && w.complete.is_none())
    {
        return Ok(ExecutionLog::insert_new(&mut conn, &rows).await?);
    }
    let inserted = conn
        .transaction::<_, db::QueryError, _>(async |conn| {
            let inserted = ExecutionLog::insert_new(conn, &rows).await?;
            let ids: HashSet<Uuid> = inserted.iter().map(|r| r.id).collect();
            let counts: Vec<(Uuid, i32)> = writes
                .iter()
                .filter(|w| w.counted > 0)
                .filter_map(|w| w.row.as_ref().map(|row| (row, w.counted)))
                .filter(|(row, _)| ids.contains(&row.id))
                .map(|(row, n)| (row.job_id, n))
                .collect();
            Job::count_scheduled(conn, &counts).await?;
            let done: Vec<Uuid> = writes.iter().filter_map(|w| w.complete).collect();
            Job::complete(conn, &done).await?;
            Ok(inserted)
        })
        .await?;
    Ok(inserted)
}

impl Scheduler {
    /// Turns claimed tasks into written runs and hands them to the firing step. Fails
    /// before any side effect (so the caller can hand the tasks back) or not at all.
    pub(super) async fn prepare(
        &self,
        claimed: Vec<Claimed>,
        record_tx: &mpsc::Sender<Record>,
    ) -> Result<(), Error> {
        let shared = &self.0;
        let now = Utc::now();
        let clock = Instant::now();
        let mut conn = shared.db.get().await.map_err(db::Error::from)?;
        let loaded = Loaded::read(&mut conn, &claimed, &shared.config.secrets).await?;
        drop(conn);
        let read = clock.elapsed();

        let mut schedules = Schedules::default();
        let mut plan = Plan::default();
        for c in &claimed {
            let job = loaded.job_of(c);
            let timing = job.and_then(|j| Timing::cached(j.into(), &mut schedules));
            let decision = decide::decide(Claim {
                claimed: c,
                job,
                timing: timing.as_ref(),
                row: loaded.rows.get(&c.member),
                now,
            });
            plan.add(c, job, decision);
        }

        // Record before firing: only rows this call inserted fire.
        let inserted = self.write(&plan.writes).await?;
        let written = clock.elapsed();

        // From here on the runs are ours: failures are logged, never handed back. A next
        // fire time goes back to Redis even when its row was refused: that slot is lost,
        // not the job.
        let next_runs: Vec<(Uuid, Uuid, DateTime<Utc>)> =
            plan.writes.iter().filter_map(|w| w.next).collect();
        if let Err(e) = queue::schedule_many(&shared.redis, &shared.keys, &next_runs).await {
            tracing::warn!(error = %e, "could not put next fire times back; the reconciler will");
        }
        if !plan.catch_up.is_empty()
            && let Err(e) = queue::enqueue(&shared.redis, &shared.keys, &plan.catch_up).await
        {
            tracing::warn!(error = %e, count = plan.catch_up.len(), "could not queue missed slots to replay; they are lost");
        }
        let inserted_ids: HashSet<Uuid> = inserted.iter().map(|r| r.id).collect();
        let mut members: HashMap<Uuid, String> = HashMap::new();
        for write in plan.writes {
            match write.row {
                Some(row) if inserted_ids.contains(&row.id) => {
                    members.insert(row.id, write.member);
                }
                // Another instance recorded this slot first (it fires it, not us), or
                // PostgreSQL refused the row.
                Some(_) => plan.release.push(write.member),
                None => {}
            }
        }
        self.release_leases(plan.release).await;
        for (c, row) in plan.abandoned {
            let follow = FollowUp::of(loaded.jobs.get(&row.job_id));
            tracing::warn!(job_id = %row.job_id, run_id = %row.id, "closing a run abandoned by a dead instance");
            let finished = Finished::abandoned(c.member, row, follow);
            if record_tx
                .send(Record::Finished(Box::new(finished)))
                .await
                .is_err()
            {
                tracing::error!(
                    "recorder stopped; an abandoned run stays open until its lease expires again"
                );
            }
        }

        let mut to_fire: Vec<(String, ExecutionLog)> = inserted
            .into_iter()
            .filter_map(|row| Some((members.remove(&row.id)?, row)))
            .collect();
        to_fire.extend(
            plan.sends
                .into_iter()
                .filter_map(|member| Some((member.clone(), loaded.rows.get(&member)?.clone()))),
        );
        let mut groups = Groups::default();
        for (member, row) in to_fire {
            let Some(job) = loaded.jobs.get(&row.job_id) else {
                continue;
            };
            let permit = shared
                .permits
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            // A row written ahead leaves at its slot; one already due leaves now.
            let at = row.started_at.max(now);
            groups.add(job, &loaded.owner(job.user_id), row, member, at, permit);
        }
        tracing::debug!(
            claimed = claimed.len(),
            ahead_ms = groups
                .first()
                .map(|at| (at - Utc::now()).num_milliseconds()),
            read_ms = read.as_millis(),
            write_ms = (written - read).as_millis(),
            total_ms = clock.elapsed().as_millis(),
            "prepared a batch"
        );
        if !groups.is_empty() {
            tokio::spawn(self.clone().fire_on_time(groups, now, record_tx.clone()));
        }
        Ok(())
    }

    /// Writes a batch's rows, returning the rows inserted. An error
    /// that passes before anything is written fails the call (the caller hands the batch
    /// back); a write PostgreSQL refuses for good is narrowed down to the items it refuses,
    /// which are logged and skipped while the others go ahead.
    async fn write(&self, writes: &[Write]) -> Result<Vec<ExecutionLog>, Error> {
        let shared = &self.0;
        let mut isolation = Isolation::new(writes.to_vec());
        let mut inserted = Vec::new();
        let mut delay = Duration::from_millis(100);
        while let Err(e) = isolation
            .run(&mut inserted, |part| start(&shared.db, part))
            .await
        {
            if isolation.left() == writes.len() && inserted.is_empty() {
                return Err(e.into());
            }
            // Part of the batch is written: finish it rather than hand it back.
            tracing::warn!(error = %e, left = isolation.left(), "cannot write prepared runs yet; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        for (write, error) in isolation.take_refused() {
            let (job_id, slot) = write
                .row
                .as_ref()
                .map(|r| (r.job_id, Some(r.scheduled_for)))
                .or(write.next.map(|(_, job_id, _)| (job_id, None)))
                .unzip();
            tracing::warn!(
                job_id = ?job_id,
                slot = ?slot.flatten(),
                %error,
                "PostgreSQL refuses this run; skipping it"
            );
            metrics::counter!("cronops_scheduler_isolated_rows_total", "step" => "prepare")
                .increment(1);
        }
        Ok(inserted)
    }
}
