//! `cronops seed`: the demo accounts, created or brought back to their known state.
//!
//! Running it twice gives the same state. Outside production it creates an ADMIN
//! `admin@cronops.dev` / `Admin123!` and a verified USER `demo@cronops.dev` / `Password123!`;
//! in production it only creates the admin named by ADMIN_EMAIL / ADMIN_PASSWORD.

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use db::models::user::{NewUser, User, normalize_email};
use db::{Plan, Role};

use crate::auth::password;
use crate::config::{AppEnv, blank_to_none};

/// The demo administrator (development and test only).
pub const DEMO_ADMIN: (&str, &str) = ("admin@cronops.dev", "Admin123!");
/// The demo user (development and test only).
pub const DEMO_USER: (&str, &str) = ("demo@cronops.dev", "Password123!");

/// Who to create in production.
#[derive(Debug, Clone, Default, Args)]
pub struct SeedAccounts {
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
        AppEnv::Production => {
            let (Some(email), Some(password)) = (&accounts.admin_email, &accounts.admin_password)
            else {
                bail!(
                    "ADMIN_EMAIL and ADMIN_PASSWORD must be set to seed in production \
                     (demo accounts are never created there)"
                );
            };
            vec![Account {
                email,
                password,
                name: "Administrator",
                role: Role::Admin,
            }]
        }
        AppEnv::Development | AppEnv::Test => vec![
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
                    .await? =>
            {
                user.password_hash
            }
            _ => password::hash(account.password.to_owned()).await?,
        };
        let user = User::upsert(
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
        tracing::info!(email = %user.email, role = %user.role, "seeded account");
    }
    Ok(())
}
