//! Alerts end to end: a job's failures told once per state change through real channels
//! (the test SMTP receiver, a webhook on the test HTTP target), signed; auto-pause; the
//! hourly cap and its digest; and the outbox surviving a scheduler killed before sending.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use testkit::accounts::LoggedIn;
use testkit::target::{ReceivedRequest, Reply};
use testkit::{Api, Cronops, TestEnv, fixtures, job_api, poll_until};

const RUN: &str = "mutation($id: ID!) { runJob(id: $id) { id } }";
const CHANNELS: &str = "{ notificationChannels { id accountEmail } }";
const CREATE_CHANNEL: &str = "mutation($input: CreateNotificationChannelInput!) { createNotificationChannel(input: $input) { id verified } }";
const JOB: &str = "query($id: ID!) { job(id: $id) { status consecutiveFailures health pausedReason alertPolicy { channelIds failureThreshold notifyOnRecovery autoPauseAfter } } }";
const NOTICES: &str = "query($jobId: ID) { notifications(first: 100, jobId: $jobId) { edges { node { id kind status attempts message consecutiveFailures runId digestId lastError channel { id } job { id } } } } }";
const SECRET: &str = "{ signingSecret { current next } }";

fn ok(response: &Value) -> &Value {
    assert!(response["errors"].is_null(), "{response}");
    &response["data"]
}

/// A user's webhook channel on `path` of the target, and the id of the account email.
async fn channels(env: &TestEnv, api: &Api, who: &LoggedIn, path: &str) -> (String, String) {
    let token = Some(who.access_token.as_str());
    let created = api
        .graphql(
            CREATE_CHANNEL,
            json!({"input": {"type": "WEBHOOK", "name": "hook", "target": env.target.url(path)}}),
            token,
        )
        .await;
    let webhook = ok(&created)["createNotificationChannel"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = api.graphql(CHANNELS, json!({}), token).await;
    let email = ok(&listed)["notificationChannels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["accountEmail"] == true)
        .expect("the account email is a channel")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (webhook, email)
}

/// A job on `path` that runs only when asked, with no retries and `policy`.
async fn job(env: &TestEnv, api: &Api, who: &LoggedIn, path: &str, policy: Value) -> String {
    let mut input = job_api::job_input(env, path);
    input["targetUrl"] = json!(env.target.url(path));
    input["cronExpression"] = json!("0 0 1 1 *");
    input["alertPolicy"] = policy;
    let created = job_api::create(api, who, input).await;
    ok(&created)["createJob"]["id"].as_str().unwrap().to_owned()
}

/// Runs the job now and waits until it has `finished` finished runs.
async fn run(env: &TestEnv, api: &Api, who: &LoggedIn, id: &str, finished: usize) {
    let ran = api
        .graphql(RUN, json!({"id": id}), Some(&who.access_token))
        .await;
    ok(&ran);
    let job_id = id.parse().unwrap();
    poll_until(
        "the run to be recorded",
        Duration::from_secs(30),
        || async {
            let runs = fixtures::runs(&env.database, job_id).await;
            (runs.iter().filter(|r| r.finished_at.is_some()).count() >= finished).then_some(())
        },
    )
    .await;
}

async fn job_state(api: &Api, who: &LoggedIn, id: &str) -> Value {
    let answer = api
        .graphql(JOB, json!({"id": id}), Some(&who.access_token))
        .await;
    ok(&answer)["job"].clone()
}

async fn notices(api: &Api, who: &LoggedIn, job_id: Option<&str>) -> Vec<Value> {
    let answer = api
        .graphql(NOTICES, json!({"jobId": job_id}), Some(&who.access_token))
        .await;
    ok(&answer)["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// The webhook's body, once its `X-CronOps-Signature` is checked against `secret`
/// (HMAC-SHA256 of `<t>.<body>`, as the README tells receivers).
fn verified_body(request: &ReceivedRequest, secret: &str) -> Value {
    let header = request.headers["x-cronops-signature"].to_str().unwrap();
    let (t, v1) = header
        .split_once(',')
        .map(|(t, v)| {
            (
                t.strip_prefix("t=").unwrap(),
                v.strip_prefix("v1=").unwrap(),
            )
        })
        .expect("t=<unix>,v1=<hex>");
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((0..300).contains(&age), "signed {age} s ago");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&request.body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature matches the user's signing secret");
    serde_json::from_slice(&request.body).unwrap()
}

/// Runs the README's Node.js signature check on a body and header; prints its answer.
fn readme_node_check(raw_body: &str, header: &str, secret: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the README");
    let start = readme
        .find("```js\n// Node.js\n")
        .expect("the README's Node.js check");
    let snippet = &readme[start + "```js\n".len()..];
    let snippet = &snippet[..snippet.find("```").unwrap()];
    let script = format!(
        "{snippet}\nconst [body, header, secret] = process.argv.slice(1);\n\
         console.log(String(verify(body, header, secret)));"
    );
    let output = std::process::Command::new("node")
        .args(["-e", &script, raw_body, header, secret])
        .output()
        .expect("node runs (make test installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn kinds(bodies: &[Value]) -> Vec<&str> {
    bodies.iter().map(|b| b["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_failing_job_is_told_once_then_its_recovery_once_per_channel() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let alice = job_api::user(&env, api, "alice").await;
    let (webhook, email) = channels(&env, api, &alice, "/alerts").await;
    env.target.reply(
        "/flaky",
        Reply {
            status: 503,
            ..Reply::default()
        },
    );
    let id = job(
        &env,
        api,
        &alice,
        "/flaky",
        json!({"channelIds": [webhook, email], "failureThreshold": 2}),
    )
    .await;

    run(&env, api, &alice, &id, 1).await;
    let one = job_state(api, &alice, &id).await;
    assert_eq!(
        (one["consecutiveFailures"].as_i64(), one["health"].as_str()),
        (Some(1), Some("HEALTHY"))
    );
    for finished in 2..=4 {
        run(&env, api, &alice, &id, finished).await;
    }
    let failing = job_state(api, &alice, &id).await;
    assert_eq!(failing["consecutiveFailures"], 4);
    assert_eq!(failing["health"], "FAILING");

    env.target.reply("/flaky", Reply::default());
    run(&env, api, &alice, &id, 5).await;
    run(&env, api, &alice, &id, 6).await;
    let healthy = job_state(api, &alice, &id).await;
    assert_eq!(
        (
            healthy["consecutiveFailures"].as_i64(),
            healthy["health"].as_str()
        ),
        (Some(0), Some("HEALTHY"))
    );

    // Both channels: exactly one FAILING and one RECOVERED each, in that order.
    let secret = ok(&api
        .graphql(SECRET, json!({}), Some(&alice.access_token))
        .await)["signingSecret"]["current"]
        .as_str()
        .unwrap()
        .to_owned();
    env.target
        .wait_for("/alerts", 2, Duration::from_secs(30))
        .await;
    env.mail
        .wait_for(&alice.email, 3, Duration::from_secs(30))
        .await;
    poll_until("every notice sent", Duration::from_secs(30), || async {
        let all = notices(api, &alice, Some(&id)).await;
        (all.len() == 4 && all.iter().all(|n| n["status"] == "SENT")).then_some(())
    })
    .await;
    let bodies: Vec<Value> = env
        .target
        .received_on("/alerts")
        .iter()
        .map(|r| verified_body(r, &secret))
        .collect();
    assert_eq!(kinds(&bodies), ["FAILING", "RECOVERED"]);
    assert_eq!(bodies[0]["job"]["id"], id.as_str());
    assert_eq!(bodies[0]["run"]["httpStatus"], 503);
    assert_eq!(bodies[0]["run"]["error"], "HTTP 503 Service Unavailable");
    assert_eq!(bodies[0]["consecutiveFailures"], 2);
    assert_eq!(bodies[1]["consecutiveFailures"], 4);
    assert!(
        bodies[0]["link"].as_str().unwrap().ends_with(&format!(
            "/jobs/{id}?run={}",
            bodies[0]["run"]["id"].as_str().unwrap()
        )),
        "{}",
        bodies[0]
    );
    // The sign-up code was the first mail; then one per notice.
    let alerts: Vec<String> = env
        .mail
        .to(&alice.email)
        .iter()
        .skip(1)
        .map(|m| m.subject())
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(
        alerts[0].contains("is failing: 2 consecutive failed runs"),
        "{alerts:?}"
    );
    assert!(
        alerts[1].contains("recovered after 4 consecutive failed runs"),
        "{alerts:?}"
    );
    let text = env.mail.to(&alice.email)[1].text();
    assert!(
        text.contains("Last run: FAILED, HTTP 503, error: HTTP 503 Service Unavailable"),
        "{text}"
    );
    // The list says the same.
    let listed = notices(api, &alice, Some(&id)).await;
    let mut listed_kinds: Vec<&str> = listed.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    listed_kinds.sort();
    assert_eq!(
        listed_kinds,
        ["FAILING", "FAILING", "RECOVERED", "RECOVERED"]
    );
    assert!(
        listed
            .iter()
            .all(|n| n["attempts"] == 1 && n["job"]["id"] == id.as_str())
    );
}

#[tokio::test]
async fn a_job_is_paused_after_its_limit_of_failures_and_resuming_clears_it() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let bob = job_api::user(&env, api, "bob").await;
    let (webhook, _) = channels(&env, api, &bob, "/bob-alerts").await;
    env.target.reply(
        "/down",
        Reply {
            status: 500,
            ..Reply::default()
        },
    );
    let id = job(
        &env,
        api,
        &bob,
        "/down",
        json!({"channelIds": [webhook], "autoPauseAfter": 2}),
    )
    .await;
    run(&env, api, &bob, &id, 1).await;
    run(&env, api, &bob, &id, 2).await;
    let paused = job_state(api, &bob, &id).await;
    assert_eq!(paused["status"], "PAUSED");
    assert_eq!(paused["health"], "AUTO_PAUSED");
    assert_eq!(
        paused["pausedReason"],
        "paused automatically after 2 consecutive failed runs"
    );
    let got = env
        .target
        .wait_for("/bob-alerts", 2, Duration::from_secs(30))
        .await;
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(kinds(&bodies), ["FAILING", "AUTO_PAUSED"]);

    let resumed = api
        .graphql(
            "mutation($id: ID!) { resumeJob(id: $id) { status pausedReason consecutiveFailures health } }",
            json!({"id": id}),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(
        ok(&resumed)["resumeJob"],
        json!({"status": "ACTIVE", "pausedReason": null, "consecutiveFailures": 0, "health": "HEALTHY"})
    );
}

#[tokio::test]
async fn alerts_over_the_hourly_cap_are_folded_into_one_digest() {
    let env = TestEnv::new().await;
    let vars = env.vars_with(&[
        ("NOTIFICATIONS_PER_HOUR", "2"),
        ("NOTIFICATIONS_WINDOW", "10s"),
    ]);
    let server = Cronops::start_server("all", vars, env.workdir.path()).await;
    let api = server.api();
    let carol = job_api::user(&env, api, "carol").await;
    let (webhook, _) = channels(&env, api, &carol, "/carol-alerts").await;
    env.target.reply(
        "/broken",
        Reply {
            status: 502,
            ..Reply::default()
        },
    );
    let mut jobs = Vec::new();
    for _ in 0..4 {
        jobs.push(
            job(
                &env,
                api,
                &carol,
                "/broken",
                json!({"channelIds": [webhook]}),
            )
            .await,
        );
    }
    for id in &jobs {
        run(&env, api, &carol, id, 1).await;
    }
    let got = env
        .target
        .wait_for("/carol-alerts", 3, Duration::from_secs(30))
        .await;
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(kinds(&bodies), ["FAILING", "FAILING", "DIGEST"]);
    assert_eq!(bodies[2]["notices"].as_array().unwrap().len(), 2);
    let all = notices(api, &carol, None).await;
    let digest = all.iter().find(|n| n["kind"] == "DIGEST").unwrap();
    let folded: Vec<&Value> = all.iter().filter(|n| n["status"] == "FOLDED").collect();
    assert_eq!(folded.len(), 2);
    assert!(folded.iter().all(|n| n["digestId"] == digest["id"]));
    assert!(
        digest["message"]
            .as_str()
            .unwrap()
            .starts_with("2 more alerts were held back")
    );
    // Nothing more arrives.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(env.target.received_on("/carol-alerts").len(), 3);
}

#[tokio::test]
async fn a_notice_recorded_before_its_scheduler_died_is_sent_once() {
    let env = TestEnv::new().await;
    let api_server = env.start_api().await;
    let api = api_server.api();
    let dave = job_api::user(&env, api, "dave").await;
    let (webhook, _) = channels(&env, api, &dave, "/dave-alerts").await;
    env.target.reply(
        "/gone",
        Reply {
            status: 503,
            ..Reply::default()
        },
    );
    let id = job(&env, api, &dave, "/gone", json!({"channelIds": [webhook]})).await;

    // This instance records runs and their notices, and delivers none: it dies after
    // recording.
    let mut recorder = Cronops::spawn(
        &["scheduler"],
        &env.vars_with(&[("NOTIFICATION_DELIVERY", "false")]),
        env.workdir.path(),
    );
    run(&env, api, &dave, &id, 1).await;
    let pending = notices(api, &dave, Some(&id)).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0]["kind"].as_str(), pending[0]["status"].as_str()),
        (Some("FAILING"), Some("PENDING"))
    );
    recorder.kill();
    assert!(env.target.received_on("/dave-alerts").is_empty());

    // Two instances that deliver: the notice goes out once.
    let mut deliverers = vec![env.start_scheduler(), env.start_scheduler()];
    env.target
        .wait_for("/dave-alerts", 1, Duration::from_secs(30))
        .await;
    poll_until("the notice to be SENT", Duration::from_secs(30), || async {
        let all = notices(api, &dave, Some(&id)).await;
        (all[0]["status"] == "SENT").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = env.target.received_on("/dave-alerts");
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].headers["x-cronops-notification-id"]
            .to_str()
            .unwrap(),
        pending[0]["id"].as_str().unwrap()
    );
    Cronops::stop_all(&mut deliverers).await;
}

#[tokio::test]
async fn a_test_notice_reaches_a_verified_channel_and_policies_are_checked() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let erin = job_api::user(&env, api, "erin").await;
    let token = Some(erin.access_token.as_str());
    let (webhook, _) = channels(&env, api, &erin, "/erin-alerts").await;
    let tested = api
        .graphql(
            "mutation($id: ID!) { testNotificationChannel(id: $id) { kind status channel { id } } }",
            json!({"id": webhook}),
            token,
        )
        .await;
    assert_eq!(
        ok(&tested)["testNotificationChannel"],
        json!({"kind": "TEST", "status": "PENDING", "channel": {"id": webhook}})
    );
    let got = env
        .target
        .wait_for("/erin-alerts", 1, Duration::from_secs(30))
        .await;
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "TEST");
    // The README's Node.js check accepts it, and refuses it tampered with.
    let secret = ok(&api.graphql(SECRET, json!({}), token).await)["signingSecret"]["current"]
        .as_str()
        .unwrap()
        .to_owned();
    let header = got[0].headers["x-cronops-signature"].to_str().unwrap();
    let raw = String::from_utf8(got[0].body.to_vec()).unwrap();
    assert_eq!(readme_node_check(&raw, header, &secret), "true");
    let tampered = raw.replace("TEST", "FAILING");
    assert_eq!(readme_node_check(&tampered, header, &secret), "false");

    // A Slack incoming webhook gets Slack's shape: the text it shows.
    let slack = api
        .graphql(
            CREATE_CHANNEL,
            json!({"input": {"type": "SLACK", "name": "ops", "target": env.target.url("/slack")}}),
            token,
        )
        .await;
    let slack = ok(&slack)["createNotificationChannel"]["id"].clone();
    let tested = api
        .graphql(
            "mutation($id: ID!) { testNotificationChannel(id: $id) { id } }",
            json!({"id": slack}),
            token,
        )
        .await;
    ok(&tested);
    let got = env
        .target
        .wait_for("/slack", 1, Duration::from_secs(30))
        .await;
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        body,
        json!({"text": "*This is a test notice from CronOps: this channel works.*"})
    );

    // Another user's channel, bad numbers: BAD_USER_INPUT with the field.
    let frank = job_api::user(&env, api, "frank").await;
    let (franks, _) = channels(&env, api, &frank, "/frank-alerts").await;
    for (policy, field) in [
        (json!({"channelIds": [franks]}), "alertPolicy.channelIds"),
        (
            json!({"failureThreshold": 0}),
            "alertPolicy.failureThreshold",
        ),
        (json!({"autoPauseAfter": -1}), "alertPolicy.autoPauseAfter"),
    ] {
        let mut input = job_api::job_input(&env, "/x");
        input["alertPolicy"] = policy;
        let refused = job_api::create(api, &erin, input).await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{refused}"
        );
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], field,
            "{refused}"
        );
    }
    let foreign = api
        .graphql(
            "mutation($id: ID!) { testNotificationChannel(id: $id) { id } }",
            json!({"id": franks}),
            token,
        )
        .await;
    assert_eq!(
        foreign["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{foreign}"
    );
}
