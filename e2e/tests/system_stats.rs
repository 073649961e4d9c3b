//! `systemStats`: the admin's numbers pushed over WebSocket at an interval, refused to
//! anyone else and to an interval out of bounds.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::TestEnv;
use testkit::ws::{Incoming, Protocol, WsClient};

const STATS: &str = "subscription($every: Int) { systemStats(intervalSeconds: $every) { totalUsers queueDepth schedulerLagMs } }";
const WAIT: Duration = Duration::from_secs(10);

fn payload(message: Incoming) -> Value {
    match message {
        Incoming::Json(v) => v["payload"].clone(),
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The errors of a message: an `error` message's payload, or a `next` one's `errors`.
fn errors(message: &Value) -> Value {
    if message["type"] == "error" {
        message["payload"].clone()
    } else {
        message["payload"]["errors"].clone()
    }
}

#[tokio::test]
async fn an_admin_gets_the_numbers_at_once_then_every_interval_and_nobody_else_does() {
    let env = TestEnv::development().await;
    env.seed().await;
    let server = env.start_api().await;
    let api = server.api();
    let admin = api.login_ok("admin@cronops.dev", "Admin123!").await;
    let user = api.login_ok("demo@cronops.dev", "Password123!").await;

    let mut socket =
        WsClient::authenticated(&api.base, Protocol::Modern, &admin.access_token).await;
    socket.subscribe("stats", STATS, json!({"every": 2})).await;
    let asked = Instant::now();
    let first = payload(socket.next(WAIT).await);
    assert_eq!(first["data"]["systemStats"]["totalUsers"], 2, "{first}");
    assert!(
        first["data"]["systemStats"]["queueDepth"].is_i64(),
        "{first}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "the first comes at once"
    );
    let second = payload(socket.next(WAIT).await);
    assert_eq!(second["data"]["systemStats"]["totalUsers"], 2, "{second}");
    assert!(
        asked.elapsed() >= Duration::from_millis(1900),
        "then one per interval"
    );

    // Not for a user, nor faster than every 2 s.
    let mut theirs = WsClient::authenticated(&api.base, Protocol::Modern, &user.access_token).await;
    theirs.subscribe("stats", STATS, json!({"every": 5})).await;
    let Incoming::Json(refused) = theirs.next(WAIT).await else {
        panic!("no answer")
    };
    assert_eq!(
        errors(&refused)[0]["extensions"]["code"],
        "FORBIDDEN",
        "{refused}"
    );
    socket.subscribe("fast", STATS, json!({"every": 1})).await;
    let too_fast = loop {
        match socket.next(WAIT).await {
            Incoming::Json(v) if v["id"] == "fast" => break errors(&v),
            _ => continue,
        }
    };
    assert_eq!(
        too_fast[0]["extensions"]["code"], "BAD_USER_INPUT",
        "{too_fast}"
    );
    assert_eq!(
        too_fast[0]["extensions"]["field"], "intervalSeconds",
        "{too_fast}"
    );
}
