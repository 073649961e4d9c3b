//! A real browser for tests: Debian's headless Chromium, driven over the DevTools
//! protocol (a page's WebSocket: `Runtime.evaluate`, and `Input` for typing and keys, so
//! pages get real keyboard events). `make test` installs Chromium.

use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{free_port, poll_until};

mod input;

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
        Self::start_with(&[]).await
    }

    /// Starts the browser with more command-line switches (e.g. `--js-flags=--expose-gc`).
    pub async fn start_with(extra: &[&str]) -> Browser {
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
                // Nothing to fetch from outside (and no network to fetch it from).
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                &format!("--remote-debugging-port={port}"),
                &format!("--user-data-dir={}", profile.path().display()),
            ])
            .args(extra)
            .arg("about:blank")
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
    /// Sends one DevTools command and returns its result.
    pub async fn call(&mut self, method: &str, params: Value, timeout: Duration) -> Value {
        match self.try_call(method, params, timeout).await {
            Ok(result) => result,
            Err(error) => panic!("{method} failed: {error}"),
        }
    }

    async fn try_call(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({"id": id, "method": method, "params": params});
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
        .unwrap_or_else(|_| panic!("{method} took over {timeout:?}"));
        match reply.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(reply["result"].clone()),
        }
    }

    /// Evaluates `expression` in the page (awaiting it if it is a promise) and returns its
    /// value as JSON; a thrown error panics with its description. While a new document is
    /// loading there is nothing to evaluate in: it waits for it.
    pub async fn evaluate(&mut self, expression: &str, timeout: Duration) -> Value {
        let params = json!({"expression": expression, "awaitPromise": true, "returnByValue": true, "userGesture": true});
        let deadline = tokio::time::Instant::now() + timeout;
        let result = loop {
            match self
                .try_call("Runtime.evaluate", params.clone(), timeout)
                .await
            {
                Ok(result) => break result,
                Err(error)
                    if tokio::time::Instant::now() < deadline
                        && error.to_string().contains("context") =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("{expression:.80} failed: {error}"),
            }
        };
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression:.80} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Polls `condition` (a JavaScript expression) until it is true.
    pub async fn wait_for(&mut self, condition: &str, timeout: Duration) {
        let failure = format!("{condition} still false after {timeout:?}");
        self.poll(condition, timeout, &failure).await;
    }

    /// Evaluates `script` every 100 ms until it answers true; after `timeout`, fails with
    /// `failure` and what the page reads.
    async fn poll(&mut self, script: &str, timeout: Duration, failure: &str) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.evaluate(script, timeout).await != Value::Bool(true) {
            if tokio::time::Instant::now() >= deadline {
                let page = self.text().await;
                panic!("{failure}; the page reads:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's text contains `text`.
    pub async fn wait_for_text(&mut self, text: &str, timeout: Duration) {
        let condition = format!("document.body.innerText.includes({})", json!(text));
        self.wait_for(&condition, timeout).await;
    }

    /// How many elements match `selector`.
    pub async fn count(&mut self, selector: &str) -> u64 {
        let script = format!("document.querySelectorAll({}).length", json!(selector));
        let count = self.evaluate(&script, Duration::from_secs(10)).await;
        count.as_u64().expect("a count")
    }

    /// The form controls of the page that have no label a screen reader would announce.
    pub async fn unlabelled_controls(&mut self) -> Vec<String> {
        let script = "[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
            .map(e => e.outerHTML)";
        let found = self.evaluate(script, Duration::from_secs(10)).await;
        serde_json::from_value(found).expect("a list of controls")
    }

    /// What axe-core (the accessibility engine of the browsers' own audits, from the
    /// dashboard's lockfile) finds against WCAG 2 A and AA on the page as it stands, such
    /// as text without enough contrast: one line per rule broken, with an element or two.
    pub async fn accessibility_problems(&mut self) -> Vec<String> {
        let engine = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../web/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&engine)
            .unwrap_or_else(|e| panic!("{}: {e} (make test installs it)", engine.display()));
        // Evaluated over DevTools, so the page's CSP does not apply to it.
        self.evaluate(&source, Duration::from_secs(30)).await;
        let found = self
            .evaluate(
                "axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }).then(r =>
                   r.violations.map(v => `${v.id} (${v.impact}): ${v.help}; ${v.nodes.slice(0, 2).map(n => n.html).join(' | ')}`))",
                Duration::from_secs(60),
            )
            .await;
        serde_json::from_value(found).expect("a list of problems")
    }

    /// The page's visible text.
    pub async fn text(&mut self) -> String {
        let text = self
            .evaluate("document.body.innerText", Duration::from_secs(10))
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Loads `url` in this tab and waits until it has loaded.
    pub async fn goto(&mut self, url: &str) {
        self.call(
            "Page.navigate",
            json!({"url": url}),
            Duration::from_secs(30),
        )
        .await;
        // Up to its query: a page may take that out of the address bar once read.
        let address = url.split(['?', '#']).next().unwrap_or(url);
        let condition = format!(
            "location.href.startsWith({}) && document.readyState === 'complete'",
            json!(address)
        );
        self.wait_for(&condition, Duration::from_secs(30)).await;
    }

    /// Writes a PNG of the viewport to `target/dashboard/<name>.png`, for people to look at.
    pub async fn screenshot(&mut self, name: &str) -> std::path::PathBuf {
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png"}),
                Duration::from_secs(30),
            )
            .await;
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            shot["data"].as_str().expect("screenshot data"),
        )
        .expect("screenshot base64");
        let folder = screenshots();
        std::fs::create_dir_all(&folder).expect("the screenshot folder");
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("write the screenshot");
        path
    }
}

/// `target/dashboard/` of the workspace (or of `CARGO_TARGET_DIR`).
pub fn screenshots() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("dashboard")
}
