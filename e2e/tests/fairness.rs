//! One user cannot take the capacity of others: a user whose targets hang holds at most
//! its plan's runs, across every scheduler instance, and everyone else keeps their slots.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use db::Plan;
use testkit::fixtures::{self, JobSpec};
use testkit::target::{HttpTarget, Reply};
use testkit::{Cronops, TestEnv, poll_until};
use uuid::Uuid;

/// A target path that never answers within any job's timeout.
fn hang(target: &HttpTarget, path: &str) {
    target.reply(
        path,
        Reply {
            delay: Duration::from_secs(600),
            ..Reply::default()
        },
    );
}

/// `count` every-second jobs of a new user on `plan` calling `url`, scheduled in Redis
/// as the API would (plan recorded, jobs in the user's work).
async fn user_with_jobs(env: &TestEnv, plan: Plan, count: usize, url: &str) -> Uuid {
    let user = user_on(env, plan).await;
    let mut conn = env.database.connect().await;
    let mut spec = JobSpec::every_second(url.to_owned());
    spec.timeout_ms = 60_000;
    let first = Utc::now() + chrono::Duration::seconds(1);
    spec.next_run_at = Some(DateTime::from_timestamp(first.timestamp(), 0).unwrap());
    let mut jobs = Vec::new();
    for i in 0..count {
        let job = fixtures::insert_job(&mut conn, user, &spec, &format!("job {i}")).await;
        jobs.push((user, job, spec.next_run_at.unwrap()));
    }
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let keys = scheduler::Keys::new(&env.key_prefix);
    scheduler::queue::set_plan(&redis, &keys, user, plan)
        .await
        .unwrap();
    scheduler::queue::schedule_many(&redis, &keys, &jobs)
        .await
        .unwrap();
    user
}

/// A new user on `plan`, its plan not yet recorded in Redis.
async fn user_on(env: &TestEnv, plan: Plan) -> Uuid {
    let user = fixtures::user(&env.database).await;
    let mut conn = env.database.connect().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE users SET plan = '{plan}' WHERE id = '{user}'"
        )),
        &mut conn,
    )
    .await
    .unwrap();
    user
}

/// Arrival minus slot (ms) of each request on `path` whose slot lies in [from, until).
fn lateness(
    target: &HttpTarget,
    path: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> HashMap<DateTime<Utc>, Vec<i64>> {
    let mut by_slot: HashMap<DateTime<Utc>, Vec<i64>> = HashMap::new();
    for hit in target.received_on(path) {
        let slot =
            DateTime::parse_from_rfc3339(hit.headers["x-cronops-scheduled-for"].to_str().unwrap())
                .unwrap()
                .with_timezone(&Utc);
        if slot >= from && slot < until {
            by_slot
                .entry(slot)
                .or_default()
                .push((hit.received_at - slot).num_milliseconds());
        }
    }
    by_slot
}

fn summary(lateness: &HashMap<DateTime<Utc>, Vec<i64>>) -> String {
    let mut all: Vec<i64> = lateness.values().flatten().copied().collect();
    all.sort_unstable();
    match all.as_slice() {
        [] => "no runs".to_owned(),
        sorted => format!(
            "{} slots, lateness p50 {} ms, max {} ms",
            sorted.len(),
            sorted[sorted.len() / 2],
            sorted[sorted.len() - 1]
        ),
    }
}

#[tokio::test]
async fn a_user_whose_targets_hang_cannot_starve_another() {
    let env = TestEnv::new().await;
    hang(&env.target, "/hang");
    let bystander = fixtures::user(&env.database).await;
    env.every_second_job(bystander, "/fast").await;
    // A small instance: without per-user limits the hanging user fills it in four seconds.
    let _scheduler = Cronops::spawn(
        &["scheduler"],
        &env.vars_with(&[("SCHEDULER_MAX_IN_FLIGHT", "2000")]),
        env.workdir.path(),
    );
    env.target
        .wait_for("/fast", 2, Duration::from_secs(15))
        .await;

    // The bystander alone, then beside a PRO user with 500 every-second jobs that hang.
    let alone_from = Utc::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let hostile_from = Utc::now();
    user_with_jobs(&env, Plan::Pro, 500, &env.target.url("/hang")).await;
    let limit = scheduler::queue::Concurrency::default().pro as usize;
    poll_until(
        "the hanging user at its limit",
        Duration::from_secs(15),
        || {
            let out = env.target.received_on("/hang").len();
            async move { (out >= limit).then_some(()) }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let hostile_until = Utc::now() - chrono::Duration::seconds(2);

    let alone = lateness(&env.target, "/fast", alone_from, hostile_from);
    let beside = lateness(&env.target, "/fast", hostile_from, hostile_until);
    eprintln!("bystander alone: {}", summary(&alone));
    eprintln!("bystander beside 500 hanging jobs: {}", summary(&beside));
    assert_eq!(
        env.target.received_on("/hang").len(),
        limit,
        "the hanging user holds exactly its plan's runs"
    );
    let expected = (hostile_until - hostile_from).num_seconds() as usize;
    assert!(
        beside.len() >= expected,
        "the bystander missed slots: {} of ~{expected}",
        beside.len()
    );
    for (slot, late) in &beside {
        assert_eq!(late.len(), 1, "slot {slot} fired {} times", late.len());
        assert!(late[0] < 1_000, "slot {slot} arrived {} ms late", late[0]);
    }
}

#[tokio::test]
async fn a_users_limit_holds_across_scheduler_instances() {
    let env = TestEnv::new().await;
    hang(&env.target, "/free-hang");
    let limit = scheduler::queue::Concurrency::default().free as usize;
    user_with_jobs(&env, Plan::Free, 3 * limit, &env.target.url("/free-hang")).await;
    let bystander = fixtures::user(&env.database).await;
    env.every_second_job(bystander, "/other").await;
    let _schedulers: Vec<Cronops> = (0..2).map(|_| env.start_scheduler()).collect();

    poll_until(
        "the FREE user at its limit",
        Duration::from_secs(15),
        || {
            let out = env.target.received_on("/free-hang").len();
            async move { (out >= limit).then_some(()) }
        },
    )
    .await;
    // Several seconds of every-second slots later, still no more than its limit is out.
    let other_before = env.target.received_on("/other").len();
    env.target
        .wait_for("/other", other_before + 3, Duration::from_secs(15))
        .await;
    assert_eq!(env.target.received_on("/free-hang").len(), limit);
}

#[tokio::test]
async fn a_run_claimed_ahead_waits_while_its_user_is_at_its_limit() {
    // Runs claimed ahead leave room for work that falls due meanwhile; when that work
    // took the room, the run claimed ahead must wait at its slot, not go past the limit.
    let env = TestEnv::new().await;
    let user = user_on(&env, Plan::Free).await;
    let mut conn = env.database.connect().await;
    let mut spec = JobSpec::every_second(env.target.url("/wait"));
    let slot = Utc::now() + chrono::Duration::seconds(4);
    let slot = DateTime::from_timestamp(slot.timestamp(), 0).unwrap();
    spec.next_run_at = Some(slot);
    let job = fixtures::insert_job(&mut conn, user, &spec, "waits").await;
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let keys = scheduler::Keys::new(&env.key_prefix);
    scheduler::queue::set_plan(&redis, &keys, user, Plan::Free)
        .await
        .unwrap();
    scheduler::queue::schedule(&redis, &keys, user, job, slot)
        .await
        .unwrap();
    let _scheduler = env.start_scheduler();

    poll_until("the slot claimed ahead", Duration::from_secs(10), || {
        let (client, key) = (redis.next().clone(), keys.ahead(user));
        async move {
            let ahead: i64 = fred::prelude::SortedSetsInterface::zcard(&client, key)
                .await
                .unwrap();
            (ahead == 1).then_some(())
        }
    })
    .await;
    assert!(Utc::now() < slot, "claimed ahead, before its slot");
    // Meanwhile, the user's limit of other runs went out (on another instance, say).
    let limit = scheduler::queue::Concurrency::default().free as usize;
    let others: Vec<String> = (0..limit)
        .map(|_| format!("s:{user}:{}:0", Uuid::new_v4()))
        .collect();
    let far = (Utc::now() + chrono::Duration::hours(1)).timestamp_millis() as f64;
    let _: () = fred::prelude::SortedSetsInterface::zadd(
        redis.next(),
        keys.leases(),
        None,
        None,
        false,
        false,
        others.iter().map(|m| (far, m.clone())).collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    let _: () = fred::prelude::SetsInterface::sadd(redis.next(), keys.held(user), others.clone())
        .await
        .unwrap();

    // Its slot comes and goes: the run waits.
    let waited = slot + chrono::Duration::milliseconds(1_500);
    tokio::time::sleep((waited - Utc::now()).to_std().unwrap_or_default()).await;
    assert_eq!(
        env.target.received_on("/wait").len(),
        0,
        "a run went out past its user's limit"
    );

    // One of the others ends: the waiting run goes first (the job's later slots wait
    // their turn behind it).
    scheduler::queue::release(
        &redis,
        &keys,
        &scheduler::queue::Concurrency::default(),
        &others[..1],
        &[],
    )
    .await
    .unwrap();
    env.target
        .wait_for("/wait", 1, Duration::from_secs(5))
        .await;
    let first = env
        .target
        .received_on("/wait")
        .into_iter()
        .min_by_key(|hit| hit.received_at)
        .unwrap();
    assert_eq!(
        first.headers["x-cronops-scheduled-for"].to_str().unwrap(),
        slot.to_rfc3339()
    );
    assert!(first.received_at >= waited, "sent late, once room was made");
}
