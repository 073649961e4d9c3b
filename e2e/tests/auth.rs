//! Accounts and authentication end to end: real SMTP, real PostgreSQL and Redis, the real
//! binary. Codes and links are read from the mail the server actually sent.

use std::time::Duration;

use diesel_async::RunQueryDsl;
use serde_json::json;
use testkit::accounts::{ME, REFRESH, VERIFY, error_code, find_code};
use testkit::{Cronops, TestEnv};

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
async fn a_failed_email_is_a_clear_error() {
    let env = TestEnv::new().await;
    let mut vars = env.vars();
    vars.retain(|(k, _)| k != "EMAIL_PORT");
    vars.push(("EMAIL_PORT".into(), testkit::free_port().to_string()));
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
