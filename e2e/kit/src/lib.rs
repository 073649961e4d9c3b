//! Black-box test harness: runs the built `cronops` binary against real PostgreSQL and
//! Redis, with a real SMTP receiver and a real HTTP target, and talks to it like a client.
//!
//! Each test builds a [`TestEnv`]: its own database (copied from the migrated template),
//! its own Redis key prefix, its own mail receiver and HTTP target, and free ports.

pub mod accounts;
pub mod alert_api;
pub mod browser;
pub mod client;
pub mod fixtures;
pub mod hostile;
pub mod job_api;
pub mod mail;
pub mod otlp;
pub mod pg_server;
pub mod process;
pub mod readme;
pub mod redis_server;
pub mod target;
pub mod wait;
pub mod ws;

use std::path::PathBuf;

pub use client::Api;
pub use mail::MailReceiver;
pub use pg_server::PgServer;
pub use process::Cronops;
pub use redis_server::{RedisCluster, RedisServer};
pub use target::HttpTarget;
pub use wait::poll_until;

/// Where `make test` runs the shared test Redis, unless `TEST_REDIS_URL` says.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:16379";

/// The access-token secret of every test process (benchmarks sign tokens with it).
pub const TEST_ACCESS_SECRET: &str = "test-access-secret-0123456789abcdef";

/// The shared test Redis (each test isolates itself with a key prefix).
pub fn shared_redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// A port on loopback that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// The SECRETS_KEY of every test process (64 hex characters).
pub const TEST_SECRETS_KEY: &str =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Everything one test's CronOps processes need, isolated from every other test.
#[derive(Debug)]
pub struct TestEnv {
    pub database: db::test_db::TestDatabase,
    pub redis_url: String,
    /// This test's `REDIS_KEY_PREFIX`.
    pub key_prefix: String,
    pub mail: MailReceiver,
    pub target: HttpTarget,
    /// Working directory of the processes (no `.env` in it), and their mail folder.
    pub workdir: tempfile::TempDir,
    /// The processes' `APP_ENV`: `test`, or `development` for the demo accounts.
    pub app_env: &'static str,
}

impl TestEnv {
    /// A job of `user`'s firing every second at `path` of this environment's target.
    pub async fn every_second_job(&self, user: uuid::Uuid, path: &str) -> uuid::Uuid {
        let spec = fixtures::JobSpec::every_second(self.target.url(path));
        fixtures::job(&self.database, user, &spec).await
    }

    /// A new environment on the shared test Redis.
    pub async fn new() -> TestEnv {
        Self::with_redis(shared_redis_url()).await
    }

    /// A new environment on the given Redis (e.g. a private [`RedisServer`]).
    pub async fn with_redis(redis_url: String) -> TestEnv {
        TestEnv {
            database: db::test_db::TestDatabase::new().await,
            redis_url,
            key_prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
            mail: MailReceiver::start(),
            target: HttpTarget::start().await,
            workdir: tempfile::tempdir().expect("temporary directory"),
            app_env: "test",
        }
    }

    /// A new environment whose processes run with `APP_ENV=development`, where `seed`
    /// creates the demo accounts and they may log in (they are refused elsewhere).
    pub async fn development() -> TestEnv {
        TestEnv {
            app_env: "development",
            ..Self::new().await
        }
    }

    /// The environment variables a `cronops` process of this test runs with.
    pub fn vars(&self) -> Vec<(String, String)> {
        [
            ("APP_ENV", self.app_env.to_owned()),
            ("DATABASE_URL", self.database.url().to_owned()),
            ("DATABASE_POOL_SIZE", "8".to_owned()),
            ("REDIS_URL", self.redis_url.clone()),
            ("REDIS_KEY_PREFIX", self.key_prefix.clone()),
            ("EMAIL_HOST", "127.0.0.1".to_owned()),
            ("EMAIL_PORT", self.mail.port().to_string()),
            ("EMAIL_FROM", "CronOps <noreply@cronops.test>".to_owned()),
            ("JWT_ACCESS_SECRET", TEST_ACCESS_SECRET.to_owned()),
            (
                "JWT_REFRESH_SECRET",
                "test-refresh-secret-0123456789abcdef".to_owned(),
            ),
            ("ALLOW_PRIVATE_TARGETS", "true".to_owned()),
            ("SECRETS_KEY", TEST_SECRETS_KEY.to_owned()),
            ("MAIL_DIR", self.mail_dir().display().to_string()),
            ("RUST_LOG", "info".to_owned()),
            // Tests make many requests from one address; the limit has its own test.
            ("RATE_LIMIT_MAX_REQUESTS", "1000000".to_owned()),
            // Short leases so that taking over from a killed scheduler is quick.
            ("SCHEDULER_LEASE_MS", "3000".to_owned()),
            ("SCHEDULER_RECONCILE_INTERVAL_MS", "500".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Where processes of this test write mail when no SMTP host is set.
    pub fn mail_dir(&self) -> PathBuf {
        self.workdir.path().join("mail")
    }

    /// Runs `cronops seed` (in a [`TestEnv::development`] environment, the demo accounts:
    /// admin@cronops.dev / Admin123!, demo@cronops.dev / Password123!) and waits for it.
    pub async fn seed(&self) {
        let (status, output) = Cronops::spawn(&["seed"], &self.vars(), self.workdir.path())
            .wait_output(std::time::Duration::from_secs(30))
            .await;
        assert!(status.success(), "cronops seed failed:\n{output}");
    }

    /// Starts `cronops api` on a free port and waits until it answers.
    pub async fn start_api(&self) -> Cronops {
        Cronops::start_server("api", self.vars(), self.workdir.path()).await
    }

    /// Replaces one variable of [`TestEnv::vars`].
    pub fn vars_with(&self, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut vars = self.vars();
        vars.retain(|(k, _)| !overrides.iter().any(|(o, _)| o == k));
        vars.extend(
            overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        vars
    }

    /// Starts a `cronops scheduler` process.
    pub fn start_scheduler(&self) -> Cronops {
        Cronops::spawn(&["scheduler"], &self.vars(), self.workdir.path())
    }

    /// Starts `cronops all` (API and scheduler) on a free port and waits until it answers.
    pub async fn start_all(&self) -> Cronops {
        Cronops::start_server("all", self.vars(), self.workdir.path()).await
    }
}
