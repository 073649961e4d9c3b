//! Runs prepared ahead of their slot, end to end: a pause before the slot withdraws them
//! unseen, and each shows from the moment its request went out.

use std::time::Duration;

use chrono::Utc;
use db::ExecutionStatus;
use testkit::fixtures::{self, JobSpec};
use testkit::{Cronops, TestEnv, poll_until};

#[tokio::test]
async fn pausing_stops_runs_already_prepared_ahead() {
    // Runs are prepared up to SCHEDULER_LOOKAHEAD_MS (1 s here) before their slot; a pause
    // must stop those too, except one whose slot is within the last look (100 ms).
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let ada = api
        .signup_verified(&env.mail, "pause@example.com", "Password123!")
        .await;
    let user: uuid::Uuid = ada.user_id.parse().unwrap();
    let job = env.every_second_job(user, "/pause").await;
    env.target
        .wait_for("/pause", 2, Duration::from_secs(15))
        .await;
    // Pause just after a slot, so that the next one is prepared and 0.9 s away.
    poll_until(
        "just past a whole second",
        Duration::from_secs(5),
        || async {
            let ms = Utc::now().timestamp_subsec_millis();
            (50..300).contains(&ms).then_some(())
        },
    )
    .await;
    let total = || async {
        let page = api
            .graphql(
                "query($id: ID!) { executionLogs(jobId: $id) { totalCount } }",
                serde_json::json!({"id": job.to_string()}),
                Some(&ada.access_token),
            )
            .await;
        page["data"]["executionLogs"]["totalCount"]
            .as_i64()
            .unwrap_or_else(|| panic!("{page}"))
    };
    let before = total().await;
    let paused = api
        .graphql(
            "mutation($id: ID!) { pauseJob(id: $id) { status } }",
            serde_json::json!({"id": job.to_string()}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(paused["data"]["pauseJob"]["status"], "PAUSED", "{paused}");
    let paused_at = Utc::now();
    // The run prepared for the next slot is withdrawn unseen: the count never goes down.
    let mut counts = vec![before];
    while Utc::now() < paused_at + chrono::Duration::milliseconds(2_500) {
        counts.push(total().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "totalCount went down during the pause: {counts:?}"
    );

    let late: Vec<String> = env
        .target
        .received_on("/pause")
        .iter()
        .map(|hit| {
            hit.headers["x-cronops-scheduled-for"]
                .to_str()
                .unwrap()
                .to_owned()
        })
        .filter(|slot| {
            chrono::DateTime::parse_from_rfc3339(slot).unwrap()
                > paused_at + chrono::Duration::milliseconds(150)
        })
        .collect();
    assert!(late.is_empty(), "slots after the pause were sent: {late:?}");
    let runs = fixtures::runs(&env.database, job).await;
    assert!(
        runs.iter().all(|r| r.status.is_final()),
        "a withdrawn run was left open: {runs:?}"
    );
    assert!(
        runs.iter()
            .all(|r| r.scheduled_for <= paused_at + chrono::Duration::milliseconds(150)),
        "a run row exists for a slot after the pause: {runs:?}"
    );
}

#[tokio::test]
async fn runs_show_once_sent_from_when_they_were_sent() {
    // Runs are prepared a second ahead; none may show before its request is out, show a
    // start in the future, or start at its slot by fiat rather than when it was sent.
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let ada = api
        .signup_verified(&env.mail, "honest@example.com", "Password123!")
        .await;
    let user: uuid::Uuid = ada.user_id.parse().unwrap();
    let job = env.every_second_job(user, "/honest").await;
    let query = "query($id: ID!) { executionLogs(jobId: $id, first: 50) { totalCount edges { node { \
                 id status scheduledFor startedAt delayMs } } } }";
    let mut seen: Vec<(chrono::DateTime<Utc>, serde_json::Value)> = Vec::new();
    let until = Utc::now() + chrono::Duration::seconds(4);
    while Utc::now() < until {
        let page = api
            .graphql(
                query,
                serde_json::json!({"id": job.to_string()}),
                Some(&ada.access_token),
            )
            .await;
        let answered = Utc::now();
        for edge in page["data"]["executionLogs"]["edges"].as_array().unwrap() {
            seen.push((answered, edge["node"].clone()));
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let arrivals: std::collections::HashMap<String, chrono::DateTime<Utc>> = env
        .target
        .received_on("/honest")
        .iter()
        .map(|r| {
            (
                r.headers["x-cronops-execution-id"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
                r.received_at,
            )
        })
        .collect();
    assert!(seen.len() >= 3, "runs were listed: {seen:?}");
    let time = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc)
    };
    for (answered, node) in &seen {
        assert_ne!(
            node["status"], "PENDING",
            "a scheduled run shown unsent: {node}"
        );
        let started = time(&node["startedAt"]);
        let slot = time(&node["scheduledFor"]);
        assert!(started <= *answered, "a start in the future: {node}");
        let arrived = arrivals
            .get(node["id"].as_str().unwrap())
            .unwrap_or_else(|| panic!("shown, yet its request never arrived: {node}"));
        assert!(
            started <= *arrived,
            "its start ({started}) is after its request arrived ({arrived}): {node}"
        );
        assert!(started > slot, "started at its slot by fiat: {node}");
        let delay = node["delayMs"].as_i64().unwrap();
        assert_eq!(delay, (started - slot).num_milliseconds(), "{node}");
        assert!((0..1000).contains(&delay), "{node}");
    }
}

#[tokio::test]
async fn a_scheduler_killed_before_sending_runs_it_prepared_ahead_loses_none() {
    // Runs are prepared (their PREPARED rows written) up to SCHEDULER_LOOKAHEAD_MS before
    // their slot. A holder killed in between never sent the request: the instance taking
    // over must send it (late), not close it as failed.
    let env = TestEnv::new().await;
    let user = fixtures::user(&env.database).await;
    let now = chrono::Utc::now();
    let slot = chrono::DateTime::from_timestamp(now.timestamp() + 5, 0).unwrap();
    let mut spec = JobSpec::every_second(env.target.url("/ahead"));
    spec.cron = format!("{} * * * * *", chrono::Timelike::second(&slot));
    spec.next_run_at = Some(slot);
    spec.max_retries = 0;
    let job = fixtures::job(&env.database, user, &spec).await;
    let vars = env.vars_with(&[
        ("SCHEDULER_LEASE_MS", "6000"),
        ("SCHEDULER_LOOKAHEAD_MS", "2000"),
    ]);

    let mut doomed = Cronops::spawn(&["scheduler"], &vars, env.workdir.path());
    let prepared = poll_until(
        "the slot prepared ahead",
        Duration::from_secs(10),
        || async {
            fixtures::runs(&env.database, job)
                .await
                .into_iter()
                .find(|r| r.scheduled_for == slot)
        },
    )
    .await;
    doomed.kill();
    assert!(
        chrono::Utc::now() < slot,
        "the test was too slow to kill the holder before the slot"
    );
    assert_eq!(
        prepared.status,
        ExecutionStatus::Prepared,
        "not sent, not shown"
    );
    let mut survivor = Cronops::spawn(&["scheduler"], &vars, env.workdir.path());

    let run = poll_until(
        "the prepared run sent and recorded",
        Duration::from_secs(30),
        || async {
            fixtures::runs(&env.database, job)
                .await
                .into_iter()
                .find(|r| r.scheduled_for == slot && r.status.is_final())
        },
    )
    .await;
    Cronops::stop_all(std::slice::from_mut(&mut survivor)).await;
    assert_eq!(run.id, prepared.id);
    assert_eq!(
        (run.status, run.attempt, run.trigger, run.error.as_deref()),
        (
            ExecutionStatus::Success,
            1,
            db::ExecutionTrigger::Schedule,
            None
        ),
        "{run:?}"
    );
    assert!(
        run.late,
        "sent after the holder's lease expired: marked late"
    );
    assert!(run.went_out_at() > Some(slot), "{run:?}");
    let sent = env.target.deliveries("/ahead");
    assert_eq!(sent.get(&run.id.to_string()), Some(&1), "{sent:?}");
    let runs = fixtures::runs(&env.database, job).await;
    assert_eq!(
        runs.iter().filter(|r| r.scheduled_for == slot).count(),
        1,
        "{runs:?}"
    );
}
