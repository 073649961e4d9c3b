//! Firing one run: the HTTP request of a job with one shared reqwest client.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use db::{ExecutionStatus, HttpMethod};
use futures_util::{FutureExt, StreamExt};
use reqwest::redirect::{Attempt, Policy};
use reqwest::{Method, Url};
use tracing::Instrument;
use uuid::Uuid;

use crate::ssrf::{self, GuardedResolver, TargetPolicy};
use crate::text;

/// Response bodies are kept up to this many bytes; the rest is not read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Redirects followed before the run fails.
pub const MAX_REDIRECTS: usize = 5;

/// Everything needed to fire one attempt of one slot.
#[derive(Debug, Clone)]
pub struct Request {
    pub job_id: Uuid,
    /// The run row's id: stable per slot and attempt, so targets can deduplicate.
    pub execution_id: Uuid,
    pub scheduled_for: DateTime<Utc>,
    pub attempt: i32,
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout: Duration,
    /// What the answer must be to succeed; `None`: any 2xx.
    pub criteria: Option<std::sync::Arc<crate::criteria::SuccessCriteria>>,
    /// The owner's secrets, to sign the request with (`None`: unsigned).
    pub signing: Option<std::sync::Arc<crate::signing::Secrets>>,
    /// Why the request must not be sent (a secret it needs is missing): the run fails
    /// with this.
    pub unsent: Option<String>,
    /// The values written into the request, kept out of what the run records.
    pub redact: Option<std::sync::Arc<std::collections::HashMap<String, String>>>,
}

/// How the attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// SUCCESS for 2xx, TIMEOUT when the deadline passed, FAILED otherwise.
    pub status: ExecutionStatus,
    pub http_status: Option<i32>,
    /// At most [`MAX_BODY_BYTES`] of the body, as storable text ([`crate::text`]).
    pub response_body: Option<String>,
    /// Whether the body went on past [`MAX_BODY_BYTES`] (the rest was not read).
    pub response_body_truncated: bool,
    /// The response's `Content-Type`, as storable text.
    pub response_content_type: Option<String>,
    /// What went wrong, as storable text.
    pub error: Option<String>,
    pub duration_ms: i32,
    pub finished_at: DateTime<Utc>,
    /// The wait a 429 or 503 asked for with `Retry-After`.
    pub retry_after: Option<Duration>,
}

/// The HTTP client every run of a scheduler process shares.
#[derive(Debug, Clone)]
pub struct Executor {
    client: reqwest::Client,
    targets: TargetPolicy,
}

fn user_agent() -> String {
    format!("CronOps/{}", env!("CARGO_PKG_VERSION"))
}

impl Executor {
    /// A client that refuses internal targets (unless allowed) and ports outside the
    /// policy, follows at most
    /// [`MAX_REDIRECTS`] redirects and checks each of them against the guard too.
    pub fn new(targets: TargetPolicy) -> Executor {
        Self::with_pinned_hosts(targets, &[])
    }

    /// Like [`Executor::new`], with some host names pinned to addresses. Pinned names skip
    /// DNS and the guard (as a public host would pass it): tests use this to stand a
    /// loopback server in for a public host.
    pub fn with_pinned_hosts(
        targets: TargetPolicy,
        pinned: &[(&str, std::net::SocketAddr)],
    ) -> Executor {
        let allow_private = targets.allow_private;
        let redirect_targets = targets.clone();
        let policy = Policy::custom(move |attempt: Attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match ssrf::check_url(attempt.url(), &redirect_targets) {
                Ok(()) => attempt.follow(),
                Err(e) => {
                    let error = format!("redirect to {} refused: {e}", attempt.url());
                    attempt.error(error)
                }
            }
        });
        let mut builder = reqwest::Client::builder();
        for (host, addr) in pinned {
            builder = builder.resolve(host, *addr);
        }
        let client = builder
            // Never through a proxy from the environment (HTTP_PROXY, ALL_PROXY): the
            // guard checks the address connected to, and a proxy would connect elsewhere.
            .no_proxy()
            .user_agent(user_agent())
            .redirect(policy)
            .dns_resolver(std::sync::Arc::new(GuardedResolver { allow_private }))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("the HTTP client builds");
        Executor { client, targets }
    }

    /// POSTs a notice to a user's endpoint (a webhook or Slack), under the same guard as
    /// job targets. `Ok` on a 2xx; otherwise the reason, for the notice's `lastError`.
    pub async fn post_notice(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(), String> {
        let url = Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        ssrf::check_url(&url, &self.targets).map_err(|e| e.to_string())?;
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(timeout)
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| text::error(&format!("request failed: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the endpoint answered HTTP {}", status.as_u16()))
        }
    }

    /// Fires the request and reports how it went; never panics, never hangs past the
    /// job's timeout.
    pub async fn execute(&self, request: &Request) -> Outcome {
        let mut outcome = self.attempt(request).await;
        if let Some(values) = &request.redact {
            outcome.response_body = outcome
                .response_body
                .map(|body| crate::secrets::redact(&body, values));
            outcome.error = outcome.error.map(|e| crate::secrets::redact(&e, values));
        }
        outcome
    }

    async fn attempt(&self, request: &Request) -> Outcome {
        let started = Instant::now();
        let span = if crate::traces::exported() {
            tracing::info_span!(
                "http.request",
                otel.name = request.method.as_str(),
                otel.kind = "client",
                http.request.method = request.method.as_str(),
                http.response.status_code = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            )
        } else {
            tracing::Span::none()
        };
        let result = match &request.unsent {
            Some(reason) => Ok(Err(reason.clone())),
            None => {
                tokio::time::timeout(request.timeout, self.send(request))
                    .instrument(span.clone())
                    .await
            }
        };
        match &result {
            Ok(Ok(response)) => {
                span.record("http.response.status_code", response.status);
                if response.status >= 400 {
                    span.record("otel.status_code", "ERROR");
                }
            }
            _ => {
                span.record("otel.status_code", "ERROR");
            }
        }
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let finished_at = Utc::now();
        let failed = |status, error: String| Outcome {
            status,
            http_status: None,
            response_body: None,
            response_body_truncated: false,
            response_content_type: None,
            error: Some(text::error(&error)),
            duration_ms,
            finished_at,
            retry_after: None,
        };
        match result {
            Err(_) => failed(
                ExecutionStatus::Timeout,
                format!("timed out after {} ms", request.timeout.as_millis()),
            ),
            Ok(Err(error)) => failed(ExecutionStatus::Failed, error),
            Ok(Ok(response)) => {
                let status = response.status;
                let verdict = match &request.criteria {
                    None if (200..300).contains(&status) => Ok(()),
                    None => {
                        let reason = reqwest::StatusCode::from_u16(status)
                            .ok()
                            .and_then(|s| s.canonical_reason())
                            .unwrap_or("");
                        Err(format!("HTTP {status} {reason}").trim_end().to_owned())
                    }
                    Some(criteria) => criteria.check(status, &response.body, duration_ms),
                };
                Outcome {
                    status: if verdict.is_ok() {
                        ExecutionStatus::Success
                    } else {
                        ExecutionStatus::Failed
                    },
                    http_status: Some(i32::from(status)),
                    error: verdict.err().map(|e| text::error(&e)),
                    response_body: Some(response.body),
                    response_body_truncated: response.truncated,
                    response_content_type: response.content_type,
                    duration_ms,
                    finished_at,
                    retry_after: response.retry_after,
                }
            }
        }
    }

    async fn send(&self, request: &Request) -> Result<Response, String> {
        let url = Url::parse(&request.url).map_err(|e| format!("invalid URL: {e}"))?;
        ssrf::check_url(&url, &self.targets).map_err(|e| e.to_string())?;
        let method = Method::from_bytes(request.method.as_str().as_bytes()).expect("valid method");
        let mut builder = self.client.request(method, url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        builder = builder
            .header("X-CronOps-Job-Id", request.job_id.to_string())
            .header("X-CronOps-Execution-Id", request.execution_id.to_string())
            .header(
                "X-CronOps-Scheduled-For",
                request.scheduled_for.to_rfc3339(),
            )
            .header("X-CronOps-Attempt", request.attempt.to_string())
            // The run's trace context (replacing any the job sets) when traces are sent.
            .headers(crate::traces::context_headers());
        if let Some(secrets) = &request.signing {
            let body = request.body.as_deref().unwrap_or_default().as_bytes();
            let signature = crate::signing::request_header(
                secrets,
                Utc::now().timestamp(),
                request.execution_id,
                body,
            );
            builder = builder.header(crate::signing::HEADER, signature);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = builder.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|value| text::header(value.as_bytes()));
        let retry_after = matches!(status, 429 | 503)
            .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
            .flatten()
            .and_then(|value| value.to_str().ok())
            .and_then(|value| crate::retry::retry_after(value, Utc::now()));
        let declared = response.content_length();
        let mut stream = response.bytes_stream();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(describe)?;
            let room = MAX_BODY_BYTES - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if chunk.len() > room {
                truncated = true;
                break; // the rest is neither read nor kept
            }
            if body.len() == MAX_BODY_BYTES {
                // Exactly full: more is coming unless the length said so or the end is
                // already there. Not waiting for it keeps a target that stalls here from
                // timing the run out.
                truncated = match declared {
                    Some(length) => length > MAX_BODY_BYTES as u64,
                    None => !matches!(stream.next().now_or_never(), Some(None)),
                };
                break;
            }
        }
        Ok(Response {
            status,
            body: text::body(&body, truncated),
            truncated,
            content_type,
            retry_after,
        })
    }
}

/// What came back, ready to store.
struct Response {
    status: u16,
    body: String,
    truncated: bool,
    content_type: Option<String>,
    retry_after: Option<Duration>,
}

/// A readable sentence for a transport error: what failed and the innermost cause.
fn describe(error: reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    let kind = if error.is_redirect() {
        "redirect failed"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_body() || error.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    match causes.last() {
        Some(cause) => format!("{kind}: {cause}"),
        None => format!("{kind}: {error}"),
    }
}
