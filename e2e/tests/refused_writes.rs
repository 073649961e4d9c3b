//! PostgreSQL refusing what the scheduler writes (by a trigger in the test's own
//! database): a refused row is isolated and closed alone, its batch-mates go on, and a
//! recorder that falls behind says so on health.

use std::time::Duration;

use chrono::Utc;
use db::ExecutionStatus;
use serde_json::json;
use testkit::fixtures::{self, JobSpec};
use testkit::{TestEnv, poll_until};

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
fn scheduler_with_metrics(env: &TestEnv) -> (testkit::Cronops, testkit::Api) {
    let port = testkit::free_port();
    let process = testkit::Cronops::spawn(
        &["scheduler"],
        &env.vars_with(&[("SCHEDULER_METRICS_PORT", &port.to_string())]),
        env.workdir.path(),
    );
    (
        process,
        testkit::Api::new(format!("http://127.0.0.1:{port}")),
    )
}

/// The value of one series in the scheduler's metrics, once it is at least `at_least`.
async fn metric_reaches(probe: &testkit::Api, series: &str, at_least: f64) -> f64 {
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
        testkit::target::Reply {
            body: "poison".into(),
            ..Default::default()
        },
    );
    let hostile = fixtures::user(&env.database).await;
    let poisoned = env.every_second_job(hostile, "/poison").await;
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
        fixtures::recorded_on_time(&env, job, after, 2, Duration::from_secs(2)).await;
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
    let stuck = env.every_second_job(owner, "/stuck").await;
    let other = env.every_second_job(owner, "/other").await;
    refuse_when(&env, "UPDATE", "jobs", "true", "runs do not write jobs").await;
    let (_scheduler, probe) = scheduler_with_metrics(&env);

    let after = Utc::now();
    let runs = fixtures::recorded_on_time(&env, stuck, after, 2, Duration::from_secs(2)).await;
    for run in &runs {
        assert_eq!(run.status, ExecutionStatus::Success, "{run:?}");
        assert_eq!(run.response_body.as_deref(), Some("ok"));
    }
    fixtures::recorded_on_time(&env, other, after, 2, Duration::from_secs(2)).await;
    for job in [stuck, other] {
        assert_eq!(
            fixtures::last_status(&env.database, job).await,
            Some(ExecutionStatus::Success)
        );
    }
    // Nothing was refused, so nothing was isolated: no write touched a job.
    metric_reaches(
        &probe,
        "cronops_scheduler_runs_total{status=\"SUCCESS\"}",
        4.0,
    )
    .await;
    let metrics = probe.get("/metrics", &[]).await.text().await.unwrap();
    assert!(
        !metrics.contains("cronops_scheduler_isolated_rows_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_run_postgresql_refuses_to_write_is_skipped_and_its_batch_mates_fire() {
    let env = TestEnv::new().await;
    let hostile = fixtures::user(&env.database).await;
    let refused = env.every_second_job(hostile, "/refused").await;
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
        fixtures::recorded_on_time(&env, job, after, 2, Duration::from_secs(2)).await;
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
