//! Accounts and authentication end to end: real SMTP, real PostgreSQL and Redis, the real
//! binary. Codes and links are read from the mail the server actually sent.

use std::time::Duration;

use diesel_async::RunQueryDsl;
use e2e::accounts::{ME, REFRESH, VERIFY, error_code, find_code};
use e2e::{Cronops, TestEnv};
use serde_json::{Value, json};

const PASSWORD: &str = "Correct-horse-1";
const MAIL_WAIT: Duration = Duration::from_secs(10);

async fn code_from_mail(env: &TestEnv, email: &str, nth: usize) -> String {
    let mail = env.mail.wait_for(email, nth, MAIL_WAIT).await;
    find_code(&mail.text()).expect("a 6-digit code in the mail")
}

#[tokio::test]
async fn full_flow_signup_verify_login_me_refresh_logout() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();

    let signup = api.signup(" Ada@Example.com ", PASSWORD, "Ada").await;
    assert_eq!(signup["data"]["signup"]["user"]["email"], "ada@example.com");
    assert_eq!(signup["data"]["signup"]["user"]["emailVerified"], false);
    assert!(
        signup["data"]["signup"]["message"]
            .as_str()
            .unwrap()
            .contains("ada@example.com")
    );

    let mail = env.mail.wait_for("ada@example.com", 1, MAIL_WAIT).await;
    assert_eq!(mail.from, "noreply@cronops.test");
    let code = find_code(&mail.text()).unwrap();
    assert!(mail.subject().contains(&code));
    assert!(
        mail.html().contains(&code),
        "the HTML part carries the code too"
    );

    // Not verified yet: login says so, with the reason.
    let early = api.login("ada@example.com", PASSWORD).await;
    assert_eq!(error_code(&early), Some("FORBIDDEN"));
    assert_eq!(
        early["errors"][0]["extensions"]["reason"],
        "EMAIL_NOT_VERIFIED"
    );

    let verified = api
        .graphql(
            VERIFY,
            json!({"email": "ADA@example.com", "otp": code}),
            None,
        )
        .await;
    let payload = &verified["data"]["verifyEmail"];
    assert_eq!(payload["user"]["emailVerified"], true, "{verified}");
    assert_eq!(payload["expiresIn"], 900);

    let session = api.login_ok("ada@example.com", PASSWORD).await;
    let me = api
        .graphql(ME, json!({}), Some(&session.access_token))
        .await;
    assert_eq!(me["data"]["me"]["email"], "ada@example.com");
    assert_eq!(me["data"]["me"]["name"], "Ada");
    assert_eq!(me["data"]["me"]["role"], "USER");
    assert_eq!(me["data"]["me"]["plan"], "FREE");
    assert_eq!(me["data"]["me"]["jobCount"], 0);

    let refreshed = api
        .graphql(REFRESH, json!({"t": session.refresh_token}), None)
        .await;
    let pair = &refreshed["data"]["refreshToken"];
    let new_refresh = pair["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, session.refresh_token);
    let me = api
        .graphql(ME, json!({}), Some(pair["accessToken"].as_str().unwrap()))
        .await;
    assert_eq!(me["data"]["me"]["email"], "ada@example.com");

    let logout = api
        .graphql(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({"t": new_refresh}),
            None,
        )
        .await;
    assert_eq!(logout["data"]["logout"], true);
    let after = api.graphql(REFRESH, json!({"t": new_refresh}), None).await;
    assert_eq!(error_code(&after), Some("UNAUTHENTICATED"));

    // Wrong password and unknown email read the same.
    let wrong = api.login("ada@example.com", "Wrong-password-1").await;
    let unknown = api.login("nobody@example.com", PASSWORD).await;
    assert_eq!(error_code(&wrong), Some("UNAUTHENTICATED"));
    assert_eq!(
        wrong["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );
}

#[tokio::test]
async fn signup_rules_and_duplicates() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    for (email, password, name, field) in [
        ("not-an-email", PASSWORD, "A", "email"),
        ("a@example.com", "short1", "A", "password"),
        ("a@example.com", "no-digits-here", "A", "password"),
        ("a@example.com", "1234567890", "A", "password"),
        ("a@example.com", PASSWORD, "   ", "name"),
    ] {
        let response = api.signup(email, password, name).await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{response}");
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{response}"
        );
    }
    assert!(env.mail.all().is_empty(), "refused sign-ups send nothing");

    let first = api.signup("dup@example.com", PASSWORD, "A").await;
    assert!(first["errors"].is_null(), "{first}");
    // A second sign-up answers as a first one would (see addresses.rs): no account
    // is made, and the owner is emailed instead.
    let again = api.signup("DUP@example.com", PASSWORD, "B").await;
    assert!(again["errors"].is_null(), "{again}");
    let mail = env.mail.wait_for("dup@example.com", 2, MAIL_WAIT).await;
    assert!(mail.text().contains("already have an account"));
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    api.signup("guess@example.com", PASSWORD, "G").await;
    let code = code_from_mail(&env, "guess@example.com", 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for remaining in (0..5).rev() {
        let response = api
            .graphql(
                VERIFY,
                json!({"email": "guess@example.com", "otp": wrong}),
                None,
            )
            .await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"));
        assert_eq!(response["errors"][0]["extensions"]["field"], "otp");
        let message = response["errors"][0]["message"].as_str().unwrap();
        if remaining > 0 {
            assert!(
                message.contains(&format!("{remaining} tries left")),
                "{message}"
            );
        } else {
            assert!(message.contains("new one"), "{message}");
        }
    }
    let right = api
        .graphql(
            VERIFY,
            json!({"email": "guess@example.com", "otp": code}),
            None,
        )
        .await;
    assert_eq!(
        error_code(&right),
        Some("BAD_USER_INPUT"),
        "a dead code stays dead: {right}"
    );
}

#[tokio::test]
async fn expired_codes_and_resend_replaces_the_code() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    api.signup("late@example.com", PASSWORD, "L").await;
    let first = code_from_mail(&env, "late@example.com", 1).await;

    // Ten minutes pass (moved in the database rather than waited for).
    let mut conn = env.database.connect().await;
    diesel::sql_query(
        "UPDATE email_verification_codes SET expires_at = now() - interval '1 second'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let expired = api
        .graphql(
            VERIFY,
            json!({"email": "late@example.com", "otp": first}),
            None,
        )
        .await;
    assert_eq!(error_code(&expired), Some("BAD_USER_INPUT"));
    assert!(
        expired["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    let resend = "mutation($e: String!) { resendVerification(email: $e) }";
    let response = api
        .graphql(resend, json!({"e": "late@example.com"}), None)
        .await;
    assert_eq!(response["data"]["resendVerification"], true);
    let second = code_from_mail(&env, "late@example.com", 2).await;

    // A second resend within the minute is throttled, with the wait in retryAfter.
    let throttled = api
        .graphql(resend, json!({"e": "late@example.com"}), None)
        .await;
    assert_eq!(error_code(&throttled), Some("RATE_LIMITED"), "{throttled}");
    let retry_after = throttled["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    if first != second {
        let old = api
            .graphql(
                VERIFY,
                json!({"email": "late@example.com", "otp": first}),
                None,
            )
            .await;
        assert_eq!(
            error_code(&old),
            Some("BAD_USER_INPUT"),
            "the old code is dead"
        );
    }
    let ok = api
        .graphql(
            VERIFY,
            json!({"email": "late@example.com", "otp": second}),
            None,
        )
        .await;
    assert_eq!(
        ok["data"]["verifyEmail"]["user"]["emailVerified"], true,
        "{ok}"
    );
}

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
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("http://localhost:3000/reset-password?token="))
        .expect("a reset link in the mail");
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
async fn forgot_and_resend_answer_the_same_for_unknown_emails() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    api.signup_verified(&env.mail, "known@example.com", PASSWORD)
        .await;
    for query in [
        "mutation($e: String!) { forgotPassword(email: $e) }",
        "mutation($e: String!) { resendVerification(email: $e) }",
    ] {
        let known = api
            .graphql(query, json!({"e": "known@example.com"}), None)
            .await;
        let unknown = api
            .graphql(query, json!({"e": "unknown@example.com"}), None)
            .await;
        assert_eq!(known, unknown, "{query}");
        assert!(known["errors"].is_null(), "{known}");
    }
    // The known account did get its reset mail; the unknown one got nothing.
    env.mail.wait_for("known@example.com", 2, MAIL_WAIT).await;
    assert!(env.mail.to("unknown@example.com").is_empty());
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

#[tokio::test]
async fn a_failed_email_is_a_clear_error() {
    let env = TestEnv::new().await;
    let mut vars = env.vars();
    vars.retain(|(k, _)| k != "EMAIL_PORT");
    vars.push(("EMAIL_PORT".into(), e2e::free_port().to_string()));
    let server = Cronops::start_server("api", vars, env.workdir.path()).await;
    let response = server
        .api()
        .signup("nomail@example.com", PASSWORD, "N")
        .await;
    assert_eq!(
        error_code(&response),
        Some("INTERNAL_SERVER_ERROR"),
        "{response}"
    );
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("resendVerification"), "{message}");
    assert!(server.output().contains("verification email not sent"));
}

#[tokio::test]
async fn without_email_host_mail_goes_to_the_mail_dir() {
    let env = TestEnv::new().await;
    let mut vars = env.vars();
    vars.retain(|(k, _)| k != "EMAIL_HOST");
    let server = Cronops::start_server("api", vars, env.workdir.path()).await;
    let response = server
        .api()
        .signup("offline@example.com", PASSWORD, "O")
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let files: Vec<_> = std::fs::read_dir(env.mail_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("offline@example.com"));
    let code = find_code(&raw).expect("a code in the kept message");
    // Outside development, codes and links never reach the log.
    assert!(server.output().contains("written to MAIL_DIR"));
    assert!(
        !server.output().contains(&code),
        "the code leaked to the log"
    );
    drop(server);

    // In development the message is in the log too, for `make dev` without a mail server.
    let mut vars = env.vars_with(&[("APP_ENV", "development")]);
    vars.retain(|(k, _)| k != "EMAIL_HOST");
    let server = Cronops::start_server("api", vars, env.workdir.path()).await;
    let response = server
        .api()
        .signup("offline2@example.com", PASSWORD, "O")
        .await;
    assert!(response["errors"].is_null(), "{response}");
    assert!(
        server.output().contains("verification code"),
        "the code is in the log in development"
    );
}
