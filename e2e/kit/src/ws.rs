//! A WebSocket GraphQL client speaking graphql-transport-ws (what the `graphql-ws` npm
//! client speaks) or the legacy subscriptions-transport-ws protocol.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The two protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// graphql-transport-ws.
    Modern,
    /// subscriptions-transport-ws (sub-protocol name `graphql-ws`).
    Legacy,
}

/// One socket to `/graphql/ws`.
#[derive(Debug)]
pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: Protocol,
}

/// What the server sent next.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Json(Value),
    Closed { code: u16, reason: String },
}

impl WsClient {
    /// Opens the socket (no `connection_init` yet).
    pub async fn open(base: &str, protocol: Protocol) -> WsClient {
        let url = base.replace("http://", "ws://") + "/graphql/ws";
        let mut request = url.as_str().into_client_request().expect("a ws URL");
        let name = match protocol {
            Protocol::Modern => "graphql-transport-ws",
            Protocol::Legacy => "graphql-ws",
        };
        request
            .headers_mut()
            .insert("sec-websocket-protocol", name.parse().unwrap());
        // A small read buffer: tungstenite zero-fills all of it on every read, and the
        // benchmarks hold thousands of sockets.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(4 * 1024);
        let (socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), false)
                .await
                .expect("websocket handshake");
        WsClient { socket, protocol }
    }

    /// Opens and sends `connection_init` with `payload`; returns the socket and the reply.
    pub async fn connect(base: &str, protocol: Protocol, payload: Value) -> (WsClient, Incoming) {
        let mut client = Self::open(base, protocol).await;
        client
            .send(json!({"type": "connection_init", "payload": payload}))
            .await;
        let reply = client.next(Duration::from_secs(10)).await;
        (client, reply)
    }

    /// Opens an authenticated connection, asserting the ack.
    pub async fn authenticated(base: &str, protocol: Protocol, token: &str) -> WsClient {
        let (client, reply) = Self::connect(
            base,
            protocol,
            json!({"Authorization": format!("Bearer {token}")}),
        )
        .await;
        match reply {
            Incoming::Json(v) if v["type"] == "connection_ack" => client,
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// Starts a subscription with this id.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = match self.protocol {
            Protocol::Modern => "subscribe",
            Protocol::Legacy => "start",
        };
        self.send(
            json!({"id": id, "type": kind, "payload": {"query": query, "variables": variables}}),
        )
        .await;
    }

    /// The next data-carrying message (skipping pings and keep-alives), or a close.
    pub async fn next(&mut self, timeout: Duration) -> Incoming {
        loop {
            let message = tokio::time::timeout(timeout, self.socket.next())
                .await
                .expect("a message before the timeout");
            match message {
                None | Some(Err(_)) => {
                    return Incoming::Closed {
                        code: 1006,
                        reason: String::new(),
                    };
                }
                Some(Ok(Message::Close(frame))) => {
                    return frame.map_or(
                        Incoming::Closed {
                            code: 1005,
                            reason: String::new(),
                        },
                        |f| Incoming::Closed {
                            code: f.code.into(),
                            reason: f.reason.to_string(),
                        },
                    );
                }
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON from the server");
                    match value["type"].as_str() {
                        Some("ping") => self.send(json!({"type": "pong"})).await,
                        Some("ka" | "pong") => {}
                        _ => return Incoming::Json(value),
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Whether nothing but keep-alives arrives within `window`.
    pub async fn quiet_for(&mut self, window: Duration) -> bool {
        tokio::time::timeout(window, self.next(window * 2))
            .await
            .is_err()
    }
}
