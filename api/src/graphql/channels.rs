//! Notification channels: `notificationChannels` and the channel mutations.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::admin::parse_id;
use crate::auth;
use crate::channels::{self, Kind};
use crate::state::AppState;

/// How a channel delivers.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotificationChannelType {
    /// Mail to an address.
    Email,
    /// A signed JSON POST to a URL.
    Webhook,
    /// A Slack incoming-webhook URL (Slack's JSON shape).
    Slack,
}

impl From<NotificationChannelType> for Kind {
    fn from(kind: NotificationChannelType) -> Kind {
        match kind {
            NotificationChannelType::Email => Kind::Email,
            NotificationChannelType::Webhook => Kind::Webhook,
            NotificationChannelType::Slack => Kind::Slack,
        }
    }
}

/// Where alerts go.
#[derive(SimpleObject, Debug)]
pub struct NotificationChannel {
    pub id: ID,
    #[graphql(name = "type")]
    pub kind: NotificationChannelType,
    pub name: String,
    /// The address or URL.
    pub target: String,
    /// An address other than the account's own is verified once the link mailed to it
    /// is opened; nothing is sent to an unverified channel.
    pub verified: bool,
    /// The account's own email: there from the start, and it cannot be removed.
    pub account_email: bool,
    pub created_at: DateTime<Utc>,
    pub last_delivery_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl From<db::models::NotificationChannel> for NotificationChannel {
    fn from(c: db::models::NotificationChannel) -> Self {
        NotificationChannel {
            id: ID(c.id.to_string()),
            kind: match c.kind.as_str() {
                "WEBHOOK" => NotificationChannelType::Webhook,
                "SLACK" => NotificationChannelType::Slack,
                _ => NotificationChannelType::Email,
            },
            name: c.name,
            target: c.target,
            verified: c.verified_at.is_some(),
            account_email: c.account_email,
            created_at: c.created_at,
            last_delivery_at: c.last_delivery_at,
            last_error: c.last_error,
        }
    }
}

/// `createNotificationChannel`'s input.
#[derive(InputObject, Debug)]
pub struct CreateNotificationChannelInput {
    #[graphql(name = "type")]
    kind: NotificationChannelType,
    /// 1 to 100 characters.
    name: String,
    /// An email address (EMAIL), or an absolute http(s) URL under the rules of job
    /// targets (WEBHOOK, SLACK).
    target: String,
}

fn state<'a>(ctx: &'a Context<'_>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

#[derive(Default)]
pub struct ChannelsQuery;

#[Object]
impl ChannelsQuery {
    /// The caller's channels, the account's own email first.
    async fn notification_channels(&self, ctx: &Context<'_>) -> Result<Vec<NotificationChannel>> {
        let viewer = auth::viewer(ctx)?;
        let list = channels::list(state(ctx), viewer).await?;
        Ok(list.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct ChannelsMutation;

#[Object]
impl ChannelsMutation {
    /// Adds a channel (at most 20). An EMAIL channel to another address is unverified
    /// until the link mailed to it is opened (`verifyNotificationChannel`).
    async fn create_notification_channel(
        &self,
        ctx: &Context<'_>,
        input: CreateNotificationChannelInput,
    ) -> Result<NotificationChannel> {
        let viewer = auth::viewer(ctx)?;
        let created = channels::create(
            state(ctx),
            viewer,
            input.kind.into(),
            &input.name,
            &input.target,
        )
        .await?;
        Ok(created.into())
    }

    /// Removes a channel; the account's own email cannot be removed (CONFLICT).
    async fn delete_notification_channel(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let viewer = auth::viewer(ctx)?;
        let id = parse_id(&id, "notification channel")?;
        Ok(channels::delete(state(ctx), viewer, id).await?)
    }

    /// Opens the link mailed to a new EMAIL channel: the channel is verified (no sign-in
    /// needed: the link goes to the address, not to the account).
    async fn verify_notification_channel(
        &self,
        ctx: &Context<'_>,
        token: String,
    ) -> Result<NotificationChannel> {
        Ok(channels::verify(state(ctx), &token).await?.into())
    }
}
