//! How a draft is stored on the job row (its policies and criteria as JSON columns and
//! enum texts), the one mapping createJob, updateJob and importJobs write through, and
//! the check that an alert policy names only the caller's channels.

use chrono::{DateTime, Utc};
use db::models::{Job, NotificationChannel};
use db::{JobStatus, TargetType};
use scheduler::alerts::AlertPolicy;
use uuid::Uuid;

use super::validate::Draft;

use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};

fn retry_json(retry: Option<&scheduler::retry::Stored>) -> Option<serde_json::Value> {
    retry.map(|r| serde_json::to_value(r).expect("retry policy serialises"))
}

fn policy_json(policy: Option<&AlertPolicy>) -> Option<serde_json::Value> {
    policy.map(|p| serde_json::to_value(p).expect("policy serialises"))
}

fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Draft {
    /// Writes every field of the draft onto `job` (the id, owner, status and the
    /// scheduler's columns are the caller's).
    pub(super) fn write_to(&self, job: &mut Job) {
        job.name = self.name.clone();
        job.description = self.description.clone();
        job.cron_expression = self.cron_expression.clone();
        job.timezone = self.timezone.clone();
        job.run_at = self.run_at;
        job.start_at = self.start_at;
        job.end_at = self.end_at;
        job.max_runs = self.max_runs.map(int);
        job.jitter_seconds = int(self.jitter_seconds);
        job.target_type = TargetType::Http;
        job.target_url = self.target_url.trim().to_owned();
        job.http_method = self.http_method;
        job.headers = self.headers.clone();
        job.body = self.body.clone();
        job.timeout_ms = int(self.timeout_ms);
        job.max_retries = int(self.max_retries);
        job.success_criteria = criteria_json(self.success_criteria.as_ref());
        job.alert_policy = policy_json(self.alert_policy.as_ref());
        job.retry_policy = retry_json(self.retry_policy.as_ref());
        job.catch_up_policy = self.catch_up.as_str().to_owned();
        job.overlap_policy = self.overlap.to_owned();
        job.tags = self.tags.clone();
    }

    /// A new ACTIVE job of `user_id` holding the draft, not yet scheduled.
    pub(super) fn new_row(&self, user_id: Uuid, now: DateTime<Utc>) -> Job {
        let mut job = Job {
            id: self.id,
            user_id,
            name: String::new(),
            description: None,
            cron_expression: None,
            timezone: String::new(),
            target_type: TargetType::Http,
            target_url: String::new(),
            http_method: self.http_method,
            headers: None,
            body: None,
            timeout_ms: 0,
            max_retries: 0,
            status: JobStatus::Active,
            next_run_at: None,
            created_at: now,
            updated_at: now,
            success_criteria: None,
            alert_policy: None,
            consecutive_failures: 0,
            paused_reason: None,
            pause_note: None,
            retry_policy: None,
            catch_up_policy: String::new(),
            overlap_policy: String::new(),
            run_at: None,
            start_at: None,
            end_at: None,
            max_runs: None,
            scheduled_runs: 0,
            jitter_seconds: 0,
            tags: Vec::new(),
        };
        self.write_to(&mut job);
        job
    }
}

/// Every channel a policy names is one of the viewer's (BAD_USER_INPUT otherwise).
/// Notices go to a channel once it is verified.
pub(super) async fn check_channels(
    conn: &mut db::AsyncPgConnection,
    viewer: &Claims,
    policy: Option<&AlertPolicy>,
) -> ApiResult<()> {
    let Some(policy) = policy else {
        return Ok(());
    };
    if policy.channel_ids.is_empty() {
        return Ok(());
    }
    let owned: Vec<Uuid> = NotificationChannel::of_user(conn, viewer.sub)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    match policy.channel_ids.iter().find(|id| !owned.contains(id)) {
        Some(id) => Err(ApiError::bad_input(
            "alertPolicy.channelIds",
            format!("no notification channel with id {id}"),
        )),
        None => Ok(()),
    }
}

fn criteria_json(
    criteria: Option<&scheduler::criteria::SuccessCriteria>,
) -> Option<serde_json::Value> {
    criteria.map(|c| serde_json::to_value(c).expect("criteria serialise"))
}
