//! Addresses, proxies and lockouts: who a client is behind a proxy, where job requests
//! may go, and what an attacker learns or breaks by trying other people's accounts.

use std::time::Duration;

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use testkit::accounts::{REFRESH, VERIFY, error_code};
use testkit::fixtures;
use testkit::{Cronops, HttpTarget, TestEnv};

const PASSWORD: &str = "Correct-horse-1";

/// `POST /graphql` as a client behind a proxy that wrote `forwarded`.
async fn post_via(base: &str, forwarded: &str, query: &str, variables: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_client_cannot_choose_its_address_behind_a_proxy() {
    let env = TestEnv::new().await;
    let vars = env.vars_with(&[("TRUST_PROXY", "true"), ("RATE_LIMIT_MAX_REQUESTS", "3")]);
    let server = Cronops::start_server("api", vars, env.workdir.path()).await;
    let base = server.api().base.clone();
    let mut statuses = Vec::new();
    for i in 0..4 {
        // The client writes whatever it likes on the left; the proxy appends the real one.
        let forwarded = format!("10.9.8.{i}, 203.0.113.5");
        statuses.push(
            post_via(&base, &forwarded, "{ plans { plan } }", json!({}))
                .await
                .0,
        );
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let (other, _) = post_via(
        &base,
        "10.9.8.1, 203.0.113.6",
        "{ plans { plan } }",
        json!({}),
    )
    .await;
    assert_eq!(other, 200, "another client has its own count");
}

#[tokio::test]
async fn an_attacker_elsewhere_cannot_lock_the_owner_out() {
    let env = TestEnv::new().await;
    let vars = env.vars_with(&[("TRUST_PROXY", "true")]);
    let server = Cronops::start_server("api", vars, env.workdir.path()).await;
    let api = server.api();
    api.signup_verified(&env.mail, "owner@example.com", PASSWORD)
        .await;
    let login =
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }";
    let mut codes = Vec::new();
    for _ in 0..12 {
        let (_, body) = post_via(
            &api.base,
            "203.0.113.66",
            login,
            json!({"e": "owner@example.com", "p": "Wrong-guess-1"}),
        )
        .await;
        codes.push(error_code(&body).unwrap_or("none").to_owned());
    }
    assert_eq!(codes[..10], vec!["UNAUTHENTICATED"; 10]);
    assert_eq!(codes[10..], vec!["RATE_LIMITED"; 2]);

    // The owner, from their own address, still gets in (slowed, not refused).
    let (_, body) = post_via(
        &api.base,
        "198.51.100.7",
        login,
        json!({"e": "owner@example.com", "p": PASSWORD}),
    )
    .await;
    assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
}

#[tokio::test]
async fn sign_up_and_verification_do_not_tell_which_addresses_have_accounts() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    api.signup_verified(&env.mail, "taken@example.com", PASSWORD)
        .await;
    let pending = api.signup("pending@example.com", PASSWORD, "P").await;
    assert!(pending["errors"].is_null(), "{pending}");

    // Signing up again with a registered address answers like a new sign-up...
    let again = api
        .signup("Taken@example.com", "Other-pass-2", "Mallory")
        .await;
    assert!(again["errors"].is_null(), "{again}");
    let fresh = api.signup("fresh@example.com", PASSWORD, "F").await;
    let shape = |v: &Value| {
        let user = &v["data"]["signup"]["user"];
        (user["email"].is_string(), user["emailVerified"].clone())
    };
    assert_eq!(shape(&again), shape(&fresh));
    assert_eq!(
        again["data"]["signup"]["user"]["email"],
        "taken@example.com"
    );
    // ...and the owner is told, with no code.
    let notice = env
        .mail
        .wait_for("taken@example.com", 2, Duration::from_secs(10))
        .await;
    assert!(
        notice.text().contains("already have an account"),
        "{}",
        notice.text()
    );
    assert!(testkit::accounts::find_code(&notice.text()).is_none());
    // The account is unchanged: the old password still works.
    api.login_ok("taken@example.com", PASSWORD).await;

    // A wrong code reads the same for a waiting account, a verified one and none at all.
    let verify = |email: &'static str| {
        let api = api.clone();
        async move {
            let body = api
                .graphql(VERIFY, json!({"email": email, "otp": "000001"}), None)
                .await;
            (
                error_code(&body).map(str::to_owned),
                body["errors"][0]["message"].clone(),
            )
        }
    };
    let waiting = verify("pending@example.com").await;
    assert_eq!(waiting.0.as_deref(), Some("BAD_USER_INPUT"));
    assert_eq!(verify("taken@example.com").await, waiting);
    assert_eq!(verify("nobody@example.com").await, waiting);
}

#[tokio::test]
async fn a_login_ends_at_its_absolute_lifetime_however_often_refreshed() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let session = api
        .signup_verified(&env.mail, "long@example.com", PASSWORD)
        .await;
    let refreshed = api
        .graphql(REFRESH, json!({"t": session.refresh_token}), None)
        .await;
    let token = refreshed["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .expect("a refreshed token")
        .to_owned();

    // Thirty-one days pass (moved in the database rather than waited for).
    let mut conn = env.database.connect().await;
    diesel::sql_query("UPDATE refresh_sessions SET created_at = created_at - interval '31 days'")
        .execute(&mut conn)
        .await
        .unwrap();
    let late = api.graphql(REFRESH, json!({"t": token}), None).await;
    assert_eq!(error_code(&late), Some("UNAUTHENTICATED"), "{late}");
}

#[tokio::test]
async fn targets_on_refused_ports_are_refused_when_saved() {
    let env = TestEnv::new().await;
    let vars = env.vars_with(&[("ALLOW_PRIVATE_TARGETS", "false")]);
    let server = Cronops::start_server("api", vars, env.workdir.path()).await;
    let api = server.api();
    let user = api
        .signup_verified(&env.mail, "ports@example.com", PASSWORD)
        .await;
    let create = "mutation($url: String!) { createJob(input: {name: \"p\", cronExpression: \"* * * * *\", targetUrl: $url}) { id } }";
    for (url, allowed) in [
        ("http://example.com:6379/", false),
        ("http://example.com:5432/", false),
        ("http://example.com:22/", false),
        ("https://example.com/", true),
        ("http://example.com:8080/hook", true),
    ] {
        let body = api
            .graphql(create, json!({"url": url}), Some(&user.access_token))
            .await;
        if allowed {
            assert!(body["errors"].is_null(), "{url}: {body}");
        } else {
            assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{url}: {body}");
            assert_eq!(body["errors"][0]["extensions"]["field"], "targetUrl");
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert!(message.contains("ALLOWED_TARGET_PORTS"), "{message}");
        }
    }
}

#[tokio::test]
async fn job_requests_never_go_through_a_proxy_from_the_environment() {
    let env = TestEnv::new().await;
    let proxy = HttpTarget::start().await;
    let user = fixtures::user(&env.database).await;
    env.every_second_job(user, "/direct").await;
    let proxy_url = proxy.url("");
    let vars = env.vars_with(&[
        ("HTTP_PROXY", &proxy_url),
        ("http_proxy", &proxy_url),
        ("ALL_PROXY", &proxy_url),
    ]);
    let _server = Cronops::start_server("all", vars, env.workdir.path()).await;
    env.target
        .wait_for("/direct", 1, Duration::from_secs(15))
        .await;
    assert!(
        proxy.received().is_empty(),
        "the proxy saw {:?}",
        proxy.received()
    );
}
