//! OpenTelemetry: with OTEL_EXPORTER_OTLP_ENDPOINT set, requests and runs arrive at a real
//! OTLP receiver as traces, and each job's request carries its run's `traceparent`.

use std::time::Duration;

use serde_json::json;
use testkit::otlp::{OtlpReceiver, ReceivedSpan};
use testkit::{Cronops, TestEnv, job_api, poll_until};

/// Polls until the spans of `trace_id` satisfy `done`.
async fn trace(
    receiver: &OtlpReceiver,
    trace_id: &str,
    what: &str,
    done: impl Fn(&[ReceivedSpan]) -> bool,
) -> Vec<ReceivedSpan> {
    poll_until(what, Duration::from_secs(20), || async {
        let spans: Vec<ReceivedSpan> = receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        done(&spans).then_some(spans)
    })
    .await
}

#[tokio::test]
async fn requests_and_runs_are_exported_as_traces() {
    let receiver = OtlpReceiver::start().await;
    let env = TestEnv::new().await;
    let vars = env.vars_with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ]);
    let server = Cronops::start_server("all", vars, env.workdir.path()).await;
    let api = server.api();
    let alice = job_api::user(&env, api, "alice").await;

    // A request that continues the caller's trace, with its database and Redis spans.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", api.base))
        .bearer_auth(&alice.access_token)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&json!({"query": "{ jobs { totalCount } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let spans = trace(&receiver, trace_id, "the request's spans", |spans| {
        spans.iter().any(|s| s.name == "POST /graphql")
            && spans.iter().any(|s| s.name.ends_with("postgresql"))
            && spans.iter().any(|s| s.name == "fred.command")
    })
    .await;
    let request = spans.iter().find(|s| s.name == "POST /graphql").unwrap();
    assert_eq!(request.parent_span_id, caller_span);
    assert_eq!(request.service, "cronops");
    let query = spans
        .iter()
        .find(|s| s.name.ends_with("postgresql"))
        .unwrap();
    let statement = query.attribute("db.statement").unwrap();
    assert!(statement.contains("jobs"), "{statement}");
    assert!(
        !statement.contains("binds"),
        "bound values are never exported: {statement}"
    );

    // A run: its trace holds the run and its HTTP request, whose id the target received.
    let user = alice.user_id.parse().unwrap();
    env.every_second_job(user, "/traced").await;
    let sent = poll_until(
        "a run with a traceparent",
        Duration::from_secs(20),
        || async {
            env.target.received_on("/traced").into_iter().find_map(|r| {
                r.headers
                    .get("traceparent")
                    .map(|v| v.to_str().unwrap().to_owned())
            })
        },
    )
    .await;
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!((parts.len(), parts[0], parts[3]), (4, "00", "01"), "{sent}");
    let (run_trace, request_span) = (parts[1], parts[2]);
    let spans = trace(&receiver, run_trace, "the run's spans", |spans| {
        spans.iter().any(|s| s.name.starts_with("run "))
            && spans.iter().any(|s| s.span_id == request_span)
    })
    .await;
    let run = spans.iter().find(|s| s.name.starts_with("run ")).unwrap();
    assert_eq!(run.parent_span_id, "", "each run is a trace of its own");
    let http = spans.iter().find(|s| s.span_id == request_span).unwrap();
    assert_eq!(http.parent_span_id, run.span_id);
    assert_eq!(http.attribute("http.response.status_code"), Some("200"));
    assert!(run.attribute("cronops.run.id").is_some());
}
