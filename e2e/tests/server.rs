//! The server skeleton as a client meets it: health of both stores, the GraphQL
//! transport, metrics, security headers and graceful shutdown.

use std::time::Duration;

use serde_json::json;
use testkit::{RedisServer, TestEnv, poll_until};

#[tokio::test]
async fn health_reports_both_stores_and_turns_503_without_redis() {
    let mut redis = RedisServer::start();
    let env = TestEnv::with_redis(redis.url()).await;
    let server = env.start_api().await;
    let api = server.api();

    for path in ["/health", "/api/health"] {
        let response = api.get(path, &[]).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["database"], "up");
        assert_eq!(body["redis"], "up");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    }

    redis.stop();
    let down = poll_until(
        "health to report redis down",
        Duration::from_secs(15),
        || async {
            api.health_status()
                .await
                .filter(|(status, _)| *status == 503)
        },
    )
    .await;
    assert_eq!(down.1["redis"], "down");
    assert_eq!(down.1["database"], "up");
    assert_eq!(down.1["status"], "degraded");

    // The same answer through GraphQL, which keeps working without Redis.
    let body = api
        .graphql("{ health { status database redis } }", json!({}), None)
        .await;
    assert_eq!(
        body["data"]["health"],
        json!({"status": "degraded", "database": "up", "redis": "down"})
    );

    redis.restart();
    poll_until(
        "health to recover with redis",
        Duration::from_secs(15),
        || async {
            api.health_status()
                .await
                .filter(|(status, _)| *status == 200)
        },
    )
    .await;
}

#[tokio::test]
async fn health_turns_503_when_the_database_is_unreachable() {
    let env = TestEnv::new().await;
    let mut vars = env.vars();
    for (key, value) in &mut vars {
        if key == "DATABASE_URL" {
            // Nothing listens on port 1: the process starts and says the database is down.
            *value = "postgres://postgres@127.0.0.1:1/none".into();
        }
    }
    let server = testkit::Cronops::start_server("api", vars, env.workdir.path()).await;
    let (status, body) = server.api().health_status().await.unwrap();
    assert_eq!(status, 503);
    assert_eq!(body["database"], "down");
    assert_eq!(body["redis"], "up");
}

#[tokio::test]
async fn graphql_metrics_and_headers() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();

    let body = api
        .graphql("{ plans { plan maxJobs minIntervalSeconds maxTimeoutMs maxRetries logRetentionDays maxConcurrentRuns manualRunsPerMinute } }", json!({}), None)
        .await;
    assert_eq!(
        body["data"]["plans"],
        json!([
            {"plan": "FREE", "maxJobs": 5, "minIntervalSeconds": 60, "maxTimeoutMs": 30000, "maxRetries": 3, "logRetentionDays": 7, "maxConcurrentRuns": 10, "manualRunsPerMinute": 10},
            {"plan": "PREMIUM", "maxJobs": 50, "minIntervalSeconds": 10, "maxTimeoutMs": 60000, "maxRetries": 5, "logRetentionDays": 30, "maxConcurrentRuns": 100, "manualRunsPerMinute": 30},
            {"plan": "PRO", "maxJobs": 500, "minIntervalSeconds": 1, "maxTimeoutMs": 120000, "maxRetries": 10, "logRetentionDays": 90, "maxConcurrentRuns": 1000, "manualRunsPerMinute": 60},
        ])
    );

    // Queries over GET work; mutations over GET are refused.
    let get = api.get("/graphql?query=%7Bplans%7Bplan%7D%7D", &[]).await;
    assert_eq!(get.status(), 200);
    let get: serde_json::Value = get.json().await.unwrap();
    assert_eq!(get["data"]["plans"][0]["plan"], "FREE");
    let mutation = api
        .get(
            "/graphql?query=mutation%7Blogout(refreshToken%3A%22x%22)%7D",
            &[],
        )
        .await;
    assert_eq!(mutation.status(), 405);

    // Every response carries a request id and the security headers.
    let response = api.get("/health", &[]).await;
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(
        headers.get("strict-transport-security").is_none(),
        "HSTS is for production only"
    );
    assert_eq!(headers["x-request-id"].len(), 36);
    let echoed = api
        .get("/health", &[("x-request-id", "trace-me-123")])
        .await;
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-123");

    // Syntax errors are GraphQL errors, not crashes.
    let bad = api.graphql("{ plans { ", json!({}), None).await;
    assert!(bad["errors"][0]["message"].as_str().unwrap().len() > 5);

    let metrics = api.get("/metrics", &[]).await;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            "cronops_http_requests_total{method=\"POST\",route=\"/graphql\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("cronops_http_request_duration_seconds_bucket"),
        "{text}"
    );
    // GraphQL requests by operation (type and root fields), over POST and GET alike, and
    // by outcome.
    assert!(
        text.contains("cronops_graphql_requests_total{operation=\"query:plans\",outcome=\"OK\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("cronops_graphql_requests_total{operation=\"invalid\",outcome="),
        "{text}"
    );
    assert!(
        text.contains("cronops_graphql_request_duration_seconds_bucket{operation=\"query:plans\""),
        "{text}"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let huge = "x".repeat(2 << 20);
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", server.api().base))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"query\":\"{{ plans {{ plan }} }}\",\"variables\":{{\"pad\":\"{huge}\"}}}}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let env = TestEnv::new().await;
    let mut server = env.start_all().await;
    let status = server.terminate(Duration::from_secs(20)).await;
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        server.output()
    );
    let output = server.output();
    assert!(output.contains("shutdown signal received"), "{output}");
    assert!(output.contains("scheduler stopped"), "{output}");
}

#[tokio::test]
async fn empty_variables_count_as_unset() {
    // As a copied .env or a compose file with `${VAR:-}` produces them.
    let redis = RedisServer::start();
    let env = TestEnv::new().await;
    let mut vars = env.vars();
    vars.retain(|(k, _)| k != "REDIS_URL" && k != "EMAIL_HOST");
    for (key, value) in [
        ("REDIS_URL", String::new()),
        ("REDIS_HOST", "127.0.0.1".to_owned()),
        ("REDIS_PORT", redis.port().to_string()),
        ("REDIS_PASSWORD", String::new()),
        ("EMAIL_HOST", String::new()),
    ] {
        vars.push((key.to_owned(), value));
    }
    let server = testkit::Cronops::start_server("api", vars, env.workdir.path()).await;
    let (status, body) = server.api().health_status().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["redis"], "up");
}

#[tokio::test]
async fn websocket_speaks_both_subscription_protocols() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let session = server
        .api()
        .signup_verified(&env.mail, "ws@example.com", "Password123!")
        .await;
    let url = server.api().base.replace("http://", "ws://") + "/graphql/ws";
    for (protocol, ack) in [
        ("graphql-transport-ws", "connection_ack"),
        ("graphql-ws", "connection_ack"),
    ] {
        let mut request = url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
        socket
            .send(Message::text(
                json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", session.access_token)}}).to_string(),
            ))
            .await
            .unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("an answer to connection_init")
            .unwrap()
            .unwrap();
        let reply: serde_json::Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
        assert_eq!(reply["type"], ack, "{protocol}");
    }
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let env = TestEnv::new().await;
    let mut vars = env.vars();
    vars.push((
        "CORS_ORIGIN".into(),
        "https://app.example.com, https://admin.example.com".into(),
    ));
    let server = testkit::Cronops::start_server("api", vars, env.workdir.path()).await;
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{}/graphql", server.api().base),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
    };
    let allowed = preflight("https://admin.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://admin.example.com"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn production_adds_hsts() {
    let env = TestEnv::new().await;
    let mut vars = env.vars();
    vars.retain(|(k, _)| k != "APP_ENV");
    vars.push(("APP_ENV".into(), "production".into()));
    let server = testkit::Cronops::start_server("api", vars, env.workdir.path()).await;
    let response = server.api().get("/health", &[]).await;
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=15552000; includeSubDomains"
    );
}
