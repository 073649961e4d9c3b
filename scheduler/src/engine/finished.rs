//! A finished attempt on its way to PostgreSQL, and what its job says follows it.

use chrono::Utc;
use db::ExecutionStatus;
use db::models::ExecutionLog;
use db::models::execution_log::Completion;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::decide::ABANDONED;
use super::sent::Sent;
use crate::execute::Outcome;
use crate::retry;

/// A finished attempt on its way to PostgreSQL.
#[derive(Debug, Clone)]
pub(super) struct Finished {
    pub(super) member: String,
    pub(super) user_id: Uuid,
    pub(super) job_id: Uuid,
    /// The slot the run serves (epoch ms): what its retry serves too.
    pub(super) slot_ms: i64,
    pub(super) attempt: i32,
    pub(super) follow: FollowUp,
    pub(super) completion: Completion,
    /// The wait the target asked for with `Retry-After`.
    pub(super) retry_after: Option<std::time::Duration>,
    /// Cancelled once the run's STARTED event is out: its outcome is published after.
    pub(super) announced: CancellationToken,
    /// When the result was ready to write.
    pub(super) ready: Instant,
    /// The run's span (see [`crate::traces`]), held so that it ends once this is recorded.
    #[expect(
        dead_code,
        reason = "held for its drop: the run's span ends when recorded"
    )]
    span: tracing::Span,
}

/// What follows a run's outcome, as its job said when the run was prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct FollowUp {
    pub(super) retry: retry::Policy,
    /// Whether a success goes through [`crate::alerts::apply`]: the job had an alert policy or
    /// failures counted (a failure always does, once its retries are spent).
    watched: bool,
}

impl FollowUp {
    /// What `job` says (`None`: the job is gone; no retry, nothing to count).
    pub(super) fn of(job: Option<&db::models::Job>) -> FollowUp {
        job.map_or_else(FollowUp::default, |job| FollowUp {
            retry: retry::Policy::of_job(job),
            watched: job.alert_policy.is_some() || job.consecutive_failures > 0,
        })
    }
}

impl Finished {
    fn of(
        member: String,
        row: &ExecutionLog,
        follow: FollowUp,
        completion: Completion,
    ) -> Finished {
        Finished {
            member,
            user_id: row.user_id,
            job_id: row.job_id,
            slot_ms: row.scheduled_for.timestamp_millis(),
            attempt: row.attempt,
            follow,
            completion,
            retry_after: None,
            announced: CancellationToken::new(),
            ready: Instant::now(),
            span: tracing::Span::none(),
        }
    }

    /// The outcome of a request this instance sent for `row`.
    pub(super) fn answered(
        member: String,
        row: &ExecutionLog,
        follow: FollowUp,
        sent: &Sent,
        outcome: Outcome,
        announced: CancellationToken,
        span: tracing::Span,
    ) -> Finished {
        let outcome_retry_after = outcome.retry_after;
        let completion = Completion {
            id: row.id,
            scheduled_for: row.scheduled_for,
            status: outcome.status,
            sent_at: sent.at,
            late: sent.late,
            finished_at: outcome.finished_at,
            duration_ms: outcome.duration_ms,
            http_status: outcome.http_status,
            response_body: outcome.response_body,
            response_body_truncated: outcome.response_body_truncated,
            response_content_type: outcome.response_content_type,
            error: outcome.error,
        };
        Finished {
            announced,
            span,
            retry_after: outcome_retry_after,
            ..Finished::of(member, row, follow, completion)
        }
    }

    /// A run a dead instance may have sent and never closed: it counts as failed.
    pub(super) fn abandoned(member: String, row: ExecutionLog, follow: FollowUp) -> Finished {
        let now = Utc::now();
        let completion = Completion {
            id: row.id,
            scheduled_for: row.scheduled_for,
            status: ExecutionStatus::Failed,
            sent_at: row.went_out_at().unwrap_or(row.started_at),
            late: false,
            finished_at: now,
            duration_ms: i32::try_from((now - row.started_at).num_milliseconds())
                .unwrap_or(i32::MAX)
                .max(0),
            http_status: None,
            response_body: None,
            response_body_truncated: false,
            response_content_type: None,
            error: Some(ABANDONED.to_owned()),
        };
        let finished = Finished::of(member, &row, follow, completion);
        // No STARTED event to wait for.
        finished.announced.cancel();
        finished
    }

    /// Whether this outcome, once written, goes through [`crate::alerts::apply`]: a failure
    /// with no retry left, or a success of a watched job.
    pub(super) fn counts_for_alerts(&self) -> bool {
        if self.completion.status == ExecutionStatus::Success {
            self.follow.watched
        } else {
            !self.retried()
        }
    }

    /// Whether this failed attempt is tried again, by its job's policy.
    pub(super) fn retried(&self) -> bool {
        let condition = retry::Condition::of(self.completion.status, self.completion.http_status);
        self.follow.retry.retries(self.attempt, condition)
    }
}
