//! A deployment is safe by default: what production refuses, hides or keeps to itself.

use testkit::{Cronops, TestEnv, free_port};

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

/// Runs `cronops api` with `vars` until it exits (it should refuse to start).
async fn refused(vars: Vec<(String, String)>, workdir: &std::path::Path) -> String {
    let (status, output) = Cronops::spawn(&["api"], &vars, workdir)
        .wait_output(std::time::Duration::from_secs(20))
        .await;
    assert!(!status.success(), "started:\n{output}");
    output
}

#[tokio::test]
async fn only_development_runs_on_the_development_secret_and_demo_accounts() {
    let env = TestEnv::development().await;
    let dir = env.workdir.path();
    for app_env in ["test", "production"] {
        let mut vars = env.vars_with(&[("APP_ENV", app_env)]);
        vars.retain(|(k, _)| k != "JWT_ACCESS_SECRET");
        let output = refused(vars, dir).await;
        assert!(
            output.contains("JWT_ACCESS_SECRET: must be set"),
            "{output}"
        );
        let public = env.vars_with(&[
            ("APP_ENV", app_env),
            (
                "JWT_REFRESH_SECRET",
                "cronops-development-refresh-secret-not-for-production",
            ),
        ]);
        let output = refused(public, dir).await;
        assert!(output.contains("public development secret"), "{output}");
    }

    // A database seeded in development keeps the demo accounts; outside development their
    // public passwords open nothing.
    env.seed().await;
    let production = env.vars_with(&[("APP_ENV", "production")]);
    let server = Cronops::start_server("api", production, dir).await;
    let demo = server.api().login("admin@cronops.dev", "Admin123!").await;
    assert_eq!(
        testkit::accounts::error_code(&demo),
        Some("FORBIDDEN"),
        "{demo}"
    );
    assert_eq!(demo["errors"][0]["extensions"]["reason"], "DEMO_ACCOUNT");
    drop(server);
    let development = env.start_api().await;
    development
        .api()
        .login_ok("admin@cronops.dev", "Admin123!")
        .await;

    // Seeding outside development creates no demo account.
    let (status, output) = Cronops::spawn(&["seed"], &env.vars_with(&[("APP_ENV", "test")]), dir)
        .wait_output(std::time::Duration::from_secs(20))
        .await;
    assert!(!status.success());
    assert!(
        output.contains("ADMIN_EMAIL and ADMIN_PASSWORD"),
        "{output}"
    );
}

#[tokio::test]
async fn production_hides_graphiql_and_introspection_unless_asked() {
    let env = TestEnv::new().await;
    let introspect = "{ __schema { queryType { name } } }";
    let page = [("accept", "text/html")];

    let production = env.vars_with(&[("APP_ENV", "production")]);
    let server = Cronops::start_server("api", production, env.workdir.path()).await;
    let api = server.api();
    assert_eq!(api.get("/graphql", &page).await.status(), 404);
    let answer = api.graphql(introspect, serde_json::json!({}), None).await;
    assert!(answer["data"]["__schema"].is_null(), "{answer}");
    drop(server);

    let opened = env.vars_with(&[
        ("APP_ENV", "production"),
        ("GRAPHQL_PLAYGROUND", "true"),
        ("GRAPHQL_INTROSPECTION", "true"),
    ]);
    let server = Cronops::start_server("api", opened, env.workdir.path()).await;
    let api = server.api();
    assert_eq!(api.get("/graphql", &page).await.status(), 200);
    let answer = api.graphql(introspect, serde_json::json!({}), None).await;
    assert_eq!(answer["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn compose_runs_production_and_keeps_the_mail_catcher_to_development() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docker/docker-compose.yml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut compose: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    compose.apply_merge().unwrap();
    compose.apply_merge().unwrap();
    let services = compose["services"].as_mapping().unwrap();
    let mailpit = &compose["services"]["mailpit"];
    assert_eq!(mailpit["profiles"], serde_yaml::to_value(["dev"]).unwrap());
    for port in mailpit["ports"].as_sequence().unwrap() {
        assert!(
            port.as_str().unwrap().starts_with("127.0.0.1:"),
            "the inbox is published beyond this host: {port:?}"
        );
    }
    for (name, service) in services {
        if service["image"].as_str() != Some("cronops:latest") {
            continue;
        }
        assert_eq!(
            service["environment"]["APP_ENV"].as_str(),
            Some("${APP_ENV:-production}"),
            "{name:?}"
        );
        assert!(
            service
                .get("depends_on")
                .and_then(|d| d.get("mailpit"))
                .is_none(),
            "{name:?} needs the development-only mail catcher"
        );
    }
}
