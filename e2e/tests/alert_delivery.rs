//! Delivering notices end to end: the outbox surviving a scheduler killed before sending,
//! test notices in each channel's shape, the README's signature check, and policy input
//! errors.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::alert_api::{CREATE_CHANNEL, SECRET, answer, channels, job, notices, ok, run};
use testkit::{Cronops, TestEnv, job_api, poll_until};

#[tokio::test]
async fn a_notice_recorded_before_its_scheduler_died_is_sent_once() {
    let env = TestEnv::new().await;
    let api_server = env.start_api().await;
    let api = api_server.api();
    let dave = job_api::user(&env, api, "dave").await;
    let (webhook, _) = channels(&env, api, &dave, "/dave-alerts").await;
    answer(&env, "/gone", 503);
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
    assert_eq!(testkit::readme::node_verify(header, &raw, &secret), "true");
    let tampered = raw.replace("TEST", "FAILING");
    assert_eq!(
        testkit::readme::node_verify(header, &tampered, &secret),
        "false"
    );

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

#[tokio::test]
async fn a_notice_the_endpoint_refuses_is_tried_again_and_the_channel_shows_why() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let gus = job_api::user(&env, api, "gus").await;
    let (webhook, _) = channels(&env, api, &gus, "/flaky-hook").await;
    answer(&env, "/flaky-hook", 500);
    answer(&env, "/failing", 503);
    let id = job(
        &env,
        api,
        &gus,
        "/failing",
        json!({"channelIds": [webhook]}),
    )
    .await;
    run(&env, api, &gus, &id, 1).await;

    // The first attempt is refused: the notice waits for its retry, saying why.
    env.target
        .wait_for("/flaky-hook", 1, Duration::from_secs(30))
        .await;
    let waiting = poll_until(
        "the failed attempt recorded",
        Duration::from_secs(10),
        || async {
            let all = notices(api, &gus, Some(&id)).await;
            (all[0]["lastError"].is_string()).then_some(all)
        },
    )
    .await;
    assert_eq!(waiting[0]["status"], "PENDING");
    assert_eq!(waiting[0]["attempts"], 1);
    assert_eq!(waiting[0]["lastError"], "the endpoint answered HTTP 500");
    let channel = ok(&api
        .graphql(
            "{ notificationChannels { id lastError } }",
            json!({}),
            Some(&gus.access_token),
        )
        .await)["notificationChannels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == webhook.as_str())
        .unwrap()
        .clone();
    assert_eq!(channel["lastError"], "the endpoint answered HTTP 500");

    // The endpoint recovers: the retry (5 s later) delivers the same notice.
    answer(&env, "/flaky-hook", 200);
    let got = env
        .target
        .wait_for("/flaky-hook", 2, Duration::from_secs(30))
        .await;
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.headers["x-cronops-notification-id"].to_str().unwrap())
        .collect();
    assert_eq!(ids[0], ids[1], "the same notice, again");
    let sent = poll_until("the notice SENT", Duration::from_secs(10), || async {
        let all = notices(api, &gus, Some(&id)).await;
        (all[0]["status"] == "SENT").then_some(all)
    })
    .await;
    assert_eq!(sent[0]["attempts"], 2);
    assert_eq!(sent[0]["lastError"], Value::Null);
}
