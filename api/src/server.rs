//! Start-up of the process kinds (`api`, `all`, `scheduler`): stores, listeners, graceful
//! shutdown. The routes are in [`crate::routes`].

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use scheduler::{Keys, Scheduler};
use tokio_util::sync::CancellationToken;

use crate::auth::tokens::TokenKeys;
use crate::cli::SchedulerCommand;
use crate::config::{ApiConfig, AppEnv, DatabaseConfig, RedisConfig};
use crate::email::Mailer;
use crate::events::EventHub;
use crate::routes::{MetricsState, health_response, metrics_response, metrics_router, router};
use crate::state::{AppState, Inner};
use crate::{health, metrics};

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The pools every process kind needs. Neither connects yet: a process starts (and says
/// so on /health) while a store is down.
fn connect_stores(
    database: &DatabaseConfig,
    redis: &RedisConfig,
) -> anyhow::Result<(db::Pool, scheduler::redis::RedisPool)> {
    let db = db::pool::build(&database.database_url, database.database_pool_size);
    let redis = scheduler::redis::connect(&redis.url(), usize::from(redis.redis_pool_size))
        .context("REDIS_URL")?;
    Ok((db, redis))
}

/// Runs the API (and, with `with_scheduler`, a scheduler in the same process) until
/// `shutdown` is cancelled.
pub async fn serve(
    env: AppEnv,
    config: ApiConfig,
    shutdown: CancellationToken,
    with_scheduler: bool,
) -> anyhow::Result<()> {
    let metrics = metrics::install();
    let (db, redis) = connect_stores(&config.database, &config.redis)?;
    let keys = Keys::new(&config.redis.redis_key_prefix);
    let addr = SocketAddr::new(config.server.host, config.server.port);
    let secrets = std::sync::Arc::new(config.secrets.keyring(env)?);

    let scheduler = with_scheduler.then(|| {
        Scheduler::new(
            db.clone(),
            redis.clone(),
            keys.clone(),
            config.scheduler.engine_config(secrets.clone()),
        )
    });
    let scheduler_task = scheduler
        .clone()
        .map(|scheduler| tokio::spawn(scheduler.run(shutdown.clone())));

    let tokens = TokenKeys::new(&config.auth, env);
    let mailer = Mailer::new(&config.email, env)?;
    if with_scheduler && config.scheduler.notification_delivery {
        let notifier = notifier(&db, &mailer, &config.scheduler, &config.links.frontend_url);
        tokio::spawn(notifier.run(shutdown.clone()));
    }
    let state = AppState::new(Inner {
        env,
        config,
        db,
        redis,
        keys,
        metrics,
        tokens,
        mailer,
        scheduler,
        secrets,
    });
    let hub = EventHub::start(&state.config.redis.url(), &state.keys, shutdown.clone())
        .context("REDIS_URL")?;
    if let Some(port) = state.config.server.metrics_port {
        let addr = SocketAddr::new(state.config.server.host, port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("METRICS_PORT: cannot listen on {addr}"))?;
        let app = metrics_router(MetricsState {
            app: state.clone(),
            events: hub.clone(),
        });
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "metrics server failed");
            }
        });
        tracing::info!(%addr, "metrics listening");
    } else if state.env == AppEnv::Production && state.config.server.metrics_token.is_none() {
        tracing::warn!("/metrics is not served: set METRICS_PORT or METRICS_TOKEN in production");
    }
    let playground = state.config.server.playground(state.env);
    let app = router(state, hub, shutdown.clone());
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("PORT: cannot listen on {addr}"))?;
    if playground {
        tracing::info!(
            %addr,
            "API listening; dashboard at http://localhost:{0}/, GraphiQL at http://localhost:{0}/graphql",
            addr.port()
        );
    } else {
        tracing::info!(
            %addr,
            "API listening; dashboard at http://localhost:{}/ (GraphiQL off: GRAPHQL_PLAYGROUND)",
            addr.port()
        );
    }

    let graceful = shutdown.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { graceful.cancelled().await });
    let server = tokio::spawn(async move { server.await });

    shutdown.cancelled().await;
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(result) => result.context("server task")??,
        Err(_) => tracing::warn!("requests still open after the shutdown grace period"),
    }
    if let Some(task) = scheduler_task {
        task.await.context("scheduler task")??;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Runs a scheduler instance alone until `shutdown` is cancelled, with its own /metrics
/// and /health when SCHEDULER_METRICS_PORT is set.
pub async fn run_scheduler(
    env: AppEnv,
    config: SchedulerCommand,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = metrics::install();
    let (db, redis) = connect_stores(&config.database, &config.redis)?;
    if config.scheduler.notification_delivery {
        let mailer = Mailer::new(&config.email, env)?;
        let notifier = notifier(&db, &mailer, &config.scheduler, &config.links.frontend_url);
        tokio::spawn(notifier.run(shutdown.clone()));
    }
    let secrets = std::sync::Arc::new(config.secrets.keyring(env)?);
    let scheduler = Scheduler::new(
        db.clone(),
        redis.clone(),
        Keys::new(&config.redis.redis_key_prefix),
        config.scheduler.engine_config(secrets),
    );
    if let Some(port) = config.server.scheduler_metrics_port {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("SCHEDULER_METRICS_PORT: cannot listen on {addr}"))?;
        let probe = SchedulerProbe {
            db: db.clone(),
            redis: redis.clone(),
            metrics,
            scheduler: scheduler.clone(),
        };
        let app = Router::new()
            .route("/metrics", get(scheduler_metrics))
            .route("/health", get(scheduler_health))
            .with_state(probe);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "scheduler metrics server failed");
            }
        });
        tracing::info!(%addr, "scheduler metrics and health listening");
    }
    scheduler.run(shutdown).await?;
    Ok(())
}

/// The notice deliverer of a process that runs a scheduler.
fn notifier(
    db: &db::Pool,
    mailer: &Mailer,
    scheduler: &crate::config::SchedulerArgs,
    frontend_url: &str,
) -> crate::notify::Notifier {
    crate::notify::Notifier {
        db: db.clone(),
        mailer: mailer.clone(),
        http: scheduler::execute::Executor::new(scheduler.targets()),
        frontend_url: frontend_url.to_owned(),
        cap: scheduler.alerts().cap,
    }
}

/// What the scheduler's own HTTP server reads.
#[derive(Clone)]
struct SchedulerProbe {
    db: db::Pool,
    redis: scheduler::redis::RedisPool,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    scheduler: Scheduler,
}

/// The scheduler's `/metrics`.
async fn scheduler_metrics(State(probe): State<SchedulerProbe>) -> Response {
    metrics::record_pool(&probe.db);
    metrics_response(&probe.metrics)
}

/// The scheduler's `/health`: both stores, as the API's, and whether it keeps up with
/// writing its results.
async fn scheduler_health(State(probe): State<SchedulerProbe>) -> Response {
    health_response(health::check_stores(&probe.db, &probe.redis, Some(&probe.scheduler)).await)
}
