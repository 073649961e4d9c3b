//! Targets that answer with anything at all: whatever bytes come back, the run is recorded
//! and every other user's runs go on being recorded on time.

use std::time::Duration;

use chrono::Utc;
use db::ExecutionStatus;
use db::models::ExecutionLog;
use testkit::fixtures::{self, JobSpec};
use testkit::hostile::{RawReply, RawTarget};
use testkit::{TestEnv, poll_until};

#[tokio::test]
async fn a_nul_byte_in_a_response_stalls_nobody() {
    let env = TestEnv::new().await;
    let raw = RawTarget::start().await;
    raw.reply("/nul", RawReply::ok_body(b"a\0b"));
    let hostile = fixtures::user(&env.database).await;
    let bystander = fixtures::user(&env.database).await;
    let nul_job = fixtures::job(
        &env.database,
        hostile,
        &JobSpec::every_second(raw.url("/nul")),
    )
    .await;
    let steady = env.every_second_job(bystander, "/steady").await;
    let _scheduler = env.start_scheduler();

    poll_until("the NUL response fetched", Duration::from_secs(15), || {
        let hits = raw.hits("/nul");
        async move { (hits > 0).then_some(()) }
    })
    .await;
    let after = Utc::now();
    fixtures::recorded_on_time(&env, steady, after, 3, Duration::from_secs(2)).await;

    let nul_runs = poll_until("the NUL run recorded", Duration::from_secs(10), || async {
        let runs: Vec<ExecutionLog> = fixtures::runs(&env.database, nul_job)
            .await
            .into_iter()
            .filter(|r| r.status.is_final())
            .collect();
        (!runs.is_empty()).then_some(runs)
    })
    .await;
    assert_eq!(nul_runs[0].status, ExecutionStatus::Success);
    assert_eq!(nul_runs[0].http_status, Some(200));
    assert_eq!(nul_runs[0].response_body.as_deref(), Some("a\u{FFFD}b"));
}

/// One hostile response, and what its run's record must say.
struct Case {
    path: &'static str,
    reply: RawReply,
    status: ExecutionStatus,
    check: fn(&ExecutionLog),
}

fn error_of(run: &ExecutionLog) -> &str {
    run.error.as_deref().expect("a failed run says why")
}

fn assert_one_clean_line(text: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "control characters in {text:?}"
    );
}

#[tokio::test]
async fn every_kind_of_hostile_response_is_recorded_and_stalls_nobody() {
    let env = TestEnv::new().await;
    let raw = RawTarget::start().await;
    let chunk = {
        let mut c = b"1000\r\n".to_vec();
        c.extend(std::iter::repeat_n(b'x', 0x1000));
        c.extend_from_slice(b"\r\n");
        c
    };
    // 1 + 2 x 40,000 bytes: the 64 KiB cut falls inside an 'é'.
    let accents = format!("a{}", "é".repeat(40_000));
    let cases = vec![
        Case {
            path: "/binary",
            reply: RawReply::with_headers(
                200,
                &[b"Content-Type: image/png"],
                b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe\0\0",
            ),
            status: ExecutionStatus::Success,
            check: |run| {
                let body = run.response_body.as_deref().unwrap();
                assert!(body.contains("PNG") && !body.contains('\0'), "{body:?}");
                assert_eq!(run.response_content_type.as_deref(), Some("image/png"));
                assert!(!run.response_body_truncated);
            },
        },
        Case {
            path: "/cut",
            reply: RawReply::ok_body(accents.as_bytes()),
            status: ExecutionStatus::Success,
            check: |run| {
                let body = run.response_body.as_deref().unwrap();
                assert_eq!(body, format!("a{}", "é".repeat(32_767)));
                assert!(run.response_body_truncated);
            },
        },
        Case {
            path: "/header",
            reply: RawReply::with_headers(
                200,
                &[b"Content-Type: text/plain; charset=\xff\xfe"],
                b"fine",
            ),
            status: ExecutionStatus::Success,
            check: |run| {
                assert_eq!(
                    run.response_content_type.as_deref(),
                    Some("text/plain; charset=\u{FFFD}\u{FFFD}")
                );
                assert_eq!(run.response_body.as_deref(), Some("fine"));
            },
        },
        Case {
            path: "/endless",
            reply: RawReply::Endless {
                head: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                chunk,
            },
            status: ExecutionStatus::Success,
            check: |run| {
                let body = run.response_body.as_deref().unwrap();
                assert_eq!(body.len(), 64 * 1024);
                assert!(run.response_body_truncated);
            },
        },
        Case {
            path: "/short",
            reply: RawReply::Bytes(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten.".to_vec(),
            ),
            status: ExecutionStatus::Failed,
            check: |run| {
                let error = error_of(run);
                assert!(error.starts_with("reading the response failed"), "{error}");
                assert_one_clean_line(error);
            },
        },
        Case {
            path: "/garbage",
            reply: RawReply::Bytes(b"\0\x01\x02\x1b[2J not http at all\r\n\r\n".to_vec()),
            status: ExecutionStatus::Failed,
            check: |run| assert_one_clean_line(error_of(run)),
        },
        Case {
            path: "/big-head",
            reply: RawReply::with_headers(
                200,
                &[format!("X-Big: {}", "h".repeat(512 * 1024)).as_bytes()],
                b"",
            ),
            status: ExecutionStatus::Failed,
            check: |run| assert_one_clean_line(error_of(run)),
        },
        Case {
            path: "/silence",
            reply: RawReply::Silence,
            status: ExecutionStatus::Timeout,
            check: |run| assert_eq!(error_of(run), "timed out after 2000 ms"),
        },
        Case {
            path: "/stall",
            reply: RawReply::BytesThenHang(
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec(),
            ),
            status: ExecutionStatus::Timeout,
            check: |run| assert_eq!(error_of(run), "timed out after 2000 ms"),
        },
    ];
    let hostile = fixtures::user(&env.database).await;
    let bystander = fixtures::user(&env.database).await;
    let mut jobs = Vec::new();
    for case in &cases {
        raw.reply(case.path, case.reply.clone());
        let mut spec = JobSpec::every_second(raw.url(case.path));
        spec.timeout_ms = 2_000;
        jobs.push(fixtures::job(&env.database, hostile, &spec).await);
    }
    let steady = env.every_second_job(bystander, "/steady").await;
    let _scheduler = env.start_scheduler();

    for (case, job) in cases.iter().zip(&jobs) {
        let run = poll_until(
            &format!("a recorded run of {}", case.path),
            Duration::from_secs(20),
            || async {
                fixtures::runs(&env.database, *job)
                    .await
                    .into_iter()
                    .find(|r| r.status.is_final())
            },
        )
        .await;
        assert_eq!(run.status, case.status, "{}: {run:?}", case.path);
        (case.check)(&run);
    }
    // Every hostile job has gone round at least once by now: the bystander is on time.
    fixtures::recorded_on_time(&env, steady, Utc::now(), 3, Duration::from_secs(2)).await;
}
