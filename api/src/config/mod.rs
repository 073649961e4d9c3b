//! Typed configuration, parsed once at start from the environment (and `.env`).
//!
//! Every setting is a clap argument bound to its environment variable, so `--help` lists
//! each with its variable and default, and a missing or malformed value stops the process
//! with a message naming the variable (clap's value names are the variable names).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

mod scheduler;
mod secrets;
mod server;

pub use scheduler::{SchedulerArgs, SchedulerServerArgs};
pub use secrets::SecretsConfig;
pub use server::ServerConfig;

/// Which kind of deployment this is; production refuses unsafe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AppEnv {
    Development,
    Test,
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Settings every subcommand shares.
#[derive(Debug, Clone, Args)]
pub struct CommonConfig {
    /// Deployment kind: development, test or production.
    #[arg(
        long,
        env = "APP_ENV",
        value_name = "APP_ENV",
        value_enum,
        default_value = "development",
        global = true
    )]
    pub app_env: AppEnv,
    /// Log line format: text or json. The level comes from RUST_LOG (default info).
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_name = "LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
    /// OpenTelemetry collector (OTLP over HTTP, e.g. http://collector:4318): when set,
    /// traces are exported there. The other standard OTEL_* variables apply.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "OTEL_EXPORTER_OTLP_ENDPOINT",
        global = true
    )]
    pub otel_exporter_otlp_endpoint: Option<String>,
}

/// PostgreSQL.
#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// PostgreSQL URL, e.g. postgres://user:pass@host:5432/cronops.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Connections in this process's pool.
    #[arg(long, env = "DATABASE_POOL_SIZE", value_name = "DATABASE_POOL_SIZE", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_pool_size: u32,
}

/// Redis: either REDIS_URL, or REDIS_HOST / REDIS_PORT / REDIS_PASSWORD.
#[derive(Debug, Clone, Args)]
pub struct RedisConfig {
    /// Redis URL (redis://, rediss://, redis-cluster://, redis-sentinel://). Wins over REDIS_HOST.
    #[arg(
        long,
        env = "REDIS_URL",
        value_name = "REDIS_URL",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,
    /// Redis host, used when REDIS_URL is not set.
    #[arg(
        long,
        env = "REDIS_HOST",
        value_name = "REDIS_HOST",
        default_value = "127.0.0.1"
    )]
    pub redis_host: String,
    /// Redis port, used when REDIS_URL is not set.
    #[arg(
        long,
        env = "REDIS_PORT",
        value_name = "REDIS_PORT",
        default_value_t = 6379
    )]
    pub redis_port: u16,
    /// Redis password, used when REDIS_URL is not set.
    #[arg(
        long,
        env = "REDIS_PASSWORD",
        value_name = "REDIS_PASSWORD",
        hide_env_values = true
    )]
    pub redis_password: Option<String>,
    /// Prefix (and Redis Cluster hash tag) of every key and channel; one per deployment.
    #[arg(
        long,
        env = "REDIS_KEY_PREFIX",
        value_name = "REDIS_KEY_PREFIX",
        default_value = "cronops"
    )]
    pub redis_key_prefix: String,
    /// Connections in this process's Redis pool.
    #[arg(long, env = "REDIS_POOL_SIZE", value_name = "REDIS_POOL_SIZE", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub redis_pool_size: u16,
}

impl RedisConfig {
    /// The URL to connect to, from REDIS_URL or the host/port/password trio.
    pub fn url(&self) -> String {
        if let Some(url) = &self.redis_url {
            return url.clone();
        }
        match &self.redis_password {
            Some(password) => format!(
                "redis://:{}@{}:{}",
                percent_encode(password),
                self.redis_host,
                self.redis_port
            ),
            None => format!("redis://{}:{}", self.redis_host, self.redis_port),
        }
    }
}

/// Escapes what a password may contain that a URL's userinfo cannot.
fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Tokens and sessions.
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// HMAC secret of access tokens; at least 32 bytes, required in production.
    #[arg(
        long,
        env = "JWT_ACCESS_SECRET",
        value_name = "JWT_ACCESS_SECRET",
        hide_env_values = true
    )]
    pub jwt_access_secret: Option<String>,
    /// Secret for refresh-token hashing; at least 32 bytes, required in production.
    #[arg(
        long,
        env = "JWT_REFRESH_SECRET",
        value_name = "JWT_REFRESH_SECRET",
        hide_env_values = true
    )]
    pub jwt_refresh_secret: Option<String>,
    /// Lifetime of an access token (15m, 1h, ...).
    #[arg(long, env = "JWT_ACCESS_EXPIRES_IN", value_name = "JWT_ACCESS_EXPIRES_IN", default_value = "15m",
          value_parser = parse_duration)]
    pub jwt_access_expires_in: Duration,
    /// Lifetime of a refresh token (7d, 30d, ...); each refresh starts it again.
    #[arg(long, env = "JWT_REFRESH_EXPIRES_IN", value_name = "JWT_REFRESH_EXPIRES_IN", default_value = "7d",
          value_parser = parse_duration)]
    pub jwt_refresh_expires_in: Duration,
    /// Longest a login lasts however often it is refreshed (30d, 90d, ...).
    #[arg(long, env = "JWT_REFRESH_ABSOLUTE_TTL", value_name = "JWT_REFRESH_ABSOLUTE_TTL", default_value = "30d",
          value_parser = parse_duration)]
    pub jwt_refresh_absolute_ttl: Duration,
}

/// Where the links CronOps sends (in mails and notices) point.
#[derive(Debug, Clone, Args)]
pub struct Links {
    /// Base URL of the web app, used in emailed links and in notices. Unset: the
    /// dashboard this API serves, `http://localhost:<PORT>`.
    #[arg(
        long,
        env = "FRONTEND_URL",
        value_name = "FRONTEND_URL",
        default_value = ""
    )]
    pub frontend_url: String,
}

/// Outgoing email.
#[derive(Debug, Clone, Args)]
pub struct EmailConfig {
    /// SMTP server. Unset: messages go to the log and to MAIL_DIR instead (development).
    #[arg(long, env = "EMAIL_HOST", value_name = "EMAIL_HOST")]
    pub email_host: Option<String>,
    /// SMTP port.
    #[arg(
        long,
        env = "EMAIL_PORT",
        value_name = "EMAIL_PORT",
        default_value_t = 587
    )]
    pub email_port: u16,
    /// SMTP user name.
    #[arg(long, env = "EMAIL_USER", value_name = "EMAIL_USER")]
    pub email_user: Option<String>,
    /// SMTP password.
    #[arg(
        long,
        env = "EMAIL_PASS",
        value_name = "EMAIL_PASS",
        hide_env_values = true
    )]
    pub email_pass: Option<String>,
    /// Sender address of every message.
    #[arg(
        long,
        env = "EMAIL_FROM",
        value_name = "EMAIL_FROM",
        default_value = "CronOps <noreply@cronops.dev>"
    )]
    pub email_from: String,
    /// Folder that receives messages when no EMAIL_HOST is set.
    #[arg(
        long,
        env = "MAIL_DIR",
        value_name = "MAIL_DIR",
        default_value = ".cronops/mail"
    )]
    pub mail_dir: PathBuf,
}

/// Everything the API server needs.
#[derive(Debug, Clone, Args)]
pub struct ApiConfig {
    #[command(flatten)]
    pub server: ServerConfig,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub redis: RedisConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub links: Links,
    #[command(flatten)]
    pub email: EmailConfig,
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
    #[command(flatten)]
    pub secrets: SecretsConfig,
}

/// An empty variable (`EMAIL_HOST=`, as compose files and copied `.env` files produce)
/// means "not set", as it does for the original CronOps.
pub(crate) fn blank_to_none(value: &mut Option<String>) {
    if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
        *value = None;
    }
}

impl RedisConfig {
    /// Treats empty optional variables as unset.
    pub fn normalize(&mut self) {
        blank_to_none(&mut self.redis_url);
        blank_to_none(&mut self.redis_password);
    }
}

/// Secrets shorter than this are refused in production.
pub const MIN_SECRET_BYTES: usize = 32;

/// A setting that parsed but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl ApiConfig {
    /// Treats empty optional variables as unset.
    pub fn normalize(&mut self) {
        self.redis.normalize();
        blank_to_none(&mut self.server.metrics_token);
        blank_to_none(&mut self.auth.jwt_access_secret);
        blank_to_none(&mut self.auth.jwt_refresh_secret);
        blank_to_none(&mut self.email.email_host);
        blank_to_none(&mut self.email.email_user);
        blank_to_none(&mut self.email.email_pass);
        if self.links.frontend_url.trim().is_empty() {
            self.links.frontend_url = format!("http://localhost:{}", self.server.port);
        }
    }

    /// Checks what clap cannot: secrets and scheduler timings. Only development runs
    /// without secrets (on the public development ones); elsewhere they must be set, long
    /// enough, and not the development ones.
    pub fn validate(&self, env: AppEnv) -> Result<(), ConfigError> {
        self.scheduler.validate()?;
        if env == AppEnv::Development {
            return Ok(());
        }
        let name = match env {
            AppEnv::Production => "production",
            _ => "APP_ENV=test",
        };
        for (variable, value, development) in [
            (
                "JWT_ACCESS_SECRET",
                &self.auth.jwt_access_secret,
                crate::auth::tokens::DEV_ACCESS_SECRET,
            ),
            (
                "JWT_REFRESH_SECRET",
                &self.auth.jwt_refresh_secret,
                crate::auth::tokens::DEV_REFRESH_SECRET,
            ),
        ] {
            let problem = match value {
                None => format!("must be set in {name}"),
                Some(secret) if secret.len() < MIN_SECRET_BYTES => format!(
                    "must be at least {MIN_SECRET_BYTES} bytes in {name} (got {})",
                    secret.len()
                ),
                Some(secret) if secret == development => {
                    format!("is the public development secret: set your own in {name}")
                }
                Some(_) => continue,
            };
            return Err(ConfigError { variable, problem });
        }
        self.secrets.keyring(env)?;
        Ok(())
    }
}

/// Parses `15m`, `7d`, `900s`, `1h 30m`; a bare number is seconds.
pub(crate) fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    match humantime::parse_duration(raw) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (expected e.g. 15m, 7d)")),
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
