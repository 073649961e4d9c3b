//! The rules a job must meet, each failure a BAD_USER_INPUT naming the contract's field.

use chrono::{DateTime, Utc};
use db::HttpMethod;
use scheduler::alerts::AlertPolicy;
use scheduler::criteria::SuccessCriteria;

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
    pub tags: Vec<String>,
}

impl Draft {
    /// A stored job as a draft (the same id).
    pub fn of_job(job: &db::models::Job) -> Draft {
        Draft {
            id: job.id,
            name: job.name.clone(),
            description: job.description.clone(),
            cron_expression: job.cron_expression.clone(),
            timezone: job.timezone.clone(),
            run_at: job.run_at,
            start_at: job.start_at,
            end_at: job.end_at,
            max_runs: job.max_runs.map(i64::from),
            scheduled_runs: job.scheduled_runs,
            jitter_seconds: i64::from(job.jitter_seconds),
            target_url: job.target_url.clone(),
            http_method: job.http_method,
            headers: job.headers.clone(),
            body: job.body.clone(),
            timeout_ms: i64::from(job.timeout_ms),
            max_retries: i64::from(job.max_retries),
            success_criteria: SuccessCriteria::of_job(job),
            alert_policy: AlertPolicy::of_job(job),
            retry_policy: job
                .retry_policy
                .is_some()
                .then(|| scheduler::retry::Stored::of_job(job)),
            catch_up: scheduler::catch_up::CatchUp::parse(&job.catch_up_policy),
            overlap: crate::graphql::OverlapPolicy::parse(&job.overlap_policy).as_str(),
            tags: job.tags.clone(),
        }
    }
}

pub const MAX_URL: usize = 2048;
pub const MAX_HEADERS: usize = 50;
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_DESCRIPTION: usize = 1000;

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
    super::schedule::rules(draft, limits, plan)?;
    tags(&mut draft.tags)?;
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

/// Most tags a job may have, and the longest tag.
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG: usize = 50;

/// Tags trimmed and without repeats, each 1 to [`MAX_TAG`] letters, digits or `-_.:/`.
pub fn tags(tags: &mut Vec<String>) -> ApiResult<()> {
    for tag in tags.iter_mut() {
        *tag = tag.trim().to_owned();
        let fits = (1..=MAX_TAG).contains(&tag.chars().count())
            && tag
                .chars()
                .all(|c| c.is_alphanumeric() || "-_.:/".contains(c));
        if !fits {
            return Err(bad(
                "tags",
                format!("`{tag}`: a tag is 1 to {MAX_TAG} letters, digits or -_.:/"),
            ));
        }
    }
    tags.sort();
    tags.dedup();
    if tags.len() > MAX_TAGS {
        return Err(bad("tags", format!("at most {MAX_TAGS} tags")));
    }
    Ok(())
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
