//! The harness's own fakes work as real peers: the SMTP receiver takes mail that lettre
//! sends over SMTP, and the HTTP target records what it is sent.

use std::time::Duration;

use lettre::message::MultiPart;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use testkit::target::Reply;
use testkit::{HttpTarget, MailReceiver};

#[tokio::test]
async fn smtp_receiver_keeps_what_lettre_sends() {
    let mail = MailReceiver::start();
    let message = Message::builder()
        .from("CronOps <noreply@cronops.test>".parse().unwrap())
        .to("Someone@Example.com".parse().unwrap())
        .subject("Your code: 123456")
        .multipart(MultiPart::alternative_plain_html(
            "Your verification code is 123456.".to_owned(),
            "<p>Your verification code is <b>123456</b>.</p>".to_owned(),
        ))
        .unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(mail.port())
        .build();
    transport.send(message).await.unwrap();

    let received = mail
        .wait_for("someone@example.com", 1, Duration::from_secs(5))
        .await;
    assert_eq!(received.from, "noreply@cronops.test");
    assert_eq!(received.subject(), "Your code: 123456");
    assert_eq!(received.text().trim(), "Your verification code is 123456.");
    assert!(received.html().contains("<b>123456</b>"));
    assert!(mail.to("nobody@example.com").is_empty());
}

#[tokio::test]
async fn http_target_records_requests_and_replies_as_told() {
    let target = HttpTarget::start().await;
    target.reply(
        "/fail",
        Reply {
            status: 503,
            body: "down".into(),
            ..Reply::default()
        },
    );
    let http = reqwest::Client::new();
    let ok = http
        .post(target.url("/hook?x=1"))
        .header("x-cronops-job-id", "j1")
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "ok");
    let failed = http.get(target.url("/fail")).send().await.unwrap();
    assert_eq!(failed.status(), 503);

    let hooks = target.wait_for("/hook", 1, Duration::from_secs(5)).await;
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].method, "POST");
    assert_eq!(hooks[0].query.as_deref(), Some("x=1"));
    assert_eq!(hooks[0].headers["x-cronops-job-id"], "j1");
    assert_eq!(&hooks[0].body[..], b"payload");
    assert_eq!(target.received().len(), 2);
}
