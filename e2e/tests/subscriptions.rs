//! `executionEvents` over WebSocket, as the `graphql-ws` client and legacy clients use it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::accounts::LoggedIn;
use testkit::ws::{Incoming, Protocol, WsClient};
use testkit::{Api, TestEnv};

const EVENTS: &str = "subscription($jobId: ID, $all: Boolean) { executionEvents(jobId: $jobId, allUsers: $all) { type log { id status trigger jobName job { id name } } } }";
const WAIT: Duration = Duration::from_secs(10);

async fn job(api: &Api, env: &TestEnv, who: &LoggedIn, path: &str) -> String {
    let created = api
        .graphql(
            "mutation($input: CreateJobInput!) { createJob(input: $input) { id } }",
            json!({"input": {"name": "watched", "cronExpression": "0 0 1 1 *", "targetUrl": env.target.url(path)}}),
            Some(&who.access_token),
        )
        .await;
    created["data"]["createJob"]["id"]
        .as_str()
        .expect("a job")
        .to_owned()
}

async fn run(api: &Api, who: &LoggedIn, id: &str) -> String {
    let run = api
        .graphql(
            "mutation($id: ID!) { runJob(id: $id) { id } }",
            json!({"id": id}),
            Some(&who.access_token),
        )
        .await;
    run["data"]["runJob"]["id"]
        .as_str()
        .expect("a run")
        .to_owned()
}

/// The `extensions.code` of an error message (`error`, or `next` carrying errors).
fn error_code_of(message: &Incoming) -> String {
    match message {
        Incoming::Json(v) => {
            let errors = if v["type"] == "error" {
                &v["payload"]
            } else {
                &v["payload"]["errors"]
            };
            assert!(
                v["payload"]["data"]["executionEvents"].is_null(),
                "no event data alongside: {v}"
            );
            errors[0]["extensions"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The payload of a data message in either protocol.
fn event_of(message: &Incoming) -> Value {
    match message {
        Incoming::Json(v) if matches!(v["type"].as_str(), Some("next" | "data")) => {
            v["payload"]["data"]["executionEvents"].clone()
        }
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn a_subscriber_sees_started_then_succeeded_within_a_second() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let ada = api
        .signup_verified(&env.mail, "live@example.com", "Password123!")
        .await;
    let id = job(api, &env, &ada, "/live").await;
    for protocol in [Protocol::Modern, Protocol::Legacy] {
        let mut socket = WsClient::authenticated(&api.base, protocol, &ada.access_token).await;
        socket.subscribe("1", EVENTS, json!({"jobId": id})).await;
        // Subscriptions are set up asynchronously: give the server a beat via a round trip.
        assert!(socket.quiet_for(Duration::from_millis(200)).await);
        let before = env.target.received_on("/live").len();
        let run_id = run(api, &ada, &id).await;

        let started = event_of(&socket.next(WAIT).await);
        assert_eq!(started["type"], "STARTED", "{protocol:?}");
        assert_eq!(started["log"]["id"], run_id);
        assert_eq!(started["log"]["status"], "RUNNING");
        assert_eq!(started["log"]["trigger"], "MANUAL");
        assert_eq!(started["log"]["job"]["name"], "watched");
        assert_eq!(started["log"]["jobName"], "watched");
        let done = event_of(&socket.next(WAIT).await);
        let received_at = Instant::now();
        assert_eq!(done["type"], "SUCCEEDED");
        assert_eq!(done["log"]["status"], "SUCCESS");
        let requests = env.target.wait_for("/live", before + 1, WAIT).await;
        let request_at = requests.last().unwrap().received_at;
        let delay = chrono::Utc::now()
            - request_at
            - chrono::Duration::from_std(received_at.elapsed()).unwrap();
        assert!(
            delay < chrono::Duration::seconds(1),
            "{protocol:?}: event {delay} after the request"
        );
    }
}

#[tokio::test]
async fn one_users_subscriber_never_sees_another_users_runs() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let a = api
        .signup_verified(&env.mail, "a@example.com", "Password123!")
        .await;
    let b = api
        .signup_verified(&env.mail, "b@example.com", "Password123!")
        .await;
    let a_job = job(api, &env, &a, "/a").await;
    let mut a_socket = WsClient::authenticated(&api.base, Protocol::Modern, &a.access_token).await;
    let mut b_socket = WsClient::authenticated(&api.base, Protocol::Modern, &b.access_token).await;
    a_socket.subscribe("a", EVENTS, json!({})).await;
    b_socket.subscribe("b", EVENTS, json!({})).await;
    assert!(b_socket.quiet_for(Duration::from_millis(200)).await);
    run(api, &a, &a_job).await;
    assert_eq!(event_of(&a_socket.next(WAIT).await)["type"], "STARTED");
    assert_eq!(event_of(&a_socket.next(WAIT).await)["type"], "SUCCEEDED");
    assert!(
        b_socket.quiet_for(Duration::from_secs(1)).await,
        "B saw A's events"
    );

    // B naming A's job gets an error, never A's events.
    b_socket
        .subscribe("b2", EVENTS, json!({"jobId": a_job}))
        .await;
    assert_eq!(error_code_of(&b_socket.next(WAIT).await), "NOT_FOUND");
    assert_eq!(
        b_socket.next(WAIT).await,
        Incoming::Json(json!({"type": "complete", "id": "b2"}))
    );
    // allUsers is for admins.
    b_socket.subscribe("b3", EVENTS, json!({"all": true})).await;
    assert_eq!(error_code_of(&b_socket.next(WAIT).await), "FORBIDDEN");
}

#[tokio::test]
async fn an_admin_with_all_users_sees_everyones_runs() {
    let env = TestEnv::development().await;
    env.seed().await;
    let server = env.start_all().await;
    let api = server.api();
    let admin = api.login_ok("admin@cronops.dev", "Admin123!").await;
    let user = api
        .signup_verified(&env.mail, "watched@example.com", "Password123!")
        .await;
    let id = job(api, &env, &user, "/watched").await;
    let mut socket =
        WsClient::authenticated(&api.base, Protocol::Modern, &admin.access_token).await;
    socket.subscribe("all", EVENTS, json!({"all": true})).await;
    // The seeded demo jobs run too (one every minute), and this subscription sees their
    // runs as well: the window is only to let the subscription start, and only the user's
    // run counts.
    let _ = socket.quiet_for(Duration::from_millis(200)).await;
    let run_id = run(api, &user, &id).await;
    let event = loop {
        let event = event_of(&socket.next(WAIT).await);
        if event["log"]["job"]["id"] == id.as_str() {
            break event;
        }
    };
    assert_eq!(event["log"]["id"], run_id);
}

#[tokio::test]
async fn bad_tokens_close_the_socket_with_4401() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    for protocol in [Protocol::Modern, Protocol::Legacy] {
        for payload in [
            json!({}),
            json!({"Authorization": "Bearer not-a-token"}),
            json!({"authToken": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}),
        ] {
            let (mut socket, reply) = WsClient::connect(&api.base, protocol, payload.clone()).await;
            let closed = match reply {
                Incoming::Closed { .. } => reply,
                // The legacy protocol says connection_error first, then closes.
                Incoming::Json(v) => {
                    assert_eq!(v["type"], "connection_error", "{protocol:?} {payload}: {v}");
                    socket.next(WAIT).await
                }
            };
            match closed {
                Incoming::Closed { code, reason } => {
                    assert_eq!(code, 4401, "{protocol:?} {payload}: {reason}");
                    assert!(!reason.is_empty());
                }
                other => panic!("{protocol:?} {payload}: expected a close, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_thousand_subscribers_all_receive_the_event() {
    let env = TestEnv::new().await;
    // One account holds every socket here: lift its cap.
    let vars = env.vars_with(&[("WS_MAX_SOCKETS_PER_USER", "1000")]);
    let server = testkit::Cronops::start_server("all", vars, env.workdir.path()).await;
    let api = server.api();
    let ada = api
        .signup_verified(&env.mail, "crowd@example.com", "Password123!")
        .await;
    let id = job(api, &env, &ada, "/crowd").await;
    let mut sockets = Vec::new();
    for chunk in 0..10 {
        let opened = futures_util::future::join_all((0..100).map(|i| {
            let base = api.base.clone();
            let token = ada.access_token.clone();
            let id = id.clone();
            async move {
                let mut socket = WsClient::authenticated(&base, Protocol::Modern, &token).await;
                socket
                    .subscribe(&format!("s{chunk}-{i}"), EVENTS, json!({"jobId": id}))
                    .await;
                socket
            }
        }))
        .await;
        sockets.extend(opened);
    }
    assert_eq!(sockets.len(), 1000);
    // Every subscription is registered once each socket has answered a ping round trip.
    for socket in &mut sockets {
        socket.send(json!({"type": "ping"})).await;
    }
    assert!(sockets[999].quiet_for(Duration::from_millis(300)).await);
    let run_id = run(api, &ada, &id).await;
    let received = futures_util::future::join_all(sockets.iter_mut().map(|socket| async move {
        let event = event_of(&socket.next(Duration::from_secs(30)).await);
        event["log"]["id"].as_str().unwrap().to_owned()
    }))
    .await;
    assert!(
        received.iter().all(|r| *r == run_id),
        "every subscriber got the run's STARTED event"
    );
}

#[tokio::test]
async fn a_burst_published_in_one_pipeline_reaches_the_subscriber_whole() {
    // The scheduler publishes a batch's events in one pipeline; none may be lost between
    // Redis and the subscription on the way.
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = api
        .signup_verified(&env.mail, "burst@example.com", "Password123!")
        .await;
    let user: uuid::Uuid = ada.user_id.parse().unwrap();
    let mut socket = WsClient::authenticated(&api.base, Protocol::Modern, &ada.access_token).await;
    socket.subscribe("burst", EVENTS_BY_ID, json!({})).await;
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let keys = scheduler::Keys::new(&env.key_prefix);
    // Registered once a first event comes through.
    testkit::poll_until("the subscription to be live", WAIT, || {
        let (redis, keys) = (redis.clone(), keys.clone());
        async move {
            scheduler::events::publish(&redis, &keys, &[started(user)])
                .await
                .unwrap();
            Some(())
        }
    })
    .await;
    let Incoming::Json(_) = socket.next(WAIT).await else {
        panic!("no first event")
    };
    while !socket.quiet_for(Duration::from_millis(200)).await {}

    let burst: Vec<_> = (0..2_000).map(|_| started(user)).collect();
    scheduler::events::publish(&redis, &keys, &burst)
        .await
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < burst.len() {
        match socket.next(WAIT).await {
            Incoming::Json(message) => {
                let id = message["payload"]["data"]["executionEvents"]["log"]["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("not an event: {message}"))
                    .to_owned();
                seen.insert(id);
            }
            Incoming::Closed { code, reason } => panic!(
                "closed ({code} {reason}) after {} of {} events",
                seen.len(),
                burst.len()
            ),
        }
    }
    let published: std::collections::HashSet<String> =
        burst.iter().map(|e| e.log.id.to_string()).collect();
    assert_eq!(seen, published);
}

const EVENTS_BY_ID: &str = "subscription { executionEvents { type log { id } } }";

fn started(user: uuid::Uuid) -> scheduler::events::ExecutionEvent {
    scheduler::events::ExecutionEvent::new(
        scheduler::events::EventKind::Started,
        db::test_db::running_log(user),
    )
}

#[tokio::test]
async fn events_leave_response_bodies_out_and_subscribers_still_get_them() {
    // A target answering 60 KiB would put 60 KiB on Redis pub/sub per run, and a busy
    // tenant could push the API's subscription past Redis's output limit, cutting every
    // tenant's live events. Events carry the run without its body; a subscriber that
    // selects `responseBody` gets it from the run's row.
    let env = TestEnv::new().await;
    let big = "x".repeat(60 * 1024);
    env.target.reply(
        "/big",
        testkit::target::Reply {
            body: big.clone(),
            ..Default::default()
        },
    );
    let server = env.start_all().await;
    let api = server.api();
    let ada = api
        .signup_verified(&env.mail, "bodies@example.com", "Password123!")
        .await;
    let id = job(api, &env, &ada, "/big").await;

    use fred::prelude::{Builder, ClientLike, Config, EventInterface, PubsubInterface};
    let raw = Builder::from_config(Config::from_url(&env.redis_url).unwrap())
        .build_subscriber_client()
        .unwrap();
    raw.init().await.unwrap();
    let mut published = raw.message_rx();
    raw.psubscribe(scheduler::Keys::new(&env.key_prefix).all_events_pattern())
        .await
        .unwrap();

    let mut socket = WsClient::authenticated(&api.base, Protocol::Modern, &ada.access_token).await;
    socket
        .subscribe(
            "1",
            "subscription($jobId: ID) { executionEvents(jobId: $jobId) { type log { id status responseBody } } }",
            json!({"jobId": id}),
        )
        .await;
    assert!(socket.quiet_for(Duration::from_millis(200)).await);
    run(api, &ada, &id).await;

    let started = event_of(&socket.next(WAIT).await);
    assert_eq!(started["type"], "STARTED", "{started}");
    let finished = event_of(&socket.next(WAIT).await);
    assert_eq!(finished["type"], "SUCCEEDED");
    assert_eq!(finished["log"]["responseBody"].as_str(), Some(big.as_str()));

    let mut sizes = Vec::new();
    while sizes.len() < 2 {
        let message = tokio::time::timeout(WAIT, published.recv())
            .await
            .expect("two events on Redis")
            .unwrap();
        sizes.push(message.value.as_str().map_or(0, |text| text.len()));
    }
    assert!(
        sizes.iter().all(|size| *size < 2_048),
        "event sizes on Redis: {sizes:?}"
    );
}
