//! What one request may cost, tried as an attacker would: nested lists, aliases of an
//! expensive field, batches of password operations, schedules that never fire, and
//! documents that would grow the metrics without end.

use serde_json::json;
use testkit::accounts::error_code;
use testkit::{Api, TestEnv};

const PASSWORD: &str = "Correct-horse-1";

/// The value of one series in the API's `/metrics`, 0 when absent.
async fn metric(api: &Api, series: &str) -> f64 {
    let text = api.get("/metrics", &[]).await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn aliases(n: usize, field: &str) -> String {
    (0..n).map(|i| format!("a{i}: {field} ")).collect()
}

#[tokio::test]
async fn nested_lists_cost_their_page_sizes_and_are_refused_before_running() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let user = api
        .signup_verified(&env.mail, "cost@example.com", PASSWORD)
        .await;
    let token = Some(user.access_token.as_str());

    // Within the old per-field limits, this asks for 100 x 100 x 100 runs.
    let bomb = "{ jobs(first: 100) { edges { node { logs(first: 100) { edges { node {
        job { logs(first: 100) { edges { node { id responseBody } } } } } } } } } } }";
    let refused = api.graphql(bomb, json!({}), token).await;
    assert_eq!(error_code(&refused), Some("QUERY_TOO_COMPLEX"), "{refused}");
    let ext = &refused["errors"][0]["extensions"];
    assert_eq!(ext["limit"], 10_000);
    assert!(ext["cost"].as_u64().unwrap() > 1_000_000, "{ext}");
    assert!(refused["data"].is_null(), "nothing ran: {refused}");

    // Page sizes from variables count too.
    let by_variable = api
        .graphql(
            "query($n: Int) { jobs(first: $n) { edges { node { logs(first: $n) { edges { node { id } } } } } } }",
            json!({"n": 100}),
            token,
        )
        .await;
    assert_eq!(
        error_code(&by_variable),
        Some("QUERY_TOO_COMPLEX"),
        "{by_variable}"
    );

    // A dashboard's page is well inside the limit.
    let page = api
        .graphql(
            "{ jobs(first: 100) { totalCount edges { node { id name status nextRunAt lastStatus
                logs(first: 5) { edges { node { id status httpStatus durationMs } } } } } } }",
            json!({}),
            token,
        )
        .await;
    assert!(page["errors"].is_null(), "{page}");
    assert_eq!(page["data"]["jobs"]["totalCount"], 0);

    // Too deep is refused the same way, with its figures.
    let deep = format!(
        "{{ jobs {{ edges {{ node {{ owner {{ id }} {} }} }} }} }}",
        "logs(first: 1) { edges { node { job { ".repeat(4) + "id" + &" } } } }".repeat(4)
    );
    let refused = api.graphql(&deep, json!({}), token).await;
    assert_eq!(error_code(&refused), Some("QUERY_TOO_COMPLEX"), "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["maxDepth"], 16);
}

#[tokio::test]
async fn aliases_and_batches_of_account_operations_are_bounded() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();

    // One schedule that never fires answers at once, and empty.
    let never = api
        .graphql(
            r#"{ nextRuns(cronExpression: "0 0 30 2 *", after: "0001-01-01T00:00:00Z", count: 50) }"#,
            json!({}),
            None,
        )
        .await;
    assert_eq!(never["data"]["nextRuns"], json!([]), "{never}");

    let twenty = format!(
        "{{ {} }}",
        aliases(
            20,
            r#"nextRuns(cronExpression: "0 0 30 2 *", after: "0001-01-01T00:00:00Z", count: 50)"#
        )
    );
    let refused = api.graphql(&twenty, json!({}), None).await;
    assert_eq!(error_code(&refused), Some("QUERY_TOO_COMPLEX"), "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "nextRuns");
    assert_eq!(refused["errors"][0]["extensions"]["count"], 20);

    // Fifty password resets in one anonymous request: refused before any is tried.
    let hashes = r#"cronops_password_hashes_total{kind="hash"}"#;
    let before = metric(api, hashes).await;
    let batch = format!(
        "mutation {{ {} }}",
        aliases(50, r#"resetPassword(token: "x", newPassword: "Passw0rd1")"#)
    );
    let refused = api.graphql(&batch, json!({}), None).await;
    assert_eq!(error_code(&refused), Some("QUERY_TOO_COMPLEX"), "{refused}");
    let mixed = r#"mutation { resetPassword(token: "x", newPassword: "Passw0rd1")
        login(email: "a@example.com", password: "Passw0rd1") { accessToken } }"#;
    let refused = api.graphql(mixed, json!({}), None).await;
    assert_eq!(error_code(&refused), Some("QUERY_TOO_COMPLEX"), "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("one at a time"),
        "{refused}"
    );

    // One at a time, a guessed token costs a lookup, never a hash, and the guesses from
    // one address are limited.
    let reset = r#"mutation { resetPassword(token: "guess", newPassword: "Passw0rd1") }"#;
    let mut codes = Vec::new();
    for _ in 0..11 {
        let answer = api.graphql(reset, json!({}), None).await;
        codes.push(error_code(&answer).unwrap_or("none").to_owned());
    }
    assert_eq!(codes[..10], vec!["BAD_USER_INPUT"; 10]);
    assert_eq!(codes[10], "RATE_LIMITED");
    assert_eq!(metric(api, hashes).await, before, "no password was hashed");
}

#[tokio::test]
async fn invalid_documents_add_no_metrics_series() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();

    for field in ["zzunique123", "zzunique456"] {
        let answer = api
            .graphql(&format!("{{ {field} }}"), json!({}), None)
            .await;
        assert!(answer["errors"].is_array(), "{answer}");
    }
    let answer = api
        .graphql("{ plans { plan } health { status } }", json!({}), None)
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    let client = reqwest::Client::new();
    let odd = client
        .request(
            reqwest::Method::from_bytes(b"FROBNICATE").unwrap(),
            format!("{}/graphql", api.base),
        )
        .send()
        .await
        .unwrap();
    assert!(odd.status().is_client_error());

    let text = api.get("/metrics", &[]).await.text().await.unwrap();
    assert!(!text.contains("zzunique"), "{text}");
    assert!(!text.contains("FROBNICATE"), "{text}");
    let operations: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("cronops_graphql_requests_total{"))
        .collect();
    assert!(
        operations
            .iter()
            .any(|l| l.contains(r#"operation="invalid""#) && l.ends_with(" 2")),
        "{operations:?}"
    );
    assert!(
        operations
            .iter()
            .any(|l| l.contains(r#"operation="query:batch",outcome="OK""#)),
        "{operations:?}"
    );
}

#[tokio::test]
async fn expensive_fields_carry_their_weight_in_the_cost() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let user = api
        .signup_verified(&env.mail, "weights@example.com", PASSWORD)
        .await;
    let token = Some(user.access_token.as_str());
    // Over the limit by itself, so nothing runs and the answer gives the cost: each
    // field's weight is what it adds to it.
    let bomb = "jobs(first: 100) { edges { node { logs(first: 100) { edges { node { id } } } } } }";
    let cost = |extra: &'static str| {
        let api = api.clone();
        async move {
            let body = api
                .graphql(&format!("{{ {bomb} {extra} }}"), json!({}), token)
                .await;
            assert_eq!(error_code(&body), Some("QUERY_TOO_COMPLEX"), "{body}");
            body["errors"][0]["extensions"]["cost"].as_u64().unwrap()
        }
    };
    let alone = cost("").await;
    for (extra, weight) in [
        // A report: 200, plus its selection.
        ("stats { totalJobs }", 201),
        ("analytics { successRate }", 201),
        // A tenth of a report, plus one per time asked.
        (r#"nextRuns(cronExpression: "* * * * *", count: 50)"#, 70),
        ("health { status }", 21),
        // A page of one with its count (10).
        ("j: jobs(first: 1) { totalCount }", 11),
    ] {
        assert_eq!(cost(extra).await - alone, weight, "{extra}");
    }
}

#[tokio::test]
async fn wrong_current_passwords_are_limited_per_account() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let user = api
        .signup_verified(&env.mail, "guessed@example.com", PASSWORD)
        .await;
    let change = r#"mutation { changePassword(currentPassword: "Not-the-one-1", newPassword: "Passw0rd-new") }"#;
    let mut codes = Vec::new();
    for _ in 0..11 {
        let body = api
            .graphql(change, json!({}), Some(&user.access_token))
            .await;
        codes.push(error_code(&body).unwrap_or("none").to_owned());
    }
    assert_eq!(codes[..10], vec!["BAD_USER_INPUT"; 10]);
    assert_eq!(codes[10], "RATE_LIMITED");
}
