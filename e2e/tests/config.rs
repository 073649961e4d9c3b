//! A missing or malformed setting stops `cronops` with a message naming the variable.

use std::time::Duration;

use testkit::Cronops;

/// Runs `cronops api` with exactly `vars` and returns its exit code and output.
async fn run_api(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (status, output) = Cronops::spawn(&["api"], &vars, dir.path())
        .wait_output(Duration::from_secs(20))
        .await;
    (status.code(), output)
}

const DB: (&str, &str) = ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none");

#[tokio::test]
async fn missing_database_url_is_named() {
    let (code, output) = run_api(&[]).await;
    assert_ne!(code, Some(0));
    assert!(output.contains("DATABASE_URL"), "{output}");
}

#[tokio::test]
async fn malformed_values_are_named() {
    for (variable, value) in [
        ("PORT", "not-a-port"),
        ("APP_ENV", "staging"),
        ("JWT_ACCESS_EXPIRES_IN", "soon"),
        ("RATE_LIMIT_MAX_REQUESTS", "0"),
        ("ALLOW_PRIVATE_TARGETS", "maybe"),
        ("LOG_FORMAT", "xml"),
        ("EMAIL_PORT", "99999"),
    ] {
        let (code, output) = run_api(&[DB, (variable, value)]).await;
        assert_ne!(code, Some(0), "{variable}={value} was accepted");
        assert!(
            output.contains(variable),
            "{variable}={value}: the message does not name the variable:\n{output}"
        );
    }
}

#[tokio::test]
async fn production_refuses_missing_or_short_jwt_secrets() {
    let long = "x".repeat(32);
    for (vars, named) in [
        (vec![DB, ("APP_ENV", "production")], "JWT_ACCESS_SECRET"),
        (
            vec![
                DB,
                ("APP_ENV", "production"),
                ("JWT_ACCESS_SECRET", "too-short"),
                ("JWT_REFRESH_SECRET", long.as_str()),
            ],
            "JWT_ACCESS_SECRET",
        ),
        (
            vec![
                DB,
                ("APP_ENV", "production"),
                ("JWT_ACCESS_SECRET", long.as_str()),
            ],
            "JWT_REFRESH_SECRET",
        ),
    ] {
        let (code, output) = run_api(&vars).await;
        assert_eq!(code, Some(1), "{vars:?} started:\n{output}");
        assert!(
            output.contains(named),
            "{vars:?}: {named} not named:\n{output}"
        );
    }
}

#[tokio::test]
async fn a_lookahead_longer_than_a_third_of_the_lease_is_refused() {
    let (code, output) = run_api(&[
        DB,
        ("SCHEDULER_LEASE_MS", "15000"),
        ("SCHEDULER_LOOKAHEAD_MS", "6000"),
    ])
    .await;
    assert_eq!(code, Some(1), "started:\n{output}");
    assert!(
        output.contains("SCHEDULER_LOOKAHEAD_MS") && output.contains("15000"),
        "the message does not name the variable and the lease:\n{output}"
    );
}

#[tokio::test]
async fn help_lists_every_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (status, output) = Cronops::spawn(&["api", "--help"], &[], dir.path())
        .wait_output(Duration::from_secs(20))
        .await;
    assert!(status.success(), "{output}");
    for variable in [
        "APP_ENV",
        "PORT",
        "DATABASE_URL",
        "REDIS_URL",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_PASSWORD",
        "JWT_ACCESS_SECRET",
        "JWT_REFRESH_SECRET",
        "JWT_ACCESS_EXPIRES_IN",
        "JWT_REFRESH_EXPIRES_IN",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_USER",
        "EMAIL_PASS",
        "EMAIL_FROM",
        "FRONTEND_URL",
        "RATE_LIMIT_WINDOW_MS",
        "RATE_LIMIT_MAX_REQUESTS",
        "CORS_ORIGIN",
        "ALLOW_PRIVATE_TARGETS",
        "LOG_FORMAT",
    ] {
        assert!(
            output.contains(&format!("[env: {variable}")),
            "{variable} missing from --help"
        );
    }
}
