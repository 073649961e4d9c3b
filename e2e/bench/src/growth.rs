//! `growth`: Redis time per claimed item as the scheduled jobs grow to a million.

use super::*;

pub async fn growth(smoke: bool) -> Vec<Figure> {
    let redis = scheduler::redis::connect(&testkit::shared_redis_url(), 2).expect("redis");
    let sizes: &[usize] = if smoke {
        &[1_000, 10_000]
    } else {
        &[1_000, 100_000, 1_000_000]
    };
    let limits = scheduler::queue::Concurrency::default();
    // Every size filled first, then measured in alternating rounds, each size keeping its
    // best round: a passing disturbance of the machine then cannot land on one size alone.
    let mut sets = Vec::new();
    for &size in sizes {
        let keys = scheduler::Keys::new(&format!("bench-{}", Uuid::new_v4().simple()));
        let far = Utc::now() + chrono::Duration::days(365);
        // Jobs a year away, JOBS_PER_USER to a user, as a deployment of that size has.
        let filler: Vec<(Uuid, Uuid, DateTime<Utc>)> = (0..size.div_ceil(JOBS_PER_USER))
            .flat_map(|_| {
                let user = Uuid::new_v4();
                (0..JOBS_PER_USER).map(move |_| (user, Uuid::new_v4(), far))
            })
            .take(size)
            .collect();
        for chunk in filler.chunks(20_000) {
            scheduler::queue::schedule_many(&redis, &keys, chunk)
                .await
                .unwrap();
        }
        // Script loaded and connections warm before counting.
        scheduler::queue::claim(
            &redis,
            &keys,
            &limits,
            "bench",
            Utc::now(),
            Utc::now(),
            Duration::from_secs(30),
            1,
        )
        .await
        .unwrap();
        sets.push((size, keys, filler, f64::INFINITY, f64::INFINITY));
    }
    for _round in 0..3 {
        for (_, keys, _, best_server, best_wall) in sets.iter_mut() {
            let (server_us, wall_us) = claim_costs(&redis, keys, &limits, 40).await;
            *best_server = best_server.min(server_us);
            *best_wall = best_wall.min(wall_us);
        }
    }
    let base = sets[0].3;
    let mut figures = Vec::new();
    for (size, keys, filler, server_us, wall_us) in sets {
        let users: HashSet<Uuid> = filler.iter().map(|(user, ..)| *user).collect();
        let mut doomed: Vec<String> = users.into_iter().map(|u| keys.work(u)).collect();
        doomed.extend([
            keys.ready(),
            keys.blocked(),
            keys.plans(),
            keys.leases(),
            keys.owners(),
        ]);
        for chunk in doomed.chunks(1_000) {
            let _: () = fred::prelude::KeysInterface::del(redis.next(), chunk.to_vec())
                .await
                .unwrap();
        }
        figures.push(Figure {
            scenario: "growth",
            what: format!("claim cost per run, {size} jobs scheduled"),
            value: format!(
                "{server_us:.2} µs in Redis ({:+.0} % vs smallest); {wall_us:.2} µs wall clock",
                (server_us / base - 1.0) * 100.0
            ),
            target: "flat (within 20 %)",
            command: cmd("growth", smoke),
        });
    }
    figures
}

/// Claims 500 due items (of 50 PRO users) `claims` times from `keys`; returns Redis's own
/// time per claimed item (INFO commandstats around each claim alone, free of the client's
/// and the machine's scheduling noise) and the median wall-clock time per item.
async fn claim_costs(
    redis: &scheduler::redis::RedisPool,
    keys: &scheduler::Keys,
    limits: &scheduler::queue::Concurrency,
    claims: usize,
) -> (f64, f64) {
    let mut per_run_us = Vec::new();
    let mut claimed_total = 0usize;
    let mut script_usec = 0.0;
    for _ in 0..claims {
        let users: Vec<Uuid> = (0..50).map(|_| Uuid::new_v4()).collect();
        let plans: Vec<(Uuid, db::Plan)> = users.iter().map(|u| (*u, db::Plan::Pro)).collect();
        scheduler::queue::set_plans(redis, keys, &plans)
            .await
            .unwrap();
        let due: Vec<(Uuid, Uuid, DateTime<Utc>)> = (0..500)
            .map(|i| {
                let at = Utc::now() - chrono::Duration::seconds(1);
                (users[i % users.len()], Uuid::new_v4(), at)
            })
            .collect();
        scheduler::queue::schedule_many(redis, keys, &due)
            .await
            .unwrap();
        let _: String = redis_command(redis, "CONFIG", &["RESETSTAT"]).await;
        let started = Instant::now();
        let claimed = scheduler::queue::claim(
            redis,
            keys,
            limits,
            "bench",
            Utc::now(),
            Utc::now(),
            Duration::from_secs(30),
            500,
        )
        .await
        .unwrap();
        per_run_us.push(started.elapsed().as_secs_f64() * 1e6 / claimed.len().max(1) as f64);
        let info: String = redis_command(redis, "INFO", &["commandstats"]).await;
        script_usec += info
            .lines()
            .find(|l| l.starts_with("cmdstat_evalsha:"))
            .and_then(|l| l.split(',').find_map(|f| f.strip_prefix("usec=")))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        claimed_total += claimed.len();
        let members: Vec<String> = claimed.iter().map(|c| c.member.clone()).collect();
        scheduler::queue::release(redis, keys, limits, &members, &[])
            .await
            .unwrap();
        for user in users {
            let _: () = fred::prelude::KeysInterface::del(redis.next(), keys.work(user))
                .await
                .unwrap();
        }
    }
    per_run_us.sort_by(f64::total_cmp);
    (
        script_usec / claimed_total.max(1) as f64,
        percentile(&per_run_us, 50.0),
    )
}
