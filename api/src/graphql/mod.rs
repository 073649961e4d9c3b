//! The GraphQL schema of `docs/API.md`, one module per area, merged here.

mod admin;
mod alerts;
mod api_keys;
mod auth;
mod bulk;
mod channels;
pub mod connection;
mod criteria;
mod enums;
pub mod error_codes;
mod events;
mod execution_log;
mod health;
mod job;
mod job_names;
mod jobs;
mod key_scopes;
pub mod limits;
pub mod loaders;
mod logs;
pub mod nulls;
pub(crate) mod operation;
mod plans;
mod retry;
mod secrets;
mod stats;
mod system_stats;
mod user;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::state::AppState;

pub use enums::*;
pub use retry::OverlapPolicy;

/// Every query of the contract, by area.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    health::HealthQuery,
    plans::PlansQuery,
    auth::AuthQuery,
    jobs::JobsQuery,
    channels::ChannelsQuery,
    alerts::AlertsQuery,
    logs::LogsQuery,
    stats::StatsQuery,
    admin::AdminQuery,
    api_keys::ApiKeysQuery,
    secrets::SecretsQuery,
    bulk::TransferQuery,
);

/// Every mutation of the contract, by area.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    auth::AuthMutation,
    jobs::JobsMutation,
    channels::ChannelsMutation,
    alerts::AlertsMutation,
    admin::AdminMutation,
    api_keys::ApiKeysMutation,
    secrets::SecretsMutation,
    bulk::BulkMutation,
);

/// Every subscription of the contract.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(events::EventsSubscription, system_stats::SystemSubscription);

/// The served schema type.
pub type CronOpsSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The schema with its limits, without runtime data (for `sdl`).
fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .extension(error_codes::ErrorCodes)
    .extension(limits::RequestLimits)
    .extension(key_scopes::KeyScopes)
    .extension(crate::metrics::OperationMetrics)
}

/// The schema the server executes, with the application state and the live event hub.
pub fn build(state: AppState, events: crate::events::EventHub) -> CronOpsSchema {
    let mut schema = builder();
    if !state.config.server.introspection(state.env) {
        schema = schema.disable_introspection();
    }
    schema
        .data(state)
        .data(events)
        .data(job_names::JobNames::default())
        .finish()
}

/// The SDL of the served schema: what `cronops schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    builder().finish().sdl()
}
