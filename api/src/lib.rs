//! The CronOps API: GraphQL over axum, the `cronops` command line, and start-up of every
//! process kind. Resolvers stay thin: they authorise, call `db` / `scheduler` / `auth`
//! functions, and map results and errors to the contract of `docs/API.md`.

pub mod admin;
pub mod auth;
pub mod channels;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod documents;
pub mod email;
pub mod error;
pub mod events;
pub mod graphql;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod notices;
pub mod notify;
pub mod routes;
pub mod runs;
pub mod secrets;
pub mod seed;
pub mod server;
pub mod sockets;
pub mod startup;
pub mod state;
pub mod stats;
pub mod telemetry;
pub mod transport;
pub mod ws;
