//! What every request handler can reach: pools, configuration and the schema.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use scheduler::Keys;
use scheduler::redis::RedisPool;

use crate::auth::tokens::TokenKeys;
use crate::config::{ApiConfig, AppEnv};
use crate::email::Mailer;
use crate::error::ApiResult;

/// Shared, cheap-to-clone application state.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// The fields behind [`AppState`].
#[derive(Debug)]
pub struct Inner {
    pub env: AppEnv,
    pub config: ApiConfig,
    pub db: db::Pool,
    pub redis: RedisPool,
    pub keys: Keys,
    pub metrics: PrometheusHandle,
    pub tokens: TokenKeys,
    pub mailer: Mailer,
    /// The scheduler running in this process (`cronops all`, `dev`), if any.
    pub scheduler: Option<scheduler::Scheduler>,
    /// The keys that seal users' secrets.
    pub secrets: Arc<scheduler::secrets::Keyring>,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl Inner {
    /// The global per-IP limit (RATE_LIMIT_WINDOW_MS, RATE_LIMIT_MAX_REQUESTS) every
    /// GraphQL request and every WebSocket operation counts against.
    pub fn global_limit(&self) -> crate::auth::rate_limit::Limit {
        crate::auth::rate_limit::Limit {
            name: "global",
            max: self.config.server.rate_limit_max_requests,
            window: std::time::Duration::from_millis(self.config.server.rate_limit_window_ms),
        }
    }

    /// The limit of each API key (RATE_LIMIT_WINDOW_MS, API_KEY_MAX_REQUESTS), whatever
    /// address it is used from.
    pub fn key_limit(&self) -> crate::auth::rate_limit::Limit {
        crate::auth::rate_limit::Limit {
            name: "api-key",
            max: self.config.server.api_key_max_requests,
            window: std::time::Duration::from_millis(self.config.server.rate_limit_window_ms),
        }
    }

    /// A database connection from the pool (INTERNAL_SERVER_ERROR when none comes in time).
    pub async fn conn(&self) -> ApiResult<db::Conn<'_>> {
        Ok(self.db.get().await.map_err(db::Error::from)?)
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
