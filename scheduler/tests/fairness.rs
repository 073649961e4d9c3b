//! Claims between users, on a real Redis: users are served in turns, each within its
//! plan's concurrency, and a user at its limit waits without holding anyone up.

use std::time::Duration;

use chrono::{DateTime, Utc};
use db::Plan;
use scheduler::queue::{self, Claimed, Concurrency};
use scheduler::task::Task;
use scheduler::{Keys, redis::RedisPool};
use uuid::Uuid;

fn setup() -> (RedisPool, Keys) {
    let redis = scheduler::redis::connect(&testkit::shared_redis_url(), 2).unwrap();
    let keys = Keys::new(&format!("test-{}", Uuid::new_v4().simple()));
    (redis, keys)
}

/// A user with `jobs` jobs due now, on `plan`.
async fn user_with_due_jobs(redis: &RedisPool, keys: &Keys, plan: Plan, jobs: usize) -> Uuid {
    let due = Utc::now() - chrono::Duration::seconds(1);
    user_with_jobs_due_at(redis, keys, plan, jobs, due).await
}

/// A user with `jobs` jobs due at `due`, on `plan`.
async fn user_with_jobs_due_at(
    redis: &RedisPool,
    keys: &Keys,
    plan: Plan,
    jobs: usize,
    due: DateTime<Utc>,
) -> Uuid {
    let user = Uuid::new_v4();
    queue::set_plan(redis, keys, user, plan).await.unwrap();
    let jobs: Vec<_> = (0..jobs).map(|_| (user, Uuid::new_v4(), due)).collect();
    queue::schedule_many(redis, keys, &jobs).await.unwrap();
    user
}

async fn claim(redis: &RedisPool, keys: &Keys, room: usize) -> Vec<Claimed> {
    let now = Utc::now();
    claim_until(redis, keys, now, now, room).await
}

/// A claim at `now` of up to `room` items due by `horizon`, with the default limits.
async fn claim_until(
    redis: &RedisPool,
    keys: &Keys,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
    room: usize,
) -> Vec<Claimed> {
    queue::claim(
        redis,
        keys,
        &Concurrency::default(),
        "test",
        now,
        horizon,
        Duration::from_secs(30),
        room,
    )
    .await
    .unwrap()
}

fn of(claimed: &[Claimed], user: Uuid) -> usize {
    claimed.iter().filter(|c| c.task.user_id() == user).count()
}

#[tokio::test]
async fn users_are_served_in_turns_not_by_how_much_they_have_due() {
    let (redis, keys) = setup();
    let big = user_with_due_jobs(&redis, &keys, Plan::Pro, 900).await;
    let small: Vec<Uuid> = {
        let mut users = Vec::new();
        for _ in 0..3 {
            users.push(user_with_due_jobs(&redis, &keys, Plan::Pro, 1).await);
        }
        users
    };
    let first = claim(&redis, &keys, 10).await;
    assert_eq!(first.len(), 10);
    for user in &small {
        assert_eq!(of(&first, *user), 1, "every small user in the first claim");
    }
    assert_eq!(of(&first, big), 7, "the big one takes the rest of the room");
    // With the small ones served, the big one has the room to itself.
    let second = claim(&redis, &keys, 100).await;
    assert_eq!(of(&second, big), 100);
}

#[tokio::test]
async fn a_user_at_its_limit_waits_until_a_lease_is_released_and_others_go_on() {
    let (redis, keys) = setup();
    let limits = Concurrency::default();
    let free = user_with_due_jobs(&redis, &keys, Plan::Free, 30).await;
    let first = claim(&redis, &keys, 100).await;
    assert_eq!(
        of(&first, free),
        limits.free as usize,
        "no more than its plan allows"
    );

    // Its backlog is set aside: another user's work is claimed, none of its own.
    let other = user_with_due_jobs(&redis, &keys, Plan::Free, 1).await;
    let blocked: bool =
        fred::prelude::SetsInterface::sismember(redis.next(), keys.blocked(), free.to_string())
            .await
            .unwrap();
    assert!(blocked);
    let second = claim(&redis, &keys, 100).await;
    assert_eq!((of(&second, free), of(&second, other)), (0, 1));

    // Three of its runs end: three more of its slots may go, with a retry queued too.
    let done: Vec<String> = first.iter().take(3).map(|c| c.member.clone()).collect();
    let Task::Slot {
        job_id, slot_ms, ..
    } = first[0].task
    else {
        panic!("a slot: {:?}", first[0]);
    };
    let retry = Task::Retry {
        user_id: free,
        job_id,
        slot_ms,
        attempt: 2,
    };
    queue::release(&redis, &keys, &limits, &done, &[(retry, Utc::now())])
        .await
        .unwrap();
    let third = claim(&redis, &keys, 100).await;
    assert_eq!(of(&third, free), 3, "its earliest work, the older slots");

    // An upgrade lifts the limit at once.
    queue::set_plan(&redis, &keys, free, Plan::Pro)
        .await
        .unwrap();
    let fourth = claim(&redis, &keys, 100).await;
    assert_eq!(of(&fourth, free), 30 + 1 - 10 - 3, "the rest of its work");
    assert!(fourth.iter().any(|c| c.task == retry), "the retry among it");
}

#[tokio::test]
async fn a_manual_run_counts_against_its_users_limit() {
    let (redis, keys) = setup();
    let limits = Concurrency::default();
    let user = user_with_due_jobs(&redis, &keys, Plan::Free, limits.free as usize).await;
    let log_id = Uuid::new_v4();
    queue::enqueue_manual(&redis, &keys, user, log_id)
        .await
        .unwrap();
    let claimed = claim(&redis, &keys, 100).await;
    assert_eq!(claimed.len(), limits.free as usize);
    let manual = Task::Manual {
        user_id: user,
        log_id,
    };
    let waiting = !claimed.iter().any(|c| c.task == manual);
    // Whichever of its work went first, one item waits for a free place.
    let released = vec![claimed[0].member.clone()];
    queue::release(&redis, &keys, &limits, &released, &[])
        .await
        .unwrap();
    let next = claim(&redis, &keys, 100).await;
    assert_eq!(next.len(), 1);
    if waiting {
        assert_eq!(next[0].task, manual);
    }
}

#[tokio::test]
async fn runs_claimed_ahead_never_hold_back_due_work_nor_go_past_the_limit() {
    let (redis, keys) = setup();
    let limits = Concurrency::default();
    let free = limits.free as usize;
    let now = Utc::now();
    let soon = now + chrono::Duration::milliseconds(500);
    let user = user_with_jobs_due_at(&redis, &keys, Plan::Free, 3 * free, soon).await;
    let claim_ahead = || claim_until(&redis, &keys, now, now + chrono::Duration::seconds(1), 100);
    // Ahead of their time: as many as the limit leaves room for, and no more.
    let ahead = claim_ahead().await;
    assert_eq!(ahead.len(), free);
    assert!(claim_ahead().await.is_empty(), "ahead fills the room");

    // Work due now still goes: what is prepared ahead does not count yet.
    queue::schedule(
        &redis,
        &keys,
        user,
        Uuid::new_v4(),
        now - chrono::Duration::seconds(1),
    )
    .await
    .unwrap();
    let due = claim(&redis, &keys, 100).await;
    assert_eq!(due.len(), 1, "{due:?}");

    // When their time comes, the ahead runs go only as far as the room left: the due
    // one took a place, so one of them waits (its user is at its limit) and never more
    // than the limit is out.
    let members: Vec<String> = ahead.iter().map(|c| c.member.clone()).collect();
    let committed = queue::commit(&redis, &keys, "test", &members)
        .await
        .unwrap();
    assert_eq!(committed.sent.len(), free - 1, "{committed:?}");
    assert_eq!(committed.waiting.len(), 1, "{committed:?}");
    let held: u64 = fred::prelude::SetsInterface::scard(redis.next(), keys.held(user))
        .await
        .unwrap();
    assert_eq!(held as usize, free);
    // The waiting one goes once a run ends, before any new work of the user.
    queue::release(&redis, &keys, &limits, &[due[0].member.clone()], &[])
        .await
        .unwrap();
    let retried = queue::commit(&redis, &keys, "test", &committed.waiting)
        .await
        .unwrap();
    assert_eq!(retried.sent, committed.waiting);
    let later = soon + chrono::Duration::milliseconds(10);
    let blocked = claim_until(&redis, &keys, later, later, 100).await;
    assert!(blocked.is_empty(), "{blocked:?}");
}

#[tokio::test]
async fn work_due_now_counts_the_runs_claimed_ahead_for_now() {
    // Another instance's runs claimed ahead for this instant are about to go out: work due
    // now (claimed a moment after the instant, before they are sent) must count them.
    let (redis, keys) = setup();
    let limits = Concurrency::default();
    let free = limits.free as usize;
    let now = Utc::now();
    let slot = now + chrono::Duration::milliseconds(300);
    user_with_jobs_due_at(&redis, &keys, Plan::Free, 2 * free, slot).await;
    let at = |when| {
        claim_until(
            &redis,
            &keys,
            when,
            when + chrono::Duration::seconds(1),
            100,
        )
    };
    assert_eq!(at(now).await.len(), free, "claimed ahead");
    let after_the_instant = slot + chrono::Duration::milliseconds(5);
    assert!(
        at(after_the_instant).await.is_empty(),
        "the ahead runs for this instant count before they are sent"
    );
}

#[tokio::test]
async fn a_user_whose_due_work_has_no_room_is_blocked_until_a_run_ends() {
    // A claim that finds a user's due work but no room for it must not leave it where the
    // next claim looks at once: an idle instance would claim nothing in a busy loop.
    let (redis, keys) = setup();
    let limits = Concurrency::default();
    let free = limits.free as usize;
    let now = Utc::now();
    let lookahead = chrono::Duration::seconds(1);
    let soon = now + chrono::Duration::milliseconds(500);
    user_with_jobs_due_at(&redis, &keys, Plan::Free, 2 * free, soon).await;
    let at = |when| claim_until(&redis, &keys, when, when + lookahead, 100);
    let ahead = at(now).await;
    assert_eq!(ahead.len(), free, "claimed ahead");

    // Due, and the room is its own runs about to go out: blocked until one ends.
    let later = soon + chrono::Duration::milliseconds(5);
    assert!(at(later).await.is_empty());
    let wake = queue::next_wake(&redis, &keys, lookahead)
        .await
        .unwrap()
        .unwrap();
    assert!(
        wake > later + chrono::Duration::seconds(20),
        "woken at {wake}: only the leases' expiry may wake a claim"
    );
    queue::release(&redis, &keys, &limits, &[ahead[0].member.clone()], &[])
        .await
        .unwrap();
    let wake = queue::next_wake(&redis, &keys, lookahead)
        .await
        .unwrap()
        .unwrap();
    assert!(wake <= later, "a run ended: woken at {wake}");
}
