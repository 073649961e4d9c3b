//! The API's routes and middleware: the contract's transport table, security headers,
//! CORS, the client's address, the global rate limit, health and metrics. The GraphQL
//! handlers themselves are in [`crate::transport`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{self, RequestAuth};
use crate::config::{AppEnv, ServerConfig};
use crate::documents::DocumentCache;
use crate::error::ApiError;
use crate::events::EventHub;
use crate::graphql::{self, CronOpsSchema};
use crate::state::AppState;
use crate::transport::persisted::PersistedQueries;
use crate::transport::{graphiql, graphql_get, graphql_post, graphql_ws};
use crate::{health, metrics};

/// What the routes share: the application state, the schema built over it, and the
/// shutdown signal that closes open sockets.
#[derive(Clone)]
pub(crate) struct ServerState {
    pub(crate) app: AppState,
    pub(crate) schema: CronOpsSchema,
    pub(crate) documents: Arc<DocumentCache>,
    pub(crate) persisted: Arc<PersistedQueries>,
    pub(crate) events: EventHub,
    pub(crate) shutdown: CancellationToken,
}

/// Every route and middleware of the API.
pub fn router(state: AppState, events: EventHub, shutdown: CancellationToken) -> Router {
    let server_config = state.config.server.clone();
    let production = state.env == AppEnv::Production;
    let schema = graphql::build(state.clone(), events.clone());
    ::metrics::gauge!("cronops_db_pool_max")
        .set(f64::from(state.config.database.database_pool_size));
    let server_state = ServerState {
        app: state,
        schema,
        documents: Arc::default(),
        persisted: Arc::default(),
        events,
        shutdown,
    };
    // Metrics tell an outsider a lot (operations, users' load): in production the API
    // port serves them only behind a token.
    let metrics_here = server_config.metrics_port.is_none()
        && (!production || server_config.metrics_token.is_some());
    let mut graphql_routes = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route_layer(middleware::from_fn_with_state(
            server_state.clone(),
            global_rate_limit,
        ));
    if server_state
        .app
        .config
        .server
        .playground(server_state.app.env)
    {
        graphql_routes = graphql_routes.route(
            &format!("{}/{{file}}", graphiql::ASSETS),
            get(graphiql::asset),
        );
    }
    let metrics_routes = if metrics_here {
        metrics_router(MetricsState {
            app: server_state.app.clone(),
            events: server_state.events.clone(),
        })
    } else {
        Router::new()
    };
    let router = Router::new()
        .merge(graphql_routes)
        .route("/health", get(health_report))
        .route("/api/health", get(health_report))
        .route_layer(middleware::from_fn(metrics::track_http))
        .with_state(server_state)
        .merge(metrics_routes)
        .merge(crate::dashboard::router())
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(
                    |request: &axum::http::Request<_>| {
                        let request_id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        let span = tracing::info_span!(
                            "request",
                            otel.name = format!("{} {}", request.method(), request.uri().path()),
                            otel.kind = "server",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id,
                        );
                        crate::telemetry::continue_trace(&span, request.headers());
                        span
                    },
                ))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(cors(&server_config)),
        )
        .layer(RequestBodyLimitLayer::new(server_config.request_body_limit));
    with_security_headers(router, production)
}

/// CORS from `CORS_ORIGIN`: `*`, or a comma-separated list of origins.
fn cors(config: &ServerConfig) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600));
    let origins = config.cors_origin.trim();
    if origins == "*" {
        return layer.allow_origin(Any);
    }
    let list: Vec<HeaderValue> = origins
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .filter_map(|o| match HeaderValue::from_str(o) {
            Ok(value) => Some(value),
            Err(_) => {
                tracing::warn!(
                    origin = o,
                    "CORS_ORIGIN: ignoring an origin that is not a header value"
                );
                None
            }
        })
        .collect();
    layer
        .allow_origin(AllowOrigin::list(list))
        .allow_credentials(true)
}

/// The Helmet set of response headers; HSTS only in production (where TLS is in front).
fn with_security_headers(router: Router, production: bool) -> Router {
    let hsts = production.then(|| HeaderValue::from_static("max-age=15552000; includeSubDomains"));
    let set = |name: &'static str, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    };
    router
        .layer(set("x-content-type-options", "nosniff"))
        .layer(set("x-frame-options", "DENY"))
        .layer(set("referrer-policy", "no-referrer"))
        .layer(set("x-dns-prefetch-control", "off"))
        .layer(set("x-download-options", "noopen"))
        .layer(set("x-permitted-cross-domain-policies", "none"))
        .layer(set("cross-origin-opener-policy", "same-origin"))
        .layer(set("cross-origin-resource-policy", "same-origin"))
        .layer(set("origin-agent-cluster", "?1"))
        .layer(set("x-xss-protection", "0"))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            move |_: &Response| hsts.clone(),
        ))
}

/// The client's address: the peer, or with TRUST_PROXY the X-Forwarded-For entry that
/// the outermost trusted proxy wrote (see [`forwarded_client`]).
pub(crate) fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    let server = &state.config.server;
    if server.trust_proxy {
        let entries = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        if let Some(forwarded) = forwarded_client(entries, usize::from(server.trust_proxy_hops)) {
            return forwarded;
        }
    }
    peer.ip()
}

/// The address `hops` entries from the right of X-Forwarded-For. Each proxy appends the
/// address it received the request from, so with `hops` trusted proxies in front, that
/// entry was written by the outermost of them; anything to its left came from the client
/// and proves nothing. A header with fewer entries gives its leftmost one; an entry that
/// is not an address gives none (the peer address is used).
fn forwarded_client<'a>(entries: impl Iterator<Item = &'a str>, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&str> = entries.map(str::trim).filter(|e| !e.is_empty()).collect();
    let index = entries.len().saturating_sub(hops.max(1));
    entries.get(index)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;

    #[test]
    fn the_client_is_read_from_the_right_of_x_forwarded_for() {
        let read = |header: &str, hops| forwarded_client(header.split(','), hops);
        let ip = |s: &str| Some(s.parse().unwrap());
        // A client that sends its own header cannot choose its address.
        assert_eq!(read("6.6.6.6, 203.0.113.9", 1), ip("203.0.113.9"));
        assert_eq!(read("6.6.6.6, 203.0.113.9, 10.0.0.2", 2), ip("203.0.113.9"));
        assert_eq!(read("203.0.113.9", 2), ip("203.0.113.9"));
        assert_eq!(read("2001:db8::1", 1), ip("2001:db8::1"));
        assert_eq!(read("6.6.6.6, garbage", 1), None);
        assert_eq!(read("", 1), None);
    }
}

/// What a request brings for authentication: its checked bearer token (or API key) and
/// address.
pub(crate) async fn request_auth(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> RequestAuth {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestAuth::parse_bearer);
    RequestAuth {
        credentials: auth::authenticate(state, token.as_deref()).await,
        client_ip: Some(client_ip(state, headers, peer)),
    }
}

/// The global per-IP limit (RATE_LIMIT_WINDOW_MS, RATE_LIMIT_MAX_REQUESTS) on the GraphQL
/// endpoints, shared by every API instance through Redis. Over it: HTTP 429 with a
/// GraphQL error RATE_LIMITED and `Retry-After`, and the request is not executed.
async fn global_rate_limit(
    State(state): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let ip = auth::ip_key(client_ip(&state.app, request.headers(), peer));
    match auth::limits::check(&state.app, state.app.global_limit(), &ip).await {
        Ok(()) => next.run(request).await,
        Err(error) => {
            let retry_after = match &error {
                ApiError::RateLimited { retry_after } => *retry_after,
                _ => 1,
            };
            let body = async_graphql::Response::from_errors(vec![
                async_graphql::Error::from(error).into_server_error(Default::default()),
            ]);
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after.to_string())],
                Json(body),
            )
                .into_response()
        }
    }
}

/// `GET /health` and `/api/health`: 200 when both stores answer, 503 otherwise.
async fn health_report(State(state): State<ServerState>) -> Response {
    health_response(health::check(&state.app).await)
}

pub(crate) fn health_response(report: health::Health) -> Response {
    let status = if report.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

/// What `/metrics` reads.
#[derive(Clone)]
pub(crate) struct MetricsState {
    pub(crate) app: AppState,
    pub(crate) events: EventHub,
}

/// `/metrics` alone, for the API port or its own (METRICS_PORT).
pub(crate) fn metrics_router(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

/// `GET /metrics`: Prometheus text format, behind METRICS_TOKEN when one is set.
async fn metrics_text(State(state): State<MetricsState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.app.config.server.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(RequestAuth::parse_bearer)
            .unwrap_or_default();
        if !auth::tokens::same_secret(&presented, expected) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "send Authorization: Bearer <METRICS_TOKEN>\n",
            )
                .into_response();
        }
    }
    metrics::record_pool(&state.app.db);
    ::metrics::gauge!("cronops_event_receivers").set(state.events.subscribers() as f64);
    metrics_response(&state.app.metrics)
}

pub(crate) fn metrics_response(handle: &metrics_exporter_prometheus::PrometheusHandle) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
