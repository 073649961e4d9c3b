//! A real browser for tests: Debian's headless Chromium, driven over the DevTools
//! protocol (a page's WebSocket, `Runtime.evaluate`). `make test` installs Chromium.

use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{free_port, poll_until};

/// The browser's executable: `CHROMIUM`, else Debian's `chromium`.
fn executable() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

/// A headless Chromium with its own profile; killed when dropped.
pub struct Browser {
    _process: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts the browser and waits until its DevTools endpoint answers.
    pub async fn start() -> Browser {
        let port = free_port();
        let profile = tempfile::tempdir().expect("a browser profile folder");
        let process = Command::new(executable())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--window-size=1200,800",
                &format!("--remote-debugging-port={port}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromium (make test installs it; CHROMIUM names another)");
        let browser = Browser {
            _process: process,
            port,
            _profile: profile,
        };
        poll_until("the browser to listen", Duration::from_secs(30), || async {
            reqwest::get(browser.endpoint("/json/version")).await.ok()
        })
        .await;
        browser
    }

    fn endpoint(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Opens `url` in a new tab, once it has loaded.
    pub async fn open(&self, url: &str) -> Page {
        let target: Value = reqwest::Client::new()
            .put(self.endpoint(&format!("/json/new?{url}")))
            .send()
            .await
            .expect("open a tab")
            .json()
            .await
            .expect("the tab's description");
        let socket_url = target["webSocketDebuggerUrl"]
            .as_str()
            .expect("the tab's DevTools socket");
        let (socket, _) = tokio_tungstenite::connect_async(socket_url)
            .await
            .expect("connect to the tab");
        let mut page = Page { socket, next_id: 0 };
        // A new tab starts on about:blank; what runs in it before the page is there runs
        // in another document (and origin).
        page.wait_for(
            "location.href !== 'about:blank' && document.readyState === 'complete'",
            Duration::from_secs(30),
        )
        .await;
        page
    }
}

/// One tab.
pub struct Page {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Page {
    /// Evaluates `expression` in the page (awaiting it if it is a promise) and returns its
    /// value as JSON; a thrown error panics with its description.
    pub async fn evaluate(&mut self, expression: &str, timeout: Duration) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({
            "id": id,
            "method": "Runtime.evaluate",
            "params": {"expression": expression, "awaitPromise": true, "returnByValue": true},
        });
        self.socket
            .send(Message::text(command.to_string()))
            .await
            .expect("send to the tab");
        let reply = tokio::time::timeout(timeout, async {
            while let Some(Ok(message)) = self.socket.next().await {
                if let Message::Text(text) = message {
                    let reply: Value = serde_json::from_str(&text).expect("DevTools JSON");
                    if reply["id"] == id {
                        return reply;
                    }
                }
            }
            panic!("the tab closed");
        })
        .await
        .unwrap_or_else(|_| panic!("{expression:.80} took over {timeout:?}"));
        let result = &reply["result"];
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression:.80} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Polls `condition` (a JavaScript expression) until it is true.
    pub async fn wait_for(&mut self, condition: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.evaluate(condition, timeout).await == Value::Bool(true) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{condition} still false after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
