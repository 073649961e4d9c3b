//! Alerts: a job's count of runs failed in a row, and what a change of it tells.
//!
//! A run counts once it is final (it succeeded, or it failed with its retries spent).
//! The count changes in the transaction that records the run, and so do the notices it
//! causes (the outbox, [`db::models::notification`]): a crash loses neither, and a
//! notice exists only for a run recorded. Only changes are told: FAILING when the count
//! reaches the policy's threshold, RECOVERED on the first success after, AUTO_PAUSED
//! when it reaches `autoPauseAfter` (the job is paused then, with the reason).
//!
//! Most runs succeed on jobs that never failed: those write nothing here. The scheduler
//! reads a job before its run, and the run is *watched* (goes through [`apply`] when it
//! succeeds) only if the job had a policy or a count then.

use std::collections::HashMap;
use std::time::Duration;

use db::models::job_health::Counted;
use db::models::notification::{Alert, Cap};
use db::models::{ExecutionLog, Job, Notification};
use db::{AsyncPgConnection, ExecutionStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// Most channels a policy names.
pub const MAX_CHANNELS: usize = 20;
/// Largest `failureThreshold` and `autoPauseAfter`.
pub const MAX_COUNT: i32 = 10_000;

/// A job's alert policy as stored (the `alert_policy` column) and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertPolicy {
    #[serde(default)]
    pub channel_ids: Vec<Uuid>,
    #[serde(default = "one")]
    pub failure_threshold: i32,
    #[serde(default = "yes")]
    pub notify_on_recovery: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_pause_after: Option<i32>,
}

fn one() -> i32 {
    1
}

fn yes() -> bool {
    true
}

impl AlertPolicy {
    /// A job's stored policy; `None` without one. A value that does not read (which
    /// validation prevents) counts as none, and is logged.
    pub fn of_job(job: &Job) -> Option<AlertPolicy> {
        let stored = job.alert_policy.as_ref()?;
        AlertPolicy::deserialize(stored)
            .inspect_err(|e| {
                tracing::warn!(job_id = %job.id, error = %e, "unreadable alert policy; no alerts");
            })
            .ok()
    }

    /// Checks what a user wrote; the error names the field at fault.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.channel_ids.len() > MAX_CHANNELS {
            return Err((
                "channelIds",
                format!(
                    "at most {MAX_CHANNELS} channels, got {}",
                    self.channel_ids.len()
                ),
            ));
        }
        if !(1..=MAX_COUNT).contains(&self.failure_threshold) {
            return Err((
                "failureThreshold",
                format!("must be between 1 and {MAX_COUNT}"),
            ));
        }
        if let Some(after) = self.auto_pause_after
            && !(1..=MAX_COUNT).contains(&after)
        {
            return Err((
                "autoPauseAfter",
                format!("must be between 1 and {MAX_COUNT}"),
            ));
        }
        Ok(())
    }

    /// The count from which the job is FAILING.
    pub fn threshold(policy: Option<&AlertPolicy>) -> i32 {
        policy.map_or(1, |p| p.failure_threshold)
    }
}

/// What a job's health is, from its count, its policy and whether it was paused for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Failing,
    AutoPaused,
}

/// A job's health as the API shows it.
pub fn health(job: &Job) -> Health {
    if job.status == db::JobStatus::Paused && job.paused_reason.is_some() {
        Health::AutoPaused
    } else if job.consecutive_failures >= AlertPolicy::threshold(AlertPolicy::of_job(job).as_ref())
    {
        Health::Failing
    } else {
        Health::Healthy
    }
}

/// A change worth telling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Failing,
    Recovered,
    AutoPaused,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Failing => "FAILING",
            Notice::Recovered => "RECOVERED",
            Notice::AutoPaused => "AUTO_PAUSED",
        }
    }
}

/// What one final run changes: whether the job is to be paused, and what to tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub pause: bool,
    pub notice: Option<Notice>,
}

/// The step from a count of `before` to `after` (0 after a success, `before + 1` after
/// a failure) for a job under `policy`, `active` or not. One notice per change: a job
/// paused as it crosses its threshold is told AUTO_PAUSED only.
pub fn step(before: i32, after: i32, policy: Option<&AlertPolicy>, active: bool) -> Step {
    let Some(policy) = policy else {
        return Step {
            pause: false,
            notice: None,
        };
    };
    let threshold = policy.failure_threshold;
    if after > before {
        let pause = active && policy.auto_pause_after.is_some_and(|at| after >= at);
        let notice = if pause {
            Some(Notice::AutoPaused)
        } else if before < threshold && after >= threshold {
            Some(Notice::Failing)
        } else {
            None
        };
        Step { pause, notice }
    } else {
        let recovered = after == 0 && before >= threshold && policy.notify_on_recovery;
        Step {
            pause: false,
            notice: recovered.then_some(Notice::Recovered),
        }
    }
}

/// What the scheduler's alerts need: the cap on notices per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub cap: Cap,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            cap: Cap {
                per_window: 10,
                window: Duration::from_secs(3600),
            },
        }
    }
}

/// The reason an auto-paused job shows.
pub fn pause_reason(failures: i32) -> String {
    format!("paused automatically after {failures} consecutive failed runs")
}

/// What a notice says about a run: fixed now, as the job may change later.
fn content(job_name: &str, job_id: Uuid, run: &ExecutionLog, failures: i32) -> serde_json::Value {
    json!({
        "job": { "id": job_id, "name": job_name },
        "run": {
            "id": run.id,
            "status": run.status.as_str(),
            "trigger": run.trigger.as_str(),
            "attempt": run.attempt,
            "scheduledFor": run.scheduled_for,
            "finishedAt": run.finished_at,
            "httpStatus": run.http_status,
            "error": run.error,
        },
        "consecutiveFailures": failures,
    })
}

/// Applies final runs (in the order given) to their jobs' counts, pauses and notices,
/// inside the caller's transaction: the jobs are read and locked in one statement, their
/// new counts written in another, and the notices of the batch raised together. A
/// paused job's slots are dropped when claimed (and its runs prepared ahead withdrawn),
/// as for a pause by its owner.
pub async fn apply(
    conn: &mut AsyncPgConnection,
    settings: &Settings,
    runs: &[&ExecutionLog],
) -> Result<(), db::QueryError> {
    let ids: Vec<Uuid> = runs.iter().map(|r| r.job_id).collect();
    let mut jobs: HashMap<Uuid, Counted> = Job::lock_counts(conn, &ids)
        .await?
        .into_iter()
        .map(|j| (j.id, j))
        .collect();
    let mut counts: HashMap<Uuid, i32> = HashMap::new();
    // (user, job, run, notice, what it says, channels)
    let mut raised: Vec<(Uuid, Uuid, Uuid, Notice, serde_json::Value, Vec<Uuid>)> = Vec::new();
    for run in runs {
        let Some(job) = jobs.get_mut(&run.job_id) else {
            continue;
        };
        let before = job.consecutive_failures;
        let after = if run.status == ExecutionStatus::Success {
            0
        } else {
            before.saturating_add(1)
        };
        if after == before {
            continue;
        }
        job.consecutive_failures = after;
        counts.insert(job.id, after);
        let policy = job
            .alert_policy
            .as_ref()
            .and_then(|p| AlertPolicy::deserialize(p).ok());
        let step = step(
            before,
            after,
            policy.as_ref(),
            job.status == db::JobStatus::Active,
        );
        if step.pause {
            Job::auto_pause(conn, job.id, &pause_reason(after)).await?;
            job.status = db::JobStatus::Paused;
        }
        if let (Some(notice), Some(policy)) = (step.notice, policy)
            && !policy.channel_ids.is_empty()
        {
            let content = content(&job.name, job.id, run, after.max(before));
            raised.push((
                job.user_id,
                job.id,
                run.id,
                notice,
                content,
                policy.channel_ids,
            ));
        }
    }
    let counts: Vec<(Uuid, i32)> = counts.into_iter().collect();
    Job::set_counts(conn, &counts).await?;
    if raised.is_empty() {
        return Ok(());
    }
    let alerts: Vec<Alert<'_>> = raised
        .iter()
        .map(
            |(user_id, job_id, run_id, notice, content, channel_ids)| Alert {
                user_id: *user_id,
                job_id: Some(*job_id),
                run_id: Some(*run_id),
                kind: notice.as_str(),
                content,
                channel_ids,
            },
        )
        .collect();
    Notification::raise(conn, &alerts, Some(settings.cap)).await?;
    for (.., notice, _, _) in &raised {
        metrics::counter!("cronops_scheduler_alerts_total", "kind" => notice.as_str()).increment(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(threshold: i32, recovery: bool, pause: Option<i32>) -> AlertPolicy {
        AlertPolicy {
            channel_ids: Vec::new(),
            failure_threshold: threshold,
            notify_on_recovery: recovery,
            auto_pause_after: pause,
        }
    }

    fn notices(counts: &[(i32, i32)], policy: &AlertPolicy) -> Vec<Option<Notice>> {
        counts
            .iter()
            .map(|&(before, after)| step(before, after, Some(policy), true).notice)
            .collect()
    }

    #[test]
    fn failing_is_told_once_when_the_threshold_is_reached() {
        let p = policy(3, true, None);
        assert_eq!(
            notices(&[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)], &p),
            [None, None, Some(Notice::Failing), None, None]
        );
    }

    #[test]
    fn recovery_is_told_only_after_failing() {
        let p = policy(3, true, None);
        assert_eq!(notices(&[(2, 0)], &p), [None]);
        assert_eq!(notices(&[(3, 0)], &p), [Some(Notice::Recovered)]);
        let quiet = policy(1, false, None);
        assert_eq!(notices(&[(5, 0)], &quiet), [None]);
    }

    #[test]
    fn auto_pause_replaces_the_failing_notice_and_needs_an_active_job() {
        let p = policy(1, true, Some(1));
        let first = step(0, 1, Some(&p), true);
        assert_eq!(
            first,
            Step {
                pause: true,
                notice: Some(Notice::AutoPaused)
            }
        );
        let p = policy(2, true, Some(4));
        assert_eq!(step(3, 4, Some(&p), true).notice, Some(Notice::AutoPaused));
        assert!(!step(3, 4, Some(&p), false).pause);
        assert_eq!(step(3, 4, Some(&p), false).notice, None);
    }

    #[test]
    fn no_policy_tells_nothing() {
        let none = step(0, 1, None, true);
        assert!(!none.pause && none.notice.is_none());
    }

    #[test]
    fn stored_policies_read_with_their_defaults() {
        let stored: AlertPolicy = serde_json::from_value(json!({})).unwrap();
        assert_eq!(stored, policy(1, true, None));
        assert_eq!(
            policy(0, true, None).validate().unwrap_err().0,
            "failureThreshold"
        );
        assert_eq!(
            policy(1, true, Some(0)).validate().unwrap_err().0,
            "autoPauseAfter"
        );
    }
}
