//! Rows written straight to a test's database, for tests about what happens after the
//! API (the scheduler, the reconciler): users and jobs without the HTTP round trips.

use std::time::Duration;

use chrono::{DateTime, Utc};
use db::models::job::NewJob;
use db::models::{ExecutionLog, Job, NewUser, User};
use db::schema::execution_logs;
use db::{HttpMethod, JobStatus, Plan, Role, TargetType};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

/// A verified PRO user (the loosest limits).
pub async fn user(database: &db::test_db::TestDatabase) -> Uuid {
    let mut conn = database.connect().await;
    let email = format!("{}@fixtures.test", Uuid::new_v4().simple());
    User::create(
        &mut conn,
        &NewUser {
            email: &email,
            name: "Fixture",
            password_hash: "not-a-login",
            role: Role::User,
            plan: Plan::Pro,
            email_verified_at: Some(Utc::now()),
        },
    )
    .await
    .expect("insert a user")
    .id
}

/// An access token for `user` in session `sid`, valid for `seconds`, signed as the API
/// signs them (skipping a login through argon2).
pub fn access_token(user: Uuid, role: &str, sid: Uuid, seconds: i64) -> String {
    let now = Utc::now().timestamp();
    let claims = serde_json::json!({
        "sub": user, "role": role, "iat": now, "exp": now + seconds,
        "jti": Uuid::new_v4(), "sid": sid, "type": "access",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(crate::TEST_ACCESS_SECRET.as_bytes()),
    )
    .expect("sign")
}

/// A verified ADMIN (a PRO one).
pub async fn admin(database: &db::test_db::TestDatabase) -> Uuid {
    let id = user(database).await;
    let mut conn = database.connect().await;
    User::set_role(&mut conn, id, Role::Admin)
        .await
        .expect("set the role")
        .expect("not the last admin")
        .expect("the user exists");
    id
}

/// What a fixture job looks like; `Default` is an ACTIVE GET every second.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub cron: String,
    pub timezone: String,
    pub url: String,
    pub method: HttpMethod,
    pub timeout_ms: i32,
    pub max_retries: i32,
    pub status: JobStatus,
    pub next_run_at: Option<DateTime<Utc>>,
    pub headers: Option<serde_json::Value>,
    pub body: Option<String>,
}

impl JobSpec {
    /// An every-second job calling `url`.
    pub fn every_second(url: String) -> JobSpec {
        JobSpec {
            cron: "* * * * * *".into(),
            timezone: "UTC".into(),
            url,
            method: HttpMethod::Get,
            timeout_ms: 5_000,
            max_retries: 0,
            status: JobStatus::Active,
            next_run_at: None,
            headers: None,
            body: None,
        }
    }
}

/// Inserts a job for `user_id`.
pub async fn job(database: &db::test_db::TestDatabase, user_id: Uuid, spec: &JobSpec) -> Uuid {
    let mut conn = database.connect().await;
    insert_job(&mut conn, user_id, spec, "fixture job").await
}

/// Inserts a job on an open connection.
pub async fn insert_job(
    conn: &mut db::AsyncPgConnection,
    user_id: Uuid,
    spec: &JobSpec,
    name: &str,
) -> Uuid {
    Job::create(
        conn,
        &NewJob {
            id: uuid::Uuid::new_v4(),
            user_id,
            name,
            description: None,
            cron_expression: Some(&spec.cron),
            timezone: &spec.timezone,
            target_type: TargetType::Http,
            target_url: &spec.url,
            http_method: spec.method,
            headers: spec.headers.as_ref(),
            body: spec.body.as_deref(),
            timeout_ms: spec.timeout_ms,
            max_retries: spec.max_retries,
            status: spec.status,
            next_run_at: spec.next_run_at,
            success_criteria: None,
            alert_policy: None,
            retry_policy: None,
            catch_up_policy: "LATEST_ONCE",
            overlap_policy: "ALLOW",
            run_at: None,
            start_at: None,
            end_at: None,
            max_runs: None,
            jitter_seconds: 0,
            tags: Vec::new(),
        },
    )
    .await
    .expect("insert a job")
    .id
}

/// Every run row of a job, oldest slot first.
pub async fn runs(database: &db::test_db::TestDatabase, job_id: Uuid) -> Vec<ExecutionLog> {
    let mut conn = database.connect().await;
    execution_logs::table
        .filter(execution_logs::job_id.eq(job_id))
        .order((
            execution_logs::scheduled_for.asc(),
            execution_logs::attempt.asc(),
        ))
        .select(ExecutionLog::as_select())
        .load(&mut conn)
        .await
        .expect("load runs")
}

/// Every run row of the database.
pub async fn all_runs(database: &db::test_db::TestDatabase) -> Vec<ExecutionLog> {
    let mut conn = database.connect().await;
    execution_logs::table
        .select(ExecutionLog::as_select())
        .load(&mut conn)
        .await
        .expect("load runs")
}

/// The job row.
pub async fn job_row(database: &db::test_db::TestDatabase, job_id: Uuid) -> Job {
    let mut conn = database.connect().await;
    Job::find_many(&mut conn, &[job_id])
        .await
        .expect("load job")
        .remove(0)
}

/// How the latest finished run of a job ended (what the API shows as its last status).
pub async fn last_status(
    database: &db::test_db::TestDatabase,
    job_id: Uuid,
) -> Option<db::ExecutionStatus> {
    let mut conn = database.connect().await;
    db::models::ExecutionLog::last_closed_per_job(&mut conn, &[job_id])
        .await
        .expect("load last run")
        .pop()
        .map(|run| run.status)
}

/// Waits until `job` has `count` finished runs whose slots are at or after `from`, each
/// recorded within `within` of its slot, and returns them.
pub async fn recorded_on_time(
    env: &crate::TestEnv,
    job: Uuid,
    from: DateTime<Utc>,
    count: usize,
    within: Duration,
) -> Vec<ExecutionLog> {
    let runs = crate::poll_until(
        &format!("{count} recorded runs of the bystander's job"),
        Duration::from_secs(20),
        || async {
            let runs: Vec<ExecutionLog> = runs(&env.database, job)
                .await
                .into_iter()
                .filter(|r| r.scheduled_for >= from && r.status.is_final())
                .collect();
            (runs.len() >= count).then_some(runs)
        },
    )
    .await;
    let within = chrono::Duration::from_std(within).unwrap();
    for run in &runs {
        let finished = run.finished_at.expect("a final run has finished");
        assert!(
            finished - run.scheduled_for <= within,
            "the bystander's run of {} finished {} after its slot",
            run.scheduled_for,
            finished - run.scheduled_for
        );
    }
    runs
}
