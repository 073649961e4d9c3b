//! The API-facing functions, with the engine running in-process on a real PostgreSQL,
//! Redis and HTTP target.

use std::time::Duration;

use chrono::Utc;
use db::models::{ExecutionLog, Job};
use db::{ExecutionStatus, ExecutionTrigger, JobStatus};
use scheduler::{Keys, Scheduler, SchedulerConfig, control, queue};
use testkit::fixtures::{self, JobSpec};
use testkit::{HttpTarget, poll_until};
use tokio_util::sync::CancellationToken;

async fn setup() -> (
    db::test_db::TestDatabase,
    scheduler::redis::RedisPool,
    Keys,
    HttpTarget,
) {
    let database = db::test_db::TestDatabase::new().await;
    let redis = scheduler::redis::connect(&testkit::shared_redis_url(), 2).unwrap();
    let keys = Keys::new(&format!("test-{}", uuid::Uuid::new_v4().simple()));
    (database, redis, keys, HttpTarget::start().await)
}

async fn load_job(database: &db::test_db::TestDatabase, id: uuid::Uuid) -> Job {
    fixtures::job_row(database, id).await
}

#[tokio::test]
async fn schedule_and_unschedule_mirror_the_job_in_its_owners_work() {
    let (database, redis, keys, target) = setup().await;
    let user = fixtures::user(&database).await;
    let mut spec = JobSpec::every_second(target.url("/x"));
    spec.next_run_at = Some(Utc::now() + chrono::Duration::hours(1));
    let id = fixtures::job(&database, user, &spec).await;
    let job = load_job(&database, id).await;

    control::schedule(&redis, &keys, &job).await.unwrap();
    let score = queue::scores(&redis, &keys, &[(user, id)]).await.unwrap()[0];
    assert_eq!(
        score,
        Some(job.next_run_at.unwrap().timestamp_millis() as f64)
    );

    let paused = Job {
        status: JobStatus::Paused,
        ..job.clone()
    };
    control::schedule(&redis, &keys, &paused).await.unwrap();
    assert_eq!(
        queue::scores(&redis, &keys, &[(user, id)]).await.unwrap()[0],
        None
    );

    control::schedule(&redis, &keys, &job).await.unwrap();
    control::unschedule(&redis, &keys, user, id).await.unwrap();
    assert_eq!(
        queue::scores(&redis, &keys, &[(user, id)]).await.unwrap()[0],
        None
    );

    let next = control::next_fire_time(&job, Utc::now()).unwrap();
    assert!(next > Utc::now() && next <= Utc::now() + chrono::Duration::seconds(1));
    assert_eq!(control::next_fire_time(&paused, Utc::now()), None);
}

#[tokio::test]
async fn trigger_now_fires_a_paused_job_once_as_manual() {
    let (database, redis, keys, target) = setup().await;
    let user = fixtures::user(&database).await;
    let mut spec = JobSpec::every_second(target.url("/manual"));
    spec.status = JobStatus::Paused;
    let id = fixtures::job(&database, user, &spec).await;
    let job = load_job(&database, id).await;

    let mut conn = database.connect().await;
    let log = control::trigger_now(&mut conn, &redis, &keys, &job)
        .await
        .unwrap();
    assert_eq!(
        (log.status, log.trigger, log.attempt),
        (ExecutionStatus::Pending, ExecutionTrigger::Manual, 1)
    );

    // Listen to the owner's event channel as the API does.
    let subscriber = fred::prelude::Builder::from_config(
        fred::prelude::Config::from_url(&testkit::shared_redis_url()).unwrap(),
    )
    .build_subscriber_client()
    .unwrap();
    fred::prelude::ClientLike::init(&subscriber).await.unwrap();
    let mut messages = fred::prelude::EventInterface::message_rx(&subscriber);
    fred::prelude::PubsubInterface::subscribe(&subscriber, keys.user_events(user))
        .await
        .unwrap();

    let stop = CancellationToken::new();
    let engine = Scheduler::new(
        database.pool(),
        redis.clone(),
        keys.clone(),
        SchedulerConfig {
            targets: scheduler::ssrf::TargetPolicy {
                allow_private: true,
                ..Default::default()
            },
            ..SchedulerConfig::default()
        },
    );
    let running = tokio::spawn(engine.run(stop.clone()));

    let hits = target.wait_for("/manual", 1, Duration::from_secs(10)).await;
    assert_eq!(
        hits[0].headers["x-cronops-execution-id"],
        log.id.to_string()
    );
    let done = poll_until(
        "the manual run recorded",
        Duration::from_secs(10),
        || async {
            let row = ExecutionLog::find(&mut database.connect().await, log.id)
                .await
                .unwrap()?;
            row.status.is_final().then_some(row)
        },
    )
    .await;
    assert_eq!(done.status, ExecutionStatus::Success);
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(5), messages.recv())
            .await
            .unwrap()
            .unwrap();
        let event: scheduler::events::ExecutionEvent =
            serde_json::from_str(&message.value.as_string().unwrap()).unwrap();
        assert_eq!(event.log.id, log.id);
        kinds.push((event.kind, event.log.status));
    }
    assert_eq!(
        kinds,
        [
            (
                scheduler::events::EventKind::Started,
                ExecutionStatus::Running
            ),
            (
                scheduler::events::EventKind::Succeeded,
                ExecutionStatus::Success
            ),
        ]
    );
    stop.cancel();
    running.await.unwrap().unwrap();
    assert_eq!(
        target.received_on("/manual").len(),
        1,
        "paused: no scheduled run besides the manual one"
    );
}

#[tokio::test]
async fn a_slot_put_back_while_leased_is_not_leased_twice() {
    // The reconciler can see a job missing from Redis while an instance holds its
    // slot (between the claim and the put-back) and add it again at the same time.
    let (database, redis, keys, _target) = setup().await;
    drop(database);
    let (user, job) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let limits = queue::Concurrency::default();
    let slot = Utc::now() - chrono::Duration::seconds(1);
    let claim_due_now = async || {
        queue::claim(
            &redis,
            &keys,
            &limits,
            "test",
            Utc::now(),
            Utc::now(),
            Duration::from_secs(30),
            10,
        )
        .await
        .unwrap()
    };
    queue::schedule(&redis, &keys, user, job, slot)
        .await
        .unwrap();
    let first = claim_due_now().await;
    assert_eq!(first.len(), 1);
    queue::schedule(&redis, &keys, user, job, slot)
        .await
        .unwrap();
    let second = claim_due_now().await;
    assert!(
        second.is_empty(),
        "the held slot was leased again: {second:?}"
    );
    // The holder's lease is intact: releasing a duplicate cannot have removed it.
    let leases: Vec<(String, f64)> = fred::prelude::SortedSetsInterface::zrange(
        redis.next(),
        keys.leases(),
        0,
        -1,
        None,
        false,
        None,
        true,
    )
    .await
    .unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].0, first[0].member);
    assert_eq!(
        queue::scores(&redis, &keys, &[(user, job)]).await.unwrap()[0],
        None,
        "the duplicate left the user's work"
    );
}

#[tokio::test]
async fn a_manual_run_that_cannot_be_queued_leaves_no_pending_row() {
    let database = db::test_db::TestDatabase::new().await;
    // Nothing listens here: queueing fails (after the command timeout).
    let redis =
        scheduler::redis::connect(&format!("redis://127.0.0.1:{}", testkit::free_port()), 1)
            .unwrap();
    let keys = Keys::new("unreachable");
    let user = fixtures::user(&database).await;
    let id = fixtures::job(
        &database,
        user,
        &JobSpec::every_second("http://example.com/".into()),
    )
    .await;
    let job = load_job(&database, id).await;
    let mut conn = database.connect().await;
    assert!(
        control::trigger_now(&mut conn, &redis, &keys, &job)
            .await
            .is_err()
    );
    assert!(
        fixtures::runs(&database, id).await.is_empty(),
        "the PENDING row was taken back"
    );
}

#[tokio::test]
async fn work_taken_back_says_whether_its_request_may_have_gone_out() {
    // Instance A claims two slots ahead and commits to sending one; then it stops
    // renewing. Instance B, taking both back, must fire the unsent one and treat the
    // other as abandoned; A, committing after the takeover, must be refused.
    let (database, redis, keys, _target) = setup().await;
    drop(database);
    let now = Utc::now();
    let user = uuid::Uuid::new_v4();
    let limits = queue::Concurrency::default();
    let (sent_job, unsent_job) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let slot = now + chrono::Duration::milliseconds(500);
    queue::schedule(&redis, &keys, user, sent_job, slot)
        .await
        .unwrap();
    queue::schedule(&redis, &keys, user, unsent_job, slot)
        .await
        .unwrap();
    let horizon = now + chrono::Duration::seconds(1);
    let taken = queue::claim(
        &redis,
        &keys,
        &limits,
        "a",
        now,
        horizon,
        Duration::from_secs(2),
        10,
    )
    .await
    .unwrap();
    assert_eq!(taken.len(), 2, "both slots are claimed ahead: {taken:?}");
    assert!(
        taken
            .iter()
            .all(|c| !c.recovered && c.due_ms == slot.timestamp_millis())
    );
    let member = |job: uuid::Uuid| {
        taken
            .iter()
            .find(|c| matches!(c.task, scheduler::task::Task::Slot { job_id, .. } if job_id == job))
            .unwrap()
            .member
            .clone()
    };
    let committed = queue::commit(&redis, &keys, "a", &[member(sent_job)])
        .await
        .unwrap();
    assert_eq!(committed.sent, [member(sent_job)]);

    // A's leases have expired by B's clock.
    let later = now + chrono::Duration::seconds(3);
    let back = queue::claim(
        &redis,
        &keys,
        &limits,
        "b",
        later,
        later,
        Duration::from_secs(30),
        10,
    )
    .await
    .unwrap();
    assert_eq!(back.len(), 2, "{back:?}");
    for c in &back {
        assert!(c.recovered, "{c:?}");
        assert_eq!(c.unsent, c.member == member(unsent_job), "{c:?}");
    }
    assert!(
        queue::commit(&redis, &keys, "a", &[member(unsent_job)])
            .await
            .unwrap()
            .sent
            .is_empty(),
        "the old holder must not send what another instance took over"
    );
    assert_eq!(
        queue::commit(&redis, &keys, "b", &[member(unsent_job)])
            .await
            .unwrap()
            .sent,
        [member(unsent_job)]
    );
    // Releasing forgets the owners too.
    let members: Vec<String> = back.iter().map(|c| c.member.clone()).collect();
    queue::release(&redis, &keys, &limits, &members, &[])
        .await
        .unwrap();
    let owners: u64 = fred::prelude::HashesInterface::hlen(redis.next(), keys.owners())
        .await
        .unwrap();
    assert_eq!(owners, 0);
}
