//! Logins and their sessions: access tokens plus rotating refresh tokens.

use std::sync::LazyLock;

use chrono::Utc;
use db::models::{NewRefreshSession, RefreshSession, Rotation, User};
use uuid::Uuid;

use super::{RequestAuth, limits, password, tokens, validate};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What a successful login, verification or refresh hands the client.
#[derive(Debug, Clone)]
pub struct AuthSession {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: User,
}

/// Verified against when the email is unknown, so that a login takes as long for an
/// unknown account as for a known one.
static DUMMY_HASH: LazyLock<tokio::sync::OnceCell<String>> =
    LazyLock::new(tokio::sync::OnceCell::new);

async fn dummy_hash() -> ApiResult<String> {
    DUMMY_HASH
        .get_or_try_init(|| password::hash("not-a-real-password-0".into()))
        .await
        .cloned()
}

fn refresh_expiry(state: &AppState) -> chrono::DateTime<Utc> {
    let ttl = state
        .tokens
        .refresh_ttl
        .min(state.tokens.refresh_absolute_ttl);
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7))
}

fn absolute_ttl(state: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(state.tokens.refresh_absolute_ttl)
        .unwrap_or(chrono::Duration::days(30))
}

fn access_for(state: &AppState, user: User, refresh_token: String, family_id: Uuid) -> AuthSession {
    AuthSession {
        access_token: state.tokens.issue_access(user.id, user.role, family_id),
        refresh_token,
        expires_in: i64::try_from(state.tokens.access_ttl.as_secs()).unwrap_or(i64::MAX),
        user,
    }
}

/// Starts a new session family for the user (after login or email verification).
pub async fn start(state: &AppState, user: User) -> ApiResult<AuthSession> {
    let refresh_token = tokens::random_token();
    let family_id = Uuid::new_v4();
    let mut conn = state.conn().await?;
    RefreshSession::create(
        &mut conn,
        &NewRefreshSession {
            user_id: user.id,
            family_id,
            token_hash: &state.tokens.hash_secret(&refresh_token),
            expires_at: refresh_expiry(state),
        },
    )
    .await?;
    Ok(access_for(state, user, refresh_token, family_id))
}

/// `login`: email and password. Unknown email and wrong password give the same answer
/// in the same time; an unverified account is told so only with the right password.
pub async fn login(
    state: &AppState,
    auth: &RequestAuth,
    email: &str,
    password_text: String,
) -> ApiResult<AuthSession> {
    let email = validate::email("email", email)?;
    if state.env != crate::config::AppEnv::Development && crate::seed::is_demo_account(&email) {
        return Err(ApiError::Forbidden {
            message: "demo accounts work only with APP_ENV=development: delete it, and log in with a real account".into(),
            reason: Some("DEMO_ACCOUNT"),
        });
    }
    let ip = auth.ip_key();
    let email_at_ip = format!("{email}|{ip}");
    limits::check(state, limits::LOGIN_PER_IP, &ip).await?;
    limits::check_reached(state, limits::LOGIN_FAILURES_PER_EMAIL_AND_IP, &email_at_ip).await?;
    if limits::reached(state, limits::LOGIN_FAILURES_PER_EMAIL, &email).await {
        tokio::time::sleep(limits::LOGIN_SLOW_DOWN).await;
    }
    let mut conn = state.conn().await?;
    let user = User::find_by_email(&mut conn, &email).await?;
    drop(conn);
    let stored = match &user {
        Some(user) => user.password_hash.clone(),
        None => dummy_hash().await?,
    };
    let matches = password::verify(password_text, stored).await?;
    let user = match user {
        Some(user) if matches => user,
        _ => {
            limits::count(state, limits::LOGIN_FAILURES_PER_EMAIL_AND_IP, &email_at_ip).await;
            limits::count(state, limits::LOGIN_FAILURES_PER_EMAIL, &email).await;
            return Err(ApiError::Unauthenticated(
                "invalid email or password".into(),
            ));
        }
    };
    if !user.is_verified() {
        return Err(ApiError::Forbidden {
            message: "verify your email first: enter the code we sent, or ask for a new one with resendVerification"
                .into(),
            reason: Some("EMAIL_NOT_VERIFIED"),
        });
    }
    start(state, user).await
}

/// `refreshToken`: rotates the refresh token. A token that was already rotated revokes
/// its whole family: someone is replaying a stolen token.
pub async fn refresh(state: &AppState, refresh_token: &str) -> ApiResult<AuthSession> {
    let invalid = || {
        ApiError::Unauthenticated(
            "the refresh token is invalid, expired or revoked: log in again".into(),
        )
    };
    let presented = refresh_token.trim();
    if presented.is_empty() {
        return Err(invalid());
    }
    let successor = tokens::random_token();
    let mut conn = state.conn().await?;
    let rotation = RefreshSession::rotate(
        &mut conn,
        &state.tokens.hash_secret(presented),
        &state.tokens.hash_secret(&successor),
        refresh_expiry(state),
        absolute_ttl(state),
    )
    .await?;
    match rotation {
        Rotation::Rotated(session) => {
            let user = User::find_optional(&mut conn, session.user_id)
                .await?
                .ok_or_else(invalid)?;
            Ok(access_for(state, user, successor, session.family_id))
        }
        Rotation::Reused { family_id, user_id } => {
            tracing::warn!(%user_id, %family_id, "refresh token reused: session family revoked");
            drop(conn);
            let reason = "this session was revoked: log in again";
            announce_ended(state, user_id, Some(family_id), None, reason).await;
            Err(ApiError::Unauthenticated(
                "this refresh token was already used: every session of this login is revoked, log in again".into(),
            ))
        }
        Rotation::Invalid => Err(invalid()),
    }
}

/// `logout`: revokes the session (the token's whole family). Unknown tokens are fine:
/// logging out twice is not an error.
pub async fn logout(state: &AppState, refresh_token: &str) -> ApiResult<bool> {
    let mut conn = state.conn().await?;
    let ended =
        RefreshSession::revoke_by_token(&mut conn, &state.tokens.hash_secret(refresh_token.trim()))
            .await?;
    drop(conn);
    if let Some((family, user)) = ended {
        let reason = "logged out";
        announce_ended(state, user, Some(family), None, reason).await;
    }
    Ok(true)
}

/// Tells every API process that sessions of `user` ended or changed (only `only`, or all
/// but `keep`, or all): their sockets close with 4401 and `reason`. Best effort: with
/// Redis down the sockets live until their tokens expire.
pub async fn announce_ended(
    state: &AppState,
    user: Uuid,
    only: Option<Uuid>,
    keep: Option<Uuid>,
    reason: &str,
) {
    let message = scheduler::events::ControlMessage::SessionsEnded {
        user,
        only,
        keep,
        reason: reason.to_owned(),
    };
    if let Err(e) = scheduler::events::publish_control(&state.redis, &state.keys, &message).await {
        tracing::warn!(user_id = %user, error = %e, "could not close the sockets of ended sessions");
    }
}
