//! The HTTP server: routes of the contract's transport table, middleware, and start-up of
//! the process kinds (`api`, `all`, `scheduler`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocketProtocols};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use scheduler::{Keys, Scheduler};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::auth::tokens::TokenKeys;
use crate::auth::{self, RequestAuth};
use crate::cli::SchedulerCommand;
use crate::config::{ApiConfig, AppEnv, DatabaseConfig, RedisConfig, ServerConfig};
use crate::documents::DocumentCache;
use crate::email::Mailer;
use crate::error::ApiError;
use crate::events::EventHub;
use crate::graphql::loaders::Loaders;
use crate::graphql::{self, CronOpsSchema};
use crate::state::{AppState, Inner};
use crate::{health, metrics};

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What the routes share: the application state, the schema built over it, and the
/// shutdown signal that closes open sockets.
#[derive(Clone)]
struct ServerState {
    app: AppState,
    schema: CronOpsSchema,
    documents: Arc<DocumentCache>,
    events: EventHub,
    shutdown: CancellationToken,
}

/// The pools every process kind needs. Neither connects yet: a process starts (and says
/// so on /health) while a store is down.
fn connect_stores(
    database: &DatabaseConfig,
    redis: &RedisConfig,
) -> anyhow::Result<(db::Pool, scheduler::redis::RedisPool)> {
    let db = db::pool::build(&database.database_url, database.database_pool_size);
    let redis = scheduler::redis::connect(&redis.url(), usize::from(redis.redis_pool_size))
        .context("REDIS_URL")?;
    Ok((db, redis))
}

/// Runs the API (and, with `with_scheduler`, a scheduler in the same process) until
/// `shutdown` is cancelled.
pub async fn serve(
    env: AppEnv,
    config: ApiConfig,
    shutdown: CancellationToken,
    with_scheduler: bool,
) -> anyhow::Result<()> {
    let metrics = metrics::install();
    let (db, redis) = connect_stores(&config.database, &config.redis)?;
    let keys = Keys::new(&config.redis.redis_key_prefix);
    let addr = SocketAddr::new(config.server.host, config.server.port);

    let scheduler = with_scheduler.then(|| {
        Scheduler::new(
            db.clone(),
            redis.clone(),
            keys.clone(),
            config.scheduler.engine_config(),
        )
    });
    let scheduler_task = scheduler
        .clone()
        .map(|scheduler| tokio::spawn(scheduler.run(shutdown.clone())));

    let tokens = TokenKeys::new(&config.auth, env);
    let mailer = Mailer::new(&config.email, env)?;
    let state = AppState::new(Inner {
        env,
        config,
        db,
        redis,
        keys,
        metrics,
        tokens,
        mailer,
        scheduler,
    });
    let hub = EventHub::start(&state.config.redis.url(), &state.keys, shutdown.clone())
        .context("REDIS_URL")?;
    if let Some(port) = state.config.server.metrics_port {
        let addr = SocketAddr::new(state.config.server.host, port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("METRICS_PORT: cannot listen on {addr}"))?;
        let app = metrics_router(MetricsState {
            app: state.clone(),
            events: hub.clone(),
        });
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "metrics server failed");
            }
        });
        tracing::info!(%addr, "metrics listening");
    } else if state.env == AppEnv::Production && state.config.server.metrics_token.is_none() {
        tracing::warn!("/metrics is not served: set METRICS_PORT or METRICS_TOKEN in production");
    }
    let playground = state.config.server.playground(state.env);
    let app = router(state, hub, shutdown.clone());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("PORT: cannot listen on {addr}"))?;
    if playground {
        tracing::info!(
            %addr,
            "API listening; GraphiQL at http://localhost:{}/graphql",
            addr.port()
        );
    } else {
        tracing::info!(%addr, "API listening (GraphiQL off: GRAPHQL_PLAYGROUND)");
    }

    let graceful = shutdown.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { graceful.cancelled().await });
    let server = tokio::spawn(async move { server.await });

    shutdown.cancelled().await;
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(result) => result.context("server task")??,
        Err(_) => tracing::warn!("requests still open after the shutdown grace period"),
    }
    if let Some(task) = scheduler_task {
        task.await.context("scheduler task")??;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Runs a scheduler instance alone until `shutdown` is cancelled, with its own /metrics
/// and /health when SCHEDULER_METRICS_PORT is set.
pub async fn run_scheduler(
    config: SchedulerCommand,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = metrics::install();
    let (db, redis) = connect_stores(&config.database, &config.redis)?;
    let scheduler = Scheduler::new(
        db.clone(),
        redis.clone(),
        Keys::new(&config.redis.redis_key_prefix),
        config.scheduler.engine_config(),
    );
    if let Some(port) = config.server.scheduler_metrics_port {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("SCHEDULER_METRICS_PORT: cannot listen on {addr}"))?;
        let probe = SchedulerProbe {
            db: db.clone(),
            redis: redis.clone(),
            metrics,
            scheduler: scheduler.clone(),
        };
        let app = Router::new()
            .route("/metrics", get(scheduler_metrics))
            .route("/health", get(scheduler_health))
            .with_state(probe);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "scheduler metrics server failed");
            }
        });
        tracing::info!(%addr, "scheduler metrics and health listening");
    }
    scheduler.run(shutdown).await?;
    Ok(())
}

/// What the scheduler's own HTTP server reads.
#[derive(Clone)]
struct SchedulerProbe {
    db: db::Pool,
    redis: scheduler::redis::RedisPool,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    scheduler: Scheduler,
}

/// The scheduler's `/metrics`.
async fn scheduler_metrics(State(probe): State<SchedulerProbe>) -> Response {
    metrics::record_pool(&probe.db);
    metrics_response(&probe.metrics)
}

/// The scheduler's `/health`: both stores, as the API's, and whether it keeps up with
/// writing its results.
async fn scheduler_health(State(probe): State<SchedulerProbe>) -> Response {
    health_response(health::check_stores(&probe.db, &probe.redis, Some(&probe.scheduler)).await)
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
        events,
        shutdown,
    };
    // Metrics tell an outsider a lot (operations, users' load): in production the API
    // port serves them only behind a token.
    let metrics_here = server_config.metrics_port.is_none()
        && (!production || server_config.metrics_token.is_some());
    let graphql_routes = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route_layer(middleware::from_fn_with_state(
            server_state.clone(),
            global_rate_limit,
        ));
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
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id,
                        )
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
fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
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

/// What a request brings for authentication: its checked bearer token and address.
fn request_auth(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> RequestAuth {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestAuth::parse_bearer);
    RequestAuth {
        credentials: auth::check_token(&state.tokens, token.as_deref()),
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

async fn graphql_post(
    State(state): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let mut request = request.into_inner();
    state.documents.attach_parsed_document(&mut request);
    let request = request
        .data(request_auth(&state.app, &headers, peer))
        .data(Loaders::new(&state.app));
    state.schema.execute(request).await.into()
}

/// `GET /graphql`: GraphiQL for a browser, else a query from the URL (never a mutation,
/// which must not ride on a method that proxies and browsers treat as safe).
async fn graphql_get(
    State(state): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    request: Result<GraphQLRequest, async_graphql_axum::rejection::GraphQLRejection>,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let has_query = uri.query().is_some_and(|q| !q.is_empty());
    let playground = state.app.config.server.playground(state.app.env);
    if wants_html && !has_query && !playground {
        return (
            StatusCode::NOT_FOUND,
            "GraphiQL is off here (GRAPHQL_PLAYGROUND); POST GraphQL requests to /graphql\n",
        )
            .into_response();
    }
    if wants_html && !has_query {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql/ws")
                .title("CronOps GraphiQL")
                .finish(),
        )
        .into_response();
    }
    let mut request = match request {
        Ok(request) => request.into_inner(),
        Err(rejection) => return rejection.into_response(),
    };
    state.documents.attach_parsed_document(&mut request);
    if is_mutation(&mut request) {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            Json(serde_json::json!({
                "errors": [{
                    "message": "mutations must be sent with POST",
                    "extensions": {"code": "BAD_USER_INPUT"}
                }]
            })),
        )
            .into_response();
    }
    let request = request
        .data(request_auth(&state.app, &headers, peer))
        .data(Loaders::new(&state.app));
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

/// Whether the operation the request would run is a mutation.
fn is_mutation(request: &mut async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false; // execution reports the syntax error
    };
    let is_mut = |ty: OperationType| ty == OperationType::Mutation;
    match &document.operations {
        DocumentOperations::Single(op) => is_mut(op.node.ty),
        DocumentOperations::Multiple(ops) => match &operation_name {
            Some(name) => ops.get(name.as_str()).is_some_and(|op| is_mut(op.node.ty)),
            None => ops.values().any(|op| is_mut(op.node.ty)),
        },
    }
}

/// Read buffer of each WebSocket (see [`graphql_ws`]). A client's messages are
/// `connection_init` with its token and `subscribe` with its query: a few hundred bytes
/// each, and a longer one takes a few reads. With 4 KiB, each idle subscriber cost
/// 20.3-20.7 KiB of API memory in the `live` benchmark; with 1 KiB, 17.1.
const WS_READ_BUFFER: usize = 1024;

/// WebSocket subscriptions, both graphql-transport-ws and the legacy graphql-ws protocol.
/// The token comes in `connection_init`'s payload (see [`crate::ws`]).
async fn graphql_ws(
    State(state): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|list| {
            list.split(',')
                .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
        })
        .unwrap_or(WebSocketProtocols::GraphQLWS);
    let ip = client_ip(&state.app, &headers, peer);
    let max_message = state.app.config.server.ws_max_message_bytes as usize;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        // tungstenite zero-fills its whole read buffer (128 KiB by default) on every read
        // and keeps it per socket: clients send a few small messages, and thousands of
        // idle subscribers must stay cheap. Larger frames still grow the buffer as needed.
        .read_buffer_size(WS_READ_BUFFER)
        .on_upgrade(move |socket| {
            crate::ws::serve(
                socket,
                state.schema,
                protocol,
                state.app,
                state.events,
                ip,
                state.shutdown,
            )
        })
}

/// `GET /health` and `/api/health`: 200 when both stores answer, 503 otherwise.
async fn health_report(State(state): State<ServerState>) -> Response {
    health_response(health::check(&state.app).await)
}

fn health_response(report: health::Health) -> Response {
    let status = if report.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

/// What `/metrics` reads.
#[derive(Clone)]
struct MetricsState {
    app: AppState,
    events: EventHub,
}

/// `/metrics` alone, for the API port or its own (METRICS_PORT).
fn metrics_router(state: MetricsState) -> Router {
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

fn metrics_response(handle: &metrics_exporter_prometheus::PrometheusHandle) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
