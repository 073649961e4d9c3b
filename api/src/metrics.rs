//! Prometheus metrics: the process-wide recorder and the HTTP request middleware.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets (seconds) for every `*_duration_seconds` histogram.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets (seconds) for how late runs fire after their slot.
const LATENESS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 60.0,
];

/// Installs the global recorder once and returns the handle that renders `/metrics`.
/// API and scheduler in one process (`cronops all`) share it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
                .expect("latency buckets are not empty")
                .set_buckets_for_metric(
                    Matcher::Suffix("lateness_seconds".into()),
                    LATENESS_BUCKETS,
                )
                .expect("lateness buckets are not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            let upkeep = handle.clone();
            // Histograms are drained into their buckets by upkeep, not by rendering.
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    upkeep.run_upkeep();
                }
            });
            handle
        })
        .clone()
}

/// Counts requests and records their latency by route and status.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = match *request.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::OPTIONS => "OPTIONS",
        axum::http::Method::HEAD => "HEAD",
        _ => "other",
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    metrics::counter!("cronops_http_requests_total", &labels).increment(1);
    metrics::histogram!("cronops_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Records rate, latency and outcome of every GraphQL request by operation: the operation
/// type and its root field (`query:jobs`, `query:batch` for several), never the
/// client-chosen operation name. Labels come from a fixed set: a document that fails
/// validation (an unknown field among them) is `invalid`, and an outcome that is not one
/// of the contract's codes is `GRAPHQL_ERROR`, so no request can add a series.
#[derive(Debug, Clone, Copy, Default)]
pub struct OperationMetrics;

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationRecorder::default())
    }
}

/// One request's recorder (async-graphql creates one per request).
#[derive(Debug, Default)]
struct OperationRecorder {
    operation_name: Mutex<Option<String>>,
    /// The label of the parsed document, kept once it passes validation.
    parsed: Mutex<Option<String>>,
    label: Mutex<Option<String>>,
}

/// The `extensions.code` values the API sets; any other outcome is `GRAPHQL_ERROR`.
const OUTCOMES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "CONFLICT",
    "PLAN_LIMIT_REACHED",
    "RATE_LIMITED",
    "QUERY_TOO_COMPLEX",
    "INTERNAL_SERVER_ERROR",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "OPERATION_RESOLUTION_FAILURE",
];

#[async_trait::async_trait]
impl Extension for OperationRecorder {
    async fn request(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextRequest<'_>,
    ) -> async_graphql::Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let operation = self
            .label
            .lock()
            .expect("label lock")
            .take()
            .unwrap_or_else(|| "invalid".to_owned());
        let outcome = response
            .errors
            .first()
            .map(|e| {
                e.extensions
                    .as_ref()
                    .and_then(|ext| ext.get("code"))
                    .and_then(|code| match code {
                        async_graphql::Value::String(code) => {
                            OUTCOMES.iter().find(|known| *known == code).copied()
                        }
                        _ => None,
                    })
                    .unwrap_or("GRAPHQL_ERROR")
            })
            .unwrap_or("OK");
        metrics::counter!("cronops_graphql_requests_total", "operation" => operation.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("cronops_graphql_request_duration_seconds", "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        *self.operation_name.lock().expect("name lock") = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let name = self.operation_name.lock().expect("name lock").clone();
        *self.parsed.lock().expect("label lock") =
            Some(operation_label(&document, name.as_deref()));
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        // Every root field is the schema's now.
        *self.label.lock().expect("label lock") = self.parsed.lock().expect("label lock").take();
        Ok(result)
    }
}

/// `type:field` of the operation the document runs (`type:batch` for several fields).
fn operation_label(document: &ExecutableDocument, operation_name: Option<&str>) -> String {
    use crate::graphql::operation;
    use async_graphql::parser::types::OperationType;
    let Some(operation) = operation::selected(document, operation_name) else {
        return "invalid".to_owned();
    };
    let kind = match operation.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let mut fields = operation::root_fields(document, operation);
    fields.sort_unstable();
    fields.dedup();
    match fields.as_slice() {
        [field] => format!("{kind}:{field}"),
        _ => format!("{kind}:batch"),
    }
}

/// How saturated the database pool is, as gauges.
pub fn record_pool(pool: &db::Pool) {
    let state = pool.state();
    metrics::gauge!("cronops_db_pool_connections", "state" => "idle")
        .set(f64::from(state.idle_connections));
    metrics::gauge!("cronops_db_pool_connections", "state" => "in_use").set(f64::from(
        state.connections.saturating_sub(state.idle_connections),
    ));
}
