//! What a notice says, in each channel's form: plain text (the API's `message`, Slack),
//! an email, and the JSON document a webhook receives. Everything comes from the
//! notice's stored content, fixed when its run was recorded.

use db::models::Notification;
use serde_json::{Value, json};

use crate::email::Email;
use crate::email::templates::escape;

/// Longest error quoted in a notice.
const MAX_ERROR_CHARS: usize = 300;
/// Most notices a digest lists one by one (the rest are counted).
pub const DIGEST_ITEMS: usize = 20;

fn text<'a>(content: &'a Value, pointer: &str) -> Option<&'a str> {
    content.pointer(pointer).and_then(Value::as_str)
}

fn job_name(content: &Value) -> &str {
    text(content, "/job/name").unwrap_or("a deleted job")
}

fn runs(n: i64) -> String {
    if n == 1 {
        "1 consecutive failed run".to_owned()
    } else {
        format!("{n} consecutive failed runs")
    }
}

/// The link to a notice's run in the web app, if it has one.
pub fn link(notice: &Notification, frontend_url: &str) -> Option<String> {
    let job = text(&notice.content, "/job/id")?;
    let base = frontend_url.trim_end_matches('/');
    Some(match text(&notice.content, "/run/id") {
        Some(run) => format!("{base}/jobs/{job}?run={run}"),
        None => format!("{base}/jobs/{job}"),
    })
}

/// One line on the last run: status, HTTP status, error.
fn last_run(content: &Value) -> Option<String> {
    let status = text(content, "/run/status")?;
    let mut line = format!("Last run: {status}");
    if let Some(code) = content.pointer("/run/httpStatus").and_then(Value::as_i64) {
        line.push_str(&format!(", HTTP {code}"));
    }
    if let Some(error) = text(content, "/run/error") {
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        line.push_str(&format!(", error: {error}"));
    }
    Some(line)
}

/// The headline: what happened, in one sentence.
pub fn headline(notice: &Notification) -> String {
    let content = &notice.content;
    let failures = content
        .get("consecutiveFailures")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let name = job_name(content);
    match notice.kind.as_str() {
        "FAILING" => format!("Job \"{name}\" is failing: {}.", runs(failures)),
        "RECOVERED" => format!("Job \"{name}\" recovered after {}.", runs(failures)),
        "AUTO_PAUSED" => format!(
            "Job \"{name}\" was paused after {}; resume it when it is fixed.",
            runs(failures)
        ),
        "DIGEST" => {
            let count = content.get("count").and_then(Value::as_i64).unwrap_or(0);
            format!("{count} more alerts were held back by the hourly limit.")
        }
        _ => "This is a test notice from CronOps: this channel works.".to_owned(),
    }
}

/// The whole notice as plain text.
pub fn message(notice: &Notification, frontend_url: &str) -> String {
    let mut lines = vec![headline(notice)];
    lines.extend(last_run(&notice.content));
    if let Some(items) = notice.content.get("notices").and_then(Value::as_array) {
        for item in items {
            let kind = item.get("kind").and_then(Value::as_str).unwrap_or("");
            let name = item
                .pointer("/job/name")
                .and_then(Value::as_str)
                .unwrap_or("a deleted job");
            let at = item.get("at").and_then(Value::as_str).unwrap_or("");
            lines.push(format!("- {at} {kind}: {name}"));
        }
    }
    lines.extend(link(notice, frontend_url));
    lines.join("\n")
}

/// The email for an EMAIL channel.
pub fn email(notice: &Notification, to: &str, frontend_url: &str) -> Email {
    let subject = format!("[CronOps] {}", headline(notice));
    let text = message(notice, frontend_url);
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">{}\
         <p style=\"color:#888\">CronOps</p></body></html>",
        text.lines()
            .map(
                |line| match line.strip_prefix(frontend_url.trim_end_matches('/')) {
                    Some(_) => format!("<p><a href=\"{0}\">{0}</a></p>", escape(line)),
                    None => format!("<p>{}</p>", escape(line)),
                }
            )
            .collect::<String>()
    );
    Email {
        to: to.to_owned(),
        subject,
        text,
        html,
    }
}

/// The JSON document a WEBHOOK channel receives.
pub fn webhook(notice: &Notification, frontend_url: &str) -> Value {
    let content = &notice.content;
    json!({
        "id": notice.id,
        "type": notice.kind,
        "createdAt": notice.created_at,
        "message": headline(notice),
        "job": content.get("job"),
        "run": content.get("run"),
        "consecutiveFailures": content.get("consecutiveFailures"),
        "notices": content.get("notices"),
        "link": link(notice, frontend_url),
    })
}

/// The message a SLACK incoming webhook receives: `text` is what Slack shows (and
/// notifies with); its mrkdwn needs `&`, `<` and `>` escaped.
pub fn slack(notice: &Notification, frontend_url: &str) -> Value {
    let escape = |raw: &str| {
        raw.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut text = format!("*{}*", escape(&headline(notice)));
    if let Some(line) = last_run(&notice.content) {
        text.push('\n');
        text.push_str(&escape(&line));
    }
    if let Some(link) = link(notice, frontend_url) {
        text.push_str(&format!("\n<{link}|Open in CronOps>"));
    }
    json!({ "text": text })
}

/// A digest's content: how many notices it sums up, and the first of them.
pub fn digest_content(folded: &[Notification]) -> Value {
    let notices: Vec<Value> = folded
        .iter()
        .take(DIGEST_ITEMS)
        .map(|n| {
            json!({
                "id": n.id,
                "kind": n.kind,
                "at": n.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "job": n.content.get("job"),
            })
        })
        .collect();
    json!({ "count": folded.len(), "notices": notices })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn notice(kind: &str, content: Value) -> Notification {
        Notification {
            id: Uuid::nil(),
            user_id: Uuid::nil(),
            event_id: Uuid::nil(),
            job_id: None,
            channel_id: None,
            run_id: None,
            kind: kind.to_owned(),
            status: "PENDING".to_owned(),
            content,
            attempts: 0,
            next_attempt_at: Utc::now(),
            digest_id: None,
            created_at: Utc::now(),
            sent_at: None,
            last_error: None,
        }
    }

    #[test]
    fn a_failing_notice_says_the_job_the_run_and_the_link() {
        let n = notice(
            "FAILING",
            json!({"job": {"id": "j1", "name": "nightly"}, "consecutiveFailures": 3,
                   "run": {"id": "r1", "status": "FAILED", "httpStatus": 503,
                           "error": "expected status 2xx, got 503"}}),
        );
        assert_eq!(
            message(&n, "https://app.example/"),
            "Job \"nightly\" is failing: 3 consecutive failed runs.\n\
             Last run: FAILED, HTTP 503, error: expected status 2xx, got 503\n\
             https://app.example/jobs/j1?run=r1"
        );
    }

    #[test]
    fn slack_text_escapes_what_slack_reads_as_markup() {
        let n = notice(
            "RECOVERED",
            json!({"job": {"id": "j1", "name": "<!channel> & co"}, "consecutiveFailures": 1}),
        );
        assert_eq!(
            slack(&n, "http://x")["text"],
            "*Job \"&lt;!channel&gt; &amp; co\" recovered after 1 consecutive failed run.*\n<http://x/jobs/j1|Open in CronOps>"
        );
    }
}
