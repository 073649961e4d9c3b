//! Account life: sign-up with an emailed code, verification, password reset and changes.

use chrono::Utc;
use db::models::verification_code::CodeAttempt;
use db::models::{NewUser, PasswordResetToken, User, VerificationCode};
use db::{Plan, Role};

use super::session::{self, AuthSession};
use super::tokens::{Claims, random_code, random_token};
use super::{RequestAuth, limits, password, validate};
use crate::email::templates;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long an emailed code stays valid.
pub const CODE_TTL_MINUTES: i64 = 10;
/// Wrong tries a code survives.
pub const CODE_MAX_ATTEMPTS: i32 = 5;
/// How long a reset link stays valid.
pub const RESET_TTL_MINUTES: i64 = 60;

/// What `signup` collects.
#[derive(Debug, Clone)]
pub struct Signup {
    pub email: String,
    pub password: String,
    pub name: String,
}

/// The stored form of a user's code: keyed by the user, so equal codes differ in storage.
fn code_hash(state: &AppState, user: &User, code: &str) -> String {
    state.tokens.hash_secret(&format!("{}:{code}", user.id))
}

async fn send_code(state: &AppState, user: &User) -> ApiResult<()> {
    let code = random_code();
    let expires_at = Utc::now() + chrono::Duration::minutes(CODE_TTL_MINUTES);
    let mut conn = state.conn().await?;
    VerificationCode::replace(
        &mut conn,
        user.id,
        &code_hash(state, user, &code),
        expires_at,
    )
    .await?;
    drop(conn);
    state
        .mailer
        .send(&templates::verification_code(&user.email, &user.name, &code, CODE_TTL_MINUTES))
        .await
        .map_err(|e| {
            tracing::error!(error = format!("{e:#}"), email = %user.email, "verification email not sent");
            ApiError::Unavailable(
                "the verification email could not be sent; try again with resendVerification".into(),
            )
        })
}

/// `signup`: creates an unverified account and emails it a 6-digit code.
pub async fn signup(state: &AppState, auth: &RequestAuth, input: Signup) -> ApiResult<User> {
    let email = validate::email("email", &input.email)?;
    validate::password("password", &input.password)?;
    let name = validate::name("name", &input.name)?;
    limits::check(state, limits::SIGNUP_PER_IP, &auth.ip_key()).await?;
    let password_hash = password::hash(input.password).await?;
    let mut conn = state.conn().await?;
    let created = User::create(
        &mut conn,
        &NewUser {
            email: &email,
            name: &name,
            password_hash: &password_hash,
            role: Role::User,
            plan: Plan::Free,
            email_verified_at: None,
        },
    )
    .await;
    drop(conn);
    let user = match created.map_err(db::Error::from) {
        Ok(user) => user,
        Err(e) if e.violated_constraint() == Some("users_email_key") => {
            return already_registered(state, &email, &name).await;
        }
        Err(e) => return Err(e.into()),
    };
    send_code(state, &user).await?;
    Ok(user)
}

/// `signup` with an address that has an account: the answer looks like a new sign-up
/// (so that nobody learns which addresses have accounts), and the owner is emailed
/// instead, with the way back in.
async fn already_registered(state: &AppState, email: &str, name: &str) -> ApiResult<User> {
    let mut conn = state.conn().await?;
    let owner = User::find_by_email(&mut conn, email).await?;
    drop(conn);
    if let Some(owner) = owner {
        let link = format!(
            "{}/forgot-password",
            state.config.links.frontend_url.trim_end_matches('/')
        );
        let notice = templates::account_exists(&owner.email, &owner.name, &link);
        if let Err(e) = state.mailer.send(&notice).await {
            tracing::error!(error = format!("{e:#}"), "account notice not sent");
        }
    }
    let now = Utc::now();
    Ok(User {
        id: uuid::Uuid::new_v4(),
        email: email.to_owned(),
        name: name.to_owned(),
        password_hash: String::new(),
        role: Role::User,
        plan: Plan::Free,
        email_verified_at: None,
        created_at: now,
        updated_at: now,
    })
}

/// `verifyEmail`: checks the code; the right one verifies the account and logs it in.
pub async fn verify_email(
    state: &AppState,
    auth: &RequestAuth,
    email: &str,
    otp: &str,
) -> ApiResult<AuthSession> {
    let email = validate::email("email", email)?;
    let otp = validate::otp("otp", otp)?;
    limits::check(state, limits::VERIFY_PER_IP, &auth.ip_key()).await?;
    let mut conn = state.conn().await?;
    let user = User::find_by_email(&mut conn, &email)
        .await?
        .filter(|user| !user.is_verified());
    let Some(user) = user else {
        // No account waiting for a code: answered as a wrong code, tries counted alike,
        // so that the answers tell nobody which addresses have accounts.
        return Err(no_live_code(state, &email).await);
    };
    let attempt = VerificationCode::attempt(
        &mut conn,
        user.id,
        &code_hash(state, &user, &otp),
        CODE_MAX_ATTEMPTS,
    )
    .await?;
    drop(conn);
    match attempt {
        CodeAttempt::Verified(user) => session::start(state, user).await,
        CodeAttempt::Wrong { remaining: 0 } | CodeAttempt::Exhausted => Err(codes_used_up()),
        CodeAttempt::Wrong { remaining } => Err(wrong_code(i64::from(remaining))),
        CodeAttempt::Expired | CodeAttempt::Missing => Err(no_live_code(state, &email).await),
    }
}

/// A wrong code, with the tries it leaves.
fn wrong_code(remaining: i64) -> ApiError {
    ApiError::bad_input(
        "otp",
        format!(
            "wrong or expired code: {remaining} tries left; if it has expired, ask for a new one with resendVerification"
        ),
    )
}

fn codes_used_up() -> ApiError {
    ApiError::bad_input(
        "otp",
        "too many wrong codes: this code no longer works, ask for a new one with resendVerification",
    )
}

/// The answer when no code can match (no such account, verified already, code expired or
/// gone): a wrong code, whose tries are counted in Redis as the database counts real ones.
async fn no_live_code(state: &AppState, email: &str) -> ApiError {
    let hits = limits::count(state, limits::VERIFY_WITHOUT_CODE, email)
        .await
        .unwrap_or(1);
    let remaining = i64::from(CODE_MAX_ATTEMPTS) - i64::try_from(hits).unwrap_or(i64::MAX);
    if remaining <= 0 {
        codes_used_up()
    } else {
        wrong_code(remaining)
    }
}

/// `resendVerification`: a new code (killing the old one) for an unverified account. The
/// answer and its timing are the same whether the account exists or not: the work runs
/// after the response.
pub async fn resend_verification(
    state: &AppState,
    auth: &RequestAuth,
    email: &str,
) -> ApiResult<bool> {
    let email = validate::email("email", email)?;
    limits::check_all(
        state,
        &[
            (limits::RESEND_PER_EMAIL, &email),
            (limits::RESEND_PER_IP, &auth.ip_key()),
        ],
    )
    .await?;
    let state = state.clone();
    tokio::spawn(async move {
        let outcome: ApiResult<()> = async {
            let mut conn = state.conn().await?;
            let user = User::find_by_email(&mut conn, &email).await?;
            drop(conn);
            match user {
                Some(user) if !user.is_verified() => send_code(&state, &user).await,
                _ => Ok(()),
            }
        }
        .await;
        if let Err(e) = outcome {
            tracing::error!(error = ?e, "resendVerification failed after answering");
        }
    });
    Ok(true)
}

/// `forgotPassword`: emails a single-use reset link if the account exists. Same answer
/// and timing either way: the work runs after the response.
pub async fn forgot_password(state: &AppState, auth: &RequestAuth, email: &str) -> ApiResult<bool> {
    let email = validate::email("email", email)?;
    limits::check_all(
        state,
        &[
            (limits::FORGOT_PER_EMAIL, &email),
            (limits::FORGOT_PER_IP, &auth.ip_key()),
        ],
    )
    .await?;
    let state = state.clone();
    tokio::spawn(async move {
        let outcome: anyhow::Result<()> = async {
            let mut conn = state.db.get().await?;
            let Some(user) = User::find_by_email(&mut conn, &email).await? else {
                return Ok(());
            };
            let token = random_token();
            let expires_at = Utc::now() + chrono::Duration::minutes(RESET_TTL_MINUTES);
            PasswordResetToken::create(
                &mut conn,
                user.id,
                &state.tokens.hash_secret(&token),
                expires_at,
            )
            .await?;
            drop(conn);
            let link = format!(
                "{}/reset-password?token={token}",
                state.config.links.frontend_url.trim_end_matches('/')
            );
            state
                .mailer
                .send(&templates::password_reset(
                    &user.email,
                    &user.name,
                    &link,
                    RESET_TTL_MINUTES,
                ))
                .await
        }
        .await;
        if let Err(e) = outcome {
            tracing::error!(
                error = format!("{e:#}"),
                "forgotPassword failed after answering"
            );
        }
    });
    Ok(true)
}

/// `resetPassword`: sets the new password with a live link token and ends every session.
/// The token is looked at before the new password is hashed: a guessed token costs a
/// lookup, not an argon2 hash.
pub async fn reset_password(
    state: &AppState,
    auth: &RequestAuth,
    token: &str,
    new_password: String,
) -> ApiResult<bool> {
    validate::password("newPassword", &new_password)?;
    limits::check(state, limits::RESET_PER_IP, &auth.ip_key()).await?;
    let dead = || {
        ApiError::bad_input(
            "token",
            "this reset link is invalid, already used or expired: ask for a new one with forgotPassword",
        )
    };
    let token_hash = state.tokens.hash_secret(token.trim());
    let mut conn = state.conn().await?;
    if !PasswordResetToken::is_live(&mut conn, &token_hash).await? {
        return Err(dead());
    }
    drop(conn);
    let password_hash = password::hash(new_password).await?;
    let mut conn = state.conn().await?;
    match PasswordResetToken::reset_password(&mut conn, &token_hash, &password_hash).await? {
        Some(user) => {
            tracing::info!(user_id = %user.id, "password reset; every session revoked");
            drop(conn);
            let reason = "the password was reset: log in again";
            session::announce_ended(state, user.id, None, None, reason).await;
            Ok(true)
        }
        None => Err(dead()),
    }
}

/// `changePassword`: needs the current password; ends every other session.
pub async fn change_password(
    state: &AppState,
    auth: &RequestAuth,
    viewer: &Claims,
    current_password: String,
    new_password: String,
) -> ApiResult<bool> {
    super::api_keys::require_session(viewer)?;
    let user = current_user(state, viewer).await?;
    limits::check_all(
        state,
        &[
            (limits::CHANGE_PASSWORD_PER_ACCOUNT, &user.id.to_string()),
            (limits::CHANGE_PASSWORD_PER_IP, &auth.ip_key()),
        ],
    )
    .await?;
    if !password::verify(current_password, user.password_hash.clone()).await? {
        return Err(ApiError::bad_input(
            "currentPassword",
            "is not your current password",
        ));
    }
    validate::password("newPassword", &new_password)?;
    let password_hash = password::hash(new_password).await?;
    let mut conn = state.conn().await?;
    User::change_password(&mut conn, user.id, &password_hash, Some(viewer.sid)).await?;
    drop(conn);
    let reason = "the password was changed: log in again";
    session::announce_ended(state, user.id, None, Some(viewer.sid), reason).await;
    Ok(true)
}

/// `updateProfile`: changes what is given (only the name for now).
pub async fn update_profile(
    state: &AppState,
    viewer: &Claims,
    name: Option<&str>,
) -> ApiResult<User> {
    super::api_keys::require_session(viewer)?;
    let mut user = current_user(state, viewer).await?;
    if let Some(name) = name {
        let name = validate::name("name", name)?;
        let mut conn = state.conn().await?;
        user = User::set_name(&mut conn, user.id, &name).await?;
    }
    Ok(user)
}

/// The caller's account if it is an ADMIN now. The role is read from the database on
/// every call, never from the token, so a demoted admin loses access at once.
pub async fn require_admin(state: &AppState, viewer: &Claims) -> ApiResult<User> {
    if let Some(grant) = &viewer.key {
        grant.require(super::api_keys::Scope::Admin)?;
    }
    let user = current_user(state, viewer).await?;
    if user.role != Role::Admin {
        return Err(ApiError::Forbidden {
            message: "this operation is for administrators".into(),
            reason: None,
        });
    }
    Ok(user)
}

/// The caller's account as it is now; a deleted account makes the token useless.
pub async fn current_user(state: &AppState, viewer: &Claims) -> ApiResult<User> {
    let mut conn = state.conn().await?;
    User::find_optional(&mut conn, viewer.sub)
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("this account no longer exists".into()))
}
