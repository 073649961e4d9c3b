//! GraphQL over WebSocket: graphql-transport-ws (the `graphql-ws` npm client) and the
//! legacy subscriptions-transport-ws protocol, with authentication in `connection_init`,
//! guarded as HTTP is:
//!
//! - every operation passes the cost limits and the global per-IP rate limit (see
//!   [`crate::graphql::limits`]); messages are size-limited by the upgrade;
//! - a socket runs at most WS_MAX_SUBSCRIPTIONS operations at once, an account holds at
//!   most WS_MAX_SOCKETS_PER_USER sockets on one process, and `connection_init` must come
//!   within WS_INIT_TIMEOUT (else 4408, as graphql-ws says);
//! - a missing, bad or expired token closes the socket with 4401, as the contract says
//!   (the protocol library would close with 1002), and so does the token expiring while
//!   the socket is open, and a change to the account or session (see [`crate::sockets`]);
//!   server shutdown closes with 1001.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{WebSocket as GraphQLSocket, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt, future};
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Credentials, RequestAuth};
use crate::events::EventHub;
use crate::graphql::CronOpsSchema;
use crate::graphql::limits::OverWebSocket;
use crate::graphql::loaders::Loaders;
use crate::sockets::{Registered, Signal};
use crate::state::AppState;

/// Close code for a connection without valid credentials (or whose credentials ended).
pub const UNAUTHENTICATED: u16 = 4401;
/// Close code when `connection_init` does not come in time.
pub const INIT_TIMEOUT: u16 = 4408;
/// Close code when the account holds too many sockets already, or its API key is over its
/// rate limit.
pub const TOO_MANY_SOCKETS: u16 = 4429;
/// Close code when the credentials may not open a socket (an API key without READ).
pub const FORBIDDEN: u16 = 4403;
/// Close code when the credentials could not be checked (try again).
pub const UNAVAILABLE: u16 = 1013;

/// What a client message says about its operation: its kind and id.
#[derive(serde::Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
}

/// The operations a socket runs now, by id, and the cap on them.
struct Running {
    ids: Mutex<HashSet<String>>,
    max: usize,
}

impl Running {
    /// Whether a client message may go on to the protocol (a `subscribe` past the cap may
    /// not), noting operations that start and stop.
    fn admit(&self, message: &[u8]) -> Result<(), String> {
        let Ok(Head {
            kind: Some(kind),
            id: Some(id),
        }) = serde_json::from_slice::<Head>(message)
        else {
            return Ok(());
        };
        let mut ids = self.ids.lock().expect("running lock");
        match kind.as_str() {
            "subscribe" | "start" if !ids.contains(&id) => {
                if ids.len() >= self.max {
                    return Err(id);
                }
                ids.insert(id);
            }
            "complete" | "stop" => {
                ids.remove(&id);
            }
            _ => {}
        }
        Ok(())
    }

    /// Notes the end of an operation the server reports (`complete` or `error`). Only
    /// those messages are parsed: the type comes first in what async-graphql writes.
    fn note_server_message(&self, text: &str) {
        let head = &text[..text.len().min(32)];
        if (head.contains("\"complete\"") || head.contains("\"error\""))
            && let Ok(Head { id: Some(id), .. }) = serde_json::from_str::<Head>(text)
        {
            self.ids.lock().expect("running lock").remove(&id);
        }
    }
}

/// The error a refused `subscribe` gets, in the socket's protocol.
fn too_many_operations(protocol: WebSocketProtocols, id: &str, max: usize) -> String {
    let error = serde_json::json!({
        "message": format!("this socket runs {max} operations already: complete one first, or open another socket"),
        "extensions": {"code": "RATE_LIMITED"},
    });
    let payload = match protocol {
        WebSocketProtocols::GraphQLWS => serde_json::json!([error]),
        _ => error,
    };
    serde_json::json!({"id": id, "type": "error", "payload": payload}).to_string()
}

/// What the parts of one socket share: the operations it runs, why `connection_init` was
/// refused, whether it succeeded and until when its token holds, its place in the
/// registry, and its [`Signal`]. One allocation beside the signal's.
struct Shared {
    running: Running,
    refusal: Mutex<Option<(u16, String)>>,
    initialised: AtomicBool,
    /// Unix seconds at which the access token expires (0 before `connection_init`).
    expires_at: AtomicI64,
    registered: Mutex<Option<Registered>>,
    signal: Arc<Signal>,
}

/// Serves one socket until the client leaves, the protocol ends it, or `shutdown`.
pub async fn serve(
    socket: WebSocket,
    schema: CronOpsSchema,
    protocol: WebSocketProtocols,
    app: AppState,
    hub: EventHub,
    client_ip: IpAddr,
    shutdown: CancellationToken,
) {
    let server = app.config.server.clone();
    let init_timeout = server.ws_init_timeout;
    let (mut sink, stream) = socket.split();
    let shared = Arc::new(Shared {
        running: Running {
            ids: Mutex::default(),
            max: server.ws_max_subscriptions as usize,
        },
        refusal: Mutex::default(),
        initialised: AtomicBool::new(false),
        expires_at: AtomicI64::new(0),
        registered: Mutex::default(),
        signal: Arc::default(),
    });
    let admitted = shared.clone();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(move |message| {
            let bytes = match message {
                Ok(Message::Text(text)) => text.as_bytes().to_vec(),
                Ok(Message::Binary(bytes)) => bytes.to_vec(),
                _ => return future::ready(None),
            };
            let running = &admitted.running;
            future::ready(match running.admit(&bytes) {
                Ok(()) => Some(bytes),
                Err(id) => {
                    admitted
                        .signal
                        .send(too_many_operations(protocol, &id, running.max));
                    None
                }
            })
        });
    let init = shared.clone();
    let mut output = GraphQLSocket::new(schema, input, protocol)
        .on_connection_init(move |payload| async move {
            let token = RequestAuth::token_from_init_payload(&payload);
            let credentials = auth::authenticate(&app, token.as_deref()).await;
            let refuse = |code: u16, problem: String| {
                *init.refusal.lock().expect("refusal lock") = Some((code, problem.clone()));
                Err(async_graphql::Error::new(problem))
            };
            let claims = match &credentials {
                Credentials::Valid(claims) => claims.clone(),
                Credentials::Anonymous => return refuse(UNAUTHENTICATED, "authentication required: send {\"Authorization\": \"Bearer <accessToken>\"} in connection_init".into()),
                Credentials::Invalid(auth::tokens::TokenError::Expired) => return refuse(UNAUTHENTICATED, EXPIRED.into()),
                Credentials::Invalid(auth::tokens::TokenError::Invalid) => return refuse(UNAUTHENTICATED, "the access token is invalid".into()),
                Credentials::Invalid(auth::tokens::TokenError::UnknownKey) => return refuse(UNAUTHENTICATED, "the API key is unknown, revoked or expired".into()),
                Credentials::Limited { .. } => return refuse(TOO_MANY_SOCKETS, "this API key is over its rate limit: try again shortly".into()),
                Credentials::Unavailable => return refuse(UNAVAILABLE, "the API key could not be checked just now: try again shortly".into()),
            };
            // A socket carries subscriptions: a key needs READ for it.
            if let Some(grant) = &claims.key
                && let Err(e) = grant.require(auth::api_keys::Scope::Read)
            {
                return refuse(FORBIDDEN, e.message());
            }
            let max = server.ws_max_sockets_per_user as usize;
            let Some(entry) = hub.sockets().register(claims.sub, claims.sid, init.signal.clone(), max) else {
                return refuse(TOO_MANY_SOCKETS, format!("this account has {max} sockets open on this server already: close one first"));
            };
            *init.registered.lock().expect("registration lock") = Some(entry);
            init.expires_at.store(claims.exp, Ordering::Release);
            init.initialised.store(true, Ordering::Release);
            // The loop arms the expiry timer.
            init.signal.nudge();
            let mut data = Data::default();
            data.insert(RequestAuth { credentials, client_ip: Some(client_ip) });
            data.insert(OverWebSocket { client_ip });
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
    // First the deadline of `connection_init`, then the token's expiry: one timer.
    let deadline = tokio::time::sleep(init_timeout);
    tokio::pin!(deadline);
    let mut expiry_armed = false;
    loop {
        tokio::select! {
            // What the protocol has to say goes first: a subscription that ends because
            // its account was deleted says so before the socket closes.
            biased;
            message = output.next() => match message {
                Some(WsMessage::Text(text)) => {
                    shared.running.note_server_message(&text);
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let refused = shared.refusal.lock().expect("refusal lock").take();
                    let (code, reason) = refused.unwrap_or((code, reason));
                    let _ = sink.send(close(code, reason)).await;
                    break;
                }
                None => {
                    // The legacy protocol reports a refused init as a message, then ends.
                    let refused = shared.refusal.lock().expect("refusal lock").take();
                    if let Some((code, reason)) = refused {
                        let _ = sink.send(close(code, reason)).await;
                    }
                    break;
                }
            },
            () = shared.signal.wait() => {
                let mut failed = false;
                for text in shared.signal.take_messages() {
                    failed |= sink.send(Message::Text(text.into())).await.is_err();
                }
                if let Some((code, reason)) = shared.signal.take_close() {
                    let _ = sink.send(close(code, reason)).await;
                    break;
                }
                if failed {
                    break;
                }
                if !expiry_armed && shared.initialised.load(Ordering::Acquire) {
                    expiry_armed = true;
                    deadline.as_mut().reset(expiry(shared.expires_at.load(Ordering::Acquire)));
                }
            }
            () = &mut deadline => {
                if !shared.initialised.load(Ordering::Acquire) {
                    let _ = sink.send(close(INIT_TIMEOUT, "Connection initialisation timeout".to_owned())).await;
                    break;
                }
                let exp = shared.expires_at.load(Ordering::Acquire);
                if exp.saturating_mul(1000) <= chrono::Utc::now().timestamp_millis() {
                    let _ = sink.send(close(UNAUTHENTICATED, EXPIRED.to_owned())).await;
                    break;
                }
                expiry_armed = true;
                deadline.as_mut().reset(expiry(exp));
            }
            () = shutdown.cancelled() => {
                let _ = sink.send(close(1001, "server shutting down".to_owned())).await;
                break;
            }
        }
    }
    drop(shared.registered.lock().expect("registration lock").take());
    metrics::gauge!("cronops_websockets").decrement(1.0);
}

/// Why a socket whose token expired closes; clients reconnect with a fresh token.
const EXPIRED: &str = "the access token has expired";

/// The instant at which a token expiring at `exp` (Unix seconds) has expired.
fn expiry(exp: i64) -> tokio::time::Instant {
    let left = exp
        .saturating_mul(1000)
        .saturating_sub(chrono::Utc::now().timestamp_millis())
        .max(0);
    tokio::time::Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0))
}
