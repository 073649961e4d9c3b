//! GraphQL over HTTP (`POST` and `GET /graphql`, see [`http`]), persisted queries,
//! GraphiQL, and the WebSocket upgrade.

pub mod graphiql;
pub mod http;
pub mod persisted;

use std::net::SocketAddr;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols};
use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use self::http::{MediaType, Params, Rejection};
use self::persisted::{Lookup, NOT_FOUND};
use crate::graphql::error_codes::Executed;
use crate::graphql::loaders::Loaders;
use crate::routes::{ServerState, client_ip, request_auth};

/// `POST /graphql`: a query or mutation in a JSON body.
pub(crate) async fn graphql_post(
    State(state): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let media = MediaType::negotiate(&headers);
    if !http::is_json_body(&headers) {
        return Rejection::unsupported_media_type().respond(media);
    }
    let Some(media) = media else {
        return Rejection::not_acceptable().respond(None);
    };
    match Params::from_body(&body) {
        Ok(params) => execute(&state, &headers, peer, media, params, false).await,
        Err(rejection) => rejection.respond(Some(media)),
    }
}

/// `GET /graphql`: GraphiQL for a browser, else a query from the URL (never a mutation,
/// which must not ride on a method that proxies and browsers treat as safe).
pub(crate) async fn graphql_get(
    State(state): State<ServerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let url_query = uri.query().unwrap_or_default();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && url_query.is_empty() {
        if state.app.config.server.playground(state.app.env) {
            return graphiql::page();
        }
        return (
            StatusCode::NOT_FOUND,
            "GraphiQL is off here (GRAPHQL_PLAYGROUND); POST GraphQL requests to /graphql\n",
        )
            .into_response();
    }
    let Some(media) = MediaType::negotiate(&headers) else {
        return Rejection::not_acceptable().respond(None);
    };
    match Params::from_url(url_query) {
        Ok(params) => execute(&state, &headers, peer, media, params, true).await,
        Err(rejection) => rejection.respond(Some(media)),
    }
}

/// Runs one request read by either method.
async fn execute(
    state: &ServerState,
    headers: &HeaderMap,
    peer: SocketAddr,
    media: MediaType,
    mut params: Params,
    over_get: bool,
) -> Response {
    let lookup = match state.persisted.resolve(&mut params) {
        Ok(lookup) => lookup,
        Err(rejection) => {
            let request_error = media == MediaType::GraphqlResponse && rejection.code == NOT_FOUND;
            return Rejection {
                status: if request_error {
                    StatusCode::BAD_REQUEST
                } else {
                    rejection.status
                },
                ..rejection
            }
            .respond(Some(media));
        }
    };
    let Some(query) = params.query else {
        return Rejection::bad_request("`query` is missing").respond(Some(media));
    };
    let mut request = async_graphql::Request::new(query);
    request.operation_name = params.operation_name;
    if let Some(variables) = params.variables {
        request.variables =
            async_graphql::Variables::from_json(serde_json::Value::Object(variables));
    }
    for (name, value) in params.extensions.unwrap_or_default() {
        if let Ok(value) = async_graphql::Value::from_json(value) {
            request.extensions.insert(name, value);
        }
    }
    state.documents.attach_parsed_document(&mut request);
    let operation = operation_type(&mut request);
    if over_get && operation == Some(OperationType::Mutation) {
        return Rejection::mutation_over_get().respond(Some(media));
    }
    if let (Lookup::Register(hash), Some(OperationType::Query)) = (lookup, operation) {
        state.persisted.register(hash, &request.query);
    }
    let executed = Executed::default();
    let request = request
        .data(request_auth(&state.app, headers, peer).await)
        .data(Loaders::new(&state.app))
        .data(executed.clone());
    let response = state.schema.execute(request).await;
    http::respond(media, response, executed.began())
}

/// The type of the operation the request would run, if its document parses.
fn operation_type(request: &mut async_graphql::Request) -> Option<OperationType> {
    use async_graphql::parser::types::DocumentOperations;
    let operation_name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    match &document.operations {
        DocumentOperations::Single(op) => Some(op.node.ty),
        DocumentOperations::Multiple(ops) => match &operation_name {
            Some(name) => ops.get(name.as_str()).map(|op| op.node.ty),
            // Several operations and no name: execution refuses it; a mutation among
            // them still keeps the request off GET.
            None => ops
                .values()
                .map(|op| op.node.ty)
                .find(|ty| *ty == OperationType::Mutation)
                .or(Some(OperationType::Query)),
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
