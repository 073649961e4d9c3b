//! The reconciler's background pass, with the schedules already built: it mends single
//! entries and users' places, a page at a time, on a real PostgreSQL and Redis.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel_async::RunQueryDsl;
use fred::prelude::*;
use scheduler::{Keys, queue, reconcile};
use testkit::{fixtures, poll_until};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(diesel::QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    next_run_at: DateTime<Utc>,
}

#[tokio::test]
async fn the_background_pass_puts_back_missing_jobs_and_drops_stale_ones_on_every_page() {
    let database = db::test_db::TestDatabase::new().await;
    let redis = scheduler::redis::connect(&testkit::shared_redis_url(), 2).unwrap();
    let keys = Keys::new(&format!("test-{}", Uuid::new_v4().simple()));
    let user = fixtures::user(&database).await;
    let mut conn = database.connect().await;
    // Several pages of the background pass (1,000 jobs each), one job paused.
    let mut jobs: Vec<Row> = diesel::sql_query(format!(
        "INSERT INTO jobs (user_id, name, cron_expression, target_url, next_run_at) \
         SELECT '{user}', 'job ' || i, '0 0 1 1 *', 'https://example.com/', \
                now() + interval '1 day' \
         FROM generate_series(1, 3500) AS i RETURNING id, next_run_at"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    jobs.sort_by_key(|row| row.id);
    let paused = jobs[10].id;
    diesel::sql_query(format!(
        "UPDATE jobs SET status = 'PAUSED' WHERE id = '{paused}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);

    // The schedule as PostgreSQL has it, but for one job missing from each of the last
    // pages, the paused job still there, and jobs PostgreSQL never had.
    let missing = [jobs[1500].id, jobs[2500].id, jobs[3499].id];
    // Enough unknown jobs that some lie beyond the first ZSCAN page, whatever its order.
    let stale: Vec<Uuid> = (0..60).map(|_| Uuid::new_v4()).collect();
    let mut due: Vec<(Uuid, Uuid, DateTime<Utc>)> = jobs
        .iter()
        .filter(|row| !missing.contains(&row.id))
        .map(|row| (user, row.id, row.next_run_at))
        .collect();
    due.extend(
        stale
            .iter()
            .map(|id| (user, *id, Utc::now() + chrono::Duration::days(1))),
    );
    queue::schedule_many(&redis, &keys, &due).await.unwrap();
    // The user counts as many leases as its plan allows, all gone (their holders died
    // and the leases were lost with a failover): it is blocked for nothing.
    let limit = queue::Concurrency::default().pro;
    let ghosts: Vec<String> = (0..limit)
        .map(|_| format!("s:{user}:{}:1", Uuid::new_v4()))
        .collect();
    let _: () = redis.next().sadd(keys.held(user), ghosts).await.unwrap();
    let _: () = redis
        .next()
        .zrem(keys.ready(), user.to_string())
        .await
        .unwrap();
    let _: () = redis
        .next()
        .sadd(keys.blocked(), user.to_string())
        .await
        .unwrap();
    let _: () = redis
        .next()
        .set(keys.rebuilt_marker(), "test", None, None, false)
        .await
        .unwrap();

    let stop = CancellationToken::new();
    let pass = tokio::spawn(reconcile::run(
        database.pool(),
        redis.clone(),
        keys.clone(),
        Duration::from_millis(100),
        stop.clone(),
    ));
    let mut watched: Vec<(Uuid, Uuid)> = missing.iter().map(|id| (user, *id)).collect();
    watched.push((user, paused));
    watched.extend(stale.iter().map(|id| (user, *id)));
    poll_until(
        "the due set to match PostgreSQL",
        Duration::from_secs(30),
        || {
            let (redis, keys, watched) = (&redis, &keys, &watched);
            async move {
                let scores = queue::scores(redis, keys, watched).await.unwrap();
                let back = scores[..missing.len()].iter().all(Option::is_some);
                let gone = scores[missing.len()..].iter().all(Option::is_none);
                (back && gone).then_some(())
            }
        },
    )
    .await;
    stop.cancel();
    pass.await.unwrap();

    // Put back at their own next fire time, and nothing else changed.
    let owned: Vec<(Uuid, Uuid)> = missing.iter().map(|id| (user, *id)).collect();
    let scores = queue::scores(&redis, &keys, &owned).await.unwrap();
    for (id, score) in missing.iter().zip(scores) {
        let row = jobs.iter().find(|row| row.id == *id).unwrap();
        assert_eq!(score, Some(row.next_run_at.timestamp_millis() as f64));
    }
    let size: u64 = redis.next().zcard(keys.work(user)).await.unwrap();
    assert_eq!(size, jobs.len() as u64 - 1);
    // The user is back among the ready ones, its count without the ghosts, its plan known.
    let place: Option<f64> = redis
        .next()
        .zscore(keys.ready(), user.to_string())
        .await
        .unwrap();
    assert!(place.is_some(), "the user is ready again");
    let held: u64 = redis.next().scard(keys.held(user)).await.unwrap();
    assert_eq!(held, 0, "leases that are gone no longer count");
    let blocked: bool = redis
        .next()
        .sismember(keys.blocked(), user.to_string())
        .await
        .unwrap();
    assert!(!blocked);
    let plan: Option<String> = redis
        .next()
        .hget(keys.plans(), user.to_string())
        .await
        .unwrap();
    assert_eq!(plan.as_deref(), Some("PRO"));
}
