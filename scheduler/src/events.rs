//! Run events on Redis pub/sub: one channel per user, the payload the run row as JSON.
//! The API's subscriptions read them; they are fire-and-forget (the row is the record).

use chrono::{DateTime, Utc};
use db::models::ExecutionLog;
use db::{ExecutionStatus, ExecutionTrigger};
use fred::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::redis::RedisPool;
use crate::{Error, Keys};

/// What happened to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// The request is about to go out.
    Started,
    /// 2xx.
    Succeeded,
    /// Failed for good (no retry left).
    Failed,
    /// Failed; another attempt is queued.
    Retrying,
}

/// The run row as it stands at the event, in the contract's field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogPayload {
    pub id: Uuid,
    pub job_id: Uuid,
    pub user_id: Uuid,
    pub status: ExecutionStatus,
    pub trigger: ExecutionTrigger,
    pub attempt: i32,
    pub scheduled_for: DateTime<Utc>,
    pub late: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i32>,
    pub http_status: Option<i32>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

impl From<&ExecutionLog> for LogPayload {
    fn from(l: &ExecutionLog) -> LogPayload {
        LogPayload {
            id: l.id,
            job_id: l.job_id,
            user_id: l.user_id,
            status: l.status,
            trigger: l.trigger,
            attempt: l.attempt,
            scheduled_for: l.scheduled_for,
            late: l.late,
            started_at: l.started_at,
            finished_at: l.finished_at,
            duration_ms: l.duration_ms,
            http_status: l.http_status,
            response_body: l.response_body.clone(),
            error: l.error.clone(),
        }
    }
}

impl From<LogPayload> for ExecutionLog {
    fn from(l: LogPayload) -> ExecutionLog {
        ExecutionLog {
            id: l.id,
            job_id: l.job_id,
            user_id: l.user_id,
            status: l.status,
            trigger: l.trigger,
            attempt: l.attempt,
            scheduled_for: l.scheduled_for,
            late: l.late,
            started_at: l.started_at,
            finished_at: l.finished_at,
            duration_ms: l.duration_ms,
            http_status: l.http_status,
            response_body: l.response_body,
            error: l.error,
        }
    }
}

/// One event as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionEvent {
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub log: LogPayload,
}

/// Publishes events, pipelined. Failures are logged by the caller: events are a live
/// view, the rows are the record.
pub async fn publish(
    redis: &RedisPool,
    keys: &Keys,
    events: &[ExecutionEvent],
) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let pipe = redis.next().pipeline();
    for event in events {
        let payload = serde_json::to_string(event).expect("events serialise");
        pipe.publish::<(), _, _>(keys.user_events(event.log.user_id), payload)
            .await
            .map_err(Error::Redis)?;
    }
    pipe.all::<Value>().await.map_err(Error::Redis)?;
    Ok(())
}

/// A message for API processes rather than subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlMessage {
    /// This account was deleted: its open subscriptions end.
    pub user_deleted: Uuid,
}

/// Tells every API process that an account is gone.
pub async fn publish_user_deleted(
    redis: &RedisPool,
    keys: &Keys,
    user_id: Uuid,
) -> Result<(), Error> {
    let payload = serde_json::to_string(&ControlMessage {
        user_deleted: user_id,
    })
    .expect("serialises");
    redis
        .next()
        .publish::<(), _, _>(keys.control_events(), payload)
        .await
        .map_err(Error::Redis)
}
