//! `cronops` subcommands. Configuration is read here, once, and handed down typed.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{
    CommonConfig, DatabaseConfig, RedisConfig, SchedulerArgs, SchedulerServerArgs,
};
use crate::{config::ApiConfig, seed, server, telemetry};

/// CronOps: cron jobs that call HTTP endpoints, scheduled, retried, recorded and streamed live.
///
/// Every option can also be given by the environment variable shown beside it, or in a
/// `.env` file in the working directory.
#[derive(Debug, Parser)]
#[command(name = "cronops", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonConfig,
    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API (HTTP, WebSocket subscriptions, health, metrics).
    Api(ApiConfig),
    /// Run a scheduler instance (any number may run at once).
    Scheduler(SchedulerCommand),
    /// Run the API and a scheduler in one process.
    All(ApiConfig),
    /// Apply pending database migrations, then exit.
    Migrate(DatabaseConfig),
    /// Create the demo accounts (idempotent), then exit.
    Seed(SeedCommand),
    /// Print the GraphQL schema (SDL) that the API serves.
    Schema,
    /// Seal every user secret again under SECRETS_KEY (after changing it, with the old
    /// key in SECRETS_PREVIOUS_KEYS), then exit.
    RotateSecrets(RotateSecretsCommand),
    /// Development: migrate, seed, then run API and scheduler in one process.
    Dev(ApiConfig),
}

/// Settings of `cronops scheduler`.
#[derive(Debug, Clone, Args)]
pub struct SchedulerCommand {
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub redis: RedisConfig,
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
    #[command(flatten)]
    pub server: SchedulerServerArgs,
    #[command(flatten)]
    pub email: crate::config::EmailConfig,
    #[command(flatten)]
    pub links: crate::config::Links,
    #[command(flatten)]
    pub secrets: crate::config::SecretsConfig,
}

/// Settings of `cronops rotate-secrets`.
#[derive(Debug, Clone, Args)]
pub struct RotateSecretsCommand {
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub secrets: crate::config::SecretsConfig,
}

/// Settings of `cronops seed`.
#[derive(Debug, Clone, Args)]
pub struct SeedCommand {
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub accounts: seed::SeedAccounts,
}

/// Parses the command line and environment, runs the command, and maps failure to exit 1.
pub fn main() -> ExitCode {
    // A missing .env is normal; variables already in the environment win over it.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let service = match &cli.command {
        Command::Api(_) => "cronops-api",
        Command::Scheduler(_) => "cronops-scheduler",
        _ => "cronops",
    };
    let otlp = cli
        .common
        .otel_exporter_otlp_endpoint
        .as_deref()
        .is_some_and(|endpoint| !endpoint.trim().is_empty());
    let telemetry = telemetry::init(cli.common.log_format, otlp, service);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    };
    drop(runtime);
    telemetry.shutdown();
    code
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let env = cli.common.app_env;
    let mut command = cli.command;
    match &mut command {
        Command::Api(config) | Command::All(config) | Command::Dev(config) => {
            config.normalize();
            config.validate(env)?;
        }
        Command::Scheduler(config) => {
            config.redis.normalize();
            config.scheduler.validate()?;
            config.secrets.keyring(env)?;
        }
        Command::Seed(seed) => seed.accounts.normalize(),
        Command::Migrate(_) | Command::Schema | Command::RotateSecrets(_) => {}
    }
    match command {
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Migrate(database) => migrate(&database).await,
        Command::RotateSecrets(rotate) => {
            let keyring = rotate.secrets.keyring(env)?;
            let pool = db::pool::build(&rotate.database.database_url, 2);
            let resealed = crate::secrets::rotate(&pool, &keyring).await?;
            tracing::info!(
                resealed,
                key = keyring.current_id(),
                "secrets sealed under SECRETS_KEY"
            );
            Ok(())
        }
        Command::Seed(seed) => {
            let pool = db::pool::build(&seed.database.database_url, 2);
            seed::run(&pool, env, &seed.accounts).await
        }
        Command::Api(config) => {
            let shutdown = shutdown_on_signal();
            server::serve(env, config, shutdown, false).await
        }
        Command::All(config) => {
            let shutdown = shutdown_on_signal();
            server::serve(env, config, shutdown, true).await
        }
        Command::Dev(config) => {
            migrate(&config.database).await?;
            let pool = db::pool::build(&config.database.database_url, 2);
            let accounts = seed::SeedAccounts {
                port: config.server.port,
                ..seed::SeedAccounts::default()
            };
            seed::run(&pool, env, &accounts).await?;
            let shutdown = shutdown_on_signal();
            server::serve(env, config, shutdown, true).await
        }
        Command::Scheduler(config) => {
            let shutdown = shutdown_on_signal();
            server::run_scheduler(env, config, shutdown).await
        }
    }
}

async fn migrate(database: &DatabaseConfig) -> anyhow::Result<()> {
    let applied = db::migrate::run_pending(&database.database_url)
        .await
        .context("DATABASE_URL: migrations could not run")?;
    if applied.is_empty() {
        tracing::info!("database schema is up to date");
    } else {
        tracing::info!(?applied, "applied migrations");
    }
    Ok(())
}

/// A token cancelled on the first SIGINT or SIGTERM: the process stops taking new work
/// and finishes what it holds.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = terminate => {},
        }
        tracing::info!("shutdown signal received");
        cancel.cancel();
    });
    token
}
