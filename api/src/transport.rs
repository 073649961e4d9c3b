//! GraphQL over HTTP (`POST` and `GET /graphql`, GraphiQL) and the WebSocket upgrade.

use std::net::SocketAddr;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocketProtocols};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Json;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::graphql::loaders::Loaders;
use crate::routes::{ServerState, client_ip, request_auth};

/// `POST /graphql`: a query or mutation, with the caller's token and address.
pub(crate) async fn graphql_post(
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
pub(crate) async fn graphql_get(
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
pub(crate) async fn graphql_ws(
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
