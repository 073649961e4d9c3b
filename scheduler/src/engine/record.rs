//! Writing outcomes: finished runs are written in batches, then their retries queued,
//! their leases released and their events published; runs still out are marked
//! RUNNING ([`super::sent`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::Utc;
use db::ExecutionStatus;
use db::models::ExecutionLog;
use db::models::execution_log::Completion;
use diesel_async::AsyncConnection;
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::time::Instant;
use uuid::Uuid;

use super::finished::Finished;
use super::isolate::Isolation;
use super::sent::{Sent, Unmarked};
use super::{Scheduler, ms_to_time};
use crate::events::{self, EventKind, ExecutionEvent};
use crate::task::Task;
use crate::{alerts, queue, text};

/// Results wait here while PostgreSQL is unreachable; executors block when it is full.
pub(super) const BUFFER: usize = 10_000;

/// Most results written in one statement.
const BATCH: usize = 500;

/// What the recorder is told.
#[derive(Debug)]
pub(super) enum Record {
    /// These runs' requests went out.
    Sent(Vec<Sent>),
    /// A run finished.
    Finished(Box<Finished>),
}

/// Notes a message: a sent run waits for its mark, a finished one needs none (its outcome
/// carries its start) and joins the batch to write.
fn take(message: Record, unmarked: &mut Unmarked, pending: &mut VecDeque<Finished>) {
    match message {
        Record::Sent(sent) => unmarked.add(sent),
        Record::Finished(finished) => {
            unmarked.finished(&finished.completion.id);
            pending.push_back(*finished);
        }
    }
}

/// What wakes the recorder.
enum Wake {
    Message(Box<Record>),
    /// Every sender is gone: shutdown.
    Closed,
    /// A sent run is due to be marked RUNNING.
    Due,
}

impl Scheduler {
    /// Writes finished runs in batches, and marks runs still out after
    /// [`MARK_RUNNING_AFTER`] as RUNNING. While PostgreSQL is unreachable, keeps the batch
    /// and retries with backoff (the leases stay renewed meanwhile). A run PostgreSQL
    /// refuses for good is closed on its own, never retried with the others.
    pub(super) async fn record_loop(self, mut rx: mpsc::Receiver<Record>) {
        let mut unmarked = Unmarked::default();
        // Results taken off the channel and not yet written: all of them are read before
        // runs are marked, so that a run whose result waits here is not marked in vain.
        let mut pending: VecDeque<Finished> = VecDeque::new();
        let mut open = true;
        while open || !pending.is_empty() {
            if pending.is_empty() {
                let wake = match unmarked.next_due() {
                    Some(deadline) => tokio::select! {
                        message = rx.recv() => message.map_or(Wake::Closed, |m| Wake::Message(Box::new(m))),
                        _ = tokio::time::sleep_until(deadline) => Wake::Due,
                    },
                    None => rx
                        .recv()
                        .await
                        .map_or(Wake::Closed, |m| Wake::Message(Box::new(m))),
                };
                match wake {
                    Wake::Message(message) => take(*message, &mut unmarked, &mut pending),
                    Wake::Closed => open = false,
                    Wake::Due => {}
                }
            }
            // Everything there is, up to the buffer's size (beyond it the senders wait:
            // back-pressure while PostgreSQL is slow or away).
            while open && pending.len() < BUFFER {
                match rx.try_recv() {
                    Ok(message) => take(message, &mut unmarked, &mut pending),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            if !pending.is_empty() {
                let batch: Vec<Finished> = pending.drain(..pending.len().min(BATCH)).collect();
                self.note_unrecorded(batch.first());
                let rows = self.write_batch(&batch).await;
                tracing::debug!(runs = batch.len(), "recorded a batch");
                self.after_recorded(batch, rows).await;
                self.note_unrecorded(pending.front());
            }
            // Once the channel closes (shutdown), every run still out is marked.
            let due = unmarked.take_due(open.then(Instant::now), !pending.is_empty());
            self.mark_running(due).await;
        }
    }

    /// Notes since when the oldest result waiting to be written has waited (`oldest` is
    /// the first of the results in order), or that none waits.
    fn note_unrecorded(&self, oldest: Option<&Finished>) {
        let since = oldest.map(|f| f.ready);
        *self.0.unrecorded_since.lock().expect("unrecorded lock") = since;
        metrics::gauge!("cronops_scheduler_unrecorded_seconds")
            .set(since.map_or(0.0, |at| at.elapsed().as_secs_f64()));
    }

    /// Writes a batch, isolating the runs PostgreSQL refuses, and returns the rows as
    /// they now stand. Returns only once every run is written or closed.
    async fn write_batch(&self, batch: &[Finished]) -> Vec<ExecutionLog> {
        let shared = &self.0;
        let mut isolation = Isolation::new(batch.to_vec());
        let mut rows = Vec::new();
        let mut delay = Duration::from_millis(100);
        while let Err(e) = isolation
            .run(&mut rows, |part| {
                complete(&shared.db, shared.config.alerts, part)
            })
            .await
        {
            tracing::warn!(error = %e, waiting = isolation.left(), "cannot record results yet; retrying");
            metrics::gauge!("cronops_scheduler_unrecorded").set(isolation.left() as f64);
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        metrics::gauge!("cronops_scheduler_unrecorded").set(0.0);
        for (finished, error) in isolation.take_refused() {
            rows.extend(self.close_refused(finished, &error).await);
        }
        rows
    }

    /// Closes a run whose result PostgreSQL refuses for good: as FAILED with the reason
    /// and without the response, else not at all (logged).
    async fn close_refused(&self, finished: Finished, error: &db::Error) -> Option<ExecutionLog> {
        let shared = &self.0;
        tracing::warn!(
            job_id = %finished.job_id,
            slot = %ms_to_time(finished.slot_ms),
            run_id = %finished.completion.id,
            %error,
            "PostgreSQL refuses this run's result; recording it on its own"
        );
        metrics::counter!("cronops_scheduler_isolated_rows_total", "step" => "record").increment(1);
        let mut without_response = finished.clone();
        without_response.completion = Completion {
            status: ExecutionStatus::Failed,
            response_body: None,
            response_body_truncated: false,
            response_content_type: None,
            error: Some(text::error(&format!(
                "the response could not be stored: {}",
                db_message(error)
            ))),
            ..finished.completion.clone()
        };
        let mut isolation = Isolation::new(vec![without_response]);
        let mut rows = Vec::new();
        let mut delay = Duration::from_millis(100);
        while let Err(e) = isolation
            .run(&mut rows, |part| {
                complete(&shared.db, shared.config.alerts, part)
            })
            .await
        {
            tracing::warn!(error = %e, "cannot record results yet; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        if isolation.take_refused().is_empty() {
            return rows.pop();
        }
        tracing::error!("PostgreSQL refuses even to close this run as failed; it stays open");
        metrics::counter!("cronops_scheduler_unrecordable_rows_total").increment(1);
        None
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
            } else if finished.retried() {
                let next_attempt = row.attempt + 1;
                let wait = finished
                    .follow
                    .retry
                    .delay(next_attempt, finished.retry_after);
                let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
                follow_ups.push((
                    Task::Retry {
                        user_id: finished.user_id,
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
            events.push(ExecutionEvent::new(kind, row.clone()));
        }
        let members: Vec<String> = batch.iter().map(|f| f.member.clone()).collect();
        // Retries ride in the same transaction as the release: keep trying (the leases stay
        // held and renewed meanwhile) rather than drop them.
        let mut delay = Duration::from_millis(50);
        let mut failures = 0u32;
        while let Err(e) = queue::release(
            &shared.redis,
            &shared.keys,
            &shared.config.concurrency,
            &members,
            &follow_ups,
        )
        .await
        {
            failures += 1;
            if failures == 1 || failures.is_multiple_of(20) {
                tracing::warn!(error = %e, "could not release leases and queue retries yet; retrying");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        shared.held.forget(members);
        for finished in &batch {
            finished.announced.cancelled().await;
        }
        if let Err(e) = events::publish(&shared.redis, &shared.keys, &events).await {
            tracing::warn!(error = %e, "could not publish run events");
        }
    }
}

/// Writes finished runs in one statement, returning the rows as they now stand. Runs
/// that count for alerts are applied to their jobs in the same transaction, so a notice
/// exists if and only if its run is recorded.
async fn complete(
    pool: &db::Pool,
    alerting: alerts::Settings,
    part: Vec<Finished>,
) -> Result<Vec<ExecutionLog>, db::Error> {
    let mut conn = pool.get().await?;
    let counted: HashSet<Uuid> = part
        .iter()
        .filter(|f| f.counts_for_alerts())
        .map(|f| f.completion.id)
        .collect();
    let completions: Vec<Completion> = part.into_iter().map(|f| f.completion).collect();
    if counted.is_empty() {
        return Ok(ExecutionLog::complete_many(&mut conn, &completions).await?);
    }
    let rows = conn
        .transaction::<_, db::QueryError, _>(async move |conn| {
            let rows = ExecutionLog::complete_many(conn, &completions).await?;
            let mut runs: Vec<&ExecutionLog> =
                rows.iter().filter(|r| counted.contains(&r.id)).collect();
            runs.sort_by_key(|r| (r.finished_at, r.id));
            alerts::apply(conn, &alerting, &runs).await?;
            Ok(rows)
        })
        .await?;
    Ok(rows)
}

/// PostgreSQL's own words for why it refused a write, without the SQL.
fn db_message(error: &db::Error) -> String {
    match error {
        db::Error::Query(db::QueryError::DatabaseError(_, info)) => info.message().to_owned(),
        other => other.to_string(),
    }
}
