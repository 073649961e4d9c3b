//! A target that answers with raw bytes: what a hostile or broken server sends, below what
//! an HTTP library would let a well-behaved one say (NUL bytes, invalid UTF-8, header bytes
//! outside ASCII, a body shorter than announced, a response that never ends).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the target does with a request on one path.
#[derive(Debug, Clone)]
pub enum RawReply {
    /// Writes these bytes (status line, headers and body, as given), then closes.
    Bytes(Vec<u8>),
    /// Writes these bytes, then keeps the connection open without another byte.
    BytesThenHang(Vec<u8>),
    /// Writes the head, then the same chunk over and over without end.
    Endless { head: Vec<u8>, chunk: Vec<u8> },
    /// Reads the request and never answers.
    Silence,
}

impl RawReply {
    /// A `200 OK` with `Content-Length` and these body bytes.
    pub fn ok_body(body: &[u8]) -> RawReply {
        Self::with_headers(200, &[], body)
    }

    /// A response with this status, these raw header lines (`Name: value`, no line end)
    /// and this body, with a correct `Content-Length`.
    pub fn with_headers(status: u16, headers: &[&[u8]], body: &[u8]) -> RawReply {
        let mut out = format!("HTTP/1.1 {status} X\r\n").into_bytes();
        for header in headers {
            out.extend_from_slice(header);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        RawReply::Bytes(out)
    }
}

#[derive(Debug, Default)]
struct Shared {
    replies: Mutex<HashMap<String, RawReply>>,
    hits: Mutex<HashMap<String, usize>>,
}

/// The raw target, on a free loopback port; it stops when the last handle goes.
#[derive(Debug, Clone)]
pub struct RawTarget {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _server: Arc<crate::target::StopOnDrop>,
}

impl RawTarget {
    /// Starts the server.
    pub async fn start() -> RawTarget {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the raw target");
        let addr = listener.local_addr().expect("raw target address");
        let shared = Arc::new(Shared::default());
        let serving = shared.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, serving.clone()));
            }
        });
        RawTarget {
            addr,
            shared,
            _server: Arc::new(crate::target::StopOnDrop(server.abort_handle())),
        }
    }

    /// The URL of `path` on this target.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Makes requests to `path` get `reply` (unknown paths get an empty 404).
    pub fn reply(&self, path: &str, reply: RawReply) {
        self.shared
            .replies
            .lock()
            .expect("lock")
            .insert(path.to_owned(), reply);
    }

    /// How many requests `path` has received.
    pub fn hits(&self, path: &str) -> usize {
        self.shared
            .hits
            .lock()
            .expect("lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

async fn answer(mut stream: TcpStream, shared: Arc<Shared>) {
    // One request per connection: read its head (a job's body, if any, is ignored).
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let path = String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_owned();
    *shared
        .hits
        .lock()
        .expect("lock")
        .entry(path.clone())
        .or_insert(0) += 1;
    let reply = shared.replies.lock().expect("lock").get(&path).cloned();
    let reply = reply.unwrap_or_else(|| RawReply::with_headers(404, &[], b""));
    match reply {
        RawReply::Bytes(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        RawReply::BytesThenHang(bytes) => {
            let _ = stream.write_all(&bytes).await;
            hang(stream).await;
        }
        RawReply::Endless { head, chunk } => {
            if stream.write_all(&head).await.is_err() {
                return;
            }
            while stream.write_all(&chunk).await.is_ok() {}
        }
        RawReply::Silence => hang(stream).await,
    }
}

/// Holds the connection until the client closes it.
async fn hang(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(600), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(_)) => {}
        }
    }
}
