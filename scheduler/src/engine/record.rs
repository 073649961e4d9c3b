//! Writing outcomes: finished runs are written in batches, then their retries queued,
//! their leases released and their events published.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use db::ExecutionStatus;
use db::models::ExecutionLog;
use db::models::execution_log::Completion;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Scheduler;
use super::decide::ABANDONED;
use crate::events::{self, EventKind, ExecutionEvent};
use crate::execute::Outcome;
use crate::task::Task;
use crate::{Error, queue, retry};

/// Results wait here while PostgreSQL is unreachable; executors block when it is full.
pub(super) const BUFFER: usize = 10_000;

/// Most results written in one statement.
const BATCH: usize = 500;

/// A finished attempt on its way to PostgreSQL.
#[derive(Debug, Clone)]
pub(super) struct Finished {
    member: String,
    job_id: Uuid,
    /// The slot the run serves (epoch ms): what its retry serves too.
    slot_ms: i64,
    max_retries: i32,
    completion: Completion,
    /// Cancelled once the run's STARTED event is out: its outcome is published after.
    announced: CancellationToken,
}

impl Finished {
    /// The outcome of a request this instance sent for `row`.
    pub(super) fn answered(
        member: String,
        row: &ExecutionLog,
        max_retries: i32,
        outcome: Outcome,
        announced: CancellationToken,
    ) -> Finished {
        Finished {
            member,
            job_id: row.job_id,
            slot_ms: row.scheduled_for.timestamp_millis(),
            max_retries,
            completion: Completion {
                id: row.id,
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
        }
    }

    /// A run a dead instance may have sent and never closed: it counts as failed.
    pub(super) fn abandoned(member: String, row: ExecutionLog, max_retries: i32) -> Finished {
        let now = Utc::now();
        Finished {
            member,
            job_id: row.job_id,
            slot_ms: row.scheduled_for.timestamp_millis(),
            max_retries,
            completion: Completion {
                id: row.id,
                status: ExecutionStatus::Failed,
                finished_at: now,
                duration_ms: i32::try_from((now - row.started_at).num_milliseconds())
                    .unwrap_or(i32::MAX)
                    .max(0),
                http_status: None,
                response_body: None,
                response_body_truncated: false,
                response_content_type: None,
                error: Some(ABANDONED.to_owned()),
            },
            // No STARTED event to wait for.
            announced: {
                let token = CancellationToken::new();
                token.cancel();
                token
            },
        }
    }
}

impl Scheduler {
    /// Writes finished runs in batches; while PostgreSQL is unreachable, keeps the batch
    /// and retries with backoff (the leases stay renewed meanwhile).
    pub(super) async fn record_loop(self, mut rx: mpsc::Receiver<Finished>) {
        let mut batch: Vec<Finished> = Vec::new();
        loop {
            if batch.is_empty() {
                match rx.recv().await {
                    Some(first) => batch.push(first),
                    None => return,
                }
            }
            while batch.len() < BATCH {
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
        shared.held.forget(members);
        for finished in &batch {
            finished.announced.cancelled().await;
        }
        if let Err(e) = events::publish(&shared.redis, &shared.keys, &events).await {
            tracing::warn!(error = %e, "could not publish run events");
        }
    }
}
