//! The contract's enums, mirrored from `db`'s stored ones.

use async_graphql::Enum;

/// What a user may do.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "db::Role")]
pub enum Role {
    User,
    Admin,
}

/// A subscription plan; see `plans` for what each allows.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "db::Plan")]
pub enum Plan {
    Free,
    Premium,
    Pro,
}

/// Whether the scheduler fires a job.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "db::JobStatus")]
pub enum JobStatus {
    Active,
    Paused,
    /// It has no slot left: its `runAt` fired, its `endAt` passed or its `maxRuns` were
    /// made. Plan limits do not count it; `resumeJob` makes it ACTIVE again once its
    /// schedule has a slot to come.
    Completed,
}

/// What a job calls.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "db::TargetType")]
pub enum TargetType {
    Http,
}

/// The HTTP method of a job's request.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "db::HttpMethod")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
}

/// Where a run stands. SUCCESS, FAILED, TIMEOUT and SKIPPED are final.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    /// Queued and not sent yet (a manual run waiting for a scheduler).
    Pending,
    /// Its request went out and no answer has been recorded yet.
    Running,
    Success,
    Failed,
    Timeout,
    /// A slot that was not fired; `error` says why (after a gap of more than 30 s with no
    /// scheduler, only the latest missed slot fires).
    Skipped,
}

impl From<ExecutionStatus> for db::ExecutionStatus {
    fn from(status: ExecutionStatus) -> db::ExecutionStatus {
        match status {
            ExecutionStatus::Pending => db::ExecutionStatus::Pending,
            ExecutionStatus::Running => db::ExecutionStatus::Running,
            ExecutionStatus::Success => db::ExecutionStatus::Success,
            ExecutionStatus::Failed => db::ExecutionStatus::Failed,
            ExecutionStatus::Timeout => db::ExecutionStatus::Timeout,
            ExecutionStatus::Skipped => db::ExecutionStatus::Skipped,
        }
    }
}

impl From<db::ExecutionStatus> for ExecutionStatus {
    /// The API never shows a PREPARED run (see `ExecutionLog::is_shown`); were one to
    /// slip through, it is a run not sent yet, as PENDING says.
    fn from(status: db::ExecutionStatus) -> ExecutionStatus {
        match status {
            db::ExecutionStatus::Prepared | db::ExecutionStatus::Pending => {
                ExecutionStatus::Pending
            }
            db::ExecutionStatus::Running => ExecutionStatus::Running,
            db::ExecutionStatus::Success => ExecutionStatus::Success,
            db::ExecutionStatus::Failed => ExecutionStatus::Failed,
            db::ExecutionStatus::Timeout => ExecutionStatus::Timeout,
            db::ExecutionStatus::Skipped => ExecutionStatus::Skipped,
        }
    }
}

/// Why a run happened.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "db::ExecutionTrigger")]
pub enum ExecutionTrigger {
    Schedule,
    Manual,
    Retry,
    /// A past slot fired on request (`backfillJob`).
    Backfill,
}
