//! Run events on Redis pub/sub: one channel per user, the payload a [`RunSnapshot`] as
//! JSON. The API's subscriptions read them; they are fire-and-forget (the row is the
//! record).

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

/// A run as its events carry it: every column of its row but the response body, in the
/// contract's field names. Its own type, so that the row can change without changing
/// what API instances of another version read, and the body can never ride along.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSnapshot {
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
    pub error: Option<String>,
    #[serde(default)]
    pub response_body_truncated: bool,
    #[serde(default)]
    pub response_content_type: Option<String>,
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
}

impl RunSnapshot {
    /// The snapshot of `row`, and whether the row has a response body (left out).
    pub fn of(row: ExecutionLog) -> (RunSnapshot, bool) {
        let snapshot = RunSnapshot {
            id: row.id,
            job_id: row.job_id,
            user_id: row.user_id,
            status: row.status,
            trigger: row.trigger,
            attempt: row.attempt,
            scheduled_for: row.scheduled_for,
            late: row.late,
            started_at: row.started_at,
            finished_at: row.finished_at,
            duration_ms: row.duration_ms,
            http_status: row.http_status,
            error: row.error,
            response_body_truncated: row.response_body_truncated,
            response_content_type: row.response_content_type,
            sent_at: row.sent_at,
        };
        (snapshot, row.response_body.is_some())
    }

    /// The row it was taken from, without its response body.
    pub fn into_row(self) -> ExecutionLog {
        ExecutionLog {
            id: self.id,
            job_id: self.job_id,
            user_id: self.user_id,
            status: self.status,
            trigger: self.trigger,
            attempt: self.attempt,
            scheduled_for: self.scheduled_for,
            late: self.late,
            started_at: self.started_at,
            finished_at: self.finished_at,
            duration_ms: self.duration_ms,
            http_status: self.http_status,
            response_body: None,
            error: self.error,
            response_body_truncated: self.response_body_truncated,
            response_content_type: self.response_content_type,
            sent_at: self.sent_at,
        }
    }
}

/// One event as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionEvent {
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The run as it stands at the event.
    pub log: RunSnapshot,
    /// Whether the run has a response body, left out of the event: a body is up to 64 KiB,
    /// and one tenant's large bodies would fill the API's subscription past Redis's
    /// output limit, cutting every tenant's live events. Readers load it from the row.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub body_left_out: bool,
}

impl ExecutionEvent {
    /// The event of `kind` for `row`, its response body left out.
    pub fn new(kind: EventKind, row: ExecutionLog) -> ExecutionEvent {
        let (log, body_left_out) = RunSnapshot::of(row);
        ExecutionEvent {
            kind,
            log,
            body_left_out,
        }
    }
}

/// An event ready to publish: its channel and payload.
#[derive(Debug, Clone)]
pub struct Encoded {
    channel: String,
    payload: String,
}

/// Serialises an event ahead of publishing it (the scheduler does this while preparing
/// runs, to keep the moment of firing short).
pub fn encode(keys: &Keys, event: &ExecutionEvent) -> Encoded {
    Encoded {
        channel: keys.user_events(event.log.user_id),
        payload: serde_json::to_string(event).expect("events serialise"),
    }
}

/// Publishes events, pipelined. Failures are logged by the caller: events are a live
/// view, the rows are the record.
pub async fn publish(
    redis: &RedisPool,
    keys: &Keys,
    events: &[ExecutionEvent],
) -> Result<(), Error> {
    let encoded: Vec<Encoded> = events.iter().map(|event| encode(keys, event)).collect();
    publish_encoded(redis, encoded).await
}

/// Publishes encoded events, pipelined.
pub async fn publish_encoded(redis: &RedisPool, events: Vec<Encoded>) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let pipe = redis.next().pipeline();
    for event in events {
        pipe.publish::<(), _, _>(event.channel, event.payload)
            .await
            .map_err(Error::Redis)?;
    }
    pipe.all::<Value>().await.map_err(Error::Redis)?;
    Ok(())
}

/// A message for API processes rather than subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "control")]
pub enum ControlMessage {
    /// This account was deleted: its subscriptions and sockets end.
    #[serde(rename_all = "camelCase")]
    UserDeleted { user: Uuid },
    /// Sessions of this account ended or changed (a logout, a password change or reset,
    /// a new role): the sockets opened with them close, so that their clients come back
    /// with what they may do now.
    #[serde(rename_all = "camelCase")]
    SessionsEnded {
        user: Uuid,
        /// Only the sockets of this session (a logout).
        only: Option<Uuid>,
        /// All but the sockets of this session (the caller's own password change).
        keep: Option<Uuid>,
        /// What the client is told in the close frame.
        reason: String,
    },
}

/// Tells every API process that an account is gone.
pub async fn publish_user_deleted(
    redis: &RedisPool,
    keys: &Keys,
    user_id: Uuid,
) -> Result<(), Error> {
    publish_control(redis, keys, &ControlMessage::UserDeleted { user: user_id }).await
}

/// Tells every API process something about accounts and their sessions.
pub async fn publish_control(
    redis: &RedisPool,
    keys: &Keys,
    message: &ControlMessage,
) -> Result<(), Error> {
    let payload = serde_json::to_string(message).expect("serialises");
    redis
        .next()
        .publish::<(), _, _>(keys.control_events(), payload)
        .await
        .map_err(Error::Redis)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use db::models::ExecutionLog;
    use db::{ExecutionStatus, ExecutionTrigger};
    use uuid::Uuid;

    use super::{EventKind, ExecutionEvent};

    fn row() -> ExecutionLog {
        let now = Utc::now();
        ExecutionLog {
            id: Uuid::new_v4(),
            job_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            status: ExecutionStatus::Success,
            trigger: ExecutionTrigger::Schedule,
            attempt: 1,
            scheduled_for: now,
            late: false,
            started_at: now,
            finished_at: Some(now),
            duration_ms: Some(12),
            http_status: Some(200),
            response_body: Some("x".repeat(1000)),
            error: None,
            response_body_truncated: false,
            response_content_type: Some("text/plain".into()),
            sent_at: Some(now),
        }
    }

    #[test]
    fn an_event_carries_the_row_without_its_body() {
        let row = row();
        let event = ExecutionEvent::new(EventKind::Succeeded, row.clone());
        let json = serde_json::to_string(&event).unwrap();
        assert!(!json.contains("xxxx"), "{json}");
        let read: ExecutionEvent = serde_json::from_str(&json).unwrap();
        assert!(read.body_left_out);
        let expected = ExecutionLog {
            response_body: None,
            ..row
        };
        assert_eq!(read.log.into_row(), expected);
    }

    #[test]
    fn events_of_the_row_shaped_format_still_read() {
        // What instances before the snapshot type published: the whole row as JSON.
        let row = ExecutionLog {
            response_body: None,
            ..row()
        };
        let old = serde_json::json!({"type": "STARTED", "log": row, "body_left_out": true});
        let read: ExecutionEvent = serde_json::from_value(old).unwrap();
        assert_eq!(read.kind, EventKind::Started);
        assert_eq!(read.log.into_row(), row);
    }
}
