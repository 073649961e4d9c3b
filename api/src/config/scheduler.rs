//! The scheduler's settings, shared by `cronops scheduler`, `all` and `dev`.

use std::time::Duration;

use clap::Args;
use clap::builder::BoolishValueParser;

use super::ConfigError;

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
    /// Alerts a user receives at most per NOTIFICATIONS_WINDOW; the rest are folded into
    /// one digest notice per channel, sent when the window has room again.
    #[arg(long, env = "NOTIFICATIONS_PER_HOUR", value_name = "NOTIFICATIONS_PER_HOUR", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub notifications_per_hour: u32,
    /// The window NOTIFICATIONS_PER_HOUR counts over (an hour; tests shorten it).
    #[arg(long, env = "NOTIFICATIONS_WINDOW", value_name = "NOTIFICATIONS_WINDOW", default_value = "1h",
          value_parser = humantime::parse_duration)]
    pub notifications_window: Duration,
    /// Whether this instance delivers notices (any number may; each notice is sent by
    /// one). Off, it still writes them.
    #[arg(long, env = "NOTIFICATION_DELIVERY", value_name = "NOTIFICATION_DELIVERY", default_value = "true",
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub notification_delivery: bool,
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

    /// The cap on alerts per user.
    pub fn alerts(&self) -> scheduler::alerts::Settings {
        scheduler::alerts::Settings {
            cap: db::models::notification::Cap {
                per_window: self.notifications_per_hour,
                window: self.notifications_window,
            },
        }
    }

    /// The scheduler library's settings, with the keys that open users' secrets.
    pub fn engine_config(
        &self,
        secrets: std::sync::Arc<scheduler::secrets::Keyring>,
    ) -> scheduler::SchedulerConfig {
        scheduler::SchedulerConfig {
            secrets,
            targets: self.targets(),
            max_in_flight: self.scheduler_max_in_flight as usize,
            batch_size: self.scheduler_batch_size as usize,
            lease: Duration::from_millis(self.scheduler_lease_ms),
            lookahead: Duration::from_millis(self.lookahead_ms()),
            reconcile_interval: Duration::from_millis(self.scheduler_reconcile_interval_ms),
            concurrency: self.concurrency(),
            alerts: self.alerts(),
            ..scheduler::SchedulerConfig::default()
        }
    }
}
