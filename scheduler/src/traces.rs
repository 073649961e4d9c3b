//! Traces of runs, for processes that export them (see [`export`]): each run is a trace
//! of its own, from the moment it is prepared after its claim until its outcome is
//! recorded, with its HTTP request as a child span whose W3C `traceparent` goes to the
//! target, so the target's own tracing joins the run's trace.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry_http::HeaderInjector;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static EXPORTED: AtomicBool = AtomicBool::new(false);

/// Turns on the spans of runs and of Redis commands (pools built from now on). Without
/// it they cost nothing: a busy scheduler makes thousands of runs a second.
pub fn export() {
    EXPORTED.store(true, Ordering::Relaxed);
}

pub(crate) fn exported() -> bool {
    EXPORTED.load(Ordering::Relaxed)
}

/// The span of one run, a trace of its own (none when traces are not exported).
pub(crate) fn run_span(job: &db::models::Job, row: &db::models::ExecutionLog) -> tracing::Span {
    if !exported() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        parent: None,
        "run",
        otel.name = format!("run {}", job.name),
        cronops.job.id = %job.id,
        cronops.run.id = %row.id,
        cronops.run.slot = %row.scheduled_for,
        cronops.run.attempt = row.attempt,
        cronops.run.trigger = row.trigger.as_str(),
    )
}

/// The W3C trace context of the current span, as request headers (none when the span is
/// not exported).
pub(crate) fn context_headers() -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    if exported() {
        let context = tracing::Span::current().context();
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
        });
    }
    headers
}
