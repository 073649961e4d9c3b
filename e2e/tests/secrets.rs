//! Secrets: written into a job's request at fire time, absent from every answer, event,
//! run record and log line; refused when unknown; kept across a change of SECRETS_KEY.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::target::Reply;
use testkit::ws::{Incoming, Protocol, WsClient};
use testkit::{Cronops, TestEnv, fixtures, job_api};

const SET: &str = "mutation($n: String!, $v: String!) { setSecret(name: $n, value: $v) { name createdAt updatedAt usedBy { id } } }";
const TOKEN: &str = "tok-s3cret-XYZ-987";
const QUERY_VALUE: &str = "qs-value-4242";

fn job_input(env: &TestEnv, path: &str) -> Value {
    json!({
        "name": "with secrets",
        "cronExpression": "* * * * * *",
        "targetUrl": format!("{}?k={{{{secrets.QS}}}}", env.target.url(path)),
        "httpMethod": "POST",
        "headers": {"Authorization": "Bearer {{secrets.TOKEN}}", "X-Plain": "visible"},
        "body": "{\"t\":\"{{secrets.TOKEN}}\"}",
    })
}

#[tokio::test]
async fn a_secret_reaches_the_target_and_nothing_else() {
    let env = TestEnv::development().await;
    env.seed().await;
    let server = env.start_all().await;
    let api = server.api();
    let ann = job_api::pro_user(&env, api, "ann").await;
    let token = Some(ann.access_token.as_str());
    // A target that echoes the value back.
    env.target.reply(
        "/sec",
        Reply {
            body: format!("you sent {TOKEN}"),
            ..Reply::default()
        },
    );

    // A job naming a secret that is not set is refused, with the field.
    let refused = job_api::create(api, &ann, job_input(&env, "/sec")).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["field"], "targetUrl",
        "{refused}"
    );
    for (name, value) in [("TOKEN", TOKEN), ("QS", QUERY_VALUE)] {
        let set = api
            .graphql(SET, json!({"n": name, "v": value}), token)
            .await;
        assert_eq!(set["data"]["setSecret"]["name"], name, "{set}");
    }
    let bad = api
        .graphql(SET, json!({"n": "no-dashes", "v": "x"}), token)
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "name", "{bad}");

    let mut socket = WsClient::authenticated(&api.base, Protocol::Modern, &ann.access_token).await;
    socket
        .subscribe(
            "1",
            "subscription { executionEvents { type log { error responseBody } } }",
            json!({}),
        )
        .await;
    let created = job_api::create(api, &ann, job_input(&env, "/sec")).await;
    assert!(created["errors"].is_null(), "{created}");
    let job = &created["data"]["createJob"];
    let job_id: uuid::Uuid = job["id"].as_str().unwrap().parse().unwrap();

    // The target gets the values.
    let hits = env
        .target
        .wait_for("/sec", 2, Duration::from_secs(30))
        .await;
    for hit in &hits {
        assert_eq!(
            hit.headers["authorization"].to_str().unwrap(),
            format!("Bearer {TOKEN}")
        );
        assert_eq!(
            hit.query.as_deref(),
            Some(format!("k={QUERY_VALUE}").as_str())
        );
        assert_eq!(hit.body, format!("{{\"t\":\"{TOKEN}\"}}").as_bytes());
    }
    let mut events = Vec::new();
    while events.len() < 4 {
        match socket.next(Duration::from_secs(10)).await {
            Incoming::Json(event) => events.push(event.to_string()),
            closed => panic!("{closed:?}"),
        }
    }

    // Nothing else holds them: answers, events, run records, logs.
    let runs = poll_runs(&env, job_id).await;
    let answers = [
        job.to_string(),
        api.graphql(
            "{ secrets { name createdAt updatedAt usedBy { id name } } }",
            json!({}),
            token,
        )
        .await
        .to_string(),
        api.graphql(
            "query($id: ID!) { job(id: $id) { headers targetUrl body logs { edges { node { responseBody error } } } } }",
            json!({"id": job["id"]}),
            token,
        )
        .await
        .to_string(),
    ];
    assert!(answers[1].contains("\"usedBy\":[{\"id\""), "{}", answers[1]);
    assert!(
        answers[2].contains("you sent [secret TOKEN]"),
        "{}",
        answers[2]
    );
    let admin = api.login_ok("admin@cronops.dev", "Admin123!").await;
    let seen_by_admin = api
        .graphql(
            "{ adminJobs(first: 50) { edges { node { name headers } } } }",
            json!({}),
            Some(&admin.access_token),
        )
        .await
        .to_string();
    assert!(
        seen_by_admin.contains("\"Authorization\":\"[masked]\""),
        "{seen_by_admin}"
    );
    assert!(
        seen_by_admin.contains("\"X-Plain\":\"visible\""),
        "{seen_by_admin}"
    );
    let runs_text = format!("{runs:?}");
    let logs = server.output();
    for (what, text) in answers
        .iter()
        .map(|a| ("an answer", a.as_str()))
        .chain(events.iter().map(|e| ("an event", e.as_str())))
        .chain([
            ("the run records", runs_text.as_str()),
            ("the logs", logs.as_str()),
            ("the admin's answer", seen_by_admin.as_str()),
        ])
    {
        for value in [TOKEN, QUERY_VALUE] {
            assert!(!text.contains(value), "{what} holds a secret value: {text}");
        }
    }

    // A secret in use cannot be deleted.
    let deleted = api
        .graphql(
            "mutation { deleteSecret(name: \"TOKEN\") }",
            json!({}),
            token,
        )
        .await;
    assert_eq!(
        deleted["errors"][0]["extensions"]["code"], "CONFLICT",
        "{deleted}"
    );
}

async fn poll_runs(env: &TestEnv, job_id: uuid::Uuid) -> Vec<db::models::ExecutionLog> {
    testkit::poll_until("two recorded runs", Duration::from_secs(30), || async {
        let runs = fixtures::runs(&env.database, job_id).await;
        (runs.iter().filter(|r| r.finished_at.is_some()).count() >= 2).then_some(runs)
    })
    .await
}

#[tokio::test]
async fn secrets_survive_a_change_of_key() {
    const OLD: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    let env = TestEnv::new().await;
    let with = |key: &str, previous: &str| {
        env.vars_with(&[("SECRETS_KEY", key), ("SECRETS_PREVIOUS_KEYS", previous)])
    };
    let api_server = Cronops::start_server("api", with(OLD, ""), env.workdir.path()).await;
    let api = api_server.api();
    let ann = job_api::pro_user(&env, api, "ann").await;
    let set = api
        .graphql(
            SET,
            json!({"n": "TOKEN", "v": TOKEN}),
            Some(&ann.access_token),
        )
        .await;
    assert!(set["errors"].is_null(), "{set}");
    let mut input = job_api::job_input(&env, "rotated");
    input["cronExpression"] = json!("* * * * * *");
    input["targetUrl"] = json!(env.target.url("/rotated"));
    input["headers"] = json!({"X-Token": "{{secrets.TOKEN}}"});
    let created = job_api::create(api, &ann, input).await;
    assert!(created["errors"].is_null(), "{created}");

    // The new key with the old one as previous: values sealed before still open.
    let mut scheduler = Cronops::spawn(&["scheduler"], &with(NEW, OLD), env.workdir.path());
    let hits = env
        .target
        .wait_for("/rotated", 1, Duration::from_secs(30))
        .await;
    assert_eq!(hits[0].headers["x-token"], TOKEN);
    scheduler.kill();

    // Sealed again under the new key, they open with it alone.
    let rotate = Cronops::spawn(&["rotate-secrets"], &with(NEW, OLD), env.workdir.path());
    let (status, output) = rotate.wait_output(Duration::from_secs(30)).await;
    assert!(status.success(), "{output}");
    assert!(
        output.contains("secrets sealed under SECRETS_KEY"),
        "{output}"
    );
    let seen = env.target.received_on("/rotated").len();
    let _scheduler = Cronops::spawn(&["scheduler"], &with(NEW, ""), env.workdir.path());
    let hits = env
        .target
        .wait_for("/rotated", seen + 1, Duration::from_secs(30))
        .await;
    assert_eq!(hits.last().unwrap().headers["x-token"], TOKEN);
}
