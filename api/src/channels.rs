//! Notification channels: where a user's alerts go. An EMAIL channel to an address other
//! than the account's own is verified only once the link mailed to it is opened, so
//! CronOps cannot be used to mail strangers; those mails are rate-limited per account and
//! per address. Webhook and Slack URLs follow the rules of job targets (SSRF included).

use std::time::Duration;

use chrono::Utc;
use db::models::{NewChannel, NotificationChannel};
use uuid::Uuid;

use crate::auth::limits;
use crate::auth::rate_limit::Limit;
use crate::auth::tokens::{Claims, random_token};
use crate::email::templates;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Channels an account may have, its own email included.
pub const MAX_CHANNELS: i64 = 20;
/// How long a verification link works.
const VERIFY_TTL_HOURS: i64 = 24;
/// Verification mails an account may send.
const VERIFY_PER_USER: Limit = Limit {
    name: "channel-verify-user",
    max: 5,
    window: Duration::from_secs(3600),
};
/// Verification mails one address may receive, whoever asks.
const VERIFY_PER_ADDRESS: Limit = Limit {
    name: "channel-verify-address",
    max: 3,
    window: Duration::from_secs(86_400),
};

/// What a user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Email,
    Webhook,
    Slack,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "EMAIL",
            Kind::Webhook => "WEBHOOK",
            Kind::Slack => "SLACK",
        }
    }
}

/// The viewer's channels.
pub async fn list(state: &AppState, viewer: &Claims) -> ApiResult<Vec<NotificationChannel>> {
    let mut conn = state.conn().await?;
    Ok(NotificationChannel::of_user(&mut conn, viewer.sub).await?)
}

/// `createNotificationChannel`.
pub async fn create(
    state: &AppState,
    viewer: &Claims,
    kind: Kind,
    name: &str,
    target: &str,
) -> ApiResult<NotificationChannel> {
    let name = name.trim();
    if !(1..=100).contains(&name.chars().count()) {
        return Err(ApiError::bad_input(
            "name",
            "must be 1 to 100 characters long",
        ));
    }
    let user = crate::auth::account::current_user(state, viewer).await?;
    let target = match kind {
        Kind::Email => crate::auth::validate::email("target", target)?,
        Kind::Webhook | Kind::Slack => {
            let url = target.trim();
            let targets = state.config.scheduler.targets();
            crate::jobs::validate::target_url("target", url, &targets)?;
            url.to_owned()
        }
    };
    if kind == Kind::Email && target == user.email {
        return Err(ApiError::Conflict(
            "the account's own email is a channel already".to_owned(),
        ));
    }
    // Only an address other than the account's needs its owner's consent.
    let token = (kind == Kind::Email).then(random_token);
    if token.is_some() {
        limits::check_all(
            state,
            &[
                (VERIFY_PER_USER, &viewer.sub.to_string()),
                (VERIFY_PER_ADDRESS, &target),
            ],
        )
        .await?;
    }
    let token_hash = token.as_deref().map(|t| state.tokens.hash_secret(t));
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let created = NotificationChannel::create_within_limit(
        &mut conn,
        &NewChannel {
            user_id: viewer.sub,
            kind: kind.as_str(),
            name,
            target: &target,
            verified_at: token.is_none().then_some(now),
            verify_token_hash: token_hash.as_deref(),
            verify_expires_at: token
                .is_some()
                .then(|| now + chrono::Duration::hours(VERIFY_TTL_HOURS)),
        },
        MAX_CHANNELS,
    )
    .await?
    .ok_or_else(|| {
        ApiError::Conflict(format!(
            "an account has at most {MAX_CHANNELS} channels: delete one first"
        ))
    })?;
    drop(conn);
    if let Some(token) = token {
        let link = format!(
            "{}/verify-channel?token={token}",
            state.config.links.frontend_url.trim_end_matches('/')
        );
        let mail = templates::channel_verification(&target, &user.email, &link, VERIFY_TTL_HOURS);
        if let Err(e) = state.mailer.send(&mail).await {
            tracing::error!(
                error = format!("{e:#}"),
                "channel verification mail not sent"
            );
            return Err(ApiError::Unavailable(
                "the confirmation email could not be sent; delete the channel and try again later"
                    .to_owned(),
            ));
        }
    }
    Ok(created)
}

/// `deleteNotificationChannel`: any channel but the account's own email.
pub async fn delete(state: &AppState, viewer: &Claims, id: Uuid) -> ApiResult<bool> {
    let mut conn = state.conn().await?;
    if NotificationChannel::delete_owned(&mut conn, id, viewer.sub).await? {
        return Ok(true);
    }
    let own = NotificationChannel::of_user(&mut conn, viewer.sub)
        .await?
        .into_iter()
        .any(|c| c.id == id);
    Err(if own {
        ApiError::Conflict("the account's own email cannot be removed".to_owned())
    } else {
        ApiError::NotFound(format!("no notification channel with id {id}"))
    })
}

/// `verifyNotificationChannel`: the link's token makes its channel verified, once.
pub async fn verify(state: &AppState, token: &str) -> ApiResult<NotificationChannel> {
    let mut conn = state.conn().await?;
    NotificationChannel::verify(&mut conn, &state.tokens.hash_secret(token.trim()))
        .await?
        .ok_or_else(|| {
            ApiError::bad_input("token", "this link is not valid, was used, or has expired")
        })
}
