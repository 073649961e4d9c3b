//! Prometheus metrics: the process-wide recorder and the HTTP request middleware.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

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
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("cronops_http_requests_total", &labels).increment(1);
    metrics::histogram!("cronops_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// `type:field,field` of the operation a request runs: bounded by the schema, unlike
/// operation names, which clients choose.
pub fn operation_label(request: &async_graphql::Request) -> String {
    use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return "invalid".to_owned();
    };
    let operation = match &document.operations {
        DocumentOperations::Single(op) => Some(&op.node),
        DocumentOperations::Multiple(ops) => match &request.operation_name {
            Some(name) => ops.get(name.as_str()).map(|op| &op.node),
            None => ops.values().next().map(|op| &op.node),
        },
    };
    let Some(operation) = operation else {
        return "invalid".to_owned();
    };
    let kind = match operation.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let mut fields: Vec<&str> = operation
        .selection_set
        .node
        .items
        .iter()
        .filter_map(|item| match &item.node {
            Selection::Field(field) => Some(field.node.name.node.as_str()),
            _ => None,
        })
        .collect();
    fields.sort_unstable();
    fields.dedup();
    fields.truncate(5);
    format!("{kind}:{}", fields.join(","))
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
