//! `SuccessCriteria` and `SuccessCriteriaInput`: what a job's answer must be for a run to
//! succeed (checked by `scheduler::criteria`).

use async_graphql::{InputObject, Json, SimpleObject};

/// What an answer must be for a run to succeed; every criterion given must hold. A run
/// that misses one is FAILED, its `error` naming it, and retried like any failure.
#[derive(InputObject, Debug, Default)]
pub struct SuccessCriteriaInput {
    /// Accepted statuses: codes (`200`), ranges (`200-299`) and classes (`2xx`); at most
    /// 20. Default: `["2xx"]`.
    status_codes: Option<Vec<String>>,
    /// Text the body must contain (1 to 1,024 bytes; within the first 64 KiB, what the
    /// run keeps).
    body_contains: Option<String>,
    /// Text the body must not contain (1 to 1,024 bytes).
    body_not_contains: Option<String>,
    /// Where a value must be in a JSON body: `$.member`, `[index]` and `["any member"]`
    /// steps, e.g. `$.result.items[0].ok` (at most 32 steps); with `jsonEquals`.
    json_path: Option<String>,
    /// The value at `jsonPath` (at most 1 KiB as JSON).
    json_equals: Option<Json<serde_json::Value>>,
    /// Longest a run may take to succeed, in milliseconds (up to the job's timeout).
    max_duration_ms: Option<i32>,
}

impl From<SuccessCriteriaInput> for scheduler::criteria::SuccessCriteria {
    fn from(input: SuccessCriteriaInput) -> Self {
        scheduler::criteria::SuccessCriteria {
            status_codes: input.status_codes,
            body_contains: input.body_contains,
            body_not_contains: input.body_not_contains,
            json_path: input.json_path,
            json_equals: input.json_equals.map(|j| j.0),
            max_duration_ms: input.max_duration_ms,
        }
    }
}

/// What an answer must be for a job's run to succeed.
#[derive(SimpleObject, Debug)]
pub struct SuccessCriteria {
    pub status_codes: Vec<String>,
    pub body_contains: Option<String>,
    pub body_not_contains: Option<String>,
    pub json_path: Option<String>,
    pub json_equals: Option<Json<serde_json::Value>>,
    pub max_duration_ms: Option<i32>,
}

impl From<Option<scheduler::criteria::SuccessCriteria>> for SuccessCriteria {
    fn from(criteria: Option<scheduler::criteria::SuccessCriteria>) -> Self {
        let c = criteria.unwrap_or_default();
        SuccessCriteria {
            status_codes: c.status_codes.unwrap_or_else(|| vec!["2xx".to_owned()]),
            body_contains: c.body_contains,
            body_not_contains: c.body_not_contains,
            json_path: c.json_path,
            json_equals: c.json_equals.map(Json),
            max_duration_ms: c.max_duration_ms,
        }
    }
}
