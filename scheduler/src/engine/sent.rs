//! Runs whose request went out: a row turns RUNNING, from the moment its request left,
//! only once it has. Most runs finish within [`MARK_RUNNING_AFTER`] (longer under load)
//! and go straight from PREPARED (or PENDING) to their outcome in one write; slower ones
//! are marked RUNNING first, in batches.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use db::models::ExecutionLog;
use db::models::execution_log::SentMark;
use db::{ExecutionStatus, ExecutionTrigger};
use tokio::time::Instant;
use uuid::Uuid;

use super::Scheduler;
use super::decide::is_late;
use super::isolate::Isolation;

/// How long a sent run may stay PREPARED (or PENDING) in its row before it is marked
/// RUNNING. Most runs finish sooner and go straight to their outcome in one write; only
/// slower ones pay for a second.
const MARK_RUNNING_AFTER: Duration = Duration::from_secs(1);

/// The same while the recorder has results waiting: under load runs take longer from
/// their send to their result (a burst of 10,000 marked a third of its runs at 200 ms),
/// and marks would add writes exactly when the database is busiest.
const MARK_RUNNING_BUSY_AFTER: Duration = Duration::from_secs(5);

/// A run whose request went out.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub(super) id: Uuid,
    /// The run's slot (with the id, the row's key).
    pub(super) scheduled_for: DateTime<Utc>,
    /// When the request went out: the run's `sent_at`.
    pub(super) at: DateTime<Utc>,
    /// A SCHEDULE run sent well after its slot.
    pub(super) late: bool,
    noted: Instant,
}

impl Sent {
    /// `row`'s run, due to leave at `due` (its slot, plus its job's jitter), sent at `at`.
    pub(super) fn of(row: &ExecutionLog, due: DateTime<Utc>, at: DateTime<Utc>) -> Sent {
        Sent {
            id: row.id,
            scheduled_for: row.scheduled_for,
            at,
            late: row.trigger == ExecutionTrigger::Schedule && is_late(due, at),
            noted: Instant::now(),
        }
    }

    /// `row` as it stands once sent: RUNNING since the send.
    pub(super) fn row(&self, row: &ExecutionLog) -> ExecutionLog {
        ExecutionLog {
            status: ExecutionStatus::Running,
            sent_at: Some(self.at),
            late: row.late || self.late,
            ..row.clone()
        }
    }
}

/// Runs sent and not finished, in the order they went out, until they are marked
/// RUNNING.
#[derive(Debug, Default)]
pub(super) struct Unmarked {
    runs: HashMap<Uuid, Sent>,
    order: VecDeque<Uuid>,
}

impl Unmarked {
    pub(super) fn add(&mut self, sent: Vec<Sent>) {
        for run in sent {
            self.order.push_back(run.id);
            self.runs.insert(run.id, run);
        }
    }

    /// A finished run needs no mark: its outcome carries its start.
    pub(super) fn finished(&mut self, id: &Uuid) {
        self.runs.remove(id);
    }

    /// When the oldest run must be marked.
    pub(super) fn next_due(&mut self) -> Option<Instant> {
        while let Some(id) = self.order.front() {
            match self.runs.get(id) {
                Some(run) => return Some(run.noted + MARK_RUNNING_AFTER),
                None => {
                    self.order.pop_front();
                }
            }
        }
        None
    }

    /// Takes the runs due to be marked by `now` (all of them with `now` = None); `busy`
    /// says the recorder has results waiting.
    pub(super) fn take_due(&mut self, now: Option<Instant>, busy: bool) -> Vec<Sent> {
        let extra = if busy {
            MARK_RUNNING_BUSY_AFTER - MARK_RUNNING_AFTER
        } else {
            Duration::ZERO
        };
        let mut due = Vec::new();
        while let Some(deadline) = self.next_due() {
            if now.is_some_and(|now| deadline + extra > now) {
                break;
            }
            if let Some(id) = self.order.pop_front()
                && let Some(run) = self.runs.remove(&id)
            {
                due.push(run);
            }
        }
        due
    }
}

impl Scheduler {
    /// Marks runs whose request went out as RUNNING, from when it did. Best effort: a run
    /// PostgreSQL refuses, or one whose mark cannot be written now, goes straight from
    /// PREPARED to its outcome instead.
    pub(super) async fn mark_running(&self, sent: Vec<Sent>) {
        if sent.is_empty() {
            return;
        }
        let pool = &self.0.db;
        metrics::counter!("cronops_scheduler_marked_running_total").increment(sent.len() as u64);
        tracing::debug!(runs = sent.len(), "marking runs still out as running");
        let mut isolation = Isolation::new(sent);
        let mut marked = Vec::new();
        if let Err(e) = isolation
            .run(&mut marked, |part| async move {
                let mut conn = pool.get().await?;
                let rows: Vec<SentMark> = part
                    .iter()
                    .map(|s| SentMark {
                        id: s.id,
                        scheduled_for: s.scheduled_for,
                        sent_at: s.at,
                        late: s.late,
                    })
                    .collect();
                ExecutionLog::mark_sent(&mut conn, &rows).await?;
                Ok::<_, db::Error>(Vec::<()>::new())
            })
            .await
        {
            tracing::warn!(error = %e, runs = isolation.left(), "could not mark sent runs as running");
        }
        for (sent, error) in isolation.take_refused() {
            tracing::warn!(run_id = %sent.id, %error, "PostgreSQL refuses to mark this run running");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_still_out_are_due_in_the_order_they_went_out_and_finished_ones_never() {
        let user = Uuid::new_v4();
        let rows: Vec<ExecutionLog> = (0..3).map(|_| db::test_db::running_log(user)).collect();
        let now = Utc::now();
        let mut unmarked = Unmarked::default();
        unmarked.add(
            rows.iter()
                .map(|r| Sent::of(r, r.scheduled_for, now))
                .collect(),
        );
        let noted = unmarked.next_due().expect("three runs wait");

        assert!(
            unmarked
                .take_due(Some(noted - Duration::from_millis(1)), false)
                .is_empty()
        );
        // A busy recorder waits longer.
        assert!(
            unmarked
                .take_due(Some(noted + Duration::from_millis(1)), true)
                .is_empty()
        );
        unmarked.finished(&rows[0].id);
        let due: Vec<Uuid> = unmarked
            .take_due(Some(noted + Duration::from_millis(1)), false)
            .iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(due, vec![rows[1].id, rows[2].id]);
        assert_eq!(unmarked.next_due(), None);
    }

    #[test]
    fn only_a_scheduled_run_sent_well_after_its_slot_is_late() {
        let mut row = db::test_db::running_log(Uuid::new_v4());
        let slot = row.scheduled_for;
        assert!(!Sent::of(&row, slot, slot + chrono::Duration::seconds(1)).late);
        let late = Sent::of(&row, slot, slot + chrono::Duration::seconds(3));
        assert!(late.late);
        let shown = late.row(&row);
        assert_eq!(shown.status, ExecutionStatus::Running);
        assert_eq!(
            shown.went_out_at(),
            Some(slot + chrono::Duration::seconds(3))
        );
        assert!(shown.late);
        // Jittered 9 s: due then, and on time a second later.
        let due = slot + chrono::Duration::seconds(9);
        assert!(!Sent::of(&row, due, slot + chrono::Duration::seconds(10)).late);
        row.trigger = ExecutionTrigger::Manual;
        assert!(!Sent::of(&row, slot, slot + chrono::Duration::seconds(3)).late);
    }
}
