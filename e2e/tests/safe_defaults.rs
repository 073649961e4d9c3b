//! A deployment is safe by default: what production refuses, hides or keeps to itself.

use e2e::{Cronops, TestEnv, free_port};

#[tokio::test]
async fn metrics_are_behind_a_token_or_on_their_own_port() {
    let env = TestEnv::new().await;

    // Production without METRICS_PORT or METRICS_TOKEN: not on the API port.
    let production = env.vars_with(&[("APP_ENV", "production")]);
    let server = Cronops::start_server("api", production, env.workdir.path()).await;
    let api = server.api();
    assert_eq!(api.get("/metrics", &[]).await.status(), 404);
    drop(server);

    // With a token: only with it.
    let with_token = env.vars_with(&[("APP_ENV", "production"), ("METRICS_TOKEN", "scrape-me-7")]);
    let server = Cronops::start_server("api", with_token, env.workdir.path()).await;
    let api = server.api();
    assert_eq!(api.get("/metrics", &[]).await.status(), 401);
    let wrong = api
        .get("/metrics", &[("authorization", "Bearer scrape-me-8")])
        .await;
    assert_eq!(wrong.status(), 401);
    let right = api
        .get("/metrics", &[("authorization", "Bearer scrape-me-7")])
        .await;
    assert_eq!(right.status(), 200);
    assert!(right.text().await.unwrap().contains("cronops_"));
    drop(server);

    // On its own port: there, and not on the API port.
    let port = free_port();
    let own_port = env.vars_with(&[("METRICS_PORT", &port.to_string())]);
    let server = Cronops::start_server("api", own_port, env.workdir.path()).await;
    let api = server.api();
    assert_eq!(api.get("/metrics", &[]).await.status(), 404);
    let scraped = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("cronops_"));
}
