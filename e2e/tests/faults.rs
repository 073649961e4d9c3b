//! The scheduler under faults: several instances at once, a scheduler killed mid-run,
//! Redis flushed, PostgreSQL stopped. Every slot fires once and every fired run is
//! recorded.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use db::ExecutionStatus;
use db::models::ExecutionLog;
use testkit::fixtures::{self, JobSpec};
use testkit::target::Reply;
use testkit::{Cronops, PgServer, RedisServer, TestEnv, poll_until};
use uuid::Uuid;

/// Slots of one job's SCHEDULE runs must be consecutive seconds with no gap.
fn assert_no_gap(job: Uuid, runs: &[ExecutionLog]) {
    let mut slots: Vec<_> = runs
        .iter()
        .filter(|r| r.trigger == db::ExecutionTrigger::Schedule)
        .map(|r| r.scheduled_for.timestamp())
        .collect();
    slots.sort_unstable();
    let unique: HashSet<_> = slots.iter().collect();
    assert_eq!(
        unique.len(),
        slots.len(),
        "job {job}: a slot recorded twice"
    );
    for pair in slots.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            1,
            "job {job}: slots {} and {} leave a gap",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test]
async fn three_schedulers_fire_200_jobs_every_second_each_slot_exactly_once() {
    let env = TestEnv::new().await;
    let user = fixtures::user(&env.database).await;
    let mut conn = env.database.connect().await;
    let spec = JobSpec::every_second(env.target.url("/load"));
    let mut jobs = Vec::new();
    for i in 0..200 {
        jobs.push(fixtures::insert_job(&mut conn, user, &spec, &format!("load {i}")).await);
    }
    drop(conn);
    let mut schedulers: Vec<Cronops> = (0..3).map(|_| env.start_scheduler()).collect();

    // The run itself: 30 seconds of every job firing every second.
    tokio::time::sleep(Duration::from_secs(30)).await;
    Cronops::stop_all(&mut schedulers).await;

    let runs = fixtures::all_runs(&env.database).await;
    assert!(runs.len() >= 200 * 25, "only {} runs in 30 s", runs.len());
    let mut by_job: HashMap<Uuid, Vec<ExecutionLog>> = HashMap::new();
    for run in runs.iter().cloned() {
        by_job.entry(run.job_id).or_default().push(run);
    }
    assert_eq!(by_job.len(), 200, "every job fired");
    for (job, runs) in &by_job {
        assert_no_gap(*job, runs);
    }
    let unfinished: Vec<_> = runs
        .iter()
        .filter(|r| r.status != ExecutionStatus::Success)
        .collect();
    assert!(
        unfinished.is_empty(),
        "{} runs not successful: {:?}",
        unfinished.len(),
        unfinished.first()
    );
    let delivered = env.target.deliveries("/load");
    assert_eq!(delivered.len(), runs.len(), "one delivery per recorded run");
    assert!(
        delivered.values().all(|n| *n == 1),
        "a run was delivered twice"
    );
    for run in &runs {
        assert!(
            delivered.contains_key(&run.id.to_string()),
            "run {} never reached the target",
            run.id
        );
    }
    // Every instance took part.
    for scheduler in &schedulers {
        assert!(scheduler.output().contains("scheduler started"));
    }
}

#[tokio::test]
async fn a_scheduler_killed_mid_run_loses_no_slot() {
    let env = TestEnv::new().await;
    // Slower than the schedule: a request is always in flight when the kill comes.
    env.target.reply(
        "/slow",
        Reply {
            delay: Duration::from_millis(1_500),
            ..Reply::default()
        },
    );
    let user = fixtures::user(&env.database).await;
    let mut spec = JobSpec::every_second(env.target.url("/slow"));
    spec.max_retries = 1;
    let job = fixtures::job(&env.database, user, &spec).await;

    let mut doomed = env.start_scheduler();
    env.target
        .wait_for("/slow", 2, Duration::from_secs(15))
        .await;
    // The survivor is up before the kill, as in a deployment of several instances: slots
    // skipped because no instance ran at all (the misfire rule) would be a different case.
    // The doomed instance still holds the requests in flight when it dies.
    let mut survivor = env.start_scheduler();
    poll_until("the survivor to start", Duration::from_secs(15), || {
        let started = survivor.output().contains("scheduler started");
        async move { started.then_some(()) }
    })
    .await;
    doomed.kill();
    let killed_at = chrono::Utc::now();

    // The survivor takes the dead instance's leases back, closes its open run and goes on.
    poll_until(
        "the abandoned run closed and new slots fired",
        Duration::from_secs(30),
        || async {
            let runs = fixtures::runs(&env.database, job).await;
            let abandoned = runs.iter().any(|r| {
                r.status == ExecutionStatus::Failed
                    && r.error.as_deref() == Some(scheduler::engine::ABANDONED)
            });
            let after = runs
                .iter()
                .filter(|r| r.scheduled_for > killed_at + chrono::Duration::seconds(5))
                .count();
            (abandoned && after >= 3).then_some(())
        },
    )
    .await;
    Cronops::stop_all(std::slice::from_mut(&mut survivor)).await;
    let runs = fixtures::runs(&env.database, job).await;
    assert_no_gap(job, &runs);
    assert!(runs.iter().all(|r| r.status.is_final()), "no run left open");
    // The abandoned attempt was retried (maxRetries 1) as attempt 2 of the same slot.
    let abandoned = runs
        .iter()
        .find(|r| r.error.as_deref() == Some(scheduler::engine::ABANDONED))
        .unwrap();
    assert!(
        runs.iter().any(|r| r.trigger == db::ExecutionTrigger::Retry
            && r.attempt == abandoned.attempt + 1
            && r.scheduled_for == abandoned.scheduled_for),
        "no retry of the abandoned attempt: {runs:?}"
    );
}

#[tokio::test]
async fn flushall_is_healed_by_the_reconciler() {
    let redis = RedisServer::start();
    let env = TestEnv::with_redis(redis.url()).await;
    let user = fixtures::user(&env.database).await;
    let job = env.every_second_job(user, "/flush").await;
    let mut server = env.start_all().await;
    env.target
        .wait_for("/flush", 3, Duration::from_secs(15))
        .await;

    assert_eq!(redis.command("FLUSHALL"), "+OK");
    let flushed_at = chrono::Utc::now();
    poll_until("runs after the flush", Duration::from_secs(15), || async {
        let runs = fixtures::runs(&env.database, job).await;
        let after = runs
            .iter()
            .filter(|r| r.scheduled_for > flushed_at + chrono::Duration::seconds(1))
            .count();
        (after >= 3).then_some(())
    })
    .await;
    Cronops::stop_all(std::slice::from_mut(&mut server)).await;
    let runs = fixtures::runs(&env.database, job).await;
    let slots: HashSet<_> = runs.iter().map(|r| r.scheduled_for).collect();
    assert_eq!(slots.len(), runs.len(), "no slot twice across the flush");
    assert!(env.target.deliveries("/flush").values().all(|n| *n == 1));
    // The outage costs at most the slots of one reconcile period (plus a claim).
    let mut seconds: Vec<_> = runs.iter().map(|r| r.scheduled_for.timestamp()).collect();
    seconds.sort_unstable();
    let widest = seconds.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(widest <= 3, "a {widest} s hole after the flush");
    assert!(
        server
            .output()
            .contains("schedules rebuilt from PostgreSQL")
    );
}

#[tokio::test]
async fn postgres_down_for_five_seconds_loses_no_run_record() {
    let pg = PgServer::start();
    let env = TestEnv::new().await;
    let database_url = pg.url("postgres");
    let (status, output) = Cronops::spawn(
        &["migrate"],
        &env.vars_with(&[("DATABASE_URL", &database_url)]),
        env.workdir.path(),
    )
    .wait_output(Duration::from_secs(60))
    .await;
    assert!(status.success(), "{output}");
    env.target.reply(
        "/pg",
        Reply {
            delay: Duration::from_millis(700),
            ..Reply::default()
        },
    );
    let mut conn = {
        use diesel_async::AsyncConnection;
        db::AsyncPgConnection::establish(&database_url)
            .await
            .unwrap()
    };
    let user = {
        use db::models::{NewUser, User};
        User::create(
            &mut conn,
            &NewUser {
                email: "pg@example.com",
                name: "PG",
                password_hash: "x",
                role: db::Role::User,
                plan: db::Plan::Pro,
                email_verified_at: Some(chrono::Utc::now()),
            },
        )
        .await
        .unwrap()
        .id
    };
    let job = fixtures::insert_job(
        &mut conn,
        user,
        &JobSpec::every_second(env.target.url("/pg")),
        "pg",
    )
    .await;
    drop(conn);
    let mut scheduler = Cronops::spawn(
        &["scheduler"],
        &env.vars_with(&[("DATABASE_URL", &database_url)]),
        env.workdir.path(),
    );
    env.target.wait_for("/pg", 3, Duration::from_secs(20)).await;

    pg.stop();
    // The outage itself: five seconds without PostgreSQL.
    tokio::time::sleep(Duration::from_secs(5)).await;
    pg.resume();
    let resumed = chrono::Utc::now();
    let load = || async {
        use diesel::prelude::*;
        use diesel_async::{AsyncConnection, RunQueryDsl};
        let mut conn = db::AsyncPgConnection::establish(&database_url).await.ok()?;
        db::schema::execution_logs::table
            .filter(db::schema::execution_logs::job_id.eq(job))
            .select(ExecutionLog::as_select())
            .load::<ExecutionLog>(&mut conn)
            .await
            .ok()
    };
    poll_until(
        "runs after PostgreSQL is back",
        Duration::from_secs(30),
        || async {
            let runs = load().await?;
            (runs
                .iter()
                .filter(|r| r.went_out_at() > Some(resumed) && r.status.is_final())
                .count()
                >= 3)
                .then_some(())
        },
    )
    .await;
    Cronops::stop_all(std::slice::from_mut(&mut scheduler)).await;

    let runs = load().await.unwrap();
    assert!(
        runs.iter().all(|r| r.status.is_final()),
        "every run closed: {:?}",
        runs.iter()
            .filter(|r| !r.status.is_final())
            .collect::<Vec<_>>()
    );
    let recorded: HashSet<String> = runs.iter().map(|r| r.id.to_string()).collect();
    for (id, count) in env.target.deliveries("/pg") {
        assert_eq!(count, 1, "run {id} delivered twice");
        assert!(
            recorded.contains(&id),
            "run {id} reached the target but has no record"
        );
    }
    assert!(
        [
            "cannot record results yet",
            "could not start claimed runs",
            "could not mark sent runs",
            // Whichever loop next takes a pooled connection broken by the outage meets it.
            "notice delivery round failed",
            "reconcile pass failed"
        ]
        .iter()
        .any(|noticed| scheduler.output().contains(noticed)),
        "the outage was noticed:\n{}",
        scheduler.output()
    );
}
