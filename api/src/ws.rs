//! GraphQL over WebSocket: graphql-transport-ws (the `graphql-ws` npm client) and the
//! legacy subscriptions-transport-ws protocol, with authentication in `connection_init`.
//!
//! A missing, bad or expired token closes the socket with 4401, as the contract says (the
//! protocol library would close with 1002); server shutdown closes with 1001.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{WebSocket as GraphQLSocket, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt, future};
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Credentials, RequestAuth};
use crate::graphql::CronOpsSchema;
use crate::graphql::loaders::Loaders;
use crate::state::AppState;

/// Close code for a connection without valid credentials.
pub const UNAUTHENTICATED: u16 = 4401;

/// Serves one socket until the client leaves, the protocol ends it, or `shutdown`.
pub async fn serve(
    socket: WebSocket,
    schema: CronOpsSchema,
    protocol: WebSocketProtocols,
    app: AppState,
    client_ip: IpAddr,
    shutdown: CancellationToken,
) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(Message::Text(text)) => Some(text.as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                _ => None,
            })
        });
    // Set when connection_init is refused: the close code the contract wants.
    let refusal: Arc<Mutex<Option<(u16, String)>>> = Arc::default();
    let refused = refusal.clone();
    let mut output = GraphQLSocket::new(schema, input, protocol)
        .on_connection_init(move |payload| async move {
            let token = RequestAuth::token_from_init_payload(&payload);
            let credentials = auth::check_token(&app.tokens, token.as_deref());
            let problem = match &credentials {
                Credentials::Valid(_) => None,
                Credentials::Anonymous => Some("authentication required: send {\"Authorization\": \"Bearer <accessToken>\"} in connection_init"),
                Credentials::Invalid(auth::tokens::TokenError::Expired) => Some("the access token has expired"),
                Credentials::Invalid(auth::tokens::TokenError::Invalid) => Some("the access token is invalid"),
            };
            if let Some(problem) = problem {
                *refused.lock().expect("refusal lock") = Some((UNAUTHENTICATED, problem.to_owned()));
                return Err(async_graphql::Error::new(problem));
            }
            let mut data = Data::default();
            data.insert(RequestAuth { credentials, client_ip: Some(client_ip) });
            data.insert(Loaders::new(&app));
            Ok(data)
        })
        .keepalive_timeout(Duration::from_secs(60));

    metrics::gauge!("cronops_websockets").increment(1.0);
    let close = |code: u16, reason: String| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    loop {
        tokio::select! {
            message = output.next() => match message {
                Some(WsMessage::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let refused = refusal.lock().expect("refusal lock").take();
                    let (code, reason) = refused.unwrap_or((code, reason));
                    let _ = sink.send(close(code, reason)).await;
                    break;
                }
                None => {
                    // The legacy protocol reports a refused init as a message, then ends.
                    let refused = refusal.lock().expect("refusal lock").take();
                    if let Some((code, reason)) = refused {
                        let _ = sink.send(close(code, reason)).await;
                    }
                    break;
                }
            },
            _ = shutdown.cancelled() => {
                let _ = sink.send(close(1001, "server shutting down".to_owned())).await;
                break;
            }
        }
    }
    metrics::gauge!("cronops_websockets").decrement(1.0);
}
