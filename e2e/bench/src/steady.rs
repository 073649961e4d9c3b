//! `steady`: `jobs` jobs on `* * * * * *` for `seconds`, on two schedulers with the
//! default settings (as a deployment runs them): how late each run arrives, and whether
//! every slot of the window fired exactly once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use testkit::{Cronops, TestEnv};

use crate::{Figure, JOBS_PER_USER, cmd, insert_jobs, percentile, print_logs, schedule_all};

/// Runs the scenario and returns its figures.
pub async fn steady(jobs: usize, seconds: u64, smoke: bool) -> Vec<Figure> {
    let env = TestEnv::new().await;
    let mut conn = env.database.connect().await;
    let first = DateTime::from_timestamp(Utc::now().timestamp() + 3, 0).expect("a time");
    let mut scheduled = Vec::with_capacity(jobs);
    for start in (0..jobs).step_by(JOBS_PER_USER) {
        let user = testkit::fixtures::user(&env.database).await;
        let n = JOBS_PER_USER.min(jobs - start);
        let ids = insert_jobs(&mut conn, user, n, "* * * * * *", &env.target.url("/s")).await;
        scheduled.extend(ids.into_iter().map(|id| (user, id, first)));
    }
    drop(conn);
    schedule_all(&env, &scheduled).await;
    // The defaults, but for quieter logs (the tests' shorter lease and reconcile period
    // are put back to theirs).
    let vars = env.vars_with(&[
        ("RUST_LOG", "warn"),
        ("SCHEDULER_LEASE_MS", "15000"),
        ("SCHEDULER_RECONCILE_INTERVAL_MS", "1000"),
    ]);
    let processes: Vec<Cronops> = (0..2)
        .map(|_| Cronops::spawn(&["scheduler"], &vars, env.workdir.path()))
        .collect();
    // The first two seconds warm up (connections, caches); the window is after them.
    let from = first + chrono::Duration::seconds(2);
    let until = from + chrono::Duration::seconds(seconds as i64);
    let expected = jobs * seconds as usize;
    let in_window = |slot: DateTime<Utc>| slot >= from && slot < until;
    let slot_of = |r: &testkit::target::ReceivedRequest| {
        r.headers
            .get("x-cronops-scheduled-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    while Utc::now() < until {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Late runs count as late, not as lost: wait for them up to 20 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    while env
        .target
        .count_on("/s", |r| slot_of(r).is_some_and(in_window))
        < expected
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    print_logs(&processes);
    drop(processes);
    let mut seen = HashSet::new();
    let mut repeated = 0;
    let mut lateness_ms = Vec::with_capacity(expected);
    for request in env.target.received_on("/s") {
        let Some(slot) = slot_of(&request).filter(|s| in_window(*s)) else {
            continue;
        };
        let job = request.headers["x-cronops-job-id"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        if !seen.insert((job, slot)) {
            repeated += 1;
            continue;
        }
        lateness_ms.push((request.received_at - slot).num_microseconds().unwrap_or(0) as f64 / 1e3);
    }
    lateness_ms.sort_by(f64::total_cmp);
    let args = format!("steady --jobs {jobs} --seconds {seconds}");
    vec![
        Figure {
            scenario: "steady",
            what: format!(
                "{jobs} jobs every second for {seconds} s, defaults, 2 schedulers: arrival minus slot p50 / p99 / max"
            ),
            value: format!(
                "{:.1} / {:.1} / {:.1} ms",
                percentile(&lateness_ms, 50.0),
                percentile(&lateness_ms, 99.0),
                lateness_ms.last().copied().unwrap_or(f64::NAN)
            ),
            target: if jobs <= 1_000 {
                "p99 <= 25 ms, max <= 50 ms"
            } else {
                "p99 <= 100 ms"
            },
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "steady",
            what: "slots fired / expected, repeated".to_owned(),
            value: format!(
                "{} / {expected} ({} lost), {repeated} repeated",
                seen.len(),
                expected.saturating_sub(seen.len())
            ),
            target: "0 lost, 0 repeated",
            command: cmd(&args, smoke),
        },
    ]
}
