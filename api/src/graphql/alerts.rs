//! Alert policies, job health, notices (`notifications`, `testNotificationChannel`) and
//! the signing secret that webhook notices are signed with.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::admin::parse_id;
use super::channels::NotificationChannel;
use super::connection::{self, Edge, PageInfo, PageRequest};
use super::job::Job;
use crate::auth;
use crate::notify::render;
use crate::state::AppState;

/// When a job's failures are told, and to which channels.
#[derive(InputObject, Debug)]
pub struct AlertPolicyInput {
    /// The caller's notification channels to tell (at most 20; notices go to a channel
    /// once it is verified). Empty: the job's health is kept and it may be auto-paused,
    /// but nothing is sent.
    channel_ids: Option<Vec<ID>>,
    /// Runs failed in a row (each counted once its retries are spent) that make the job
    /// FAILING, and send one notice (1 to 10,000).
    #[graphql(default_with = "Some(1)")]
    failure_threshold: Option<i32>,
    /// Whether the first success after FAILING sends a notice.
    #[graphql(default_with = "Some(true)")]
    notify_on_recovery: Option<bool>,
    /// Runs failed in a row after which the job is paused, with `pausedReason` saying
    /// why, and a notice sent (1 to 10,000). Unset: never.
    auto_pause_after: Option<i32>,
}

impl AlertPolicyInput {
    /// The stored policy; a channel id that is not a UUID is BAD_USER_INPUT.
    pub fn read(self) -> Result<scheduler::alerts::AlertPolicy> {
        let channel_ids = self
            .channel_ids
            .unwrap_or_default()
            .iter()
            .map(|id| {
                id.parse().map_err(|_| {
                    crate::error::ApiError::bad_input(
                        "alertPolicy.channelIds",
                        format!("`{}` is not a channel id", id.as_str()),
                    )
                    .into()
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(scheduler::alerts::AlertPolicy {
            channel_ids,
            // An explicit null means the default, as an omitted field does.
            failure_threshold: self.failure_threshold.unwrap_or(1),
            notify_on_recovery: self.notify_on_recovery.unwrap_or(true),
            auto_pause_after: self.auto_pause_after,
        })
    }
}

/// A job's alert policy.
#[derive(SimpleObject, Debug)]
pub struct AlertPolicy {
    pub channel_ids: Vec<ID>,
    pub failure_threshold: i32,
    pub notify_on_recovery: bool,
    pub auto_pause_after: Option<i32>,
}

impl From<scheduler::alerts::AlertPolicy> for AlertPolicy {
    fn from(p: scheduler::alerts::AlertPolicy) -> Self {
        AlertPolicy {
            channel_ids: p.channel_ids.iter().map(|id| ID(id.to_string())).collect(),
            failure_threshold: p.failure_threshold,
            notify_on_recovery: p.notify_on_recovery,
            auto_pause_after: p.auto_pause_after,
        }
    }
}

/// Where a job stands with its failures.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum JobHealth {
    /// Fewer consecutive failures than its threshold (1 without a policy).
    Healthy,
    /// At least its threshold of consecutive failures.
    Failing,
    /// Paused by the scheduler after `autoPauseAfter` failures (`pausedReason`).
    AutoPaused,
}

impl From<scheduler::alerts::Health> for JobHealth {
    fn from(h: scheduler::alerts::Health) -> Self {
        match h {
            scheduler::alerts::Health::Healthy => JobHealth::Healthy,
            scheduler::alerts::Health::Failing => JobHealth::Failing,
            scheduler::alerts::Health::AutoPaused => JobHealth::AutoPaused,
        }
    }
}

/// What a notice tells.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    /// The job reached its failure threshold.
    Failing,
    /// The job succeeded after FAILING.
    Recovered,
    /// The job was paused after `autoPauseAfter` failures.
    AutoPaused,
    /// Alerts held back by the hourly limit, summed up.
    Digest,
    /// Sent by `testNotificationChannel`.
    Test,
}

/// Where a notice stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotificationStatus {
    /// Waiting to be sent, or to be tried again (`nextAttemptAt`).
    Pending,
    Sent,
    /// Every attempt failed (`lastError`), or its channel is gone.
    Failed,
    /// Held back by the hourly limit; a DIGEST (`digestId`) sums it up.
    Folded,
}

/// A notice: written with the run that caused it, then delivered at least once.
pub struct Notification(pub db::models::Notification);

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn kind(&self) -> NotificationKind {
        match self.0.kind.as_str() {
            "FAILING" => NotificationKind::Failing,
            "RECOVERED" => NotificationKind::Recovered,
            "AUTO_PAUSED" => NotificationKind::AutoPaused,
            "DIGEST" => NotificationKind::Digest,
            _ => NotificationKind::Test,
        }
    }

    async fn status(&self) -> NotificationStatus {
        match self.0.status.as_str() {
            "SENT" => NotificationStatus::Sent,
            "FAILED" => NotificationStatus::Failed,
            "FOLDED" => NotificationStatus::Folded,
            _ => NotificationStatus::Pending,
        }
    }

    /// Sends tried so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// The channel it goes to; null once the channel is deleted.
    async fn channel(&self, ctx: &Context<'_>) -> Result<Option<NotificationChannel>> {
        let Some(id) = self.0.channel_id else {
            return Ok(None);
        };
        let state = ctx.data_unchecked::<AppState>();
        let mut conn = state.conn().await?;
        Ok(db::models::NotificationChannel::find(&mut conn, id)
            .await?
            .filter(|c| c.user_id == self.0.user_id)
            .map(Into::into))
    }

    /// The job it is about; null for a digest, a test, or a job since deleted.
    async fn job(&self, ctx: &Context<'_>) -> Result<Option<Job>> {
        let Some(id) = self.0.job_id else {
            return Ok(None);
        };
        let loaders = ctx.data_unchecked::<super::loaders::Loaders>();
        Ok(loaders
            .jobs
            .load_one(id)
            .await?
            .filter(|j| j.user_id == self.0.user_id)
            .map(Job))
    }

    /// The run that caused it.
    async fn run_id(&self) -> Option<ID> {
        self.0.run_id.map(|id| ID(id.to_string()))
    }

    /// Runs failed in a row when it was raised (for RECOVERED: before the recovery).
    async fn consecutive_failures(&self) -> Option<i32> {
        self.0
            .content
            .get("consecutiveFailures")
            .and_then(serde_json::Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())
    }

    /// What it says, as plain text (what Slack shows, and an email's body).
    async fn message(&self, ctx: &Context<'_>) -> String {
        let state = ctx.data_unchecked::<AppState>();
        render::message(&self.0, &state.config.links.frontend_url)
    }

    /// The digest it was folded into.
    async fn digest_id(&self) -> Option<ID> {
        self.0.digest_id.map(|id| ID(id.to_string()))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }

    /// When it is tried next, while PENDING.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == "PENDING").then_some(self.0.next_attempt_at)
    }

    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
}

impl connection::Listed for db::models::Notification {
    fn position(&self) -> (DateTime<Utc>, uuid::Uuid) {
        (self.created_at, self.id)
    }
}

/// A page of notices, newest first.
#[derive(SimpleObject)]
pub struct NotificationConnection {
    pub edges: Vec<Edge<Notification>>,
    pub page_info: PageInfo,
}

/// The caller's signing secret: job requests and webhook notices carry
/// `X-CronOps-Signature: t=<unix>,v1=<hex>,v1=<hex>`, each hex an HMAC-SHA256 of
/// `<t>.<execution id>.<body>` (a notice: `<t>.<body>`), the first under `current` and
/// the second under `next`.
#[derive(SimpleObject, Debug)]
pub struct SigningSecret {
    pub current: String,
    /// What `current` becomes on rotation; it signs too, so a receiver can switch to it
    /// first.
    pub next: String,
    /// When `current` became current.
    pub created_at: DateTime<Utc>,
}

impl From<db::models::SigningSecret> for SigningSecret {
    fn from(s: db::models::SigningSecret) -> SigningSecret {
        SigningSecret {
            current: s.current,
            next: s.next,
            created_at: s.created_at,
        }
    }
}

fn state<'a>(ctx: &'a Context<'_>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

#[derive(Default)]
pub struct AlertsQuery;

#[Object]
impl AlertsQuery {
    /// The caller's notices, newest first; of one job with `jobId`.
    #[graphql(complexity = "connection::page_cost(first, child_complexity)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        job_id: Option<ID>,
    ) -> Result<NotificationConnection> {
        let viewer = auth::viewer(ctx)?;
        let request = PageRequest::read(first, after.as_deref())?;
        let job_id = job_id.map(|id| parse_id(&id, "job")).transpose()?;
        let page = crate::notices::page(state(ctx), viewer, job_id, request).await?;
        let (edges, page_info) = page.edges(Notification);
        Ok(NotificationConnection { edges, page_info })
    }

    /// The caller's signing secret (made on first use).
    async fn signing_secret(&self, ctx: &Context<'_>) -> Result<SigningSecret> {
        let viewer = auth::viewer(ctx)?;
        Ok(crate::notices::signing_secret(state(ctx), viewer)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct AlertsMutation;

#[Object]
impl AlertsMutation {
    /// Promotes the caller's `next` signing secret to `current` and makes a new `next`.
    /// Switch receivers to `next` first: they verify before and after.
    async fn rotate_signing_secret(&self, ctx: &Context<'_>) -> Result<SigningSecret> {
        let viewer = auth::viewer(ctx)?;
        Ok(crate::notices::rotate_signing_secret(state(ctx), viewer)
            .await?
            .into())
    }

    /// Sends a TEST notice to one of the caller's verified channels (at most 10 an hour),
    /// delivered like any notice: follow it in `notifications`.
    async fn test_notification_channel(&self, ctx: &Context<'_>, id: ID) -> Result<Notification> {
        let viewer = auth::viewer(ctx)?;
        let id = parse_id(&id, "notification channel")?;
        Ok(Notification(
            crate::notices::test(state(ctx), viewer, id).await?,
        ))
    }
}
