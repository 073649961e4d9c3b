//! What `updateJob` changes, applied to a job's draft.

use chrono::{DateTime, Utc};
use scheduler::alerts::AlertPolicy;
use scheduler::criteria::SuccessCriteria;

use super::schedule;
use super::validate::Draft;

/// What `updateJob` changes: `None` leaves a field as it is; for the nullable fields,
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct JobChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    /// Makes the job a cron job (unless `@once`).
    pub cron_expression: Option<String>,
    pub timezone: Option<String>,
    /// Makes the job run once.
    pub run_at: Option<DateTime<Utc>>,
    pub start_at: Option<Option<DateTime<Utc>>>,
    pub end_at: Option<Option<DateTime<Utc>>>,
    pub max_runs: Option<Option<i64>>,
    pub jitter_seconds: Option<i64>,
    pub target_url: Option<String>,
    pub http_method: Option<db::HttpMethod>,
    pub headers: Option<Option<serde_json::Value>>,
    pub body: Option<Option<String>>,
    pub timeout_ms: Option<i64>,
    pub max_retries: Option<i64>,
    /// `Some(None)` goes back to the default (any 2xx).
    pub success_criteria: Option<Option<SuccessCriteria>>,
    /// `Some(None)` removes the policy.
    pub alert_policy: Option<Option<AlertPolicy>>,
    /// `Some(None)` goes back to the defaults.
    pub retry_policy: Option<Option<scheduler::retry::Stored>>,
    pub catch_up: Option<scheduler::catch_up::CatchUp>,
    pub overlap: Option<&'static str>,
    pub tags: Option<Vec<String>>,
}

impl JobChanges {
    /// Whether the changes touch when the job fires.
    pub fn timing(&self) -> bool {
        self.cron_expression.is_some()
            || self.run_at.is_some()
            || self.timezone.is_some()
            || self.start_at.is_some()
            || self.end_at.is_some()
            || self.max_runs.is_some()
            || self.jitter_seconds.is_some()
    }

    /// The draft with the changes made. A new expression makes the job a cron job, a new
    /// `runAt` a one-time job (`@once` with no `runAt` keeps the one it has).
    pub fn apply(self, draft: &mut Draft) {
        match (self.cron_expression, self.run_at) {
            (None, None) => {}
            (Some(once), None) if once.trim().eq_ignore_ascii_case(schedule::ONCE) => {
                draft.cron_expression = Some(once);
            }
            (Some(expression), None) => {
                draft.cron_expression = Some(expression);
                draft.run_at = None;
            }
            (None, Some(at)) => {
                draft.cron_expression = None;
                draft.run_at = Some(at);
            }
            (Some(expression), Some(at)) => {
                draft.cron_expression = Some(expression);
                draft.run_at = Some(at);
            }
        }
        fn set<T>(field: &mut T, value: Option<T>) {
            if let Some(value) = value {
                *field = value;
            }
        }
        set(&mut draft.name, self.name);
        set(&mut draft.description, self.description);
        set(&mut draft.timezone, self.timezone);
        set(&mut draft.start_at, self.start_at);
        set(&mut draft.end_at, self.end_at);
        set(&mut draft.max_runs, self.max_runs);
        set(&mut draft.jitter_seconds, self.jitter_seconds);
        set(&mut draft.target_url, self.target_url);
        set(&mut draft.http_method, self.http_method);
        set(&mut draft.headers, self.headers);
        set(&mut draft.body, self.body);
        set(&mut draft.timeout_ms, self.timeout_ms);
        set(&mut draft.max_retries, self.max_retries);
        set(&mut draft.success_criteria, self.success_criteria);
        set(&mut draft.alert_policy, self.alert_policy);
        set(&mut draft.retry_policy, self.retry_policy);
        set(&mut draft.catch_up, self.catch_up);
        set(&mut draft.overlap, self.overlap);
        set(&mut draft.tags, self.tags);
    }
}
