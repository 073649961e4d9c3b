//! `fairness`: bystanders' every-second jobs, first alone, then beside users whose targets
//! never answer, on two schedulers with the default settings. What the bystanders lose is
//! what one tenant can take from the others.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel_async::RunQueryDsl;
use testkit::{Cronops, TestEnv, fixtures};
use uuid::Uuid;

use crate::{Figure, JOBS_PER_USER, cmd, insert_jobs, percentile, print_logs, schedule_all};

/// Arrival minus slot (ms) of each bystander request by slot and job, for slots in
/// [from, until).
fn arrivals(
    env: &TestEnv,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> HashMap<(String, DateTime<Utc>), f64> {
    let mut seen = HashMap::new();
    for request in env.target.received_on("/fair") {
        let job = request.headers["x-cronops-job-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let slot = DateTime::parse_from_rfc3339(
            request.headers["x-cronops-scheduled-for"].to_str().unwrap(),
        )
        .unwrap()
        .with_timezone(&Utc);
        if slot >= from && slot < until {
            let late = (request.received_at - slot).num_microseconds().unwrap_or(0) as f64 / 1e3;
            seen.insert((job, slot), late);
        }
    }
    seen
}

fn describe(seen: &HashMap<(String, DateTime<Utc>), f64>, expected: usize) -> String {
    let mut late: Vec<f64> = seen.values().copied().collect();
    late.sort_by(f64::total_cmp);
    format!(
        "{} of {expected} slots; p50 / p99 / max {:.1} / {:.1} / {:.1} ms",
        seen.len(),
        percentile(&late, 50.0),
        percentile(&late, 99.0),
        late.last().copied().unwrap_or(f64::NAN)
    )
}

/// `jobs` bystander jobs beside `hostile` users of `JOBS_PER_USER` hanging jobs each, for
/// `seconds` each way.
pub async fn fairness(jobs: usize, hostile: usize, seconds: u64, smoke: bool) -> Vec<Figure> {
    let env = TestEnv::new().await;
    env.target.reply(
        "/hang",
        testkit::target::Reply {
            delay: Duration::from_secs(3_600),
            ..Default::default()
        },
    );
    let first = Utc::now() + chrono::Duration::seconds(3);
    let first = DateTime::from_timestamp(first.timestamp(), 0).unwrap();
    let mut conn = env.database.connect().await;
    let mut bystanders = Vec::new();
    for from in (0..jobs).step_by(JOBS_PER_USER) {
        let user = fixtures::user(&env.database).await;
        let n = JOBS_PER_USER.min(jobs - from);
        let url = env.target.url("/fair");
        let ids = insert_jobs(&mut conn, user, n, "* * * * * *", &url).await;
        bystanders.extend(ids.into_iter().map(|id| (user, id, first)));
    }
    let mut hanging = Vec::new();
    for _ in 0..hostile {
        let user = fixtures::user(&env.database).await;
        let url = env.target.url("/hang");
        let ids = insert_jobs(&mut conn, user, JOBS_PER_USER, "* * * * * *", &url).await;
        hanging.extend(ids.into_iter().map(|id| (user, id)));
    }
    // The longest timeout a PRO plan allows: no hanging request times out (and makes
    // room for another) while the scenario runs. Paused until the bystanders have run
    // alone (the reconciler would put them back at once).
    let hang_url = env.target.url("/hang");
    diesel::sql_query(format!(
        "UPDATE jobs SET timeout_ms = 120000, status = 'PAUSED' WHERE target_url = '{hang_url}'"
    ))
    .execute(&mut conn)
    .await
    .expect("hanging jobs' timeout");
    schedule_all(&env, &bystanders).await;
    // The settings a deployment runs (the tests' shorter lease and reconcile period
    // too): only the logs are quieter.
    let vars = env.vars_with(&[
        ("RUST_LOG", "warn"),
        ("SCHEDULER_LEASE_MS", "15000"),
        ("SCHEDULER_RECONCILE_INTERVAL_MS", "1000"),
    ]);
    let processes: Vec<Cronops> = (0..2)
        .map(|_| Cronops::spawn(&["scheduler"], &vars, env.workdir.path()))
        .collect();

    let window = chrono::Duration::seconds(seconds as i64);
    let alone_from = first + chrono::Duration::seconds(2);
    let alone_until = alone_from + window;
    while Utc::now() < alone_until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    diesel::sql_query(format!(
        "UPDATE jobs SET status = 'ACTIVE' WHERE target_url = '{hang_url}'"
    ))
    .execute(&mut conn)
    .await
    .expect("hanging jobs resumed");
    let next = DateTime::from_timestamp(Utc::now().timestamp() + 1, 0).unwrap();
    let hostile_jobs: Vec<(Uuid, Uuid, DateTime<Utc>)> = hanging
        .iter()
        .map(|(user, job)| (*user, *job, next))
        .collect();
    schedule_all(&env, &hostile_jobs).await;
    // Measured once the hanging users hold all they may.
    let cap = hostile * scheduler::queue::Concurrency::default().pro as usize;
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.target.count_on("/hang", |_| true) < cap && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let beside_from = DateTime::from_timestamp(Utc::now().timestamp() + 1, 0).unwrap();
    let beside_until = beside_from + window;
    while Utc::now() < beside_until + chrono::Duration::seconds(3) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    print_logs(&processes);
    // Out at the end: requests the sink got whose runs have not ended. A few do end
    // early: with thousands of connections open on one loopback sink, some go silent and
    // the scheduler's HTTP client gives up on them after 30 s (`FAILED`, "Connection timed
    // out"), which makes room for others, as it should.
    let received: HashSet<String> = env
        .target
        .received_on("/hang")
        .iter()
        .filter_map(|r| {
            Some(
                r.headers
                    .get("x-cronops-execution-id")?
                    .to_str()
                    .ok()?
                    .to_owned(),
            )
        })
        .collect();
    let ended = ended_runs(&mut conn, &hang_url).await;
    let still_out = received.iter().filter(|id| !ended.contains(*id)).count();
    drop(conn);
    drop(processes);

    let expected = jobs * seconds as usize;
    let alone = arrivals(&env, alone_from, alone_until);
    let beside = arrivals(&env, beside_from, beside_until);
    let args = format!("fairness --jobs {jobs} --hostile {hostile} --seconds {seconds}");
    vec![
        Figure {
            scenario: "fairness",
            what: format!("{jobs} bystander jobs every second, alone: slots and lateness"),
            value: describe(&alone, expected),
            target: "all slots",
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "fairness",
            what: format!(
                "the same beside {hostile} users whose {} every-second jobs never answer",
                hostile * JOBS_PER_USER
            ),
            value: describe(&beside, expected),
            target: "all slots, lateness as alone",
            command: cmd(&args, smoke),
        },
        Figure {
            scenario: "fairness",
            what: "requests the hanging users have out at the end (their plans' limit)".to_owned(),
            value: format!(
                "{still_out} of at most {cap} ({} more ended early)",
                received.len() - still_out
            ),
            target: "<= limit",
            command: cmd(&args, smoke),
        },
    ]
}

/// Ids of the runs of jobs on `url` that have ended.
async fn ended_runs(conn: &mut db::AsyncPgConnection, url: &str) -> HashSet<String> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let ids: Vec<Id> = diesel::sql_query(format!(
        "SELECT e.id::text AS id FROM execution_logs e JOIN jobs j ON j.id = e.job_id \
         WHERE j.target_url = '{url}' AND e.finished_at IS NOT NULL"
    ))
    .load(conn)
    .await
    .expect("ended runs");
    ids.into_iter().map(|i| i.id).collect()
}
