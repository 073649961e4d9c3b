//! Accounts and sessions: `me` and the auth mutations. Each resolver reads its input,
//! calls `crate::auth`, and maps the result.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};

use super::user::User;
use crate::auth::{self, account, session};
use crate::state::AppState;

fn state<'a>(ctx: &'a Context<'_>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// Tokens for a logged-in session.
#[derive(SimpleObject, Debug)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <accessToken>`.
    access_token: String,
    /// Exchange for a new pair with `refreshToken` before `expiresIn` runs out; single use.
    refresh_token: String,
    /// Seconds until the access token expires.
    expires_in: i32,
    user: User,
}

impl From<session::AuthSession> for AuthPayload {
    fn from(s: session::AuthSession) -> AuthPayload {
        AuthPayload {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            expires_in: i32::try_from(s.expires_in).unwrap_or(i32::MAX),
            user: User(s.user),
        }
    }
}

/// The new, unverified account.
#[derive(SimpleObject, Debug)]
pub struct SignupPayload {
    user: User,
    /// What to do next.
    message: String,
}

/// `signup`'s input.
#[derive(InputObject, Debug)]
pub struct SignupInput {
    email: String,
    /// 8 to 128 characters, with a letter and a digit.
    password: String,
    name: String,
}

/// `updateProfile`'s input: what is given changes.
#[derive(InputObject, Debug)]
pub struct UpdateProfileInput {
    name: Option<String>,
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The caller's account.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let viewer = auth::viewer(ctx)?;
        Ok(User(account::current_user(state(ctx), viewer).await?))
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an account and emails a 6-digit code to verify it with `verifyEmail`.
    #[graphql(complexity = "super::limits::HASH_COST + child_complexity")]
    async fn signup(&self, ctx: &Context<'_>, input: SignupInput) -> Result<SignupPayload> {
        let user = account::signup(
            state(ctx),
            auth::request_auth(ctx),
            account::Signup {
                email: input.email,
                password: input.password,
                name: input.name,
            },
        )
        .await?;
        Ok(SignupPayload {
            message: format!(
                "We sent a 6-digit code to {}. Enter it with verifyEmail within {} minutes.",
                user.email,
                account::CODE_TTL_MINUTES
            ),
            user: User(user),
        })
    }

    /// Verifies the email with the emailed code and logs in.
    async fn verify_email(
        &self,
        ctx: &Context<'_>,
        email: String,
        otp: String,
    ) -> Result<AuthPayload> {
        Ok(
            account::verify_email(state(ctx), auth::request_auth(ctx), &email, &otp)
                .await?
                .into(),
        )
    }

    /// Emails a new code (the previous one stops working). Always `true`, whether or not
    /// the email has an account; at most one per minute per email.
    async fn resend_verification(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        Ok(account::resend_verification(state(ctx), auth::request_auth(ctx), &email).await?)
    }

    /// Logs in with email and password.
    #[graphql(complexity = "super::limits::HASH_COST + child_complexity")]
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<AuthPayload> {
        Ok(
            session::login(state(ctx), auth::request_auth(ctx), &email, password)
                .await?
                .into(),
        )
    }

    /// Exchanges a refresh token for a new pair; the old refresh token stops working.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        Ok(session::refresh(state(ctx), &refresh_token).await?.into())
    }

    /// Ends the session of this refresh token.
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        Ok(session::logout(state(ctx), &refresh_token).await?)
    }

    /// Emails a password reset link if the email has an account. Always `true`.
    async fn forgot_password(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        Ok(account::forgot_password(state(ctx), auth::request_auth(ctx), &email).await?)
    }

    /// Sets a new password with the token from the reset link (once); ends every session.
    #[graphql(complexity = "super::limits::HASH_COST + child_complexity")]
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Result<bool> {
        Ok(
            account::reset_password(state(ctx), auth::request_auth(ctx), &token, new_password)
                .await?,
        )
    }

    /// Changes the caller's profile.
    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<User> {
        let viewer = auth::viewer(ctx)?;
        Ok(User(
            account::update_profile(state(ctx), viewer, input.name.as_deref()).await?,
        ))
    }

    /// Changes the caller's password; every other session ends.
    #[graphql(complexity = "super::limits::HASH_COST + child_complexity")]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Result<bool> {
        let viewer = auth::viewer(ctx)?;
        Ok(account::change_password(
            state(ctx),
            auth::request_auth(ctx),
            viewer,
            current_password,
            new_password,
        )
        .await?)
    }
}
