//! The rate limits of the auth operations, on top of the global per-IP limit.
//!
//! Counters live in Redis (shared by every API instance). When Redis is unreachable the
//! limits fail open: refusing every login because the counter store is down would turn a
//! Redis outage into a full outage.

use std::time::Duration;

use super::rate_limit::{self, Decision, Limit};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const MINUTE: Duration = Duration::from_secs(60);

/// Failed logins for one email from one address: past this, that address is refused
/// for that email (and only it: the owner elsewhere still gets in).
pub const LOGIN_FAILURES_PER_EMAIL_AND_IP: Limit = Limit {
    name: "login-failures-email-ip",
    max: 10,
    window: Duration::from_secs(15 * 60),
};
/// Failed logins for one email from anywhere: past this, each login for that email is
/// slowed by [`LOGIN_SLOW_DOWN`] rather than refused, so that an attacker cannot lock
/// the owner out.
pub const LOGIN_FAILURES_PER_EMAIL: Limit = Limit {
    name: "login-failures-email",
    max: 10,
    window: Duration::from_secs(15 * 60),
};
/// The wait of a login for an email under attack.
pub const LOGIN_SLOW_DOWN: Duration = Duration::from_secs(1);
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
/// Codes tried for an address that has no code waiting (no account, verified already,
/// code expired): counted as the database counts tries of a real code.
pub const VERIFY_WITHOUT_CODE: Limit = Limit {
    name: "verify-without-code",
    max: 5,
    window: Duration::from_secs(10 * 60),
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
    answer(
        limit,
        rate_limit::hit(&state.redis, &state.keys, limit, subject).await,
    )
}

/// Refuses with RATE_LIMITED when `subject` has reached `limit`, without counting.
pub async fn check_reached(state: &AppState, limit: Limit, subject: &str) -> ApiResult<()> {
    answer(
        limit,
        rate_limit::peek(&state.redis, &state.keys, limit, subject).await,
    )
}

/// A decision as the API's answer; with Redis unreachable, allowed.
fn answer(limit: Limit, decision: Result<Decision, fred::error::Error>) -> ApiResult<()> {
    match decision {
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

/// Whether `subject` has reached `limit` (false when Redis cannot say).
pub async fn reached(state: &AppState, limit: Limit, subject: &str) -> bool {
    check_reached(state, limit, subject).await.is_err()
}

/// Counts one hit without refusing (a failure that later checks look at); the hits of
/// the window so far, `None` when Redis cannot say.
pub async fn count(state: &AppState, limit: Limit, subject: &str) -> Option<u64> {
    rate_limit::count(&state.redis, &state.keys, limit, subject)
        .await
        .inspect_err(|e| {
            tracing::warn!(limit = limit.name, error = %e, "rate limit unavailable; not counted");
        })
        .ok()
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
