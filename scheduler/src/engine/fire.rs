//! Sending prepared runs on time: wait for each instant, take a last look at runs prepared
//! ahead, commit to sending in Redis, then send, each request on its own task.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use db::models::{ExecutionLog, Job};
use db::{ExecutionTrigger, JobStatus};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::Scheduler;
use super::finished::{Finished, FollowUp};
use super::overlap::Overlap;
use super::record::Record;
use super::request::Owner;
use super::sent::Sent;
use crate::events::{self, EventKind, ExecutionEvent};
use crate::execute;
use crate::queue;

/// How long before an instant the scheduler checks that its prepared runs' jobs are
/// still there and active: a pause or delete up to this close to a slot stops it.
const LAST_LOOK: TimeDelta = TimeDelta::milliseconds(100);

/// Runs committed (marked as sent in Redis) per round trip at the moment of firing.
const COMMIT_SLICE: usize = 250;

/// How often runs waiting for room at their users' limit try again.
const ROOM_POLL: Duration = Duration::from_millis(250);

/// A prepared run waiting for its start time.
pub(super) struct Fire {
    request: execute::Request,
    pub(super) member: String,
    follow: FollowUp,
    /// The written row (PREPARED, or a manual run's PENDING row).
    pub(super) row: ExecutionLog,
    /// When its slot was due to leave: the slot plus the job's jitter.
    due: DateTime<Utc>,
    /// Its job's `overlapPolicy` (see [`super::overlap`]).
    pub(super) overlap: Overlap,
    permit: OwnedSemaphorePermit,
    /// The run's trace, from here until its outcome is recorded.
    span: tracing::Span,
}

/// Prepared runs by the instant they leave: one timer per distinct instant, not per run.
/// The permits travel with the runs, so shutdown waits for runs prepared but not fired.
#[derive(Default)]
pub(super) struct Groups(BTreeMap<DateTime<Utc>, Vec<Fire>>);

impl Groups {
    /// Adds the run of `row` (written for `job`, leased as `member`), to leave at `at`,
    /// with what its `owner` signs and fills it with.
    pub(super) fn add(
        &mut self,
        job: &Job,
        owner: &Owner,
        row: ExecutionLog,
        member: String,
        at: DateTime<Utc>,
        permit: OwnedSemaphorePermit,
    ) {
        let request = super::request::build(job, &row, owner);
        let span = crate::traces::run_span(job, &row);
        self.0.entry(at).or_default().push(Fire {
            request,
            member,
            follow: FollowUp::of(Some(job)),
            overlap: Overlap::of(job),
            due: crate::timing::leaves(job, row.scheduled_for),
            row,
            permit,
            span,
        });
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The earliest instant.
    pub(super) fn first(&self) -> Option<DateTime<Utc>> {
        self.0.keys().next().copied()
    }
}

impl Scheduler {
    /// Waits for each instant in turn, announces its runs and sends their requests.
    /// `loaded_at` is when their jobs were read to prepare them.
    pub(super) async fn fire_on_time(
        self,
        groups: Groups,
        loaded_at: DateTime<Utc>,
        record_tx: mpsc::Sender<Record>,
    ) {
        for (at, group) in groups.0 {
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
            let sorted = self.skip_overlapping(group).await;
            let mut waiting = self.send_group(sorted.fire, &record_tx).await;
            waiting.extend(sorted.buffered);
            if !waiting.is_empty() {
                tokio::spawn(self.clone().send_when_room(waiting, record_tx.clone()));
            }
        }
    }

    /// Commits to and sends a group's runs, then publishes their STARTED events. Returns
    /// the runs whose users have their limit out.
    async fn send_group(&self, group: Vec<Fire>, record_tx: &mpsc::Sender<Record>) -> Vec<Fire> {
        let shared = &self.0;
        // Requests first, then their STARTED events; each outcome is published only
        // after `announced`, so subscribers still see STARTED first.
        let announced = CancellationToken::new();
        let mut started = Vec::with_capacity(group.len());
        let mut waiting = Vec::new();
        // Committed in slices, each sent as soon as it is committed: the first requests
        // leave after one short round trip, not after the whole group's.
        let mut group = group.into_iter();
        loop {
            let slice: Vec<Fire> = group.by_ref().take(COMMIT_SLICE).collect();
            if slice.is_empty() {
                break;
            }
            let (slice, wait) = self.commit(slice).await;
            waiting.extend(wait);
            let sent_at = Utc::now();
            let sent: Vec<Sent> = slice
                .iter()
                .map(|f| Sent::of(&f.row, f.due, sent_at))
                .collect();
            // Told before any outcome can be (the channel keeps order); if the buffer is
            // full the rows just go straight from PREPARED to their outcome.
            let _ = record_tx.try_send(Record::Sent(sent.clone()));
            for (fire, sent) in slice.into_iter().zip(sent) {
                started.push(sent.row(&fire.row));
                self.send(fire, sent, announced.clone(), record_tx.clone());
            }
        }
        // Published on the side, so a slow Redis never holds back the next instant; the
        // guard releases the outcomes even if this task is dropped.
        let (redis, keys) = (shared.redis.clone(), shared.keys.clone());
        let guard = announced.drop_guard();
        tokio::spawn(async move {
            if started.is_empty() {
                return;
            }
            let events: Vec<ExecutionEvent> = started
                .into_iter()
                .map(|log| ExecutionEvent::new(EventKind::Started, log))
                .collect();
            if let Err(e) = events::publish(&redis, &keys, &events).await {
                tracing::warn!(error = %e, "could not publish STARTED events");
            }
            drop(guard);
        });
        waiting
    }

    /// Runs claimed ahead whose users had their limit out when their time came: they
    /// keep their leases and go, late, as soon as runs of their users end (claims leave
    /// that room to them first). Their jobs get a last look before each try, as the wait
    /// may be long. At shutdown they are left to their leases: another instance takes
    /// them over and sends them (their rows say unsent).
    async fn send_when_room(self, mut waiting: Vec<Fire>, record_tx: mpsc::Sender<Record>) {
        let shared = &self.0;
        metrics::counter!("cronops_scheduler_runs_waiting_for_room_total")
            .increment(waiting.len() as u64);
        while !waiting.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(ROOM_POLL) => {}
                _ = shared.stopping.cancelled() => {
                    shared.held.forget(waiting.into_iter().map(|f| f.member));
                    return;
                }
            }
            let group = self.last_look(waiting).await;
            let sorted = self.skip_overlapping(group).await;
            waiting = self.send_group(sorted.fire, &record_tx).await;
            waiting.extend(sorted.buffered);
        }
    }

    /// Withdraws runs prepared ahead whose job was paused or deleted since (a manual run
    /// only needs its job to exist): their rows are deleted, as they never went out (and
    /// were never shown), and their leases released. If PostgreSQL cannot say, everything fires as prepared.
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
                // Asked for by the job's owner: they fire for a paused job too.
                (Some(_), ExecutionTrigger::Manual | ExecutionTrigger::Backfill) => true,
                // A COMPLETED job's last runs still fire: the job completed with them.
                (Some(status), _) => *status != JobStatus::Paused,
            }
        });
        if withdrawn.is_empty() {
            return keep;
        }
        let runs: Vec<(Uuid, DateTime<Utc>)> = withdrawn
            .iter()
            .map(|f| (f.row.id, f.row.scheduled_for))
            .collect();
        let deleted = ExecutionLog::withdraw(&mut conn, &runs).await;
        drop(conn);
        if let Err(e) = deleted {
            tracing::warn!(error = %e, "could not withdraw runs of paused or deleted jobs; firing them");
            return keep.into_iter().chain(withdrawn).collect();
        }
        tracing::info!(
            runs = withdrawn.len(),
            "withdrew prepared runs of jobs paused or deleted since"
        );
        self.release_leases(withdrawn.into_iter().map(|f| f.member).collect())
            .await;
        keep
    }

    /// Marks a group's runs as sent in Redis before any request leaves, keeping those this
    /// instance still owns: (to send, to wait for room). The others were taken over (this
    /// instance lost their leases) and are dropped; if Redis cannot be reached none is
    /// sent, and their leases expire so that whichever instance takes them over sends
    /// them (their rows say unsent).
    async fn commit(&self, group: Vec<Fire>) -> (Vec<Fire>, Vec<Fire>) {
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
        let committed = committed.unwrap_or_default();
        let sent: HashSet<&str> = committed.sent.iter().map(String::as_str).collect();
        let waiting: HashSet<&str> = committed.waiting.iter().map(String::as_str).collect();
        let (mut keep, mut wait, mut lost) = (Vec::new(), Vec::new(), Vec::new());
        for fire in group {
            if sent.contains(fire.member.as_str()) {
                keep.push(fire);
            } else if waiting.contains(fire.member.as_str()) {
                wait.push(fire);
            } else {
                lost.push(fire);
            }
        }
        if !lost.is_empty() {
            tracing::warn!(
                runs = lost.len(),
                "not sending runs this instance no longer owns; another instance sends them"
            );
            shared.held.forget(lost.into_iter().map(|f| f.member));
        }
        (keep, wait)
    }

    /// Sends one request on its own task and hands the outcome to the recorder.
    fn send(
        &self,
        fire: Fire,
        sent: Sent,
        announced: CancellationToken,
        record_tx: mpsc::Sender<Record>,
    ) {
        let Fire {
            request,
            member,
            follow,
            row,
            permit,
            span,
            ..
        } = fire;
        let lateness = (sent.at - row.scheduled_for).to_std().unwrap_or_default();
        metrics::histogram!("cronops_scheduler_lateness_seconds").record(lateness.as_secs_f64());
        metrics::counter!("cronops_scheduler_fired_total", "trigger" => row.trigger.as_str())
            .increment(1);
        let executor = self.0.executor.clone();
        tracing::debug!(job_id = %row.job_id, scheduled_for = %row.scheduled_for, attempt = row.attempt, "firing");
        tokio::spawn(async move {
            metrics::gauge!("cronops_scheduler_in_flight").increment(1.0);
            let started = Instant::now();
            let outcome = executor.execute(&request).instrument(span.clone()).await;
            metrics::gauge!("cronops_scheduler_in_flight").decrement(1.0);
            metrics::histogram!("cronops_scheduler_request_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            let finished =
                Finished::answered(member, &row, follow, &sent, outcome, announced, span);
            // Waits while the buffer is full (PostgreSQL down): back-pressure, not loss.
            if record_tx
                .send(Record::Finished(Box::new(finished)))
                .await
                .is_err()
            {
                tracing::error!(run_id = %request.execution_id, "recorder stopped before this result was written");
            }
            drop(permit);
        });
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

/// A job's headers as name/value pairs (a flat JSON object of strings).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_runs_prepared_ahead_of_their_last_look_get_another() {
        let at = Utc::now();
        // Due now or in the past (a burst, a backlog, a retry): the read that prepared them
        // was their last look.
        assert!(!needs_last_look(at, at));
        assert!(!needs_last_look(at + TimeDelta::seconds(1), at));
        assert!(!needs_last_look(at - LAST_LOOK, at));
        // Prepared further ahead (the lookahead): looked at again before firing.
        assert!(needs_last_look(
            at - LAST_LOOK - TimeDelta::milliseconds(1),
            at
        ));
        assert!(needs_last_look(at - TimeDelta::seconds(3), at));
    }
}
