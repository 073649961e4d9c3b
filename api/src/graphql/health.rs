//! `health`: the same report as `GET /health`.

use async_graphql::{Context, Object};

use crate::health::{self, Health};
use crate::state::AppState;

#[derive(Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// Whether PostgreSQL and Redis answer, and the running version.
    #[graphql(complexity = "super::limits::HEALTH_COST + child_complexity")]
    async fn health(&self, ctx: &Context<'_>) -> Health {
        health::check(ctx.data_unchecked::<AppState>()).await
    }
}
