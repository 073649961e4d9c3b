//! Deployment files checked as far as this machine allows (no container engine here): the
//! compose file parses and names only what exists, the image builds with the Makefile's
//! command, the binary starts with just the compose environment, and several API and
//! scheduler processes work as one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use serde_yaml::Value;
use testkit::ws::{Incoming, Protocol, WsClient};
use testkit::{Cronops, TestEnv};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn compose() -> Value {
    let text = std::fs::read_to_string(repo().join("docker/docker-compose.yml")).unwrap();
    let mut value: Value = serde_yaml::from_str(&text).expect("docker-compose.yml parses");
    value.apply_merge().expect("merge keys resolve");
    // Nested merges (environment: <<: *cronops-env) need a second pass.
    value.apply_merge().unwrap();
    value
}

/// The services that run the cronops image, with their command and environment.
fn cronops_services() -> BTreeMap<String, (String, BTreeMap<String, String>)> {
    let compose = compose();
    let mut out = BTreeMap::new();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        if service["image"].as_str() != Some("cronops:latest") {
            continue;
        }
        let command = service["command"][0].as_str().unwrap().to_owned();
        let mut env = BTreeMap::new();
        for (k, v) in service["environment"].as_mapping().unwrap() {
            if k.as_str() == Some("<<") {
                continue;
            }
            env.insert(
                k.as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            );
        }
        out.insert(name.as_str().unwrap().to_owned(), (command, env));
    }
    out
}

/// `${NAME:-default}` as compose resolves it with NAME unset.
fn resolve(value: &str) -> String {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(inner) => inner
            .split_once(":-")
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default(),
        None => value.to_owned(),
    }
}

async fn help(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (status, output) = Cronops::spawn(args, &[], dir.path())
        .wait_output(Duration::from_secs(20))
        .await;
    assert!(status.success(), "cronops {args:?} failed:\n{output}");
    output
}

#[tokio::test]
async fn compose_names_only_files_that_exist_and_settings_cronops_knows() {
    let compose = compose();
    let services: BTreeSet<_> = compose["services"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    for wanted in [
        "postgres",
        "redis",
        "mailpit",
        "migrate",
        "api",
        "scheduler",
    ] {
        assert!(services.contains(wanted), "{wanted} missing");
    }
    assert_eq!(
        compose["services"]["scheduler"]["deploy"]["replicas"].as_i64(),
        Some(2)
    );
    let docker = repo().join("docker");
    for (name, service) in compose["services"].as_mapping().unwrap() {
        if let Some(build) = service.get("build") {
            let context = docker.join(build["context"].as_str().unwrap());
            assert!(context.is_dir(), "{name:?}: build context {context:?}");
            assert!(
                context
                    .join(build["dockerfile"].as_str().unwrap())
                    .is_file(),
                "{name:?}: dockerfile"
            );
        }
        for dependency in service
            .get("depends_on")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(|m| m.keys())
        {
            assert!(
                services.contains(dependency.as_str().unwrap()),
                "{name:?} depends on {dependency:?}"
            );
        }
        assert!(
            service.get("healthcheck").is_some()
                || ["migrate", "mailpit", "api"].contains(&name.as_str().unwrap()),
            "{name:?} has no health check"
        );
    }
    let known: String = [
        help(&["api", "--help"]).await,
        help(&["scheduler", "--help"]).await,
        help(&["migrate", "--help"]).await,
    ]
    .concat();
    for (name, (command, env)) in cronops_services() {
        help(&[&command, "--help"]).await;
        for key in env.keys() {
            assert!(
                known.contains(&format!("[env: {key}")),
                "{name}: {key} is not a cronops setting"
            );
        }
    }
    let example = std::fs::read_to_string(repo().join(".env.example")).unwrap();
    for variable in [
        "DATABASE_URL",
        "REDIS_URL",
        "JWT_ACCESS_SECRET",
        "SECRETS_KEY",
        "EMAIL_HOST",
        "PORT",
        "SCHEDULER_METRICS_PORT",
    ] {
        assert!(
            example.contains(&format!("{variable}=")),
            ".env.example lacks {variable}"
        );
    }
}

#[tokio::test]
async fn the_dockerfile_builds_with_the_makefiles_release_command() {
    let dockerfile = std::fs::read_to_string(repo().join("docker/Dockerfile")).unwrap();
    let makefile = std::fs::read_to_string(repo().join("Makefile")).unwrap();
    let release = makefile
        .split("\nrelease:")
        .nth(1)
        .and_then(|rest| rest.lines().nth(1))
        .map(str::trim)
        .expect("a release target");
    assert_eq!(release, "cargo build --release --bin cronops");
    assert!(
        dockerfile.contains(&format!("RUN {release}")),
        "the image builds differently from `make release`"
    );
    assert!(
        dockerfile
            .lines()
            .any(|l| l.starts_with("USER ") && !l.contains("root")),
        "runs as non-root"
    );
    assert!(dockerfile.contains("HEALTHCHECK"));
    assert!(dockerfile.contains("ENTRYPOINT [\"cronops\"]"));
    // The dashboard is built from its lockfile, as `make web` builds it, and is in place
    // before the binary that embeds it.
    let web = makefile
        .split("\nweb:")
        .nth(1)
        .and_then(|rest| rest.lines().nth(1))
        .map(str::trim)
        .expect("a web target");
    assert_eq!(web, "npm run --prefix web --silent build");
    let order = [
        "RUN npm ci",
        "RUN npm run build",
        "COPY --from=web /web/dist web/dist",
        &format!("RUN {release}"),
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|step| {
            dockerfile
                .find(step)
                .unwrap_or_else(|| panic!("no `{step}` in the Dockerfile"))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "the dashboard is built before the binary: {order:?}"
    );
}

#[tokio::test]
async fn the_binary_starts_from_a_clean_folder_with_only_the_compose_environment() {
    let env = TestEnv::new().await;
    let (command, compose_env) = cronops_services().remove("api").unwrap();
    // Only the addresses change: the test's stores stand in for the compose services.
    let mut vars: Vec<(String, String)> = compose_env
        .into_iter()
        .map(|(k, v)| {
            let v = match k.as_str() {
                "DATABASE_URL" => env.database.url().to_owned(),
                "REDIS_URL" => env.redis_url.clone(),
                _ => resolve(&v),
            };
            (k, v)
        })
        .collect();
    vars.push(("REDIS_KEY_PREFIX".into(), env.key_prefix.clone()));
    assert!(
        vars.contains(&("APP_ENV".into(), "production".into())),
        "compose runs production by default: {vars:?}"
    );
    let clean = tempfile::tempdir().unwrap();
    // Production without the secrets .env must provide refuses to start, and says why.
    let (status, output) = Cronops::spawn(&[&command], &vars, clean.path())
        .wait_output(Duration::from_secs(20))
        .await;
    assert!(!status.success());
    assert!(output.contains("JWT_ACCESS_SECRET"), "{output}");
    // What .env adds in production: secrets and a mail server.
    for (key, value) in [
        (
            "JWT_ACCESS_SECRET",
            "a-real-access-secret-of-32-bytes-or-more",
        ),
        (
            "JWT_REFRESH_SECRET",
            "a-real-refresh-secret-of-32-bytes-or-more",
        ),
        (
            "SECRETS_KEY",
            "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2",
        ),
        ("EMAIL_HOST", "127.0.0.1"),
    ] {
        vars.push((key.into(), value.into()));
    }
    vars.push(("EMAIL_PORT".into(), env.mail.port().to_string()));
    let server = Cronops::start_server(&command, vars, clean.path()).await;
    let (status, body) = server.api().health_status().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        server.output().contains("\"level\":\"INFO\""),
        "LOG_FORMAT=json from compose is honoured"
    );
}

#[tokio::test]
async fn two_apis_and_three_schedulers_work_as_one() {
    let env = TestEnv::new().await;
    let first = env.start_api().await;
    let second = env.start_api().await;
    let _schedulers: Vec<Cronops> = (0..3).map(|_| env.start_scheduler()).collect();
    let user = first
        .api()
        .signup_verified(&env.mail, "fleet@example.com", "Password123!")
        .await;
    let created = first
        .api()
        .graphql(
            "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }",
            json!({"i": {"name": "fleet", "cronExpression": "*/2 * * * *", "targetUrl": env.target.url("/fleet")}}),
            Some(&user.access_token),
        )
        .await;
    let id = created["data"]["createJob"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The token from API #1 works on API #2 (no sticky sessions), subscriptions included.
    let mut socket =
        WsClient::authenticated(&second.api().base, Protocol::Modern, &user.access_token).await;
    socket
        .subscribe(
            "s",
            "subscription($id: ID) { executionEvents(jobId: $id) { type log { id } } }",
            json!({"id": id}),
        )
        .await;
    assert!(socket.quiet_for(Duration::from_millis(300)).await);
    let run = first
        .api()
        .graphql(
            "mutation($id: ID!) { runJob(id: $id) { id } }",
            json!({"id": id}),
            Some(&user.access_token),
        )
        .await;
    let run_id = run["data"]["runJob"]["id"].as_str().unwrap().to_owned();
    for expected in ["STARTED", "SUCCEEDED"] {
        match socket.next(Duration::from_secs(15)).await {
            Incoming::Json(v) => {
                assert_eq!(
                    v["payload"]["data"]["executionEvents"]["type"], expected,
                    "{v}"
                );
                assert_eq!(v["payload"]["data"]["executionEvents"]["log"]["id"], run_id);
            }
            other => panic!("expected {expected}, got {other:?}"),
        }
    }
    assert_eq!(
        env.target.received_on("/fleet").len(),
        1,
        "fired once by one of three schedulers"
    );
}

#[tokio::test]
async fn redis_cluster_runs_schedules_and_subscriptions() {
    let cluster = testkit::RedisCluster::start();
    let env = TestEnv::with_redis(cluster.url()).await;
    let server = env.start_all().await;
    let api = server.api();
    let (status, body) = api.health_status().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let user = api
        .signup_verified(&env.mail, "cluster@example.com", "Password123!")
        .await;
    let mut socket = WsClient::authenticated(&api.base, Protocol::Modern, &user.access_token).await;
    socket
        .subscribe("s", "subscription { executionEvents { type } }", json!({}))
        .await;
    assert!(socket.quiet_for(Duration::from_millis(300)).await);
    // A scheduled job (every second) fires through the cluster's due set.
    let created = api
        .graphql(
            "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }",
            json!({"i": {"name": "clustered", "cronExpression": "* * * * *", "targetUrl": env.target.url("/cluster")}}),
            Some(&user.access_token),
        )
        .await;
    let id = created["data"]["createJob"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.graphql(
        "mutation($id: ID!) { runJob(id: $id) { id } }",
        json!({"id": id}),
        Some(&user.access_token),
    )
    .await;
    env.target
        .wait_for("/cluster", 1, Duration::from_secs(15))
        .await;
    match socket.next(Duration::from_secs(15)).await {
        Incoming::Json(v) => assert_eq!(
            v["payload"]["data"]["executionEvents"]["type"], "STARTED",
            "{v}"
        ),
        other => panic!("expected an event, got {other:?}"),
    }
}
