//! The HTTP server's settings: address, CORS, body limit, proxies, rate limit, WebSocket
//! limits, GraphiQL and introspection, metrics.

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use clap::builder::BoolishValueParser;

use super::{AppEnv, parse_duration};

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
    #[arg(long, env = "RATE_LIMIT_MAX_REQUESTS", value_name = "RATE_LIMIT_MAX_REQUESTS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_max_requests: u32,
    /// Requests one API key may make per RATE_LIMIT_WINDOW_MS window, from any address.
    #[arg(long, env = "API_KEY_MAX_REQUESTS", value_name = "API_KEY_MAX_REQUESTS", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub api_key_max_requests: u32,
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
