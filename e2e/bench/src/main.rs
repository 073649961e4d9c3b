//! The benchmark harness: starts the real `cronops` binaries against the local PostgreSQL
//! and Redis, runs each scenario, and prints one table with the machine and every figure,
//! each with the command that reproduces it alone.
//!
//!   cargo run --release -p bench -- all          (what `make bench` runs)
//!   cargo run --release -p bench -- burst --jobs 10000
//!   cargo run --release -p bench -- --smoke all  (seconds; part of `make test`)

mod api;
mod burst;
mod fairness;
mod growth;
mod history;
mod lateness;
mod live;
mod memory;
mod sends;
mod setup;
mod steady;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use diesel_async::RunQueryDsl;
use fred::prelude::ClientLike;
use serde_json::json;
use testkit::fixtures;
use testkit::{Cronops, TestEnv, poll_until};
use uuid::Uuid;

use setup::*;

/// The sink and the clients in this process allocate per request from many threads at once;
/// glibc's malloc serialises them on its arena locks, which showed in profiles of `sends`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(about = "CronOps benchmarks")]
struct Args {
    /// Tiny sizes, to check that the harness works (figures are not meaningful).
    #[arg(long, global = true)]
    smoke: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Clone, Subcommand)]
enum Scenario {
    /// Every scenario in turn.
    All,
    /// Many jobs due in the same second.
    Burst {
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        #[arg(long, default_value_t = 2)]
        schedulers: usize,
        /// Every job has an alert policy naming its owner's email.
        #[arg(long)]
        alerts: bool,
        /// Every run fails (HTTP 500), with no retry: with `--alerts`, an alert storm.
        #[arg(long)]
        fail: bool,
    },
    /// Many jobs on 1 s to 1 min schedules: how late each run arrives.
    Lateness {
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        #[arg(long, default_value_t = 120)]
        seconds: u64,
    },
    /// Jobs every second with the default settings: lateness, and slots lost or repeated.
    Steady {
        #[arg(long, default_value_t = 1_000)]
        jobs: usize,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Claim cost per run as the scheduled jobs grow.
    Growth,
    /// Many open subscriptions: delivery latency under a steady event rate, and API
    /// memory per idle subscription.
    Live {
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        /// Subscriptions are spread over this many users (each event is for one user).
        #[arg(long, default_value_t = 1_000)]
        users: usize,
        /// Events published per second.
        #[arg(long, default_value_t = 1_000)]
        rate: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The floor under lateness: requests sent at once through the scheduler's HTTP
    /// client to the sink, with nothing else running.
    Sends {
        #[arg(long, default_value_t = 1_000)]
        requests: usize,
    },
    /// Redis bytes per scheduled job and scheduler memory.
    Memory {
        #[arg(long, default_value_t = 100_000)]
        jobs: usize,
    },
    /// `jobs(first: 20)` through the API against a plain handler running the same SQL.
    Api {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The API's reads over a long history: a user with 500 jobs and many runs, beside
    /// other users' runs.
    History {
        /// The runs of the user whose reads are timed.
        #[arg(long, default_value_t = 1_000_000)]
        user_runs: usize,
        /// Runs in all (`adminStats` reads them all).
        #[arg(long, default_value_t = 10_000_000)]
        total_runs: usize,
    },
    /// Bystanders' every-second jobs alone, then beside users whose targets never answer.
    Fairness {
        #[arg(long, default_value_t = 1_000)]
        jobs: usize,
        /// Users with 500 hanging every-second jobs each.
        #[arg(long, default_value_t = 5)]
        hostile: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
}

/// One line of the result table.
struct Figure {
    scenario: &'static str,
    what: String,
    value: String,
    target: &'static str,
    command: String,
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or("?".to_owned(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    format!("{cores} cores, {memory} memory")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn cmd(args: &str, smoke: bool) -> String {
    format!(
        "cargo run --release -p bench -- {}{args}",
        if smoke { "--smoke " } else { "" }
    )
}

#[tokio::main]
async fn main() {
    // The bench holds thousands of sockets at once (10,000 sends, 10,000 subscribers);
    // the binaries it starts raise their own limit at start.
    if let Ok((soft, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let args = Args::parse();
    let smoke = args.smoke;
    let scenarios = match args.scenario {
        Scenario::All if smoke => vec![
            Scenario::Burst {
                jobs: 200,
                schedulers: 2,
                alerts: false,
                fail: false,
            },
            Scenario::Lateness {
                jobs: 100,
                seconds: 3,
            },
            Scenario::Steady {
                jobs: 100,
                seconds: 2,
            },
            Scenario::Growth,
            Scenario::Sends { requests: 200 },
            Scenario::Memory { jobs: 1_000 },
            Scenario::Api { seconds: 1 },
            Scenario::Live {
                subscribers: 200,
                users: 20,
                rate: 100,
                seconds: 1,
            },
            Scenario::Fairness {
                jobs: 20,
                hostile: 1,
                seconds: 2,
            },
            Scenario::History {
                user_runs: 2_000,
                total_runs: 10_000,
            },
        ],
        Scenario::All => vec![
            // First, before the heavy scenarios leave PostgreSQL vacuuming in the background.
            Scenario::Growth,
            // Also early: they measure sending with nothing else running, and the bench
            // process is still releasing lateness's 330,000 recorded requests after it
            // (1,000 sends took 46-48 ms right after lateness, 19-25 ms otherwise).
            Scenario::Sends { requests: 1_000 },
            // The floor under the minute's instant of `lateness`, where all 10,000 fall due.
            Scenario::Sends { requests: 10_000 },
            Scenario::Burst {
                jobs: 10_000,
                schedulers: 2,
                alerts: false,
                fail: false,
            },
            Scenario::Lateness {
                jobs: 10_000,
                seconds: 120,
            },
            Scenario::Steady {
                jobs: 1_000,
                seconds: 60,
            },
            Scenario::Steady {
                jobs: 5_000,
                seconds: 60,
            },
            Scenario::Memory { jobs: 100_000 },
            Scenario::Burst {
                jobs: 100_000,
                schedulers: 2,
                alerts: false,
                fail: false,
            },
            Scenario::Api { seconds: 10 },
            Scenario::Live {
                subscribers: 10_000,
                users: 1_000,
                rate: 1_000,
                seconds: 10,
            },
            Scenario::Fairness {
                jobs: 1_000,
                hostile: 5,
                seconds: 20,
            },
            // Last: it leaves ten million rows behind in its database.
            Scenario::History {
                user_runs: 1_000_000,
                total_runs: 10_000_000,
            },
        ],
        one => vec![one],
    };
    let mut figures = Vec::new();
    for scenario in scenarios {
        eprintln!("running {scenario:?}");
        settle_postgres().await;
        figures.extend(match scenario {
            Scenario::Burst {
                jobs,
                schedulers,
                alerts,
                fail,
            } => burst::burst(jobs, schedulers, burst::Options { alerts, fail }, smoke).await,
            Scenario::Lateness { jobs, seconds } => lateness::lateness(jobs, seconds, smoke).await,
            Scenario::Steady { jobs, seconds } => steady::steady(jobs, seconds, smoke).await,
            Scenario::Growth => growth::growth(smoke).await,
            Scenario::Sends { requests } => sends::sends(requests, smoke).await,
            Scenario::Memory { jobs } => memory::memory(jobs, smoke).await,
            Scenario::Api { seconds } => api::api(seconds, smoke).await,
            Scenario::Live {
                subscribers,
                users,
                rate,
                seconds,
            } => live::live(subscribers, users, rate, seconds, smoke).await,
            Scenario::Fairness {
                jobs,
                hostile,
                seconds,
            } => fairness::fairness(jobs, hostile, seconds, smoke).await,
            Scenario::History {
                user_runs,
                total_runs,
            } => history::history(user_runs, total_runs, smoke).await,
            Scenario::All => unreachable!("expanded above"),
        });
    }
    let binary = testkit::process::binary();
    println!(
        "CronOps benchmarks on {} ({}){}",
        machine(),
        binary.display(),
        if smoke {
            " - SMOKE RUN, figures not meaningful"
        } else {
            ""
        }
    );
    println!();
    println!("| scenario | what | measured | target | reproduce |");
    println!("|---|---|---|---|---|");
    for f in &figures {
        println!(
            "| {} | {} | {} | {} | `{}` |",
            f.scenario, f.what, f.value, f.target, f.command
        );
    }
}
