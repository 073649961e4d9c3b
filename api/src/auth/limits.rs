//! The rate limits of the auth operations, on top of the global per-IP limit.
//!
//! Counters live in Redis (shared by every API instance). When Redis is unreachable the
//! limits fail open: refusing every login because the counter store is down would turn a
//! Redis outage into a full outage.

use std::time::Duration;

use scheduler::rate_limit::{self, Decision, Limit};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const MINUTE: Duration = Duration::from_secs(60);

/// Wrong or right, login attempts for one email.
pub const LOGIN_PER_EMAIL: Limit = Limit {
    name: "login-email",
    max: 10,
    window: Duration::from_secs(15 * 60),
};
/// Login attempts from one address, across emails.
pub const LOGIN_PER_IP: Limit = Limit {
    name: "login-ip",
    max: 30,
    window: Duration::from_secs(15 * 60),
};
/// Accounts created from one address.
pub const SIGNUP_PER_IP: Limit = Limit {
    name: "signup-ip",
    max: 10,
    window: Duration::from_secs(60 * 60),
};
/// One new code per minute per email (the resend throttle).
pub const RESEND_PER_EMAIL: Limit = Limit {
    name: "resend-email",
    max: 1,
    window: MINUTE,
};
/// Resends from one address.
pub const RESEND_PER_IP: Limit = Limit {
    name: "resend-ip",
    max: 10,
    window: Duration::from_secs(15 * 60),
};
/// Code guesses from one address, across accounts.
pub const VERIFY_PER_IP: Limit = Limit {
    name: "verify-ip",
    max: 30,
    window: Duration::from_secs(15 * 60),
};
/// Reset emails for one email.
pub const FORGOT_PER_EMAIL: Limit = Limit {
    name: "forgot-email",
    max: 3,
    window: Duration::from_secs(60 * 60),
};
/// Reset requests from one address.
pub const FORGOT_PER_IP: Limit = Limit {
    name: "forgot-ip",
    max: 10,
    window: Duration::from_secs(15 * 60),
};

/// Password resets tried from one address (each live token costs a hash).
pub const RESET_PER_IP: Limit = Limit {
    name: "reset-ip",
    max: 10,
    window: Duration::from_secs(15 * 60),
};
/// Password changes tried on one account (each costs a verification and a hash).
pub const CHANGE_PASSWORD_PER_ACCOUNT: Limit = Limit {
    name: "change-password-account",
    max: 10,
    window: Duration::from_secs(15 * 60),
};
/// Password changes tried from one address, across accounts.
pub const CHANGE_PASSWORD_PER_IP: Limit = Limit {
    name: "change-password-ip",
    max: 30,
    window: Duration::from_secs(15 * 60),
};

/// Counts one hit and refuses with RATE_LIMITED when over the limit.
pub async fn check(state: &AppState, limit: Limit, subject: &str) -> ApiResult<()> {
    match rate_limit::hit(&state.redis, &state.keys, limit, subject).await {
        Ok(Decision::Allowed) => Ok(()),
        Ok(Decision::Limited { retry_after_secs }) => Err(ApiError::RateLimited {
            retry_after: retry_after_secs,
        }),
        Err(e) => {
            tracing::warn!(limit = limit.name, error = %e, "rate limit unavailable; allowing");
            Ok(())
        }
    }
}

/// Checks several limits; all are counted even when an earlier one refuses, so a flood
/// cannot dodge one counter by tripping another.
pub async fn check_all(state: &AppState, limits: &[(Limit, &str)]) -> ApiResult<()> {
    let mut refused = None;
    for (limit, subject) in limits {
        if let Err(e) = check(state, *limit, subject).await {
            refused.get_or_insert(e);
        }
    }
    refused.map_or(Ok(()), Err)
}
