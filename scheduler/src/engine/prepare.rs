//! Turning claimed work into written runs: load what each item needs, decide, write the
//! rows and next fire times in one transaction, then hand the runs to [`super::fire`].

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use db::models::execution_log::NewExecutionLog;
use db::models::{ExecutionLog, Job};
use db::{AsyncPgConnection, ExecutionTrigger};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::decide::{self, Action, Claim, Idle};
use super::fire::Groups;
use super::record::Finished;
use super::{Scheduler, ms_to_time};
use crate::Error;
use crate::cron::Schedules;
use crate::queue::{self, Claimed};
use crate::task::Task;

/// What one claimed batch reads before deciding.
struct Loaded {
    jobs: HashMap<Uuid, Job>,
    /// The row already written for an item, by lease member.
    rows: HashMap<String, ExecutionLog>,
}

impl Loaded {
    async fn read(conn: &mut AsyncPgConnection, claimed: &[Claimed]) -> Result<Loaded, Error> {
        let manual_ids: Vec<Uuid> = claimed
            .iter()
            .filter_map(|c| match c.task {
                Task::Manual { log_id } => Some(log_id),
                _ => None,
            })
            .collect();
        let manual = if manual_ids.is_empty() {
            Vec::new()
        } else {
            ExecutionLog::load_batch(conn, &manual_ids)
                .await
                .map_err(db::Error::from)?
        };
        let mut rows: HashMap<String, ExecutionLog> = HashMap::new();
        let mut job_ids: Vec<Uuid> = manual.iter().map(|row| row.job_id).collect();
        for c in claimed {
            match c.task {
                Task::Manual { log_id } => {
                    if let Some(row) = manual.iter().find(|row| row.id == log_id) {
                        rows.insert(c.member.clone(), row.clone());
                    }
                }
                Task::Slot { job_id, slot_ms } => {
                    job_ids.push(job_id);
                    // Taken back from a dead holder: its row, if it wrote one, says how far
                    // it got (the misfire rule may have fired a later slot than claimed).
                    if c.recovered
                        && let Some(row) = db::models::execution_log::first_schedule_run_from(
                            conn,
                            job_id,
                            ms_to_time(slot_ms),
                        )
                        .await
                        .map_err(db::Error::from)?
                    {
                        rows.insert(c.member.clone(), row);
                    }
                }
                Task::Retry {
                    job_id,
                    slot_ms,
                    attempt,
                } => {
                    job_ids.push(job_id);
                    let id = ExecutionLog::slot_id(
                        job_id,
                        ms_to_time(slot_ms),
                        ExecutionTrigger::Retry,
                        attempt,
                    );
                    if c.recovered
                        && let Some(row) = ExecutionLog::find(conn, id)
                            .await
                            .map_err(db::Error::from)?
                    {
                        rows.insert(c.member.clone(), row);
                    }
                }
            }
        }
        let jobs = Job::load_batch(conn, &job_ids)
            .await
            .map_err(db::Error::from)?
            .into_iter()
            .map(|j| (j.id, j))
            .collect();
        Ok(Loaded { jobs, rows })
    }

    fn job_of(&self, claimed: &Claimed) -> Option<&Job> {
        let job_id = match claimed.task {
            Task::Slot { job_id, .. } | Task::Retry { job_id, .. } => job_id,
            Task::Manual { .. } => self.rows.get(&claimed.member)?.job_id,
        };
        self.jobs.get(&job_id)
    }
}

/// The writes and follow-ups of one batch's decisions.
#[derive(Default)]
struct Plan {
    new_rows: Vec<NewExecutionLog>,
    pending: Vec<Uuid>,
    unsent: Vec<(Uuid, bool)>,
    next_runs: Vec<(Uuid, DateTime<Utc>)>,
    abandoned: Vec<(Claimed, ExecutionLog)>,
    release: Vec<String>,
    /// For each run to fire, its lease member.
    runs: HashMap<Uuid, String>,
}

impl Plan {
    fn add(&mut self, claimed: &Claimed, job: Option<&Job>, decision: decide::Decision) {
        let member = claimed.member.clone();
        if let (Some(job), Some(at)) = (job, decision.next_fire) {
            self.next_runs.push((job.id, at));
        }
        match decision.action {
            Action::Release(why) => {
                if why == Idle::Unschedulable
                    && let Some(job) = job
                {
                    tracing::error!(job_id = %job.id, "job has an unusable schedule; not rescheduled");
                }
                self.release.push(member);
            }
            Action::Start(row) => {
                self.runs.insert(row.id, member);
                self.new_rows.push(row);
            }
            Action::StartPending(id) => {
                self.runs.insert(id, member);
                self.pending.push(id);
            }
            Action::Resend { id, late } => {
                self.runs.insert(id, member);
                self.unsent.push((id, late));
            }
            Action::Abandon(row) => self.abandoned.push((claimed.clone(), row)),
        }
    }
}

impl Scheduler {
    /// Turns claimed tasks into written runs and hands them to the firing step. Fails
    /// before any side effect (so the caller can hand the tasks back) or not at all.
    pub(super) async fn prepare(
        &self,
        claimed: Vec<Claimed>,
        record_tx: &mpsc::Sender<Finished>,
    ) -> Result<(), Error> {
        let shared = &self.0;
        let now = Utc::now();
        let clock = Instant::now();
        let mut conn = shared.db.get().await.map_err(db::Error::from)?;
        let loaded = Loaded::read(&mut conn, &claimed).await?;
        let read = clock.elapsed();

        let mut schedules = Schedules::default();
        let mut plan = Plan::default();
        for c in &claimed {
            let job = loaded.job_of(c);
            let schedule = job.and_then(|j| schedules.get(&j.cron_expression, &j.timezone).ok());
            let decision = decide::decide(Claim {
                claimed: c,
                job,
                schedule,
                row: loaded.rows.get(&c.member),
                now,
            });
            plan.add(c, job, decision);
        }

        // Record before firing: only rows this call inserted (or moved to RUNNING) fire.
        let next_pg: Vec<(Uuid, Option<DateTime<Utc>>)> = plan
            .next_runs
            .iter()
            .map(|(id, at)| (*id, Some(*at)))
            .collect();
        let started = ExecutionLog::start_runs(
            &mut conn,
            &plan.new_rows,
            &plan.pending,
            &plan.unsent,
            now,
            &next_pg,
        )
        .await
        .map_err(db::Error::from)?;
        drop(conn);
        let written = clock.elapsed();

        // From here on the runs are ours: failures are logged, never handed back.
        if let Err(e) = queue::schedule_many(&shared.redis, &shared.keys, &plan.next_runs).await {
            tracing::warn!(error = %e, "could not put next fire times back; the reconciler will");
        }
        let started_ids: HashSet<Uuid> = started.iter().map(|r| r.id).collect();
        for (id, member) in &plan.runs {
            if !started_ids.contains(id) {
                // Another instance recorded this slot first: it fires it, not us.
                plan.release.push(member.clone());
            }
        }
        if !plan.release.is_empty() {
            if let Err(e) = queue::release(&shared.redis, &shared.keys, &plan.release, &[]).await {
                tracing::warn!(error = %e, "could not release leases; they will expire");
            }
            shared.held.forget(plan.release);
        }
        for (c, row) in plan.abandoned {
            let max_retries = loaded.jobs.get(&row.job_id).map_or(0, |j| j.max_retries);
            tracing::warn!(job_id = %row.job_id, run_id = %row.id, "closing a run abandoned by a dead instance");
            if record_tx
                .send(Finished::abandoned(c.member, row, max_retries))
                .await
                .is_err()
            {
                tracing::error!(
                    "recorder stopped; an abandoned run stays open until its lease expires again"
                );
            }
        }

        let mut groups = Groups::default();
        for row in started {
            let (Some(job), Some(member)) =
                (loaded.jobs.get(&row.job_id), plan.runs.remove(&row.id))
            else {
                continue;
            };
            let permit = shared
                .permits
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            groups.add(&shared.keys, job, row, member, permit);
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
}
