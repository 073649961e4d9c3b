//! `cronops dev` and `cronops seed` as `make dev` uses them: from an empty database to a
//! healthy server with the demo accounts, and a seed that can run any number of times.

use std::time::Duration;

use db::models::User;
use db::schema::users;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use testkit::{Cronops, TestEnv};

async fn accounts(database: &db::test_db::TestDatabase) -> Vec<User> {
    let mut conn = database.connect().await;
    users::table
        .select(User::as_select())
        .order(users::email)
        .load(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn dev_migrates_an_empty_database_seeds_and_serves() {
    let env = TestEnv::new().await;
    let empty = db::test_db::TestDatabase::empty().await;
    let vars: Vec<_> = env
        .vars()
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "DATABASE_URL" => (k, empty.url().to_owned()),
            "APP_ENV" => (k, "development".to_owned()),
            _ => (k, v),
        })
        .collect();
    let server = Cronops::start_server("dev", vars, env.workdir.path()).await;
    let (status, body) = server.api().health_status().await.unwrap();
    assert_eq!(status, 200, "{body}");

    let seeded = accounts(&empty).await;
    let summary: Vec<_> = seeded
        .iter()
        .map(|u| (u.email.as_str(), u.role, u.email_verified_at.is_some()))
        .collect();
    assert_eq!(
        summary,
        [
            ("admin@cronops.dev", db::Role::Admin, true),
            ("demo@cronops.dev", db::Role::User, true),
        ]
    );
}

#[tokio::test]
async fn seed_twice_gives_the_same_state() {
    let env = TestEnv::development().await;
    let run_seed = || async {
        let (status, output) = Cronops::spawn(&["seed"], &env.vars(), env.workdir.path())
            .wait_output(Duration::from_secs(30))
            .await;
        assert!(status.success(), "{output}");
    };
    run_seed().await;
    let first = accounts(&env.database).await;
    assert_eq!(first.len(), 2);
    let demo = first
        .iter()
        .find(|u| u.email == "demo@cronops.dev")
        .unwrap()
        .id;
    let mut conn = env.database.connect().await;
    let jobs = db::models::Job::all_of_user(&mut conn, demo).await.unwrap();
    let names: Vec<_> = jobs.iter().map(|j| (j.name.as_str(), j.status)).collect();
    assert_eq!(names.len(), 3, "three demo jobs: {names:?}");
    assert!(jobs.iter().any(|j| j.name == "API health check"
        && j.cron_expression.as_deref() == Some("* * * * *")
        && j.target_url.ends_with("/health")));
    assert_eq!(
        jobs.iter()
            .filter(|j| j.status == db::JobStatus::Active)
            .count(),
        2
    );
    run_seed().await;
    assert_eq!(accounts(&env.database).await, first);
    assert_eq!(
        db::models::Job::all_of_user(&mut conn, demo).await.unwrap(),
        jobs,
        "no job added or changed"
    );
}

#[tokio::test]
async fn seed_in_production_needs_an_admin_and_creates_no_demo_user() {
    let env = TestEnv::new().await;
    let production = |extra: &[(&str, &str)]| {
        let mut vars = env.vars();
        vars.retain(|(k, _)| k != "APP_ENV");
        vars.push(("APP_ENV".into(), "production".into()));
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        vars
    };
    let (status, output) = Cronops::spawn(&["seed"], &production(&[]), env.workdir.path())
        .wait_output(Duration::from_secs(30))
        .await;
    assert!(!status.success());
    assert!(output.contains("ADMIN_EMAIL"), "{output}");
    assert!(accounts(&env.database).await.is_empty());

    let (status, output) = Cronops::spawn(
        &["seed"],
        &production(&[
            ("ADMIN_EMAIL", " Ops@Example.com "),
            ("ADMIN_PASSWORD", "S3cure-enough!"),
        ]),
        env.workdir.path(),
    )
    .wait_output(Duration::from_secs(30))
    .await;
    assert!(status.success(), "{output}");
    let seeded = accounts(&env.database).await;
    assert_eq!(seeded.len(), 1);
    assert_eq!(seeded[0].email, "ops@example.com");
    assert_eq!(seeded[0].role, db::Role::Admin);
}
