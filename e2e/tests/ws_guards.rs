//! The WebSocket is as guarded as HTTP: the same cost and rate limits per operation,
//! bounded messages, operations, sockets and handshakes, and sockets that close when
//! their token expires or their account or session changes, on every API process.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::fixtures::{self, access_token};
use testkit::ws::{Incoming, Protocol, WsClient};
use testkit::{Cronops, TestEnv};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);
const EVENTS: &str = "subscription { executionEvents { type } }";

/// The errors of the reply to operation `id` (a `next` with errors, or an `error`).
async fn errors_of(ws: &mut WsClient, id: &str) -> Value {
    loop {
        match ws.next(WAIT).await {
            Incoming::Json(message) if message["id"] == id => match message["type"].as_str() {
                Some("error") => return message["payload"].clone(),
                Some("next" | "data") => return message["payload"]["errors"].clone(),
                _ => continue,
            },
            Incoming::Json(_) => continue,
            closed => panic!("closed while waiting for {id}: {closed:?}"),
        }
    }
}

fn code(errors: &Value) -> Option<&str> {
    errors[0]["extensions"]["code"].as_str()
}

/// Waits until the process hears account changes from Redis.
async fn listening(api: &testkit::Api) {
    testkit::poll_until("the API to listen to Redis", WAIT, || async {
        let text = api.get("/metrics", &[]).await.text().await.ok()?;
        text.contains("cronops_event_hub_subscribed 1")
            .then_some(())
    })
    .await;
}

async fn close_code(ws: &mut WsClient) -> (u16, String) {
    loop {
        match ws.next(WAIT).await {
            Incoming::Closed { code, reason } => return (code, reason),
            Incoming::Json(_) => continue,
        }
    }
}

#[tokio::test]
async fn operations_pass_the_cost_and_rate_limits_of_http() {
    let env = TestEnv::new().await;
    // The upgrade is one request; each operation over the socket is one more.
    let vars = env.vars_with(&[("RATE_LIMIT_MAX_REQUESTS", "4")]);
    let server = Cronops::start_server("api", vars, env.workdir.path()).await;
    let user = fixtures::user(&env.database).await;
    let token = access_token(user, "USER", Uuid::new_v4(), 600);
    let mut ws = WsClient::authenticated(&server.api().base, Protocol::Modern, &token).await;

    let bomb =
        "{ jobs(first: 100) { edges { node { logs(first: 100) { edges { node { id } } } } } } }";
    ws.subscribe("bomb", bomb, json!({})).await;
    assert_eq!(
        code(&errors_of(&mut ws, "bomb").await),
        Some("QUERY_TOO_COMPLEX")
    );

    let mut codes = Vec::new();
    for i in 0..3 {
        let id = format!("me{i}");
        ws.subscribe(&id, "{ me { id } }", json!({})).await;
        codes.push(code(&errors_of(&mut ws, &id).await).map(str::to_owned));
    }
    assert_eq!(codes, [None, None, Some("RATE_LIMITED".to_owned())]);
}

#[tokio::test]
async fn messages_operations_sockets_and_handshakes_are_bounded() {
    let env = TestEnv::new().await;
    let vars = env.vars_with(&[
        ("WS_MAX_SUBSCRIPTIONS", "2"),
        ("WS_MAX_SOCKETS_PER_USER", "2"),
        ("WS_INIT_TIMEOUT", "1s"),
    ]);
    let server = Cronops::start_server("api", vars, env.workdir.path()).await;
    let base = server.api().base.clone();
    let user = fixtures::user(&env.database).await;
    let token = access_token(user, "USER", Uuid::new_v4(), 600);

    // Two operations at once per socket; a third waits for one to complete.
    let mut ws = WsClient::authenticated(&base, Protocol::Modern, &token).await;
    ws.subscribe("1", EVENTS, json!({})).await;
    ws.subscribe("2", EVENTS, json!({})).await;
    ws.subscribe("3", EVENTS, json!({})).await;
    let refused = errors_of(&mut ws, "3").await;
    assert_eq!(code(&refused), Some("RATE_LIMITED"), "{refused}");
    ws.send(json!({"id": "1", "type": "complete"})).await;
    ws.subscribe("4", "{ me { id } }", json!({})).await;
    let answer = loop {
        match ws.next(WAIT).await {
            Incoming::Json(m) if m["id"] == "4" => break m,
            Incoming::Json(_) => continue,
            closed => panic!("{closed:?}"),
        }
    };
    assert_eq!(
        answer["payload"]["data"]["me"]["id"],
        user.to_string(),
        "{answer}"
    );

    // The legacy protocol is bounded the same way.
    let mut legacy = WsClient::authenticated(&base, Protocol::Legacy, &token).await;
    legacy.subscribe("a", EVENTS, json!({})).await;
    legacy.subscribe("b", EVENTS, json!({})).await;
    legacy.subscribe("c", EVENTS, json!({})).await;
    let refused = loop {
        match legacy.next(WAIT).await {
            Incoming::Json(m) if m["id"] == "c" => break m,
            Incoming::Json(_) => continue,
            closed => panic!("{closed:?}"),
        }
    };
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"]["extensions"]["code"], "RATE_LIMITED");

    // Two sockets per account on this process: a third is refused.
    let (mut third, reply) = WsClient::connect(
        &base,
        Protocol::Modern,
        json!({"Authorization": format!("Bearer {token}")}),
    )
    .await;
    let closed = match reply {
        Incoming::Closed { code, reason } => (code, reason),
        Incoming::Json(_) => close_code(&mut third).await,
    };
    assert_eq!(closed.0, 4429, "{closed:?}");
    drop(legacy);

    // A message over 64 KiB closes the socket (1009, or the connection drops).
    let huge = "x".repeat(100 * 1024);
    ws.send(json!({"id": "5", "type": "subscribe", "payload": {"query": huge}}))
        .await;
    let (code_of_big, _) = close_code(&mut ws).await;
    assert!([1009, 1006].contains(&code_of_big), "{code_of_big}");

    // A socket that never sends connection_init is closed.
    let mut silent = WsClient::open(&base, Protocol::Modern).await;
    assert_eq!(close_code(&mut silent).await.0, 4408);
}

#[tokio::test]
async fn sockets_close_when_the_token_expires_or_the_session_changes() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let base = api.base.clone();
    listening(api).await;

    // A token that expires while its socket is open.
    let user = fixtures::user(&env.database).await;
    let short = access_token(user, "USER", Uuid::new_v4(), 2);
    let mut expiring = WsClient::authenticated(&base, Protocol::Modern, &short).await;
    expiring.subscribe("1", EVENTS, json!({})).await;
    let closed = close_code(&mut expiring).await;
    assert_eq!(closed, (4401, "the access token has expired".into()));

    // Two logins of one account; logging out of one closes only its sockets.
    let first = api
        .signup_verified(&env.mail, "ws@example.com", "Correct-horse-1")
        .await;
    let second = api.login_ok("ws@example.com", "Correct-horse-1").await;
    let third = api.login_ok("ws@example.com", "Correct-horse-1").await;
    let mut ws_first = WsClient::authenticated(&base, Protocol::Modern, &first.access_token).await;
    let mut ws_second =
        WsClient::authenticated(&base, Protocol::Modern, &second.access_token).await;
    let mut ws_third = WsClient::authenticated(&base, Protocol::Legacy, &third.access_token).await;
    let logout = api
        .graphql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({"t": first.refresh_token}),
            None,
        )
        .await;
    assert_eq!(logout["data"]["logout"], true, "{logout}");
    assert_eq!(close_code(&mut ws_first).await, (4401, "logged out".into()));

    // A password change closes the other sessions' sockets, not the caller's.
    let changed = api
        .graphql(
            r#"mutation { changePassword(currentPassword: "Correct-horse-1", newPassword: "Correct-horse-2") }"#,
            json!({}),
            Some(&second.access_token),
        )
        .await;
    assert_eq!(changed["data"]["changePassword"], true, "{changed}");
    assert_eq!(close_code(&mut ws_third).await.0, 4401);
    ws_second.subscribe("me", "{ me { id } }", json!({})).await;
    assert!(
        errors_of(&mut ws_second, "me").await.is_null(),
        "still open"
    );

    // A password reset closes every socket of the account, the caller's own too.
    let sent_before = env.mail.to("ws@example.com").len();
    api.graphql(
        "mutation { forgotPassword(email: \"ws@example.com\") }",
        json!({}),
        None,
    )
    .await;
    let mail = env
        .mail
        .wait_for("ws@example.com", sent_before + 1, WAIT)
        .await;
    let token = mail
        .text()
        .split_whitespace()
        .find_map(|w| w.split("reset-password?token=").nth(1).map(str::to_owned))
        .expect("a reset link in the mail");
    let reset = api
        .graphql(
            "mutation($t: String!) { resetPassword(token: $t, newPassword: \"Correct-horse-3\") }",
            json!({"t": token}),
            None,
        )
        .await;
    assert_eq!(reset["data"]["resetPassword"], true, "{reset}");
    assert_eq!(
        close_code(&mut ws_second).await,
        (4401, "the password was reset: log in again".into())
    );

    // A demoted admin's socket closes at once, and the new role holds on the next.
    let admin = fixtures::admin(&env.database).await;
    let demoted = fixtures::admin(&env.database).await;
    let demoted_token = access_token(demoted, "ADMIN", Uuid::new_v4(), 600);
    let mut watching = WsClient::authenticated(&base, Protocol::Modern, &demoted_token).await;
    watching
        .subscribe(
            "all",
            "subscription { executionEvents(allUsers: true) { type } }",
            json!({}),
        )
        .await;
    let admin_token = access_token(admin, "ADMIN", Uuid::new_v4(), 600);
    let demote = api
        .graphql(
            "mutation($id: ID!) { updateUserRole(id: $id, role: USER) { role } }",
            json!({"id": demoted}),
            Some(&admin_token),
        )
        .await;
    assert_eq!(demote["data"]["updateUserRole"]["role"], "USER", "{demote}");
    assert_eq!(close_code(&mut watching).await.0, 4401);
    let mut again = WsClient::authenticated(&base, Protocol::Modern, &demoted_token).await;
    again
        .subscribe(
            "all",
            "subscription { executionEvents(allUsers: true) { type } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&errors_of(&mut again, "all").await), Some("FORBIDDEN"));
}

#[tokio::test]
async fn a_logout_on_one_api_process_closes_sockets_on_another() {
    let env = TestEnv::new().await;
    let one = env.start_api().await;
    let two = env.start_api().await;
    let session = one
        .api()
        .signup_verified(&env.mail, "two@example.com", "Correct-horse-1")
        .await;
    let mut ws =
        WsClient::authenticated(&two.api().base, Protocol::Modern, &session.access_token).await;
    listening(two.api()).await;
    one.api()
        .graphql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({"t": session.refresh_token}),
            None,
        )
        .await;
    assert_eq!(close_code(&mut ws).await, (4401, "logged out".into()));
}
