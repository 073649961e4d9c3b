//! `cronops seed`: the demo accounts, created or brought back to their known state.
//!
//! Running it twice gives the same state. In development it creates an ADMIN
//! `admin@cronops.dev` / `Admin123!` and a verified USER `demo@cronops.dev` / `Password123!`;
//! elsewhere it only creates the admin named by ADMIN_EMAIL / ADMIN_PASSWORD, and logins
//! to the demo accounts are refused (see [`is_demo_account`]).

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use db::models::user::{NewUser, User, normalize_email};
use db::{Plan, Role};

use crate::auth::password;
use crate::config::{AppEnv, blank_to_none};

/// The demo administrator (development only).
pub const DEMO_ADMIN: (&str, &str) = ("admin@cronops.dev", "Admin123!");
/// The demo user (development only).
pub const DEMO_USER: (&str, &str) = ("demo@cronops.dev", "Password123!");

/// Whether `email` is one of the demo accounts, whose passwords are public: a deployment
/// that once ran in development and kept them must not let anyone in with them.
pub fn is_demo_account(email: &str) -> bool {
    [DEMO_ADMIN.0, DEMO_USER.0].contains(&email)
}

/// Who to create in production, and where the demo health job points.
#[derive(Debug, Clone, Default, Args)]
pub struct SeedAccounts {
    /// Port of the local API that the demo user's health-check job calls every minute.
    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 3001)]
    pub port: u16,
    /// Email of the administrator `seed` creates in production.
    #[arg(long, env = "ADMIN_EMAIL", value_name = "ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of the administrator `seed` creates in production.
    #[arg(
        long,
        env = "ADMIN_PASSWORD",
        value_name = "ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
}

impl SeedAccounts {
    /// Treats empty variables as unset.
    pub fn normalize(&mut self) {
        blank_to_none(&mut self.admin_email);
        blank_to_none(&mut self.admin_password);
    }
}

struct Account<'a> {
    email: &'a str,
    password: &'a str,
    name: &'a str,
    role: Role,
}

/// Creates or restores the seed accounts.
pub async fn run(pool: &db::Pool, env: AppEnv, accounts: &SeedAccounts) -> anyhow::Result<()> {
    let wanted = match env {
        AppEnv::Production | AppEnv::Test => {
            let (Some(email), Some(password)) = (&accounts.admin_email, &accounts.admin_password)
            else {
                bail!(
                    "ADMIN_EMAIL and ADMIN_PASSWORD must be set to seed outside development \
                     (demo accounts are created only with APP_ENV=development)"
                );
            };
            vec![Account {
                email,
                password,
                name: "Administrator",
                role: Role::Admin,
            }]
        }
        AppEnv::Development => vec![
            Account {
                email: DEMO_ADMIN.0,
                password: DEMO_ADMIN.1,
                name: "Admin",
                role: Role::Admin,
            },
            Account {
                email: DEMO_USER.0,
                password: DEMO_USER.1,
                name: "Demo User",
                role: Role::User,
            },
        ],
    };
    let mut conn = pool.get().await.context("DATABASE_URL: cannot connect")?;
    for account in wanted {
        let email = normalize_email(account.email);
        let existing = User::find_by_email(&mut conn, &email).await?;
        let verified_at = existing
            .as_ref()
            .and_then(|user| user.email_verified_at)
            .unwrap_or_else(Utc::now);
        // Keep the stored hash when it already matches, so a second run changes nothing.
        let password_hash = match existing {
            Some(user)
                if password::verify(account.password.to_owned(), user.password_hash.clone())
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message()))? =>
            {
                user.password_hash
            }
            _ => password::hash(account.password.to_owned())
                .await
                .map_err(|e| anyhow::anyhow!(e.message()))?,
        };
        let seeded = User::upsert(
            &mut conn,
            &NewUser {
                email: &email,
                name: account.name,
                password_hash: &password_hash,
                role: account.role,
                plan: Plan::Free,
                email_verified_at: Some(verified_at),
            },
        )
        .await?;
        tracing::info!(email = %seeded.email, role = %seeded.role, "seeded account");
        if seeded.email == DEMO_USER.0 {
            demo_jobs(&mut conn, seeded.id, accounts.port).await?;
        }
    }
    Ok(())
}

/// The demo user's three jobs, created once (by name): a health check of the local API
/// every minute, so a fresh `make dev` shows live runs at once, a nightly report and a
/// paused weekly cleanup. The scheduler's reconciler puts them on the schedule.
async fn demo_jobs(
    conn: &mut db::AsyncPgConnection,
    user_id: uuid::Uuid,
    port: u16,
) -> anyhow::Result<()> {
    use db::models::Job;
    use db::models::job::NewJob;
    use db::{HttpMethod, JobStatus, TargetType};
    let health = format!("http://localhost:{port}/health");
    let report_headers = serde_json::json!({"content-type": "application/json"});
    let jobs = [
        (
            "API health check",
            "* * * * *",
            "UTC",
            health.as_str(),
            HttpMethod::Get,
            None,
            None,
            1,
            JobStatus::Active,
        ),
        (
            "Nightly report",
            "0 2 * * *",
            "Europe/London",
            "https://httpbin.org/post",
            HttpMethod::Post,
            Some(&report_headers),
            Some("{\"report\": \"nightly\"}"),
            2,
            JobStatus::Active,
        ),
        (
            "Weekly cleanup",
            "0 3 * * 0",
            "UTC",
            "https://example.com/cleanup",
            HttpMethod::Delete,
            None,
            None,
            0,
            JobStatus::Paused,
        ),
    ];
    for (name, cron, timezone, url, method, headers, body, retries, status) in jobs {
        if Job::find_by_name(conn, user_id, name).await?.is_some() {
            continue;
        }
        let next_run_at = (status == JobStatus::Active)
            .then(|| {
                scheduler::cron::Schedule::parse(cron, timezone)
                    .ok()?
                    .next_after(Utc::now())
            })
            .flatten();
        Job::create(
            conn,
            &NewJob {
                id: uuid::Uuid::new_v4(),
                user_id,
                name,
                description: Some("Created by cronops seed"),
                cron_expression: Some(cron),
                timezone,
                target_type: TargetType::Http,
                target_url: url,
                http_method: method,
                headers,
                body,
                timeout_ms: 10_000,
                max_retries: retries,
                status,
                next_run_at,
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
        .await?;
        tracing::info!(name, "seeded demo job");
    }
    Ok(())
}
