//! A run's HTTP request, as its job describes it: with the owner's secrets written in
//! where the job says `{{secrets.NAME}}`, and the owner's signing secrets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use db::models::{ExecutionLog, Job};

use crate::execute::Request;
use crate::secrets;
use crate::signing::Secrets;

/// What a job's owner lends its requests.
#[derive(Debug, Clone, Default)]
pub(super) struct Owner {
    /// The secrets requests are signed with.
    pub signing: Option<Arc<Secrets>>,
    /// The values of the owner's secrets, by name (only loaded for jobs that use them).
    pub values: Option<Arc<HashMap<String, String>>>,
}

fn headers_of(job: &Job) -> Vec<(String, String)> {
    job.headers
        .as_ref()
        .and_then(|h| h.as_object())
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the job writes secrets into its requests.
pub(super) fn uses_secrets(job: &Job) -> bool {
    secrets::refers(&job.target_url)
        || job.body.as_deref().is_some_and(secrets::refers)
        || job
            .headers
            .as_ref()
            .and_then(|h| h.as_object())
            .is_some_and(|map| map.values().filter_map(|v| v.as_str()).any(secrets::refers))
}

/// The request of `row`'s run. A secret the job names and its owner no longer has makes
/// the request one that is not sent, and says which.
pub(super) fn build(job: &Job, row: &ExecutionLog, owner: &Owner) -> Request {
    let mut request = Request {
        job_id: job.id,
        execution_id: row.id,
        scheduled_for: row.scheduled_for,
        attempt: row.attempt,
        method: job.http_method,
        url: job.target_url.clone(),
        headers: headers_of(job),
        body: job.body.clone(),
        timeout: Duration::from_millis(u64::try_from(job.timeout_ms).unwrap_or(10_000)),
        criteria: crate::criteria::SuccessCriteria::of_job(job).map(Arc::new),
        signing: owner.signing.clone(),
        unsent: None,
        redact: None,
    };
    if !uses_secrets(job) {
        return request;
    }
    let empty = HashMap::new();
    let values = owner.values.as_deref().unwrap_or(&empty);
    let filled = (|| {
        let url = secrets::substitute(&request.url, values)?;
        let headers = request
            .headers
            .iter()
            .map(|(name, value)| Ok((name.clone(), secrets::substitute(value, values)?)))
            .collect::<Result<Vec<_>, String>>()?;
        let body = request
            .body
            .as_deref()
            .map(|body| secrets::substitute(body, values))
            .transpose()?;
        Ok::<_, String>((url, headers, body))
    })();
    match filled {
        Ok((url, headers, body)) => {
            request.url = url;
            request.headers = headers;
            request.body = body;
            request.redact = owner.values.clone();
        }
        Err(name) => {
            request.unsent = Some(format!(
                "not sent: the job uses the secret {name}, which is not set (set it with setSecret)"
            ));
        }
    }
    request
}
