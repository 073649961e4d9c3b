//! `memory`: Redis bytes per scheduled job and scheduler memory.

use super::*;

pub async fn memory(jobs: usize, smoke: bool) -> Vec<Figure> {
    let env = TestEnv::new().await;
    let ids = bulk_jobs(&env, jobs, "0 0 1 1 *", "http://127.0.0.1:9/never").await;
    let next = Utc::now() + chrono::Duration::days(30);
    let due: Vec<_> = ids.iter().map(|(user, job)| (*user, *job, next)).collect();
    schedule_all(&env, &due).await;
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let keys = scheduler::Keys::new(&env.key_prefix);
    let users: HashSet<Uuid> = ids.iter().map(|(user, _)| *user).collect();
    let mut scheduling_keys: Vec<String> = users.into_iter().map(|u| keys.work(u)).collect();
    scheduling_keys.extend([keys.ready(), keys.plans()]);
    let mut bytes = 0u64;
    for key in &scheduling_keys {
        let used: u64 = redis_command(&redis, "MEMORY", &["USAGE", key, "SAMPLES", "0"]).await;
        bytes += used;
    }
    let process = Cronops::spawn(
        &["scheduler"],
        &scheduler_vars(&env, &[]),
        env.workdir.path(),
    );
    // Let the reconciler page through every job at least once.
    tokio::time::sleep(Duration::from_secs(if smoke { 2 } else { 15 })).await;
    let rss = rss_kib(process.pid());
    drop(process);
    let args = format!("memory --jobs {jobs}");
    vec![
        Figure {
            scenario: "memory",
            what: format!("Redis bytes per scheduled job ({jobs} jobs)"),
            value: format!("{:.0} B", bytes as f64 / jobs as f64),
            target: "<= 150 B",
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "memory",
            what: format!("scheduler RSS with {jobs} jobs"),
            value: format!("{:.1} MiB", rss as f64 / 1024.0),
            target: "<= 64 MiB, flat in job count",
            command: cmd(&args, smoke),
        },
    ]
}
