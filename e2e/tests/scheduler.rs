//! The scheduler engine end to end: real binaries, PostgreSQL, Redis and HTTP target.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{Timelike, Utc};
use db::ExecutionStatus;
use testkit::fixtures::{self, JobSpec};
use testkit::{TestEnv, poll_until};

#[tokio::test]
async fn a_job_fires_every_second_and_each_run_is_recorded() {
    let env = TestEnv::new().await;
    let user = fixtures::user(&env.database).await;
    let mut spec = JobSpec::every_second(env.target.url("/tick"));
    spec.headers = Some(serde_json::json!({"x-token": "abc"}));
    let job = fixtures::job(&env.database, user, &spec).await;
    let _server = env.start_all().await;

    let hits = env
        .target
        .wait_for("/tick", 3, Duration::from_secs(15))
        .await;
    assert_eq!(hits[0].headers["x-token"], "abc");
    assert_eq!(hits[0].headers["x-cronops-job-id"], job.to_string());
    let runs = poll_until("three recorded runs", Duration::from_secs(10), || async {
        let runs = fixtures::runs(&env.database, job).await;
        let done: Vec<_> = runs
            .into_iter()
            .filter(|r| r.status == ExecutionStatus::Success)
            .collect();
        (done.len() >= 3).then_some(done)
    })
    .await;
    let slots: HashSet<_> = runs.iter().map(|r| r.scheduled_for).collect();
    assert_eq!(slots.len(), runs.len(), "one row per slot");
    for run in &runs {
        assert_eq!(
            run.scheduled_for.timestamp_subsec_millis(),
            0,
            "slots are whole seconds"
        );
        assert_eq!(run.http_status, Some(200));
        assert_eq!(run.response_body.as_deref(), Some("ok"));
        assert!(run.finished_at.is_some() && run.duration_ms.is_some());
        let lateness = run.went_out_at().expect("sent") - run.scheduled_for;
        assert!(
            lateness < chrono::Duration::seconds(1) && lateness >= chrono::Duration::zero(),
            "fired {lateness} after its slot"
        );
    }
    // Slots are claimed and prepared ahead (SCHEDULER_LOOKAHEAD_MS), but each request
    // leaves at its slot, never before.
    for hit in env.target.received_on("/tick") {
        let slot = chrono::DateTime::parse_from_rfc3339(
            hit.headers["x-cronops-scheduled-for"].to_str().unwrap(),
        )
        .unwrap();
        assert!(
            hit.received_at >= slot,
            "a request arrived {} before its slot",
            slot.with_timezone(&Utc) - hit.received_at
        );
    }
    // The target saw each recorded slot's execution id exactly once.
    let deliveries = env.target.deliveries("/tick");
    for run in &runs {
        assert_eq!(deliveries.get(&run.id.to_string()), Some(&1), "{run:?}");
    }
    assert_eq!(
        fixtures::last_status(&env.database, job).await,
        Some(ExecutionStatus::Success)
    );
}

#[tokio::test]
async fn missed_slots_fire_once_late_never_as_a_storm() {
    let env = TestEnv::new().await;
    let user = fixtures::user(&env.database).await;
    let mut spec = JobSpec::every_second(env.target.url("/daily"));
    // Daily, twelve hours from now, not every minute: a minute job's next slot could fall
    // inside the test and add a second, on-time run (it failed so once in a full run).
    let hour = (Utc::now().hour() + 12) % 24;
    spec.cron = format!("0 0 {hour} * * *");
    // Every scheduler was down for a week: seven slots were missed.
    spec.next_run_at = Some(Utc::now() - chrono::Duration::days(7));
    let job = fixtures::job(&env.database, user, &spec).await;
    let _server = env.start_all().await;

    env.target
        .wait_for("/daily", 1, Duration::from_secs(15))
        .await;
    let runs = poll_until(
        "the late run to be recorded",
        Duration::from_secs(10),
        || async {
            let runs = fixtures::runs(&env.database, job).await;
            runs.iter().all(|r| r.status.is_final()).then_some(runs)
        },
    )
    .await;
    let now = Utc::now();
    // The slots not fired are recorded, in one SKIPPED row at the first of them.
    let (skipped, runs): (Vec<_>, Vec<_>) = runs
        .into_iter()
        .partition(|r| r.status == ExecutionStatus::Skipped);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    // The first missed slot: the job's stored next run time, a week ago.
    let first_missed = spec.next_run_at.unwrap();
    assert!(
        (skipped[0].scheduled_for - first_missed)
            .num_seconds()
            .abs()
            <= 1,
        "{} vs {first_missed}",
        skipped[0].scheduled_for
    );
    let reason = skipped[0].error.as_deref().unwrap_or_default();
    assert!(reason.contains("misfire rule"), "{reason}");
    assert_eq!(runs.len(), 1, "one run for seven missed slots: {runs:?}");
    assert!(runs[0].late, "the run is marked late");
    assert_eq!(
        runs[0].scheduled_for.timestamp() % 86_400,
        i64::from(hour) * 3_600,
        "it is a {hour}:00 slot"
    );
    assert!(
        now - runs[0].scheduled_for <= chrono::Duration::days(1),
        "it is the latest missed slot, not the first: {}",
        runs[0].scheduled_for
    );
    // Its schedule goes on from the slot that fired.
    let keys = scheduler::Keys::new(&env.key_prefix);
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let next = scheduler::queue::scores(&redis, &keys, &[(user, job)])
        .await
        .unwrap()[0];
    assert_eq!(
        next,
        Some((runs[0].scheduled_for + chrono::Duration::days(1)).timestamp_millis() as f64)
    );
    assert_eq!(env.target.received_on("/daily").len(), 1);
}

#[tokio::test]
async fn failures_are_retried_with_backoff_each_attempt_its_own_row() {
    let env = TestEnv::new().await;
    env.target.reply(
        "/flaky",
        testkit::target::Reply {
            status: 500,
            body: "nope".into(),
            ..Default::default()
        },
    );
    let user = fixtures::user(&env.database).await;
    let mut spec = JobSpec::every_second(env.target.url("/flaky"));
    spec.cron = "0 0 1 1 *".into(); // once a year: only the forced slot below fires
    spec.next_run_at = Some(Utc::now());
    spec.max_retries = 2;
    let job = fixtures::job(&env.database, user, &spec).await;
    let _server = env.start_all().await;

    let runs = poll_until(
        "three attempts recorded",
        Duration::from_secs(20),
        || async {
            let runs = fixtures::runs(&env.database, job).await;
            (runs.len() == 3 && runs.iter().all(|r| r.status.is_final())).then_some(runs)
        },
    )
    .await;
    let attempts: Vec<_> = runs
        .iter()
        .map(|r| (r.trigger, r.attempt, r.status))
        .collect();
    assert_eq!(
        attempts,
        [
            (db::ExecutionTrigger::Schedule, 1, ExecutionStatus::Failed),
            (db::ExecutionTrigger::Retry, 2, ExecutionStatus::Failed),
            (db::ExecutionTrigger::Retry, 3, ExecutionStatus::Failed),
        ]
    );
    assert!(
        runs.iter()
            .all(|r| r.scheduled_for == runs[0].scheduled_for),
        "retries belong to the slot"
    );
    assert_eq!(
        runs[0].error.as_deref(),
        Some("HTTP 500 Internal Server Error")
    );
    // Full jitter: the waits stay within 1 s and 2 s (plus claim and request time).
    let gap = |a: usize, b: usize| {
        (runs[b].went_out_at().unwrap() - runs[a].finished_at.unwrap()).num_milliseconds()
    };
    assert!(
        gap(0, 1) <= 1_000 + 500,
        "first retry after {} ms",
        gap(0, 1)
    );
    assert!(
        gap(1, 2) <= 2_000 + 500,
        "second retry after {} ms",
        gap(1, 2)
    );
    let received = env.target.received_on("/flaky");
    let attempts_seen: Vec<_> = received
        .iter()
        .map(|r| r.headers["x-cronops-attempt"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(attempts_seen, ["1", "2", "3"]);
    // No fourth attempt follows.
    assert_eq!(
        fixtures::last_status(&env.database, job).await,
        Some(ExecutionStatus::Failed)
    );
}

#[tokio::test]
async fn paused_jobs_do_not_fire_and_leave_the_due_set() {
    let env = TestEnv::new().await;
    let user = fixtures::user(&env.database).await;
    let active = env.every_second_job(user, "/active").await;
    let mut paused = JobSpec::every_second(env.target.url("/paused"));
    paused.status = db::JobStatus::Paused;
    fixtures::job(&env.database, user, &paused).await;
    let _server = env.start_all().await;
    env.target
        .wait_for("/active", 3, Duration::from_secs(15))
        .await;
    assert!(env.target.received_on("/paused").is_empty());

    // Pausing in PostgreSQL alone (as if Redis missed the API's update) stops it too.
    let mut conn = env.database.connect().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE jobs SET status = 'PAUSED' WHERE id = '{active}'"
        )),
        &mut conn,
    )
    .await
    .unwrap();
    let settled = poll_until(
        "the paused job to stop firing",
        Duration::from_secs(10),
        || async {
            let before = env.target.received_on("/active").len();
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            (env.target.received_on("/active").len() == before).then_some(before)
        },
    )
    .await;
    assert!(settled >= 3);
}

#[tokio::test]
async fn a_standalone_scheduler_serves_its_metrics_and_health() {
    let env = TestEnv::new().await;
    let user = fixtures::user(&env.database).await;
    env.every_second_job(user, "/m").await;
    let port = testkit::free_port();
    let _scheduler = testkit::Cronops::spawn(
        &["scheduler"],
        &env.vars_with(&[("SCHEDULER_METRICS_PORT", &port.to_string())]),
        env.workdir.path(),
    );
    env.target.wait_for("/m", 2, Duration::from_secs(15)).await;
    let probe = testkit::Api::new(format!("http://127.0.0.1:{port}"));
    let (status, body) = poll_until("scheduler health", Duration::from_secs(10), || {
        probe.health_status()
    })
    .await;
    assert_eq!(status, 200, "{body}");
    let text = poll_until(
        "scheduler metrics with a recorded run",
        Duration::from_secs(10),
        || async {
            let text = probe.get("/metrics", &[]).await.text().await.ok()?;
            text.contains("cronops_scheduler_runs_total{status=\"SUCCESS\"}")
                .then_some(text)
        },
    )
    .await;
    for name in [
        "cronops_scheduler_claimed_total",
        "cronops_scheduler_fired_total",
        "cronops_scheduler_lateness_seconds_bucket",
        "cronops_scheduler_in_flight",
        "cronops_scheduler_queue_depth",
        "cronops_scheduler_lag_seconds",
        "cronops_db_pool_connections",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
}
