//! When a failed run is tried again: the job's retry policy (how many times, on which
//! failures, how long to wait) and exponential backoff with full jitter, or the wait a
//! target asked for with `Retry-After`.

use std::time::Duration;

use db::ExecutionStatus;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// First backoff step, unless the job sets its own.
pub const BASE: Duration = Duration::from_secs(1);
/// Longest wait between attempts, unless the job sets its own.
pub const CAP: Duration = Duration::from_secs(300);
/// Shortest `backoffBaseMs` a job may set.
pub const MIN_BASE_MS: u32 = 100;

/// What kind of failure a run was, for `retryOn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Condition {
    #[serde(rename = "TIMEOUT")]
    Timeout,
    /// No answer: the connection, TLS, DNS or the guard failed.
    #[serde(rename = "NETWORK_ERROR")]
    NetworkError,
    #[serde(rename = "HTTP_5XX")]
    Http5xx,
    #[serde(rename = "HTTP_429")]
    Http429,
    /// A 4xx other than 429.
    #[serde(rename = "HTTP_4XX")]
    Http4xx,
    /// An answer the job's success criteria refused (any other status).
    #[serde(rename = "CRITERIA_FAILED")]
    CriteriaFailed,
}

impl Condition {
    pub const ALL: [Condition; 6] = [
        Condition::Timeout,
        Condition::NetworkError,
        Condition::Http5xx,
        Condition::Http429,
        Condition::Http4xx,
        Condition::CriteriaFailed,
    ];

    /// The kind of a failed run.
    pub fn of(status: ExecutionStatus, http_status: Option<i32>) -> Condition {
        match (status, http_status) {
            (ExecutionStatus::Timeout, _) => Condition::Timeout,
            (_, None) => Condition::NetworkError,
            (_, Some(429)) => Condition::Http429,
            (_, Some(500..=599)) => Condition::Http5xx,
            (_, Some(400..=499)) => Condition::Http4xx,
            (_, Some(_)) => Condition::CriteriaFailed,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A job's retry settings as stored (the `retry_policy` column; `maxRetries` is its own
/// column) and as the API shows them. Unset fields are today's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_base_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_max_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<Vec<Condition>>,
}

impl Stored {
    /// A job's stored settings (the defaults when unset or unreadable).
    pub fn of_job(job: &db::models::Job) -> Stored {
        job.retry_policy
            .as_ref()
            .and_then(|v| Stored::deserialize(v).ok())
            .unwrap_or_default()
    }

    /// Checks what a user wrote against the plan; the error names the field at fault.
    pub fn validate(&self, max_backoff_ms: u32) -> Result<(), (&'static str, String)> {
        let base = self.backoff_base_ms.unwrap_or(BASE.as_millis() as u32);
        let max = self.backoff_max_ms.unwrap_or(CAP.as_millis() as u32);
        if !(MIN_BASE_MS..=max_backoff_ms).contains(&base) {
            return Err((
                "backoffBaseMs",
                format!("must be {MIN_BASE_MS} to {max_backoff_ms} ms on this plan"),
            ));
        }
        if !(base..=max_backoff_ms).contains(&max) {
            return Err((
                "backoffMaxMs",
                format!("must be backoffBaseMs ({base} ms) to {max_backoff_ms} ms on this plan"),
            ));
        }
        Ok(())
    }

    /// Whether every field is at its default.
    pub fn is_default(&self) -> bool {
        self.backoff_base_ms
            .is_none_or(|b| u128::from(b) == BASE.as_millis())
            && self
                .backoff_max_ms
                .is_none_or(|m| u128::from(m) == CAP.as_millis())
            && self
                .retry_on
                .as_ref()
                .is_none_or(|on| Condition::ALL.iter().all(|c| on.contains(c)))
    }
}

/// What the scheduler applies to a job's failed runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_retries: i32,
    pub base: Duration,
    pub cap: Duration,
    /// The conditions retried, as bits of [`Condition`].
    retry_on: u8,
}

impl Default for Policy {
    /// No retry.
    fn default() -> Policy {
        Policy {
            max_retries: 0,
            base: BASE,
            cap: CAP,
            retry_on: u8::MAX,
        }
    }
}

impl Policy {
    /// A job's policy.
    pub fn of_job(job: &db::models::Job) -> Policy {
        let stored = Stored::of_job(job);
        Policy {
            max_retries: job.max_retries,
            base: stored
                .backoff_base_ms
                .map_or(BASE, |ms| Duration::from_millis(u64::from(ms))),
            cap: stored
                .backoff_max_ms
                .map_or(CAP, |ms| Duration::from_millis(u64::from(ms))),
            retry_on: stored
                .retry_on
                .map_or(u8::MAX, |on| on.iter().fold(0, |bits, c| bits | c.bit())),
        }
    }

    /// Whether a failed `attempt` of kind `condition` is tried again.
    pub fn retries(&self, attempt: i32, condition: Condition) -> bool {
        attempt <= self.max_retries && self.retry_on & condition.bit() != 0
    }

    /// The wait before attempt `next_attempt` (2 for the first retry): what the target
    /// asked for with `Retry-After`, else uniform in `0..=ceiling`, so that retries of
    /// many failing jobs spread out instead of hitting a recovering target together.
    /// Never past the policy's cap.
    pub fn delay(&self, next_attempt: i32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(wait) => wait.min(self.cap),
            None => rand::rng().random_range(Duration::ZERO..=self.ceiling(next_attempt)),
        }
    }

    /// The upper bound of the backoff before an attempt: `base * 2^(next_attempt - 2)`,
    /// at most the cap.
    pub fn ceiling(&self, next_attempt: i32) -> Duration {
        let exponent = u32::try_from(next_attempt.saturating_sub(2))
            .unwrap_or(0)
            .min(20);
        self.base.saturating_mul(1 << exponent).min(self.cap)
    }
}

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date.
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_with(max_retries: i32) -> Policy {
        Policy {
            max_retries,
            ..Policy::default()
        }
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let p = default_with(10);
        assert_eq!(p.ceiling(2), Duration::from_secs(1));
        assert_eq!(p.ceiling(3), Duration::from_secs(2));
        assert_eq!(p.ceiling(6), Duration::from_secs(16));
        assert_eq!(p.ceiling(10), Duration::from_secs(256));
        assert_eq!(p.ceiling(11), CAP);
        assert_eq!(p.ceiling(1000), CAP);
        for attempt in 2..15 {
            for _ in 0..100 {
                assert!(p.delay(attempt, None) <= p.ceiling(attempt));
            }
        }
    }

    #[test]
    fn jitter_spreads_the_waits() {
        let p = default_with(10);
        let waits: std::collections::HashSet<_> =
            (0..50).map(|_| p.delay(8, None).as_millis()).collect();
        assert!(
            waits.len() > 40,
            "full jitter gives distinct waits: {waits:?}"
        );
    }

    #[test]
    fn failures_are_told_apart() {
        use ExecutionStatus::{Failed, Timeout};
        assert_eq!(Condition::of(Timeout, None), Condition::Timeout);
        assert_eq!(Condition::of(Failed, None), Condition::NetworkError);
        assert_eq!(Condition::of(Failed, Some(429)), Condition::Http429);
        assert_eq!(Condition::of(Failed, Some(503)), Condition::Http5xx);
        assert_eq!(Condition::of(Failed, Some(404)), Condition::Http4xx);
        assert_eq!(Condition::of(Failed, Some(200)), Condition::CriteriaFailed);
    }

    #[test]
    fn only_the_conditions_chosen_are_retried_within_the_count() {
        let stored = Stored {
            retry_on: Some(vec![Condition::Http5xx, Condition::Timeout]),
            ..Stored::default()
        };
        let p = Policy {
            retry_on: stored
                .retry_on
                .unwrap()
                .iter()
                .fold(0, |bits, c| bits | c.bit()),
            ..default_with(2)
        };
        assert!(p.retries(1, Condition::Http5xx) && p.retries(2, Condition::Timeout));
        assert!(!p.retries(3, Condition::Http5xx), "two retries, then final");
        assert!(!p.retries(1, Condition::Http4xx) && !p.retries(1, Condition::NetworkError));
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date_and_capped() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 02 Dec 2026 10:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(retry_after("soon", now), None);
        let p = default_with(3);
        assert_eq!(
            p.delay(2, Some(Duration::from_secs(20))),
            Duration::from_secs(20)
        );
        assert_eq!(p.delay(2, Some(Duration::from_secs(9999))), CAP);
    }
}
