//! Run events on Redis pub/sub: one channel per user, the payload the run row as JSON.
//! The API's subscriptions read them; they are fire-and-forget (the row is the record).

use db::models::ExecutionLog;
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

/// One event as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionEvent {
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The run row as it stands at the event (JSON in the contract's field names),
    /// without its response body.
    pub log: ExecutionLog,
    /// Whether the run has a response body, left out of the event: a body is up to 64 KiB,
    /// and one tenant's large bodies would fill the API's subscription past Redis's
    /// output limit, cutting every tenant's live events. Readers load it from the row.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub body_left_out: bool,
}

impl ExecutionEvent {
    /// The event of `kind` for `log`, its response body left out.
    pub fn new(kind: EventKind, mut log: ExecutionLog) -> ExecutionEvent {
        let body_left_out = log.response_body.take().is_some();
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
