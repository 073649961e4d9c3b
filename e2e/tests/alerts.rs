//! Alerts end to end: a job's failures told once per state change through real channels
//! (the test SMTP receiver, a webhook on the test HTTP target), signed; auto-pause; the
//! hourly cap and its digest.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use testkit::alert_api::{SECRET, answer, bodies, channels, job, job_state, notices, ok, run};
use testkit::target::{ReceivedRequest, Reply};
use testkit::{Cronops, TestEnv, job_api, poll_until};

/// The webhook's body, once its `X-CronOps-Signature` is checked against `secret`
/// (`t=<unix>,v1=<hex>,v1=<hex>`: HMAC-SHA256 of `<t>.<body>` under the current secret,
/// then the next one, as the README tells receivers).
fn verified_body(request: &ReceivedRequest, secret: &str) -> Value {
    let header = request.headers["x-cronops-signature"].to_str().unwrap();
    let parts: Vec<&str> = header.split(',').collect();
    let t = parts[0].strip_prefix("t=").expect("t=<unix> first");
    let v1 = parts[1]
        .strip_prefix("v1=")
        .expect("v1=<hex> under the current secret");
    assert!(
        parts[2].starts_with("v1="),
        "and one under the next: {header}"
    );
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((0..300).contains(&age), "signed {age} s ago");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&request.body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("the signature matches the user's signing secret");
    serde_json::from_slice(&request.body).unwrap()
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
    answer(&env, "/flaky", 503);
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
    answer(&env, "/down", 500);
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
    let bodies = bodies(&got);
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
    answer(&env, "/broken", 502);
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
    let bodies = bodies(&got);
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
