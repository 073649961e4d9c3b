//! The rules a job must meet, each failure a BAD_USER_INPUT naming the contract's field.

use chrono::{DateTime, Utc};
use db::{HttpMethod, PlanLimits};
use scheduler::alerts::AlertPolicy;
use scheduler::criteria::SuccessCriteria;
use scheduler::cron::{self, Schedule};

use crate::error::{ApiError, ApiResult};

/// The fields of a job as they would be saved.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The job's id (a new one for a job being created): `H` fields derive from it.
    pub id: uuid::Uuid,
    pub name: String,
    pub description: Option<String>,
    /// `None` (or `@once`) for a job that runs once, at `run_at`.
    pub cron_expression: Option<String>,
    pub timezone: String,
    pub run_at: Option<DateTime<Utc>>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub max_runs: Option<i64>,
    /// Scheduled runs made so far (0 for a new job): a `max_runs` at or below it
    /// leaves no run.
    pub scheduled_runs: i32,
    pub jitter_seconds: i64,
    pub target_url: String,
    pub http_method: HttpMethod,
    pub headers: Option<serde_json::Value>,
    pub body: Option<String>,
    pub timeout_ms: i64,
    pub max_retries: i64,
    /// `None`: the default, any 2xx.
    pub success_criteria: Option<SuccessCriteria>,
    /// `None`: no alerts.
    pub alert_policy: Option<AlertPolicy>,
    /// `None`: every failure retried, the default waits.
    pub retry_policy: Option<scheduler::retry::Stored>,
    pub catch_up: scheduler::catch_up::CatchUp,
    /// `overlapPolicy`: `ALLOW`, `SKIP` or `BUFFER_ONE`.
    pub overlap: &'static str,
}

pub const MAX_URL: usize = 2048;
pub const MAX_HEADERS: usize = 50;
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_DESCRIPTION: usize = 1000;
/// Runs looked at for the shortest gap between two of them.
const GAP_SAMPLE: usize = 60;

/// Headers a job may not set: hop-by-hop ones, and those the client computes.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::bad_input(field, message)
}

/// Checks every rule; the first broken one is reported. Trims the name on the way.
pub fn draft(
    draft: &mut Draft,
    plan: db::Plan,
    targets: &scheduler::ssrf::TargetPolicy,
) -> ApiResult<()> {
    let limits = plan.limits();
    draft.name = draft.name.trim().to_owned();
    let name_len = draft.name.chars().count();
    if !(1..=100).contains(&name_len) {
        return Err(bad("name", "must be 1 to 100 characters long"));
    }
    if let Some(description) = &draft.description
        && description.chars().count() > MAX_DESCRIPTION
    {
        return Err(bad(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters long"),
        ));
    }
    timing(draft, limits, plan)?;
    target_url("targetUrl", &draft.target_url, targets)?;
    headers(draft.headers.as_ref())?;
    if let Some(body) = &draft.body {
        if matches!(draft.http_method, HttpMethod::Get | HttpMethod::Head) {
            return Err(bad(
                "body",
                format!(
                    "a {} request cannot have a body: use POST, PUT, PATCH or DELETE",
                    draft.http_method
                ),
            ));
        }
        if body.len() > MAX_BODY_BYTES {
            return Err(bad(
                "body",
                format!("must be at most 64 KiB (got {} bytes)", body.len()),
            ));
        }
    }
    let max_timeout = i64::from(limits.max_timeout_ms);
    if !(1..=max_timeout).contains(&draft.timeout_ms) {
        return Err(bad(
            "timeout",
            format!("must be 1 to {max_timeout} ms on the {plan} plan"),
        ));
    }
    let max_retries = i64::from(limits.max_retries);
    if !(0..=max_retries).contains(&draft.max_retries) {
        return Err(bad(
            "maxRetries",
            format!("must be 0 to {max_retries} on the {plan} plan"),
        ));
    }
    if let Some(criteria) = &mut draft.success_criteria {
        criteria
            .validate(draft.timeout_ms)
            .map_err(|e| bad(&format!("successCriteria.{}", e.field), e.message))?;
        if criteria.is_default() {
            draft.success_criteria = None;
        }
    }
    if let Some(retry) = &draft.retry_policy {
        retry
            .validate(limits.max_backoff_ms)
            .map_err(|(field, message)| bad(&format!("retryPolicy.{field}"), message))?;
        if retry.is_default() {
            draft.retry_policy = None;
        }
    }
    if let Some(policy) = &mut draft.alert_policy {
        policy
            .validate()
            .map_err(|(field, message)| bad(&format!("alertPolicy.{field}"), message))?;
        policy.channel_ids.sort();
        policy.channel_ids.dedup();
    }
    Ok(())
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
fn timing(draft: &mut Draft, limits: PlanLimits, plan: db::Plan) -> ApiResult<()> {
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

/// An absolute http(s) URL with a host, no credentials, not too long, and (unless private
/// targets are allowed) not a literal internal address.
/// An absolute http(s) URL that job requests (or notices) may be sent to; errors name
/// `field`.
pub fn target_url(
    field: &str,
    raw: &str,
    targets: &scheduler::ssrf::TargetPolicy,
) -> ApiResult<()> {
    if raw.len() > MAX_URL {
        return Err(bad(
            field,
            format!("must be at most {MAX_URL} characters long"),
        ));
    }
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|e| bad(field, format!("is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(field, "must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(field, "must have a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            field,
            "must not contain credentials: send them in a header instead",
        ));
    }
    scheduler::ssrf::check_url(&url, targets).map_err(|e| bad(field, e.to_string()))
}

/// A flat JSON object of string values, valid as HTTP headers, within the limits.
pub fn headers(headers: Option<&serde_json::Value>) -> ApiResult<()> {
    let field = "headers";
    let Some(value) = headers else { return Ok(()) };
    let Some(map) = value.as_object() else {
        return Err(bad(
            field,
            "must be a JSON object of header names to string values",
        ));
    };
    if map.len() > MAX_HEADERS {
        return Err(bad(field, format!("at most {MAX_HEADERS} headers")));
    }
    let mut total = 0;
    for (name, value) in map {
        let Some(text) = value.as_str() else {
            return Err(bad(
                field,
                format!("the value of `{name}` must be a string"),
            ));
        };
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(bad(field, format!("`{name}` is not a valid header name")));
        }
        if reqwest::header::HeaderValue::from_str(text).is_err() {
            return Err(bad(
                field,
                format!("the value of `{name}` is not a valid header value"),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if FORBIDDEN_HEADERS.contains(&lower.as_str()) {
            return Err(bad(
                field,
                format!("`{name}` cannot be set: CronOps sets it"),
            ));
        }
        total += name.len() + text.len();
    }
    if total > MAX_HEADER_BYTES {
        return Err(bad(
            field,
            format!("headers must total at most 8 KiB (got {total} bytes)"),
        ));
    }
    Ok(())
}
