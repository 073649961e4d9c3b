//! `exportJobs` and `importJobs`: a versioned document of a user's jobs, and its import,
//! which creates or updates jobs by name, checks every entry first, and changes nothing
//! unless all pass. Secrets travel as the `{{secrets.NAME}}` references jobs hold, never
//! as values.

use std::collections::HashMap;

use chrono::Utc;
use db::JobStatus;
use db::models::Job;
use db::models::job::LimitReached;
use serde_json::Value;
use uuid::Uuid;

use super::entry::Entry;
use super::stored::check_channels;
use super::validate::Draft;
use super::{plan_of, schedule, sync_schedule, targets, validate};
use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What the document says it is.
pub const FORMAT: &str = "cronops.jobs";
pub const VERSION: u32 = 1;
/// Most entries one import takes.
pub const MAX_ENTRIES: usize = 500;

/// A reason an import changes nothing: the entry (its index) and field it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub entry: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

/// What an import did, or would do.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub created: usize,
    pub updated: usize,
    pub problems: Vec<Problem>,
}

/// `exportJobs`: the caller's jobs (with `tag`, if given), by name.
pub async fn export(state: &AppState, viewer: &Claims, tag: Option<&str>) -> ApiResult<Value> {
    let mut conn = state.conn().await?;
    let mut jobs = Job::all_of_user(&mut conn, viewer.sub).await?;
    jobs.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let entries: Vec<Entry> = jobs
        .iter()
        .filter(|job| tag.is_none_or(|tag| job.tags.iter().any(|t| t == tag)))
        .map(Entry::of_job)
        .collect();
    Ok(serde_json::json!({
        "format": FORMAT,
        "version": VERSION,
        "exportedAt": Utc::now(),
        "jobs": entries,
    }))
}

/// Reads the document's entries, or the problem with the document itself.
fn entries(document: &Value) -> Result<&Vec<Value>, Problem> {
    let whole = |message: String| Problem {
        entry: None,
        field: Some("document".to_owned()),
        message,
    };
    if document.get("format").and_then(Value::as_str) != Some(FORMAT)
        || document.get("version").and_then(Value::as_u64) != Some(u64::from(VERSION))
    {
        return Err(whole(format!(
            "expected a document of exportJobs: format \"{FORMAT}\", version {VERSION}"
        )));
    }
    let jobs = document
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or_else(|| whole("`jobs` must be a list".to_owned()))?;
    if jobs.len() > MAX_ENTRIES {
        return Err(whole(format!("at most {MAX_ENTRIES} jobs per import")));
    }
    Ok(jobs)
}

/// `importJobs`: checks every entry (the rules of createJob and updateJob, and the plan's
/// job limit over the result), then, unless `dry_run` or a problem, writes them all in one
/// transaction.
pub async fn import(
    state: &AppState,
    viewer: &Claims,
    document: &Value,
    dry_run: bool,
) -> ApiResult<Outcome> {
    let entries = match entries(document) {
        Ok(entries) => entries,
        Err(problem) => {
            return Ok(Outcome {
                problems: vec![problem],
                ..Outcome::default()
            });
        }
    };
    let plan = plan_of(state, viewer).await?;
    let mut conn = state.conn().await?;
    let existing = Job::all_of_user(&mut conn, viewer.sub).await?;
    drop(conn);
    let by_name: HashMap<&str, &Job> = existing.iter().map(|j| (j.name.as_str(), j)).collect();
    let mut outcome = Outcome::default();
    let mut drafts: Vec<(Draft, JobStatus, Option<&Job>)> = Vec::new();
    for (index, raw) in entries.iter().enumerate() {
        let checked = check(state, viewer, plan, raw, &by_name, &drafts).await;
        match checked {
            Ok((draft, status, old)) => drafts.push((draft, status, old)),
            Err(mut problem) => {
                problem.entry = Some(index);
                outcome.problems.push(problem);
            }
        }
    }
    outcome.created = drafts.iter().filter(|(_, _, old)| old.is_none()).count();
    outcome.updated = drafts.len() - outcome.created;
    let counted = existing
        .iter()
        .filter(|job| job.status != JobStatus::Completed)
        .count()
        + outcome.created;
    let max = plan.limits().max_jobs as usize;
    if counted > max {
        outcome.problems.push(Problem {
            entry: None,
            field: None,
            message: format!(
                "the {plan} plan allows {max} jobs (active or paused); this import would make {counted}"
            ),
        });
    }
    if dry_run || !outcome.problems.is_empty() {
        return Ok(outcome);
    }
    let saved = write(state, viewer, &drafts).await?;
    for job in &saved {
        sync_schedule(state, job, plan).await;
    }
    Ok(outcome)
}

/// One entry checked: its draft, status, and the job it updates (if any).
async fn check<'a>(
    state: &AppState,
    viewer: &Claims,
    plan: db::Plan,
    raw: &Value,
    by_name: &HashMap<&str, &'a Job>,
    before: &[(Draft, JobStatus, Option<&Job>)],
) -> Result<(Draft, JobStatus, Option<&'a Job>), Problem> {
    let from_api = |e: ApiError| match e {
        ApiError::BadUserInput { message, field } => Problem {
            entry: None,
            field,
            message,
        },
        other => Problem {
            entry: None,
            field: None,
            message: other.message(),
        },
    };
    let entry: Entry = serde_json::from_value(raw.clone()).map_err(|e| Problem {
        entry: None,
        field: None,
        message: e.to_string(),
    })?;
    let name = entry.name.trim().to_owned();
    if before.iter().any(|(d, _, _)| d.name == name) {
        return Err(Problem {
            entry: None,
            field: Some("name".to_owned()),
            message: format!("`{name}` is in the document twice"),
        });
    }
    let old = by_name.get(name.as_str()).copied();
    let (mut draft, status) = entry.draft(
        old.map_or_else(Uuid::new_v4, |job| job.id),
        old.map_or(0, |job| job.scheduled_runs),
    )?;
    validate::draft(&mut draft, plan, &targets(state)).map_err(from_api)?;
    if status == JobStatus::Active {
        schedule::has_next_run(&draft, Utc::now()).map_err(from_api)?;
    }
    crate::secrets::check_references(
        state,
        viewer.sub,
        &draft.target_url,
        draft.headers.as_ref(),
        draft.body.as_deref(),
    )
    .await
    .map_err(from_api)?;
    let mut conn = state.conn().await.map_err(from_api)?;
    check_channels(&mut conn, viewer, draft.alert_policy.as_ref())
        .await
        .map_err(from_api)?;
    Ok((draft, status, old))
}

/// Creates and updates the jobs of checked drafts in one transaction.
async fn write(
    state: &AppState,
    viewer: &Claims,
    drafts: &[(Draft, JobStatus, Option<&Job>)],
) -> ApiResult<Vec<Job>> {
    let now = Utc::now();
    let rows: Vec<Job> = drafts
        .iter()
        .map(|(draft, status, old)| {
            let next_run_at = (*status == JobStatus::Active)
                .then(|| {
                    scheduler::timing::Timing::of(schedule::fields(draft))
                        .ok()?
                        .next_after(now)
                })
                .flatten();
            let mut row = match old {
                Some(old) => {
                    let mut row = (*old).clone();
                    draft.write_to(&mut row);
                    row
                }
                None => draft.new_row(viewer.sub, now),
            };
            row.status = *status;
            row.next_run_at = next_run_at;
            row.paused_reason = None;
            row.pause_note = None;
            row
        })
        .collect();
    let creates: Vec<bool> = drafts.iter().map(|(_, _, old)| old.is_none()).collect();
    let plan = plan_of(state, viewer).await?;
    let max_jobs = i64::from(plan.limits().max_jobs);
    let mut conn = state.conn().await?;
    Job::import(&mut conn, viewer.sub, &rows, &creates, max_jobs)
        .await?
        .map_err(|LimitReached { owned }| super::limit_reached(plan, owned))
}
