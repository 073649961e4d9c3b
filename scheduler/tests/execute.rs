//! Firing requests against a real local HTTP server.

use std::time::Duration;

use db::{ExecutionStatus, HttpMethod};
use scheduler::execute::{Executor, MAX_BODY_BYTES, Request};
use scheduler::ssrf::TargetPolicy;
use testkit::HttpTarget;
use testkit::target::Reply;
use uuid::Uuid;

/// Targets on this machine allowed, as tests need.
fn open() -> TargetPolicy {
    TargetPolicy {
        allow_private: true,
        ..TargetPolicy::default()
    }
}

fn request(url: String) -> Request {
    Request {
        job_id: Uuid::new_v4(),
        execution_id: Uuid::new_v4(),
        scheduled_for: chrono::Utc::now(),
        attempt: 1,
        method: HttpMethod::Get,
        url,
        headers: vec![],
        body: None,
        timeout: Duration::from_secs(5),
        criteria: None,
        signing: None,
        unsent: None,
        redact: None,
    }
}

fn redirect_to(location: &str) -> Reply {
    Reply {
        status: 302,
        body: String::new(),
        headers: vec![("location".into(), location.into())],
        ..Reply::default()
    }
}

#[tokio::test]
async fn a_2xx_is_success_and_carries_the_cronops_headers() {
    let target = HttpTarget::start().await;
    let executor = Executor::new(open());
    let mut req = request(target.url("/hook"));
    req.method = HttpMethod::Post;
    req.headers = vec![("x-custom".into(), "yes".into())];
    req.body = Some("{\"a\":1}".into());
    req.attempt = 2;
    let outcome = executor.execute(&req).await;
    assert_eq!(outcome.status, ExecutionStatus::Success);
    assert_eq!(outcome.http_status, Some(200));
    assert_eq!(outcome.response_body.as_deref(), Some("ok"));
    assert_eq!(outcome.error, None);

    let got = &target.received_on("/hook")[0];
    assert_eq!(got.method, "POST");
    assert_eq!(&got.body[..], b"{\"a\":1}");
    assert_eq!(got.headers["x-custom"], "yes");
    assert_eq!(
        got.headers["user-agent"],
        format!("CronOps/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(got.headers["x-cronops-job-id"], req.job_id.to_string());
    assert_eq!(
        got.headers["x-cronops-execution-id"],
        req.execution_id.to_string()
    );
    assert_eq!(got.headers["x-cronops-attempt"], "2");
    assert_eq!(
        got.headers["x-cronops-scheduled-for"],
        req.scheduled_for.to_rfc3339()
    );
}

#[tokio::test]
async fn errors_statuses_and_timeouts_read_clearly() {
    let target = HttpTarget::start().await;
    target.reply(
        "/boom",
        Reply {
            status: 503,
            body: "down".into(),
            ..Reply::default()
        },
    );
    target.reply(
        "/slow",
        Reply {
            delay: Duration::from_secs(3),
            ..Reply::default()
        },
    );
    let executor = Executor::new(open());

    let failed = executor.execute(&request(target.url("/boom"))).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(failed.http_status, Some(503));
    assert_eq!(
        failed.error.as_deref(),
        Some("HTTP 503 Service Unavailable")
    );
    assert_eq!(failed.response_body.as_deref(), Some("down"));

    let mut slow = request(target.url("/slow"));
    slow.timeout = Duration::from_millis(200);
    let timed_out = executor.execute(&slow).await;
    assert_eq!(timed_out.status, ExecutionStatus::Timeout);
    assert_eq!(timed_out.error.as_deref(), Some("timed out after 200 ms"));
    assert!(
        (200..2000).contains(&timed_out.duration_ms),
        "{}",
        timed_out.duration_ms
    );

    let refused = executor
        .execute(&request(format!(
            "http://127.0.0.1:{}/",
            testkit::free_port()
        )))
        .await;
    assert_eq!(refused.status, ExecutionStatus::Failed);
    let error = refused.error.unwrap();
    assert!(error.starts_with("connection failed"), "{error}");
}

#[tokio::test]
async fn oversized_bodies_are_cut_at_64_kib_and_say_so() {
    let target = HttpTarget::start().await;
    target.reply(
        "/big",
        Reply {
            body: "x".repeat(300 * 1024),
            ..Reply::default()
        },
    );
    let outcome = Executor::new(open())
        .execute(&request(target.url("/big")))
        .await;
    assert_eq!(outcome.status, ExecutionStatus::Success);
    assert_eq!(outcome.response_body.unwrap().len(), MAX_BODY_BYTES);
    assert!(outcome.response_body_truncated);
    assert_eq!(
        outcome.response_content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );

    // Exactly the limit is the whole body, not a cut one.
    target.reply(
        "/exact",
        Reply {
            body: "y".repeat(MAX_BODY_BYTES),
            ..Reply::default()
        },
    );
    let exact = Executor::new(open())
        .execute(&request(target.url("/exact")))
        .await;
    assert_eq!(exact.response_body.unwrap().len(), MAX_BODY_BYTES);
    assert!(!exact.response_body_truncated);
}

#[tokio::test]
async fn private_targets_and_redirects_to_them_are_refused() {
    let target = HttpTarget::start().await;
    let port = target
        .url("")
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // "public.test" stands in for a public host that answers with redirects.
    let executor = Executor::with_pinned_hosts(TargetPolicy::default(), &[("public.test", addr)]);
    let public = |path: &str| format!("http://public.test:{port}{path}");

    let direct = executor.execute(&request(target.url("/x"))).await;
    assert_eq!(direct.status, ExecutionStatus::Failed);
    assert!(direct.error.unwrap().contains("not allowed"));

    let ok = executor.execute(&request(public("/plain"))).await;
    assert_eq!(ok.status, ExecutionStatus::Success, "{ok:?}");

    target.reply("/to-literal", redirect_to(&target.url("/inside")));
    target.reply(
        "/to-name",
        redirect_to(&format!("http://localhost:{port}/inside")),
    );
    target.reply(
        "/to-metadata",
        redirect_to("http://169.254.169.254/latest/meta-data"),
    );
    for path in ["/to-literal", "/to-name", "/to-metadata"] {
        let outcome = executor.execute(&request(public(path))).await;
        assert_eq!(outcome.status, ExecutionStatus::Failed, "{path}");
        let error = outcome.error.unwrap();
        assert!(error.contains("not allowed"), "{path}: {error}");
    }
    assert!(
        target.received_on("/inside").is_empty(),
        "no redirect reached the private address"
    );

    target.reply("/loop", redirect_to(&public("/loop")));
    let looped = executor.execute(&request(public("/loop"))).await;
    assert_eq!(looped.status, ExecutionStatus::Failed);
    assert!(looped.error.unwrap().contains("more than 5 redirects"));
    assert_eq!(
        target.received_on("/loop").len(),
        6,
        "the first request and 5 redirects"
    );
}

/// The port of a test target's URL.
fn port_of(target: &HttpTarget) -> u16 {
    target.url("").rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn ports_outside_the_policy_are_refused_directly_and_in_redirects() {
    let target = HttpTarget::start().await;
    let port = port_of(&target);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let executor = Executor::with_pinned_hosts(TargetPolicy::default(), &[("public.test", addr)]);

    let direct = executor
        .execute(&request("http://public.test:6379/".to_owned()))
        .await;
    assert_eq!(direct.status, ExecutionStatus::Failed);
    assert!(direct.error.unwrap().contains("port 6379 is not allowed"));

    target.reply("/to-redis", redirect_to("http://public.test:6379/"));
    let redirected = executor
        .execute(&request(format!("http://public.test:{port}/to-redis")))
        .await;
    assert_eq!(redirected.status, ExecutionStatus::Failed);
    let error = redirected.error.unwrap();
    assert!(error.contains("port 6379 is not allowed"), "{error}");
}
