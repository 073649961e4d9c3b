//! What every request handler can reach: pools, configuration and the schema.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use scheduler::Keys;
use scheduler::redis::RedisPool;

use crate::config::{ApiConfig, AppEnv};

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
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
