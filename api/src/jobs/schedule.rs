//! The rules of when a job fires: its cron expression or `runAt`, its window, its
//! `maxRuns` and its jitter, each failure a BAD_USER_INPUT naming the contract's field.

use chrono::{DateTime, Utc};
use db::PlanLimits;
use scheduler::cron::{self, Schedule};

use super::validate::Draft;
use crate::error::{ApiError, ApiResult};

/// Runs looked at for the shortest gap between two of them.
const GAP_SAMPLE: usize = 60;

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_input(field, message)
}

/// What `Job.cronExpression` shows for a job that runs once (as Airflow writes it); given
/// with `runAt`, it is taken to mean just that.
pub const ONCE: &str = "@once";

/// Most scheduled runs `maxRuns` may allow.
pub const MAX_RUNS: i64 = 1_000_000;

/// Longest jitter of a job that runs once, in seconds.
pub const MAX_ONCE_JITTER: i64 = 3_600;

/// The rules of when a job fires: a cron expression or `runAt` (exactly one), a window in
/// order, a positive `maxRuns`, and a jitter of at most half the shortest interval.
/// Normalizes `@once` to no expression, trims the expression and the timezone, and
/// drops the microseconds of the times (slots are whole milliseconds).
pub(super) fn rules(draft: &mut Draft, limits: PlanLimits, plan: db::Plan) -> ApiResult<()> {
    use scheduler::timing::whole_ms;
    draft.timezone = draft.timezone.trim().to_owned();
    draft.run_at = draft.run_at.map(whole_ms);
    draft.start_at = draft.start_at.map(whole_ms);
    draft.end_at = draft.end_at.map(whole_ms);
    draft.cron_expression = draft
        .cron_expression
        .take()
        .map(|e| e.trim().to_owned())
        .filter(|e| !(draft.run_at.is_some() && e.eq_ignore_ascii_case(ONCE)));
    cron::parse_timezone(&draft.timezone).map_err(|e| bad("timezone", e.to_string()))?;
    if !(0..=i64::from(i32::MAX)).contains(&draft.jitter_seconds) {
        return Err(bad("jitterSeconds", "must be 0 or more"));
    }
    let Some(expression) = &draft.cron_expression else {
        if draft.run_at.is_none() {
            return Err(bad(
                "cronExpression",
                "give a cronExpression, or runAt for a job that runs once",
            ));
        }
        for (field, set) in [
            ("startAt", draft.start_at.is_some()),
            ("endAt", draft.end_at.is_some()),
            ("maxRuns", draft.max_runs.is_some()),
        ] {
            if set {
                return Err(bad(
                    field,
                    "bounds a cron schedule: a job with runAt runs once",
                ));
            }
        }
        if draft.jitter_seconds > MAX_ONCE_JITTER {
            return Err(bad(
                "jitterSeconds",
                format!("must be at most {MAX_ONCE_JITTER} for a job that runs once"),
            ));
        }
        return Ok(());
    };
    if draft.run_at.is_some() {
        return Err(bad(
            "runAt",
            "give either cronExpression or runAt, not both",
        ));
    }
    if expression.eq_ignore_ascii_case(ONCE) {
        return Err(bad("runAt", "a job that runs once (@once) needs runAt"));
    }
    let gap = schedule(expression, &draft.timezone, limits, plan, draft.id)?;
    if let (Some(start), Some(end)) = (draft.start_at, draft.end_at)
        && end <= start
    {
        return Err(bad("endAt", "must be after startAt"));
    }
    if let Some(max) = draft.max_runs
        && !(1..=MAX_RUNS).contains(&max)
    {
        return Err(bad("maxRuns", format!("must be 1 to {MAX_RUNS}")));
    }
    if let Some(gap) = gap
        && draft.jitter_seconds * 2 > gap
    {
        return Err(bad(
            "jitterSeconds",
            format!(
                "must be at most half the shortest interval between runs ({gap} s): at most {}",
                gap / 2
            ),
        ));
    }
    Ok(())
}

/// The job, as drafted, has a slot after `now`; otherwise what makes it have none.
pub fn has_next_run(draft: &Draft, now: DateTime<Utc>) -> ApiResult<()> {
    let timing = scheduler::timing::Timing::of(fields(draft))
        .map_err(|e| bad("cronExpression", e.to_string()))?;
    if timing.next_after(now).is_some() {
        return Ok(());
    }
    Err(if draft.run_at.is_some() {
        bad(
            "runAt",
            "is in the past: a job that runs once needs a time to come",
        )
    } else if timing.runs_left() == Some(0) {
        bad(
            "maxRuns",
            format!(
                "the job has made {} scheduled runs already: raise maxRuns to run it again",
                draft.scheduled_runs
            ),
        )
    } else if draft.end_at.is_some_and(|end| end <= now) {
        bad("endAt", "is in the past: no slot is left")
    } else {
        bad(
            "endAt",
            "leaves no slot of the cron expression after startAt",
        )
    })
}

/// What the scheduler reads of a draft.
pub fn fields(draft: &Draft) -> scheduler::timing::Fields<'_> {
    scheduler::timing::Fields {
        id: draft.id,
        cron_expression: draft.cron_expression.as_deref(),
        timezone: &draft.timezone,
        run_at: draft.run_at,
        start_at: draft.start_at,
        end_at: draft.end_at,
        max_runs: draft.max_runs.map(|m| i32::try_from(m).unwrap_or(i32::MAX)),
        scheduled_runs: draft.scheduled_runs,
        jitter_seconds: i32::try_from(draft.jitter_seconds).unwrap_or(i32::MAX),
    }
}

/// The expression parses, the timezone exists, and runs are not closer together than the
/// plan allows. Answers the shortest interval seen, in seconds.
pub fn schedule(
    expression: &str,
    timezone: &str,
    limits: PlanLimits,
    plan: db::Plan,
    job_id: uuid::Uuid,
) -> ApiResult<Option<i64>> {
    let resolved = scheduler::cron_hash::resolve(expression, job_id)
        .map_err(|e| bad("cronExpression", e.to_string()))?;
    cron::parse_expression(&resolved).map_err(|e| bad("cronExpression", e.to_string()))?;
    cron::parse_timezone(timezone).map_err(|e| bad("timezone", e.to_string()))?;
    let schedule =
        Schedule::parse(&resolved, timezone).map_err(|e| bad("cronExpression", e.to_string()))?;
    let runs = schedule.upcoming(Utc::now(), GAP_SAMPLE);
    if runs.is_empty() {
        return Err(bad("cronExpression", "never fires"));
    }
    let gap = shortest_gap(&runs);
    if let Some(gap) = gap
        && gap < i64::from(limits.min_interval_seconds)
    {
        return Err(bad(
            "cronExpression",
            format!(
                "runs {gap} s apart at the shortest; the {plan} plan allows at most one run every {} s",
                limits.min_interval_seconds
            ),
        ));
    }
    Ok(gap)
}

/// Shortest gap in whole seconds between consecutive times.
pub fn shortest_gap(runs: &[DateTime<Utc>]) -> Option<i64> {
    runs.windows(2).map(|w| (w[1] - w[0]).num_seconds()).min()
}
