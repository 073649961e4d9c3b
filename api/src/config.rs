//! Typed configuration, parsed once at start from the environment (and `.env`).
//!
//! Every setting is a clap argument bound to its environment variable, so `--help` lists
//! each with its variable and default, and a missing or malformed value stops the process
//! with a message naming the variable (clap's value names are the variable names).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, ValueEnum};

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

/// The HTTP server.
#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "HOST", value_name = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Port of the API (GraphQL, health, metrics).
    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 3001)]
    pub port: u16,
    /// Allowed browser origins: a comma-separated list, or * for any.
    #[arg(
        long,
        env = "CORS_ORIGIN",
        value_name = "CORS_ORIGIN",
        default_value = "http://localhost:3000"
    )]
    pub cors_origin: String,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "REQUEST_BODY_LIMIT", value_name = "REQUEST_BODY_LIMIT", default_value_t = 1 << 20)]
    pub request_body_limit: usize,
    /// Take the client address from X-Forwarded-For (set when behind a trusted proxy).
    #[arg(long, env = "TRUST_PROXY", value_name = "TRUST_PROXY", default_value = "false",
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub trust_proxy: bool,
    /// With TRUST_PROXY: how many proxies in front append to X-Forwarded-For; the client
    /// is the entry this far from the right.
    #[arg(long, env = "TRUST_PROXY_HOPS", value_name = "TRUST_PROXY_HOPS", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=16))]
    pub trust_proxy_hops: u8,
    /// Rate-limit window of the global per-IP limit, in milliseconds.
    #[arg(long, env = "RATE_LIMIT_WINDOW_MS", value_name = "RATE_LIMIT_WINDOW_MS", default_value_t = 900_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_window_ms: u64,
    /// Requests one IP may make per window.
    #[arg(long, env = "RATE_LIMIT_MAX_REQUESTS", value_name = "RATE_LIMIT_MAX_REQUESTS", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_max_requests: u32,
    /// Largest WebSocket message (and frame) a client may send, in bytes.
    #[arg(long, env = "WS_MAX_MESSAGE_BYTES", value_name = "WS_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..=16 * 1024 * 1024))]
    pub ws_max_message_bytes: u32,
    /// Operations (subscriptions, queries, mutations) one WebSocket may have running at once.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", value_name = "WS_MAX_SUBSCRIPTIONS", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub ws_max_subscriptions: u32,
    /// WebSockets one account may hold open on one API process.
    #[arg(long, env = "WS_MAX_SOCKETS_PER_USER", value_name = "WS_MAX_SOCKETS_PER_USER", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub ws_max_sockets_per_user: u32,
    /// How long a new WebSocket has to send connection_init (10s, 1m, ...).
    #[arg(long, env = "WS_INIT_TIMEOUT", value_name = "WS_INIT_TIMEOUT", default_value = "10s",
          value_parser = parse_duration)]
    pub ws_init_timeout: Duration,
    /// Serve GraphiQL at GET /graphql (default: on, off in production).
    #[arg(long, env = "GRAPHQL_PLAYGROUND", value_name = "GRAPHQL_PLAYGROUND",
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub graphql_playground: Option<bool>,
    /// Answer introspection queries (default: on, off in production).
    #[arg(long, env = "GRAPHQL_INTROSPECTION", value_name = "GRAPHQL_INTROSPECTION",
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub graphql_introspection: Option<bool>,
    /// Serve /metrics on this port (on HOST) instead of the API port.
    #[arg(long, env = "METRICS_PORT", value_name = "METRICS_PORT")]
    pub metrics_port: Option<u16>,
    /// Require `Authorization: Bearer <METRICS_TOKEN>` on /metrics. In production the
    /// API port serves /metrics only with a token; set this or METRICS_PORT.
    #[arg(
        long,
        env = "METRICS_TOKEN",
        value_name = "METRICS_TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
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
    /// Base URL of the web app, used in emailed links.
    #[arg(
        long,
        env = "FRONTEND_URL",
        value_name = "FRONTEND_URL",
        default_value = "http://localhost:3000"
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

/// The scheduler loop.
#[derive(Debug, Clone, Args)]
pub struct SchedulerArgs {
    /// Let jobs call loopback and private-network addresses (development and tests only).
    #[arg(long, env = "ALLOW_PRIVATE_TARGETS", value_name = "ALLOW_PRIVATE_TARGETS", default_value = "false",
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub allow_private_targets: bool,
    /// Ports job targets may use: ports and ranges, `!port` for exceptions. The default
    /// leaves out the well-known ports of datastores that trust their network.
    #[arg(long, env = "ALLOWED_TARGET_PORTS", value_name = "ALLOWED_TARGET_PORTS",
          default_value = scheduler::ssrf::DEFAULT_TARGET_PORTS)]
    pub allowed_target_ports: scheduler::ssrf::PortPolicy,
    /// Requests a scheduler instance keeps in flight at most; claiming waits beyond. Keep
    /// it well above the largest per-user limit below, so that a user whose targets hang
    /// cannot take a whole instance.
    #[arg(long, env = "SCHEDULER_MAX_IN_FLIGHT", value_name = "SCHEDULER_MAX_IN_FLIGHT", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub scheduler_max_in_flight: u32,
    /// Runs of one FREE user out at once (claimed, not yet recorded), across every
    /// scheduler instance; the user's further due work waits its turn.
    #[arg(long, env = "SCHEDULER_CONCURRENCY_FREE", value_name = "SCHEDULER_CONCURRENCY_FREE",
          default_value_t = db::Plan::Free.limits().max_concurrent_runs,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub scheduler_concurrency_free: u32,
    /// The same for a PREMIUM user.
    #[arg(long, env = "SCHEDULER_CONCURRENCY_PREMIUM", value_name = "SCHEDULER_CONCURRENCY_PREMIUM",
          default_value_t = db::Plan::Premium.limits().max_concurrent_runs,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub scheduler_concurrency_premium: u32,
    /// The same for a PRO user.
    #[arg(long, env = "SCHEDULER_CONCURRENCY_PRO", value_name = "SCHEDULER_CONCURRENCY_PRO",
          default_value_t = db::Plan::Pro.limits().max_concurrent_runs,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub scheduler_concurrency_pro: u32,
    /// Most due items one claim takes.
    #[arg(long, env = "SCHEDULER_BATCH_SIZE", value_name = "SCHEDULER_BATCH_SIZE", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub scheduler_batch_size: u32,
    /// How long a claim holds before another instance may take it back (milliseconds).
    #[arg(long, env = "SCHEDULER_LEASE_MS", value_name = "SCHEDULER_LEASE_MS", default_value_t = 15_000,
          value_parser = clap::value_parser!(u64).range(1_000..))]
    pub scheduler_lease_ms: u64,
    /// How far ahead due work is claimed and prepared (run rows written, next times set),
    /// so that each request leaves at its slot instead of after the preparation
    /// (milliseconds; 0 turns it off). At most a third of SCHEDULER_LEASE_MS; unset, 3000
    /// or a third of the lease, whichever is less.
    #[arg(long, env = "SCHEDULER_LOOKAHEAD_MS", value_name = "SCHEDULER_LOOKAHEAD_MS",
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub scheduler_lookahead_ms: Option<u64>,
    /// How often the reconciler compares Redis with PostgreSQL (milliseconds).
    #[arg(long, env = "SCHEDULER_RECONCILE_INTERVAL_MS", value_name = "SCHEDULER_RECONCILE_INTERVAL_MS",
          default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub scheduler_reconcile_interval_ms: u64,
}

/// Settings of the standalone `cronops scheduler` process.
#[derive(Debug, Clone, Args)]
pub struct SchedulerServerArgs {
    /// Port of the scheduler's own /metrics and /health (unset: no HTTP server). `cronops
    /// all` serves them on the API port instead.
    #[arg(
        long,
        env = "SCHEDULER_METRICS_PORT",
        value_name = "SCHEDULER_METRICS_PORT"
    )]
    pub scheduler_metrics_port: Option<u16>,
}

impl ServerConfig {
    /// Whether GraphiQL is served: GRAPHQL_PLAYGROUND, else everywhere but production.
    pub fn playground(&self, env: AppEnv) -> bool {
        self.graphql_playground.unwrap_or(env != AppEnv::Production)
    }

    /// Whether introspection is answered: GRAPHQL_INTROSPECTION, else everywhere but
    /// production.
    pub fn introspection(&self, env: AppEnv) -> bool {
        self.graphql_introspection
            .unwrap_or(env != AppEnv::Production)
    }
}

impl SchedulerArgs {
    /// Checks what clap cannot: work prepared ahead must fire well inside its lease.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.lookahead_ms().saturating_mul(3) > self.scheduler_lease_ms {
            return Err(ConfigError {
                variable: "SCHEDULER_LOOKAHEAD_MS",
                problem: format!(
                    "must be at most a third of SCHEDULER_LEASE_MS ({} ms), got {}",
                    self.scheduler_lease_ms,
                    self.lookahead_ms()
                ),
            });
        }
        Ok(())
    }

    /// SCHEDULER_LOOKAHEAD_MS, or 3 s (as far ahead as helps a burst in the bench), at
    /// most a third of the lease so that prepared work fires well inside it.
    pub fn lookahead_ms(&self) -> u64 {
        self.scheduler_lookahead_ms
            .unwrap_or_else(|| (self.scheduler_lease_ms / 3).min(3_000))
    }

    /// What job targets may be.
    pub fn targets(&self) -> scheduler::ssrf::TargetPolicy {
        scheduler::ssrf::TargetPolicy {
            allow_private: self.allow_private_targets,
            ports: self.allowed_target_ports.clone(),
        }
    }

    /// How many runs of one user may be out at once, by plan.
    pub fn concurrency(&self) -> scheduler::queue::Concurrency {
        scheduler::queue::Concurrency {
            free: self.scheduler_concurrency_free,
            premium: self.scheduler_concurrency_premium,
            pro: self.scheduler_concurrency_pro,
        }
    }

    /// The scheduler library's settings.
    pub fn engine_config(&self) -> scheduler::SchedulerConfig {
        scheduler::SchedulerConfig {
            targets: self.targets(),
            max_in_flight: self.scheduler_max_in_flight as usize,
            batch_size: self.scheduler_batch_size as usize,
            lease: Duration::from_millis(self.scheduler_lease_ms),
            lookahead: Duration::from_millis(self.lookahead_ms()),
            reconcile_interval: Duration::from_millis(self.scheduler_reconcile_interval_ms),
            concurrency: self.concurrency(),
            ..scheduler::SchedulerConfig::default()
        }
    }
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
    pub email: EmailConfig,
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
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
        Ok(())
    }
}

/// Parses `15m`, `7d`, `900s`, `1h 30m`; a bare number is seconds.
fn parse_duration(raw: &str) -> Result<Duration, String> {
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
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_the_original() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn redis_url_from_parts_escapes_the_password() {
        let config = RedisConfig {
            redis_url: None,
            redis_host: "cache".into(),
            redis_port: 6380,
            redis_password: Some("p@ss word".into()),
            redis_key_prefix: "cronops".into(),
            redis_pool_size: 1,
        };
        assert_eq!(config.url(), "redis://:p%40ss%20word@cache:6380");
        let with_url = RedisConfig {
            redis_url: Some("redis://elsewhere:1".into()),
            ..config
        };
        assert_eq!(with_url.url(), "redis://elsewhere:1");
    }
}
