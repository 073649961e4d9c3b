//! `RetryPolicy` and `RetryPolicyInput`: which failures a job retries and how long it
//! waits between attempts (applied by `scheduler::retry`); and `CatchUpPolicy`, what a
//! job does with the slots it missed (`scheduler::catch_up`).

use async_graphql::{Enum, InputObject, Result, SimpleObject};
use scheduler::retry::{Condition, Stored};

use crate::error::ApiError;

/// A kind of failure, for `retryOn`.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RetryCondition {
    /// The job's timeout passed.
    Timeout,
    /// No answer: connection, TLS or DNS failed, or the target was refused.
    NetworkError,
    /// A 5xx answer.
    #[graphql(name = "HTTP_5XX")]
    Http5xx,
    /// A 429 answer.
    #[graphql(name = "HTTP_429")]
    Http429,
    /// A 4xx answer other than 429.
    #[graphql(name = "HTTP_4XX")]
    Http4xx,
    /// An answer the success criteria refused (any other status).
    CriteriaFailed,
}

impl From<RetryCondition> for Condition {
    fn from(c: RetryCondition) -> Condition {
        match c {
            RetryCondition::Timeout => Condition::Timeout,
            RetryCondition::NetworkError => Condition::NetworkError,
            RetryCondition::Http5xx => Condition::Http5xx,
            RetryCondition::Http429 => Condition::Http429,
            RetryCondition::Http4xx => Condition::Http4xx,
            RetryCondition::CriteriaFailed => Condition::CriteriaFailed,
        }
    }
}

impl From<Condition> for RetryCondition {
    fn from(c: Condition) -> RetryCondition {
        match c {
            Condition::Timeout => RetryCondition::Timeout,
            Condition::NetworkError => RetryCondition::NetworkError,
            Condition::Http5xx => RetryCondition::Http5xx,
            Condition::Http429 => RetryCondition::Http429,
            Condition::Http4xx => RetryCondition::Http4xx,
            Condition::CriteriaFailed => RetryCondition::CriteriaFailed,
        }
    }
}

/// When a failed run is tried again. Unset fields keep their defaults: every failure,
/// 1 s base, 5 min cap.
#[derive(InputObject, Debug)]
pub struct RetryPolicyInput {
    /// Further attempts after a failed run, up to the plan's maximum (the same as the
    /// job's top-level `maxRetries`, which it replaces when both are given).
    pub max_retries: Option<i32>,
    /// The first wait (100 ms up to the plan's longest); each retry doubles the ceiling
    /// of a random wait (full jitter).
    backoff_base_ms: Option<i32>,
    /// The longest wait (from `backoffBaseMs` up to the plan's longest: 1 h FREE, 6 h
    /// PREMIUM, 24 h PRO); also how long a `Retry-After` on a 429 or 503 is honoured.
    backoff_max_ms: Option<i32>,
    /// The failures retried; the others are final at once. Default: all of them.
    retry_on: Option<Vec<RetryCondition>>,
}

impl RetryPolicyInput {
    /// The stored settings; a negative wait is BAD_USER_INPUT.
    pub fn read(&self) -> Result<Stored> {
        let ms = |value: Option<i32>, field: &str| -> Result<Option<u32>> {
            value
                .map(|v| {
                    u32::try_from(v).map_err(|_| {
                        ApiError::bad_input(format!("retryPolicy.{field}"), "must not be negative")
                            .into()
                    })
                })
                .transpose()
        };
        Ok(Stored {
            backoff_base_ms: ms(self.backoff_base_ms, "backoffBaseMs")?,
            backoff_max_ms: ms(self.backoff_max_ms, "backoffMaxMs")?,
            retry_on: self
                .retry_on
                .as_ref()
                .map(|on| on.iter().map(|c| Condition::from(*c)).collect()),
        })
    }
}

/// When a job's failed runs are tried again.
#[derive(SimpleObject, Debug)]
pub struct RetryPolicy {
    pub max_retries: i32,
    pub backoff_base_ms: i32,
    pub backoff_max_ms: i32,
    pub retry_on: Vec<RetryCondition>,
}

impl RetryPolicy {
    /// A job's policy, defaults filled in.
    pub fn of_job(job: &db::models::Job) -> RetryPolicy {
        let policy = scheduler::retry::Policy::of_job(job);
        let stored = Stored::of_job(job);
        let ms = |d: std::time::Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
        RetryPolicy {
            max_retries: job.max_retries,
            backoff_base_ms: ms(policy.base),
            backoff_max_ms: ms(policy.cap),
            retry_on: stored
                .retry_on
                .unwrap_or_else(|| Condition::ALL.to_vec())
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

/// What a job does with the slots it missed while no scheduler claimed it for more than
/// 30 s (every scheduler down, or Redis rebuilt).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CatchUpPolicy {
    /// Only the latest missed slot fires, once, marked late (the default).
    LatestOnce,
    /// None fires; the job goes on at its next slot. A SKIPPED run records the gap.
    Skip,
    /// Every missed slot fires, oldest first, at the job's own pace, marked late; at most
    /// the latest 100 (older ones are recorded in a SKIPPED run).
    All,
}

impl From<CatchUpPolicy> for scheduler::catch_up::CatchUp {
    fn from(p: CatchUpPolicy) -> Self {
        match p {
            CatchUpPolicy::LatestOnce => Self::LatestOnce,
            CatchUpPolicy::Skip => Self::Skip,
            CatchUpPolicy::All => Self::All,
        }
    }
}

impl From<scheduler::catch_up::CatchUp> for CatchUpPolicy {
    fn from(p: scheduler::catch_up::CatchUp) -> Self {
        match p {
            scheduler::catch_up::CatchUp::LatestOnce => Self::LatestOnce,
            scheduler::catch_up::CatchUp::Skip => Self::Skip,
            scheduler::catch_up::CatchUp::All => Self::All,
        }
    }
}

/// Whether a job's slot fires while its previous run is still out.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum OverlapPolicy {
    /// It fires (the default).
    Allow,
    /// It does not: it is recorded as a SKIPPED run saying which run was still out.
    Skip,
    /// One such slot waits and fires as soon as the previous run ends; further ones are
    /// SKIPPED.
    BufferOne,
}

impl OverlapPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            OverlapPolicy::Allow => "ALLOW",
            OverlapPolicy::Skip => "SKIP",
            OverlapPolicy::BufferOne => "BUFFER_ONE",
        }
    }

    pub fn parse(stored: &str) -> OverlapPolicy {
        match stored {
            "SKIP" => OverlapPolicy::Skip,
            "BUFFER_ONE" => OverlapPolicy::BufferOne,
            _ => OverlapPolicy::Allow,
        }
    }
}
