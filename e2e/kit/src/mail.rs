//! A real SMTP receiver (mailin-embedded) that keeps every message it is sent, so tests
//! read the mail the application actually delivered over SMTP.

use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin_embedded::{Handler, Response, Server, response};

use crate::poll_until;

/// One delivered message.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// The message as sent (headers and MIME body).
    pub raw: Vec<u8>,
}

impl ReceivedMail {
    /// The `Subject` header, decoded.
    pub fn subject(&self) -> String {
        self.parsed()
            .subject()
            .map(str::to_owned)
            .unwrap_or_default()
    }

    /// The plain-text body, decoded from whatever transfer encoding was used.
    pub fn text(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default()
    }

    /// The HTML body, decoded.
    pub fn html(&self) -> String {
        self.parsed()
            .body_html(0)
            .map(|t| t.into_owned())
            .unwrap_or_default()
    }

    fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("a parseable email")
    }
}

#[derive(Clone, Default)]
struct Collector {
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
    current: Option<ReceivedMail>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(ReceivedMail {
            from: from.to_owned(),
            to: to.to_vec(),
            raw: Vec::new(),
        });
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(mail) = &mut self.current {
            mail.raw.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(mail) = self.current.take() {
            self.inbox.lock().expect("inbox lock").push(mail);
        }
        response::OK
    }

    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }
}

/// An SMTP server on a loopback port, serving on background threads for the test's life.
#[derive(Clone)]
pub struct MailReceiver {
    port: u16,
    inbox: Arc<Mutex<Vec<ReceivedMail>>>,
}

impl std::fmt::Debug for MailReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailReceiver")
            .field("port", &self.port)
            .finish()
    }
}

impl MailReceiver {
    /// Starts listening on a free loopback port.
    pub fn start() -> MailReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP port");
        let port = listener.local_addr().expect("SMTP address").port();
        let collector = Collector::default();
        let inbox = collector.inbox.clone();
        let mut server = Server::new(collector);
        server
            .with_name("mail.cronops.test")
            .with_num_threads(2)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            if let Err(e) = server.serve() {
                eprintln!("SMTP receiver stopped: {e}");
            }
        });
        MailReceiver { port, inbox }
    }

    /// The SMTP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far.
    pub fn all(&self) -> Vec<ReceivedMail> {
        self.inbox.lock().expect("inbox lock").clone()
    }

    /// Messages to `address` (case-insensitive), oldest first.
    pub fn to(&self, address: &str) -> Vec<ReceivedMail> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Waits until `address` has received `count` messages and returns the newest.
    pub async fn wait_for(&self, address: &str, count: usize, timeout: Duration) -> ReceivedMail {
        poll_until(&format!("mail #{count} to {address}"), timeout, || {
            let mails = self.to(address);
            async move {
                (mails.len() >= count)
                    .then(|| mails.last().cloned())
                    .flatten()
            }
        })
        .await
    }
}
