//! Execution logs: one row per attempt of one slot.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::enums::{ExecutionStatus, ExecutionTrigger};
use crate::schema::execution_logs;

/// One run of a job as recorded. `(job_id, scheduled_for, trigger, attempt)` is unique,
/// which is what keeps a slot from being recorded, and so fired, twice.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = execution_logs, check_for_backend(diesel::pg::Pg))]
pub struct ExecutionLog {
    pub id: Uuid,
    pub job_id: Uuid,
    /// The job's owner, copied for tenant filters without a join.
    pub user_id: Uuid,
    pub status: ExecutionStatus,
    pub trigger: ExecutionTrigger,
    /// 1 for the first try of a slot, n for its (n-1)th retry.
    pub attempt: i32,
    pub scheduled_for: DateTime<Utc>,
    /// Fired after its slot had passed while no scheduler ran.
    pub late: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i32>,
    pub http_status: Option<i32>,
    /// At most 64 KiB of the response body.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// A run about to start, written as RUNNING before its request goes out.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = execution_logs)]
pub struct NewExecutionLog {
    pub id: Uuid,
    pub job_id: Uuid,
    pub user_id: Uuid,
    pub status: ExecutionStatus,
    pub trigger: ExecutionTrigger,
    pub attempt: i32,
    pub scheduled_for: DateTime<Utc>,
    pub late: bool,
    pub started_at: DateTime<Utc>,
}
