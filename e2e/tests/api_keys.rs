//! API keys: each scope does what it may and is refused what it may not, over HTTP and
//! WebSocket; a key never changes the password, the plan or keys; revoking a key refuses
//! it on every API instance and closes its open socket.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::accounts::{LoggedIn, error_code};
use testkit::ws::{Incoming, Protocol, WsClient};
use testkit::{Api, TestEnv, job_api};

const CREATE_KEY: &str = "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key apiKey { id name prefix scopes createdAt lastUsedAt expiresAt } } }";
const REVOKE_KEY: &str = "mutation($id: ID!) { revokeApiKey(id: $id) }";
const LIST_KEYS: &str = "{ apiKeys { id name prefix scopes lastUsedAt } }";
const JOBS: &str = "{ jobs { totalCount } }";

/// Makes a key with `scopes` as `who`; returns (key, id).
async fn key(api: &Api, who: &LoggedIn, name: &str, scopes: &[&str]) -> (String, Value) {
    let made = api
        .graphql(
            CREATE_KEY,
            json!({"input": {"name": name, "scopes": scopes}}),
            Some(&who.access_token),
        )
        .await;
    assert!(made["errors"].is_null(), "{made}");
    let made = &made["data"]["createApiKey"];
    (
        made["key"].as_str().unwrap().to_owned(),
        made["apiKey"]["id"].clone(),
    )
}

fn reason(answer: &Value) -> Option<&str> {
    answer["errors"][0]["extensions"]["reason"].as_str()
}

#[tokio::test]
async fn each_scope_does_what_it_may_and_nothing_else() {
    let env = TestEnv::development().await;
    env.seed().await;
    let server = env.start_api().await;
    let api = server.api();
    let ann = job_api::user(&env, api, "ann").await;
    let (read, _) = key(api, &ann, "reader", &["READ"]).await;
    let (write, _) = key(api, &ann, "writer", &["WRITE"]).await;
    assert!(read.starts_with("cok_") && read.len() == 47, "{read}");

    // The list shows the prefix, never the key.
    let listed = api
        .graphql(LIST_KEYS, json!({}), Some(&ann.access_token))
        .await;
    let keys = listed["data"]["apiKeys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(!listed.to_string().contains(&read[8..]), "{listed}");
    assert_eq!(keys[1]["prefix"].as_str(), Some(&read[..12]));

    // READ: queries, not mutations.
    let jobs = api.graphql(JOBS, json!({}), Some(&read)).await;
    assert_eq!(jobs["data"]["jobs"]["totalCount"], 0, "{jobs}");
    let create = job_api::CREATE;
    let input = json!({"input": job_api::job_input(&env, "by key")});
    let refused = api.graphql(create, input.clone(), Some(&read)).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    assert_eq!(reason(&refused), Some("API_KEY_SCOPE"));
    // WRITE: mutations, not queries.
    let created = api
        .graphql(
            "mutation($input: CreateJobInput!) { createJob(input: $input) { id name } }",
            input,
            Some(&write),
        )
        .await;
    assert_eq!(created["data"]["createJob"]["name"], "by key", "{created}");
    let refused = api.graphql(JOBS, json!({}), Some(&write)).await;
    assert_eq!(reason(&refused), Some("API_KEY_SCOPE"), "{refused}");

    // Never the password, the plan, the signing secret or keys, whatever the scope.
    for (query, variables) in [
        (
            "mutation { changePassword(currentPassword: \"Password123!\", newPassword: \"Another123!\") }",
            json!({}),
        ),
        ("mutation { updatePlan(plan: PRO) { plan } }", json!({})),
        ("mutation { rotateSigningSecret { current } }", json!({})),
        (
            CREATE_KEY,
            json!({"input": {"name": "more", "scopes": ["READ"]}}),
        ),
    ] {
        let refused = api.graphql(query, variables, Some(&write)).await;
        assert_eq!(
            reason(&refused),
            Some("SESSION_REQUIRED"),
            "{query}: {refused}"
        );
    }
    let refused = api
        .graphql("{ signingSecret { current } }", json!({}), Some(&read))
        .await;
    assert_eq!(reason(&refused), Some("SESSION_REQUIRED"), "{refused}");

    // ADMIN: only an administrator's key may have it, and it is needed for admin work.
    let refused = api
        .graphql(
            CREATE_KEY,
            json!({"input": {"name": "admin", "scopes": ["ADMIN"]}}),
            Some(&ann.access_token),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["field"], "scopes",
        "{refused}"
    );
    let admin = api.login_ok("admin@cronops.dev", "Admin123!").await;
    let (admin_read, _) = key(api, &admin, "ops", &["READ"]).await;
    let (admin_key, _) = key(api, &admin, "ops admin", &["READ", "ADMIN"]).await;
    let stats = "{ adminStats { totalUsers } }";
    let refused = api.graphql(stats, json!({}), Some(&admin_read)).await;
    assert_eq!(reason(&refused), Some("API_KEY_SCOPE"), "{refused}");
    let allowed = api.graphql(stats, json!({}), Some(&admin_key)).await;
    assert!(
        allowed["data"]["adminStats"]["totalUsers"].as_i64() > Some(1),
        "{allowed}"
    );

    // Over WebSocket: READ subscribes; a key without READ cannot open a socket.
    let mut socket = WsClient::authenticated(&api.base, Protocol::Modern, &read).await;
    socket
        .subscribe("1", "subscription { executionEvents { type } }", json!({}))
        .await;
    if let Ok(message) = tokio::time::timeout(
        Duration::from_millis(300),
        socket.next(Duration::from_secs(1)),
    )
    .await
    {
        panic!("the subscription runs quietly: {message:?}");
    }
    // A mutation over the READ key's socket is refused like over HTTP.
    socket
        .subscribe(
            "2",
            "mutation { deleteJob(id: \"00000000-0000-0000-0000-000000000000\") }",
            json!({}),
        )
        .await;
    let refused = loop {
        match socket.next(Duration::from_secs(5)).await {
            Incoming::Json(m) if m["id"] == "2" => break m,
            other => assert!(matches!(other, Incoming::Json(_)), "{other:?}"),
        }
    };
    assert!(refused.to_string().contains("API_KEY_SCOPE"), "{refused}");
    let (_, reply) = WsClient::connect(
        &api.base,
        Protocol::Modern,
        json!({"Authorization": format!("Bearer {write}")}),
    )
    .await;
    assert!(
        matches!(&reply, Incoming::Closed { code: 4403, .. }),
        "{reply:?}"
    );

    // Used keys show when.
    let listed = api
        .graphql(LIST_KEYS, json!({}), Some(&ann.access_token))
        .await;
    assert!(
        listed["data"]["apiKeys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["lastUsedAt"].is_string()),
        "{listed}"
    );
    // An unknown key is refused as such.
    let unknown = api
        .graphql(JOBS, json!({}), Some(&format!("{}x", &read[..46])))
        .await;
    assert_eq!(error_code(&unknown), Some("UNAUTHENTICATED"), "{unknown}");
}

#[tokio::test]
async fn a_revoked_key_is_refused_everywhere_and_its_socket_closes() {
    let env = TestEnv::new().await;
    let one = env.start_api().await;
    let two = env.start_api().await;
    let ann = job_api::user(&env, one.api(), "ann").await;
    let (read, id) = key(one.api(), &ann, "reader", &["READ"]).await;
    // Works on both instances; a socket is open on the second.
    for server in [&one, &two] {
        let jobs = server.api().graphql(JOBS, json!({}), Some(&read)).await;
        assert!(jobs["errors"].is_null(), "{jobs}");
    }
    let mut socket = WsClient::authenticated(&two.api().base, Protocol::Modern, &read).await;
    socket
        .subscribe("1", "subscription { executionEvents { type } }", json!({}))
        .await;

    // Revoked on the first instance (with a session: a key cannot revoke keys).
    let refused = one
        .api()
        .graphql(REVOKE_KEY, json!({"id": id}), Some(&read))
        .await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    let revoked = one
        .api()
        .graphql(REVOKE_KEY, json!({"id": id}), Some(&ann.access_token))
        .await;
    assert_eq!(revoked["data"]["revokeApiKey"], true, "{revoked}");
    let closed = loop {
        match socket.next(Duration::from_secs(10)).await {
            Incoming::Closed { code, reason } => break (code, reason),
            Incoming::Json(_) => continue,
        }
    };
    assert_eq!(closed, (4401, "the API key was revoked".to_owned()));
    for server in [&one, &two] {
        let jobs = server.api().graphql(JOBS, json!({}), Some(&read)).await;
        assert_eq!(error_code(&jobs), Some("UNAUTHENTICATED"), "{jobs}");
        assert!(
            jobs["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("revoked"),
            "{jobs}"
        );
    }
    // An expired key is refused too.
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let made = one
        .api()
        .graphql(
            CREATE_KEY,
            json!({"input": {"name": "brief", "scopes": ["READ"], "expiresAt": soon}}),
            Some(&ann.access_token),
        )
        .await;
    let brief = made["data"]["createApiKey"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let fine = one.api().graphql(JOBS, json!({}), Some(&brief)).await;
    assert!(fine["errors"].is_null(), "{fine}");
    testkit::poll_until("the key to expire", Duration::from_secs(10), || async {
        let answer = one.api().graphql(JOBS, json!({}), Some(&brief)).await;
        (error_code(&answer) == Some("UNAUTHENTICATED")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_key_has_its_own_rate_limit() {
    let env = TestEnv::new().await;
    let vars = env.vars_with(&[("API_KEY_MAX_REQUESTS", "3")]);
    let server = testkit::Cronops::start_server("api", vars, env.workdir.path()).await;
    let api = server.api();
    let ann = job_api::user(&env, api, "ann").await;
    let (read, _) = key(api, &ann, "reader", &["READ"]).await;
    for _ in 0..3 {
        let fine = api.graphql(JOBS, json!({}), Some(&read)).await;
        assert!(fine["errors"].is_null(), "{fine}");
    }
    let limited = api.graphql(JOBS, json!({}), Some(&read)).await;
    assert_eq!(error_code(&limited), Some("RATE_LIMITED"), "{limited}");
    // The account's session is not held back by its key.
    let session = api.graphql(JOBS, json!({}), Some(&ann.access_token)).await;
    assert!(session["errors"].is_null(), "{session}");
}
