//! One job of an `exportJobs` document, with the contract's names, and its draft.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use db::models::Job;
use db::{HttpMethod, JobStatus};
use scheduler::alerts::AlertPolicy;
use scheduler::catch_up::CatchUp;
use scheduler::criteria::SuccessCriteria;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::transfer::Problem;
use super::validate::Draft;

/// One job in a document, with the contract's names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entry {
    pub(super) name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    cron_expression: Option<String>,
    #[serde(default)]
    run_at: Option<DateTime<Utc>>,
    #[serde(default = "utc")]
    timezone: String,
    target_url: String,
    #[serde(default = "get")]
    http_method: String,
    #[serde(default)]
    headers: Option<Value>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default = "ten_seconds")]
    timeout: i64,
    #[serde(default)]
    max_retries: i64,
    #[serde(default)]
    success_criteria: Option<SuccessCriteria>,
    #[serde(default)]
    alert_policy: Option<AlertPolicy>,
    #[serde(default)]
    retry_policy: Option<scheduler::retry::Stored>,
    #[serde(default = "latest_once")]
    catch_up_policy: String,
    #[serde(default = "allow")]
    overlap_policy: String,
    #[serde(default)]
    start_at: Option<DateTime<Utc>>,
    #[serde(default)]
    end_at: Option<DateTime<Utc>>,
    #[serde(default)]
    max_runs: Option<i64>,
    #[serde(default)]
    jitter_seconds: i64,
    #[serde(default)]
    tags: Vec<String>,
    /// `ACTIVE` or `PAUSED` (a COMPLETED job is exported PAUSED).
    #[serde(default = "active")]
    status: String,
}

fn utc() -> String {
    "UTC".to_owned()
}
fn get() -> String {
    "GET".to_owned()
}
fn ten_seconds() -> i64 {
    10_000
}
fn latest_once() -> String {
    "LATEST_ONCE".to_owned()
}
fn allow() -> String {
    "ALLOW".to_owned()
}
fn active() -> String {
    "ACTIVE".to_owned()
}

impl Entry {
    pub(super) fn of_job(job: &Job) -> Entry {
        let draft = Draft::of_job(job);
        Entry {
            name: draft.name,
            description: draft.description,
            cron_expression: draft.cron_expression,
            run_at: draft.run_at,
            timezone: draft.timezone,
            target_url: draft.target_url,
            http_method: draft.http_method.to_string(),
            headers: draft.headers,
            body: draft.body,
            timeout: draft.timeout_ms,
            max_retries: draft.max_retries,
            success_criteria: draft.success_criteria,
            alert_policy: draft.alert_policy,
            retry_policy: draft.retry_policy,
            catch_up_policy: draft.catch_up.as_str().to_owned(),
            overlap_policy: draft.overlap.to_owned(),
            start_at: draft.start_at,
            end_at: draft.end_at,
            max_runs: draft.max_runs,
            jitter_seconds: draft.jitter_seconds,
            tags: draft.tags,
            status: match job.status {
                JobStatus::Active => "ACTIVE",
                JobStatus::Paused | JobStatus::Completed => "PAUSED",
            }
            .to_owned(),
        }
    }

    /// The draft of this entry for the job `id` (a new one, or the one of that name).
    pub(super) fn draft(
        self,
        id: Uuid,
        scheduled_runs: i32,
    ) -> Result<(Draft, JobStatus), Problem> {
        let problem = |field: &str, message: String| Problem {
            entry: None,
            field: Some(field.to_owned()),
            message,
        };
        let http_method = HttpMethod::from_str(&self.http_method)
            .map_err(|_| problem("httpMethod", format!("unknown method {}", self.http_method)))?;
        let catch_up = match self.catch_up_policy.as_str() {
            "LATEST_ONCE" | "SKIP" | "ALL" => CatchUp::parse(&self.catch_up_policy),
            other => return Err(problem("catchUpPolicy", format!("unknown policy {other}"))),
        };
        let overlap = match self.overlap_policy.as_str() {
            "ALLOW" | "SKIP" | "BUFFER_ONE" => {
                crate::graphql::OverlapPolicy::parse(&self.overlap_policy).as_str()
            }
            other => return Err(problem("overlapPolicy", format!("unknown policy {other}"))),
        };
        let status = match self.status.as_str() {
            "ACTIVE" => JobStatus::Active,
            "PAUSED" => JobStatus::Paused,
            other => {
                return Err(problem(
                    "status",
                    format!("must be ACTIVE or PAUSED, not {other}"),
                ));
            }
        };
        let draft = Draft {
            id,
            name: self.name,
            description: self.description,
            cron_expression: self.cron_expression,
            timezone: self.timezone,
            run_at: self.run_at,
            start_at: self.start_at,
            end_at: self.end_at,
            max_runs: self.max_runs,
            scheduled_runs,
            jitter_seconds: self.jitter_seconds,
            target_url: self.target_url,
            http_method,
            headers: self.headers,
            body: self.body,
            timeout_ms: self.timeout,
            max_retries: self.max_retries,
            success_criteria: self.success_criteria,
            alert_policy: self.alert_policy,
            retry_policy: self.retry_policy,
            catch_up,
            overlap,
            tags: self.tags,
        };
        Ok((draft, status))
    }
}
