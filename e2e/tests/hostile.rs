//! Targets that answer with anything at all: whatever bytes come back, the run is recorded
//! and every other user's runs go on being recorded on time.

use std::time::Duration;

use chrono::{DateTime, Utc};
use db::ExecutionStatus;
use db::models::ExecutionLog;
use e2e::fixtures::{self, JobSpec};
use e2e::hostile::{RawReply, RawTarget};
use e2e::{TestEnv, poll_until};
use serde_json::json;
use uuid::Uuid;

/// Waits until `job` has `count` finished runs whose slots are at or after `from`, each
/// recorded within `within` of its slot, and returns them.
async fn recorded_on_time(
    env: &TestEnv,
    job: Uuid,
    from: DateTime<Utc>,
    count: usize,
    within: Duration,
) -> Vec<ExecutionLog> {
    let runs = poll_until(
        &format!("{count} recorded runs of the bystander's job"),
        Duration::from_secs(20),
        || async {
            let runs: Vec<ExecutionLog> = fixtures::runs(&env.database, job)
                .await
                .into_iter()
                .filter(|r| r.scheduled_for >= from && r.status.is_final())
                .collect();
            (runs.len() >= count).then_some(runs)
        },
    )
    .await;
    let within = chrono::Duration::from_std(within).unwrap();
    for run in &runs {
        let finished = run.finished_at.expect("a final run has finished");
        assert!(
            finished - run.scheduled_for <= within,
            "the bystander's run of {} finished {} after its slot",
            run.scheduled_for,
            finished - run.scheduled_for
        );
    }
    runs
}

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
    let steady = fixtures::job(
        &env.database,
        bystander,
        &JobSpec::every_second(env.target.url("/steady")),
    )
    .await;
    let _scheduler = env.start_scheduler();

    poll_until("the NUL response fetched", Duration::from_secs(15), || {
        let hits = raw.hits("/nul");
        async move { (hits > 0).then_some(()) }
    })
    .await;
    let after = Utc::now();
    recorded_on_time(&env, steady, after, 3, Duration::from_secs(2)).await;

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
    let steady = fixtures::job(
        &env.database,
        bystander,
        &JobSpec::every_second(env.target.url("/steady")),
    )
    .await;
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
    recorded_on_time(&env, steady, Utc::now(), 3, Duration::from_secs(2)).await;
}

/// Runs SQL on this test's database (triggers that make it misbehave).
async fn run_sql(env: &TestEnv, sql: &str) {
    use diesel_async::SimpleAsyncConnection;
    let mut conn = env.database.connect().await;
    conn.batch_execute(sql).await.expect("run the test's SQL");
}

/// Makes this test's database refuse, with `message`, each write `event` (`INSERT` or
/// `UPDATE`) of `table` where `condition` holds (over NEW and OLD), as a data exception
/// or a broken row would: the scheduler must not know the difference.
async fn refuse_when(env: &TestEnv, event: &str, table: &str, condition: &str, message: &str) {
    run_sql(
        env,
        &format!(
            "CREATE FUNCTION refuse_{table}() RETURNS trigger AS $$ BEGIN \
               IF {condition} THEN RAISE EXCEPTION '{message}'; END IF; \
               RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_{table} BEFORE {event} ON {table} \
               FOR EACH ROW EXECUTE FUNCTION refuse_{table}();"
        ),
    )
    .await;
}

/// A standalone scheduler with its /metrics on a free port, and that port's client.
fn scheduler_with_metrics(env: &TestEnv) -> (e2e::Cronops, e2e::Api) {
    let port = e2e::free_port();
    let process = e2e::Cronops::spawn(
        &["scheduler"],
        &env.vars_with(&[("SCHEDULER_METRICS_PORT", &port.to_string())]),
        env.workdir.path(),
    );
    (process, e2e::Api::new(format!("http://127.0.0.1:{port}")))
}

/// The value of one series in the scheduler's metrics, once it is at least `at_least`.
async fn metric_reaches(probe: &e2e::Api, series: &str, at_least: f64) -> f64 {
    poll_until(
        &format!("{series} >= {at_least}"),
        Duration::from_secs(15),
        || async {
            let text = probe.get("/metrics", &[]).await.text().await.ok()?;
            let value: f64 = text
                .lines()
                .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())?;
            (value >= at_least).then_some(value)
        },
    )
    .await
}

#[tokio::test]
async fn a_result_postgresql_refuses_is_closed_alone_and_its_batch_mates_recorded() {
    let env = TestEnv::new().await;
    refuse_when(
        &env,
        "UPDATE",
        "execution_logs",
        "NEW.response_body = 'poison'",
        "poisoned response",
    )
    .await;
    env.target.reply(
        "/poison",
        e2e::target::Reply {
            body: "poison".into(),
            ..Default::default()
        },
    );
    let hostile = fixtures::user(&env.database).await;
    let poisoned = fixtures::job(
        &env.database,
        hostile,
        &JobSpec::every_second(env.target.url("/poison")),
    )
    .await;
    // Bystanders whose results share the poisoned one's batches.
    let bystander = fixtures::user(&env.database).await;
    let mut steady = Vec::new();
    for _ in 0..10 {
        let spec = JobSpec::every_second(env.target.url("/steady"));
        steady.push(fixtures::job(&env.database, bystander, &spec).await);
    }
    let (_scheduler, probe) = scheduler_with_metrics(&env);

    let closed = poll_until(
        "the poisoned run closed",
        Duration::from_secs(15),
        || async {
            fixtures::runs(&env.database, poisoned)
                .await
                .into_iter()
                .find(|r| r.status.is_final())
        },
    )
    .await;
    assert_eq!(closed.status, ExecutionStatus::Failed);
    assert_eq!(
        closed.error.as_deref(),
        Some("the response could not be stored: poisoned response")
    );
    assert_eq!(
        closed.http_status,
        Some(200),
        "what is known of the run stays"
    );
    assert_eq!(closed.response_body, None);
    let after = Utc::now();
    for job in steady {
        recorded_on_time(&env, job, after, 2, Duration::from_secs(2)).await;
    }
    metric_reaches(
        &probe,
        "cronops_scheduler_isolated_rows_total{step=\"record\"}",
        1.0,
    )
    .await;
}

#[tokio::test]
async fn runs_are_recorded_while_postgresql_refuses_every_write_to_jobs() {
    // A run writes only its own row: its job's last run is read from the runs, its next
    // fire time lives in Redis.
    let env = TestEnv::new().await;
    let owner = fixtures::user(&env.database).await;
    let stuck = fixtures::job(
        &env.database,
        owner,
        &JobSpec::every_second(env.target.url("/stuck")),
    )
    .await;
    let other = fixtures::job(
        &env.database,
        owner,
        &JobSpec::every_second(env.target.url("/other")),
    )
    .await;
    refuse_when(&env, "UPDATE", "jobs", "true", "runs do not write jobs").await;
    let _scheduler = env.start_scheduler();

    let after = Utc::now();
    let runs = recorded_on_time(&env, stuck, after, 2, Duration::from_secs(2)).await;
    for run in &runs {
        assert_eq!(run.status, ExecutionStatus::Success, "{run:?}");
        assert_eq!(run.response_body.as_deref(), Some("ok"));
    }
    recorded_on_time(&env, other, after, 2, Duration::from_secs(2)).await;
    for job in [stuck, other] {
        assert_eq!(
            fixtures::last_status(&env.database, job).await,
            Some(ExecutionStatus::Success)
        );
    }
}

#[tokio::test]
async fn a_run_postgresql_refuses_to_write_is_skipped_and_its_batch_mates_fire() {
    let env = TestEnv::new().await;
    let hostile = fixtures::user(&env.database).await;
    let refused = fixtures::job(
        &env.database,
        hostile,
        &JobSpec::every_second(env.target.url("/refused")),
    )
    .await;
    refuse_when(
        &env,
        "INSERT",
        "execution_logs",
        &format!("NEW.job_id = '{refused}'"),
        "no runs for this job",
    )
    .await;
    let bystander = fixtures::user(&env.database).await;
    let mut steady = Vec::new();
    for _ in 0..10 {
        let spec = JobSpec::every_second(env.target.url("/steady"));
        steady.push(fixtures::job(&env.database, bystander, &spec).await);
    }
    let (_scheduler, probe) = scheduler_with_metrics(&env);

    let after = Utc::now();
    for job in steady {
        recorded_on_time(&env, job, after, 2, Duration::from_secs(2)).await;
    }
    // Each of its slots is refused and skipped, and the job stays on its schedule.
    metric_reaches(
        &probe,
        "cronops_scheduler_isolated_rows_total{step=\"prepare\"}",
        3.0,
    )
    .await;
    assert!(fixtures::runs(&env.database, refused).await.is_empty());
    assert_eq!(env.target.received_on("/refused").len(), 0, "never sent");
}

#[tokio::test]
async fn a_scheduler_whose_writes_fall_behind_says_so_on_health() {
    let env = TestEnv::new().await;
    let owner = fixtures::user(&env.database).await;
    for _ in 0..10 {
        let spec = JobSpec::every_second(env.target.url("/slow-db"));
        fixtures::job(&env.database, owner, &spec).await;
    }
    let (_scheduler, probe) = scheduler_with_metrics(&env);
    let (status, body) = poll_until("a healthy scheduler", Duration::from_secs(15), || async {
        probe.health_status().await.filter(|(s, _)| *s == 200)
    })
    .await;
    assert_eq!((status.as_u16(), &body["recorder"]), (200, &json!("ok")));

    // Every write of a result now takes half a second a row: ten rows a second come in,
    // two go out.
    run_sql(
        &env,
        "CREATE FUNCTION slow_write() RETURNS trigger AS $$ BEGIN \
           PERFORM pg_sleep(0.5); RETURN NEW; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER slow_write BEFORE UPDATE ON execution_logs \
           FOR EACH ROW EXECUTE FUNCTION slow_write();",
    )
    .await;
    let (_, body) = poll_until("health to say behind", Duration::from_secs(30), || async {
        probe.health_status().await.filter(|(s, _)| *s == 503)
    })
    .await;
    assert_eq!(body["recorder"], "behind", "{body}");
    assert_eq!(body["database"], "up", "{body}");
    assert_eq!(body["status"], "degraded", "{body}");

    // Back to normal; the write under way is cancelled (an error that passes: retried).
    run_sql(
        &env,
        "CREATE OR REPLACE FUNCTION slow_write() RETURNS trigger AS $$ BEGIN \
           RETURN NEW; END $$ LANGUAGE plpgsql; \
         SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
           AND query LIKE 'UPDATE execution_logs%';",
    )
    .await;
    let (_, body) = poll_until("health to recover", Duration::from_secs(60), || async {
        probe.health_status().await.filter(|(s, _)| *s == 200)
    })
    .await;
    assert_eq!(body["recorder"], "ok", "{body}");
}
