//! `lateness`: jobs on 1 s to 1 min schedules; how late each run arrives, and whether
//! every slot arrived once.

use super::*;

pub async fn lateness(jobs: usize, seconds: u64, smoke: bool) -> Vec<Figure> {
    let env = TestEnv::new().await;
    let periods = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];
    let mut conn = env.database.connect().await;
    let mut scheduled = Vec::with_capacity(jobs);
    let now = Utc::now() + chrono::Duration::seconds(3);
    // A thousand jobs per period, JOBS_PER_USER to a user.
    for chunk in 0..jobs.div_ceil(1000) {
        let count = 1000.min(jobs - chunk * 1000);
        let period = periods[chunk % periods.len()];
        let cron = if period == 60 {
            "0 * * * * *".to_owned()
        } else {
            format!("*/{period} * * * * *")
        };
        let next = scheduler::cron::Schedule::parse(&cron, "UTC")
            .unwrap()
            .next_after(now)
            .unwrap();
        for first in (0..count).step_by(JOBS_PER_USER) {
            let user = fixtures::user(&env.database).await;
            let n = JOBS_PER_USER.min(count - first);
            let ids = insert_jobs(&mut conn, user, n, &cron, &env.target.url("/late")).await;
            scheduled.extend(ids.into_iter().map(|id| (user, id, next)));
        }
    }
    drop(conn);
    schedule_all(&env, &scheduled).await;
    let processes = start_schedulers(&env, 2);
    let window_start = now;
    let window_end = window_start + chrono::Duration::seconds(seconds as i64);
    let expected: usize = scheduled
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let period = periods[(i / 1000) % periods.len()] as i64;
            ((window_end - window_start).num_seconds() / period) as usize
        })
        .sum();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    // Then until every slot of the window has arrived, for up to 20 s: a run that comes
    // late counts in the lateness figures, not as missed (a fixed 3 s grace could not
    // tell them apart).
    let in_window = |r: &testkit::target::ReceivedRequest| {
        r.headers
            .get("x-cronops-scheduled-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|slot| slot < window_end)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.target.count_on("/late", in_window) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    print_logs(&processes);
    drop(processes);
    let mut lateness_ms = Vec::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut repeated = 0;
    let mut dump = Vec::new();
    for request in env.target.received_on("/late") {
        let job = request.headers["x-cronops-job-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let slot_text = request.headers["x-cronops-scheduled-for"]
            .to_str()
            .unwrap()
            .to_owned();
        let slot = DateTime::parse_from_rfc3339(&slot_text)
            .unwrap()
            .with_timezone(&Utc);
        if slot >= window_end {
            continue;
        }
        if !seen.insert((job, slot_text)) {
            repeated += 1;
        }
        let late = (request.received_at - slot).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        dump.push(format!("{},{late:.3}", slot.timestamp_millis()));
        lateness_ms.push(late);
    }
    // BENCH_DUMP=<file>: every arrival as `slot ms,lateness ms`, to see where lateness is.
    if let Some(path) = std::env::var_os("BENCH_DUMP") {
        std::fs::write(path, dump.join("\n")).expect("write BENCH_DUMP");
    }
    lateness_ms.sort_by(f64::total_cmp);
    let args = format!("lateness --jobs {jobs} --seconds {seconds}");
    vec![
        Figure {
            scenario: "lateness",
            what: format!(
                "{jobs} jobs (1 s..1 min) for {seconds} s: arrival minus slot p50 / p99 / max"
            ),
            value: format!(
                "{:.1} / {:.1} / {:.1} ms",
                percentile(&lateness_ms, 50.0),
                percentile(&lateness_ms, 99.0),
                lateness_ms.last().copied().unwrap_or(f64::NAN)
            ),
            target: "p99 <= 25 ms, max <= 100 ms",
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "lateness",
            what: "slots received / expected (about) and repeated".to_owned(),
            value: format!("{} / ~{expected}, {repeated} repeated", seen.len()),
            target: "none missed or repeated",
            command: cmd(&args, smoke),
        },
    ]
}
