//! Runs prepared ahead of their slot, end to end: a pause before the slot withdraws them
//! unseen, and each shows from the moment its request went out.

use std::time::Duration;

use chrono::Utc;
use e2e::fixtures::{self, JobSpec};
use e2e::{TestEnv, poll_until};

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
    let job = fixtures::job(
        &env.database,
        user,
        &JobSpec::every_second(env.target.url("/pause")),
    )
    .await;
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
    let job = fixtures::job(
        &env.database,
        user,
        &JobSpec::every_second(env.target.url("/honest")),
    )
    .await;
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
