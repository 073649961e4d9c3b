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

/// Where a run stands. SUCCESS, FAILED and TIMEOUT are final.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "db::ExecutionStatus")]
pub enum ExecutionStatus {
    Pending,
    Running,
    Success,
    Failed,
    Timeout,
}

/// Why a run happened.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "db::ExecutionTrigger")]
pub enum ExecutionTrigger {
    Schedule,
    Manual,
    Retry,
}
