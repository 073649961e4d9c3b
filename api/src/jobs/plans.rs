//! `updatePlan`: a plan change, refused when the user's jobs do not fit the new plan.

use db::models::{Job, User};
use db::{JobStatus, Plan};

use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// `updatePlan`: upgrades apply at once; a downgrade the user's jobs exceed is refused
/// with what to change.
pub async fn update_plan(state: &AppState, viewer: &Claims, plan: Plan) -> ApiResult<User> {
    crate::auth::api_keys::require_session(viewer)?;
    let mut conn = state.conn().await?;
    let result =
        User::change_plan(&mut conn, viewer.sub, plan, move |jobs| fits(plan, jobs)).await?;
    let user = result.map_err(ApiError::PlanLimitReached)?;
    if let Err(e) = scheduler::queue::set_plan(&state.redis, &state.keys, user.id, plan).await {
        tracing::warn!(user_id = %user.id, error = %e, "new plan not in Redis yet; the reconciler will record it");
    }
    Ok(user)
}

/// Whether a user's jobs fit a plan; otherwise what to change, naming the jobs.
fn fits(plan: Plan, jobs: &[Job]) -> Result<(), String> {
    let limits = plan.limits();
    let mut problems = Vec::new();
    // Completed jobs neither count nor fire.
    let jobs: Vec<&Job> = jobs
        .iter()
        .filter(|job| job.status != JobStatus::Completed)
        .collect();
    if jobs.len() > limits.max_jobs as usize {
        problems.push(format!(
            "you have {} jobs (active or paused) and the {plan} plan allows {}: delete {}",
            jobs.len(),
            limits.max_jobs,
            jobs.len() - limits.max_jobs as usize
        ));
    }
    for job in jobs {
        if job.timeout_ms > limits.max_timeout_ms as i32 {
            problems.push(format!(
                "lower the timeout of `{}` to {} ms or less",
                job.name, limits.max_timeout_ms
            ));
        }
        if job.max_retries > limits.max_retries as i32 {
            problems.push(format!(
                "lower maxRetries of `{}` to {} or less",
                job.name, limits.max_retries
            ));
        }
        if let Some(expression) = &job.cron_expression
            && super::schedule::schedule(expression, &job.timezone, limits, plan, job.id).is_err()
        {
            problems.push(format!(
                "`{}` runs more often than once every {} s",
                job.name, limits.min_interval_seconds
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let shown = problems.len().min(5);
    let more = problems.len() - shown;
    let mut message = format!(
        "your jobs do not fit the {plan} plan: {}",
        problems[..shown].join("; ")
    );
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    Err(message)
}
