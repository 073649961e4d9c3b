//! A real HTTP server standing in for a job's target: it records every request it gets
//! (with arrival time) and answers as the test tells it to.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::poll_until;

/// One request the target received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub received_at: DateTime<Utc>,
}

/// How the target answers requests to one path.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
    pub headers: Vec<(String, String)>,
}

impl Default for Reply {
    fn default() -> Reply {
        Reply {
            status: 200,
            body: "ok".to_owned(),
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    received: Mutex<Vec<ReceivedRequest>>,
    replies: Mutex<HashMap<String, Reply>>,
}

/// The target server, on a free loopback port for the test's life.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _server: Arc<StopOnDrop>,
}

/// Stops the server when the last handle on its target goes, so that a long run of
/// scenarios (`bench all`) does not keep every earlier sink and all it recorded.
#[derive(Debug)]
pub(crate) struct StopOnDrop(pub(crate) tokio::task::AbortHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    shared.received.lock().expect("lock").push(ReceivedRequest {
        method,
        path: path.clone(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
        received_at: Utc::now(),
    });
    let reply = shared
        .replies
        .lock()
        .expect("lock")
        .get(&path)
        .cloned()
        .unwrap_or_default();
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        reply.body,
    )
        .into_response();
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(name),
            axum::http::HeaderValue::try_from(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

impl HttpTarget {
    /// Starts the server.
    pub async fn start() -> HttpTarget {
        let shared = Arc::new(Shared::default());
        // A backlog of 4,096 (the kernel's usual cap) rather than tokio's 1,024: the
        // benchmarks open thousands of connections at one instant, and a connection whose
        // SYN overflows the queue is retried after a whole second, which measured the
        // sink instead of the scheduler (bench `sends --requests 10000`: 1.2-1.4 s in
        // some runs instead of 0.3).
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket for the target");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .expect("bind the target port");
        let listener = socket.listen(4096).expect("listen on the target port");
        let addr = listener.local_addr().expect("target address");
        let app = Router::new().fallback(record).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HttpTarget {
            addr,
            shared,
            _server: Arc::new(StopOnDrop(server.abort_handle())),
        }
    }

    /// The URL of `path` on this target.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Makes requests to `path` get `reply`.
    pub fn reply(&self, path: &str, reply: Reply) {
        self.shared
            .replies
            .lock()
            .expect("lock")
            .insert(path.to_owned(), reply);
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// How many requests received so far on `path` satisfy `keep`, without copying them.
    pub fn count_on(&self, path: &str, keep: impl Fn(&ReceivedRequest) -> bool) -> usize {
        let received = self.shared.received.lock().expect("lock");
        received
            .iter()
            .filter(|r| r.path == path && keep(r))
            .count()
    }

    /// Requests received on `path`.
    pub fn received_on(&self, path: &str) -> Vec<ReceivedRequest> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// How many requests `path` received per execution id.
    pub fn deliveries(&self, path: &str) -> std::collections::HashMap<String, usize> {
        let mut counts = std::collections::HashMap::new();
        for request in self.received_on(path) {
            let id = request.headers["x-cronops-execution-id"]
                .to_str()
                .unwrap()
                .to_owned();
            *counts.entry(id).or_insert(0) += 1;
        }
        counts
    }

    /// Waits until `path` has received at least `count` requests and returns them all.
    pub async fn wait_for(
        &self,
        path: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<ReceivedRequest> {
        poll_until(&format!("{count} request(s) on {path}"), timeout, || {
            let got = self.received_on(path);
            async move { (got.len() >= count).then_some(got) }
        })
        .await
    }
}
