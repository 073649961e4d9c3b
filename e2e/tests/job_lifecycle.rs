//! A job's life after creation: pause, resume, update and delete followed in Redis,
//! and manual runs.

use std::time::Duration;

use serde_json::json;
use testkit::accounts::error_code;
use testkit::job_api::{UPDATE, create, delete, job_input, user};
use testkit::{TestEnv, poll_until};

#[tokio::test]
async fn pause_resume_update_and_delete_follow_in_redis() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "switch").await;
    let created = create(api, &ada, job_input(&env, "switch")).await;
    let id = created["data"]["createJob"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uid: uuid::Uuid = id.parse().unwrap();
    let owner: uuid::Uuid = ada.user_id.parse().unwrap();
    let keys = scheduler::Keys::new(&env.key_prefix);
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let score = || async {
        scheduler::queue::scores(&redis, &keys, &[(owner, uid)])
            .await
            .unwrap()[0]
    };
    assert!(score().await.is_some());

    let paused = api
        .graphql(
            "mutation($id: ID!) { pauseJob(id: $id) { status nextRunAt } }",
            json!({"id": id}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(
        paused["data"]["pauseJob"],
        json!({"status": "PAUSED", "nextRunAt": null})
    );
    assert_eq!(score().await, None);

    let resumed = api
        .graphql(
            "mutation($id: ID!) { resumeJob(id: $id) { status nextRunAt } }",
            json!({"id": id}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(resumed["data"]["resumeJob"]["status"], "ACTIVE");
    let next: chrono::DateTime<chrono::Utc> = resumed["data"]["resumeJob"]["nextRunAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(score().await, Some(next.timestamp_millis() as f64));

    let updated = api
        .graphql(UPDATE, json!({"id": id, "input": {"cronExpression": "30 9 * * *", "timezone": "America/New_York", "description": "d", "headers": {"x-a": "b"}}}), Some(&ada.access_token))
        .await;
    let job = &updated["data"]["updateJob"];
    assert_eq!(job["cronExpression"], "30 9 * * *", "{updated}");
    assert_eq!(job["headers"], json!({"x-a": "b"}));
    let next: chrono::DateTime<chrono::Utc> = job["nextRunAt"].as_str().unwrap().parse().unwrap();
    let local = next.with_timezone(&chrono_tz::America::New_York);
    assert_eq!(local.format("%H:%M").to_string(), "09:30");
    assert_eq!(
        score().await,
        Some(next.timestamp_millis() as f64),
        "rescheduled in Redis"
    );
    let cleared = api
        .graphql(
            UPDATE,
            json!({"id": id, "input": {"description": null, "headers": null}}),
            Some(&ada.access_token),
        )
        .await;
    assert!(
        cleared["data"]["updateJob"]["description"].is_null()
            && cleared["data"]["updateJob"]["headers"].is_null(),
        "{cleared}"
    );
    assert_eq!(
        cleared["data"]["updateJob"]["cronExpression"], "30 9 * * *",
        "untouched fields stay"
    );

    let deleted = delete(api, &ada, &json!(id)).await;
    assert_eq!(deleted["data"]["deleteJob"], true);
    assert_eq!(score().await, None);
    let gone = api
        .graphql(
            "query($id: ID!) { job(id: $id) { id } }",
            json!({"id": id}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(error_code(&gone), Some("NOT_FOUND"));
}

#[tokio::test]
async fn run_job_delivers_to_the_target_while_paused() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let ada = user(&env, api, "runner").await;
    let mut input = job_input(&env, "manual");
    input["cronExpression"] = json!("0 0 1 1 *");
    input["targetUrl"] = json!(env.target.url("/run"));
    let created = create(api, &ada, input).await;
    let id = created["data"]["createJob"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.graphql(
        "mutation($id: ID!) { pauseJob(id: $id) { id } }",
        json!({"id": id}),
        Some(&ada.access_token),
    )
    .await;

    let run = api
        .graphql("mutation($id: ID!) { runJob(id: $id) { id status trigger attempt job { id status } } }", json!({"id": id}), Some(&ada.access_token))
        .await;
    let log = &run["data"]["runJob"];
    assert_eq!(log["trigger"], "MANUAL", "{run}");
    assert_eq!(log["job"]["status"], "PAUSED");
    assert!(matches!(
        log["status"].as_str(),
        Some("PENDING" | "RUNNING" | "SUCCESS")
    ));
    let hits = env
        .target
        .wait_for("/run", 1, Duration::from_secs(10))
        .await;
    assert_eq!(
        hits[0].headers["x-cronops-execution-id"],
        log["id"].as_str().unwrap()
    );
    let job = poll_until("the run recorded on the job", Duration::from_secs(10), || async {
        let job = api.graphql("query($id: ID!) { job(id: $id) { status nextRunAt lastRunAt lastStatus logs { totalCount edges { node { status trigger startedAt } } } } }", json!({"id": id}), Some(&ada.access_token)).await;
        (job["data"]["job"]["lastStatus"] == "SUCCESS").then_some(job)
    })
    .await;
    assert_eq!(
        job["data"]["job"]["status"], "PAUSED",
        "the schedule did not move"
    );
    assert!(job["data"]["job"]["nextRunAt"].is_null());
    assert_eq!(job["data"]["job"]["logs"]["totalCount"], 1);
    let node = &job["data"]["job"]["logs"]["edges"][0]["node"];
    assert_eq!(
        (&node["status"], &node["trigger"]),
        (&json!("SUCCESS"), &json!("MANUAL"))
    );
    assert_eq!(
        job["data"]["job"]["lastRunAt"], node["startedAt"],
        "its last run is the run's start: {job}"
    );
}

#[tokio::test]
async fn a_pause_keeps_its_note_until_the_job_resumes() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "noted").await;
    let created = create(api, &ada, job_input(&env, "noted")).await;
    let id = created["data"]["createJob"]["id"].clone();
    let token = Some(ada.access_token.as_str());
    const PAUSE: &str =
        "mutation($id: ID!, $note: String) { pauseJob(id: $id, note: $note) { status pauseNote } }";
    let paused = api
        .graphql(
            PAUSE,
            json!({"id": id, "note": "  target migrating until Friday "}),
            token,
        )
        .await;
    assert_eq!(
        paused["data"]["pauseJob"],
        json!({"status": "PAUSED", "pauseNote": "target migrating until Friday"})
    );
    // Pausing again replaces the note; a note too long is refused and changes nothing.
    let again = api
        .graphql(PAUSE, json!({"id": id, "note": "now until Monday"}), token)
        .await;
    assert_eq!(again["data"]["pauseJob"]["pauseNote"], "now until Monday");
    let long = api
        .graphql(PAUSE, json!({"id": id, "note": "x".repeat(501)}), token)
        .await;
    assert_eq!(error_code(&long), Some("BAD_USER_INPUT"), "{long}");
    assert_eq!(long["errors"][0]["extensions"]["field"], "note");
    let read = api
        .graphql(
            "query($id: ID!) { job(id: $id) { pauseNote } }",
            json!({"id": id}),
            token,
        )
        .await;
    assert_eq!(read["data"]["job"]["pauseNote"], "now until Monday");
    let resumed = api
        .graphql(
            "mutation($id: ID!) { resumeJob(id: $id) { status pauseNote } }",
            json!({"id": id}),
            token,
        )
        .await;
    assert_eq!(
        resumed["data"]["resumeJob"],
        json!({"status": "ACTIVE", "pauseNote": null})
    );
}
