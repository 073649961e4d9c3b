//! Sessions end to end: refresh-token rotation and theft detection, password reset and
//! change ending sessions, every kind of bad token, and the login and global rate limits.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::accounts::{ME, REFRESH, error_code};
use testkit::{Cronops, TestEnv};

const PASSWORD: &str = "Correct-horse-1";
const MAIL_WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_family() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let session = api
        .signup_verified(&env.mail, "reuse@example.com", PASSWORD)
        .await;
    let other = api.login_ok("reuse@example.com", PASSWORD).await;

    let rotated = api
        .graphql(REFRESH, json!({"t": session.refresh_token}), None)
        .await;
    let successor = rotated["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let replay = api
        .graphql(REFRESH, json!({"t": session.refresh_token}), None)
        .await;
    assert_eq!(error_code(&replay), Some("UNAUTHENTICATED"));
    assert!(
        replay["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    let successor_after = api.graphql(REFRESH, json!({"t": successor}), None).await;
    assert_eq!(
        error_code(&successor_after),
        Some("UNAUTHENTICATED"),
        "the family is revoked"
    );

    // Another login (another family) is untouched.
    let unrelated = api
        .graphql(REFRESH, json!({"t": other.refresh_token}), None)
        .await;
    assert!(unrelated["errors"].is_null(), "{unrelated}");
}

#[tokio::test]
async fn password_reset_link_is_single_use_and_ends_sessions() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let session = api
        .signup_verified(&env.mail, "reset@example.com", PASSWORD)
        .await;

    let forgot = "mutation($e: String!) { forgotPassword(email: $e) }";
    let response = api
        .graphql(forgot, json!({"e": "reset@example.com"}), None)
        .await;
    assert_eq!(response["data"]["forgotPassword"], true);
    let mail = env.mail.wait_for("reset@example.com", 2, MAIL_WAIT).await;
    let text = mail.text();
    // FRONTEND_URL is unset: links go to the dashboard this API serves.
    let port = api.base.rsplit(':').next().unwrap();
    let prefix = format!("http://localhost:{port}/reset-password?token=");
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with(&prefix))
        .expect("a reset link to the dashboard in the mail");
    let token = link.split("token=").nth(1).unwrap();

    let reset = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }";
    let weak = api
        .graphql(reset, json!({"t": token, "p": "weak"}), None)
        .await;
    assert_eq!(weak["errors"][0]["extensions"]["field"], "newPassword");
    let done = api
        .graphql(reset, json!({"t": token, "p": "New-password-2"}), None)
        .await;
    assert_eq!(done["data"]["resetPassword"], true, "{done}");
    let again = api
        .graphql(reset, json!({"t": token, "p": "Other-password-3"}), None)
        .await;
    assert_eq!(error_code(&again), Some("BAD_USER_INPUT"));
    assert_eq!(again["errors"][0]["extensions"]["field"], "token");

    let old_session = api
        .graphql(REFRESH, json!({"t": session.refresh_token}), None)
        .await;
    assert_eq!(
        error_code(&old_session),
        Some("UNAUTHENTICATED"),
        "reset ends every session"
    );
    assert_eq!(
        error_code(&api.login("reset@example.com", PASSWORD).await),
        Some("UNAUTHENTICATED")
    );
    api.login_ok("reset@example.com", "New-password-2").await;
}

#[tokio::test]
async fn change_password_needs_the_current_one_and_ends_other_sessions() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let current = api
        .signup_verified(&env.mail, "change@example.com", PASSWORD)
        .await;
    let other = api.login_ok("change@example.com", PASSWORD).await;
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";

    let anonymous = api
        .graphql(change, json!({"c": PASSWORD, "n": "New-password-2"}), None)
        .await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));
    let wrong = api
        .graphql(
            change,
            json!({"c": "Not-it-1", "n": "New-password-2"}),
            Some(&current.access_token),
        )
        .await;
    assert_eq!(wrong["errors"][0]["extensions"]["field"], "currentPassword");
    let ok = api
        .graphql(
            change,
            json!({"c": PASSWORD, "n": "New-password-2"}),
            Some(&current.access_token),
        )
        .await;
    assert_eq!(ok["data"]["changePassword"], true, "{ok}");

    let mine = api
        .graphql(REFRESH, json!({"t": current.refresh_token}), None)
        .await;
    assert!(
        mine["errors"].is_null(),
        "the caller's own session survives: {mine}"
    );
    let theirs = api
        .graphql(REFRESH, json!({"t": other.refresh_token}), None)
        .await;
    assert_eq!(error_code(&theirs), Some("UNAUTHENTICATED"));
    api.login_ok("change@example.com", "New-password-2").await;

    let rename = "mutation($n: String) { updateProfile(input: {name: $n}) { name email } }";
    let renamed = api
        .graphql(
            rename,
            json!({"n": "  Grace "}),
            Some(&current.access_token),
        )
        .await;
    assert_eq!(renamed["data"]["updateProfile"]["name"], "Grace");
    let empty = api
        .graphql(rename, json!({"n": ""}), Some(&current.access_token))
        .await;
    assert_eq!(empty["errors"][0]["extensions"]["field"], "name");
}

/// Signs claims with `secret` the way the server does.
fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn every_bad_token_kind_is_unauthenticated() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let session = api
        .signup_verified(&env.mail, "tokens@example.com", PASSWORD)
        .await;
    let secret = env
        .vars()
        .into_iter()
        .find(|(k, _)| k == "JWT_ACCESS_SECRET")
        .unwrap()
        .1;
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64| {
        json!({"sub": session.user_id, "role": "USER", "iat": now - 1000, "exp": exp,
               "jti": uuid::Uuid::new_v4(), "sid": uuid::Uuid::new_v4(), "type": "access"})
    };
    // Sanity: a token signed the same way but valid is accepted, so the others fail for
    // the reason under test.
    let good = sign(&claims(now + 600), &secret);
    let me = api.graphql(ME, json!({}), Some(&good)).await;
    assert_eq!(me["data"]["me"]["email"], "tokens@example.com", "{me}");

    let payload = session.access_token.split('.').nth(1).unwrap().to_owned();
    let alg_none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );
    let mut tampered = session.access_token.clone();
    let flip = if tampered.ends_with('A') { "B" } else { "A" };
    tampered.replace_range(tampered.len() - 1.., flip);
    let mut refresh_typed = claims(now + 600);
    refresh_typed["type"] = json!("refresh");

    for (kind, token) in [
        ("expired", sign(&claims(now - 10), &secret)),
        ("tampered", tampered),
        (
            "wrong secret",
            sign(&claims(now + 600), "another-secret-0123456789abcdefghij"),
        ),
        ("alg none", alg_none),
        (
            "refresh token used as access",
            session.refresh_token.clone(),
        ),
        ("refresh-typed JWT", sign(&refresh_typed, &secret)),
        ("garbage", "not.a.token".to_owned()),
    ] {
        let response = api.graphql(ME, json!({}), Some(&token)).await;
        assert_eq!(
            error_code(&response),
            Some("UNAUTHENTICATED"),
            "{kind}: {response}"
        );
    }
    let expired = api
        .graphql(ME, json!({}), Some(&sign(&claims(now - 10), &secret)))
        .await;
    assert!(
        expired["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let anonymous = api.graphql(ME, json!({}), None).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn login_limits_trip_with_retry_after() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    api.signup_verified(&env.mail, "limited@example.com", PASSWORD)
        .await;
    for _ in 0..10 {
        let response = api.login("limited@example.com", "Wrong-password-1").await;
        assert_eq!(error_code(&response), Some("UNAUTHENTICATED"));
    }
    // Over the limit, even the right password does no work and is refused.
    let limited = api.login("limited@example.com", PASSWORD).await;
    assert_eq!(error_code(&limited), Some("RATE_LIMITED"), "{limited}");
    let retry_after = limited["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn global_limit_answers_429_with_retry_after() {
    let env = TestEnv::new().await;
    let mut vars = env.vars();
    vars.retain(|(k, _)| k != "RATE_LIMIT_MAX_REQUESTS");
    vars.push(("RATE_LIMIT_MAX_REQUESTS".into(), "5".into()));
    vars.push(("RATE_LIMIT_WINDOW_MS".into(), "60000".into()));
    let server = Cronops::start_server("api", vars, env.workdir.path()).await;
    let http = reqwest::Client::new();
    let post = || {
        http.post(format!("{}/graphql", server.api().base))
            .json(&json!({"query": "{ plans { plan } }"}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(post().await.unwrap().status(), 200);
    }
    let limited = post().await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(error_code(&body), Some("RATE_LIMITED"));
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], retry_after);
    // Health stays outside the limit.
    assert_eq!(server.api().get("/health", &[]).await.status(), 200);
}
