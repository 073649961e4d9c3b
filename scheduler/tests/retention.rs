//! Retention: runs past their owner's plan go, row by row for the shorter plans and a
//! whole week partition at a time for the longest; the dashboard counts follow.

use chrono::Utc;
use testkit::fixtures::{self, JobSpec};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn retention_deletes_only_runs_past_the_owners_plan() {
    let database = db::test_db::TestDatabase::new().await;
    let free = fixtures::user(&database).await; // fixtures make PRO users
    let pro = fixtures::user(&database).await;
    let mut conn = database.connect().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE users SET plan = 'FREE' WHERE id = '{free}'"
        )),
        &mut conn,
    )
    .await
    .unwrap();
    let spec = JobSpec::every_second("http://example.com/".into());
    for (user, ages) in [(free, [1, 6, 8, 30]), (pro, [1, 29, 60, 91])] {
        let job = fixtures::job(&database, user, &spec).await;
        for days in ages {
            diesel_async::RunQueryDsl::execute(
                diesel::sql_query(format!(
                    "INSERT INTO execution_logs (job_id, user_id, status, trigger, scheduled_for, started_at) \
                     VALUES ('{job}', '{user}', 'SUCCESS', 'SCHEDULE', now() - interval '{days} days', now() - interval '{days} days')"
                )),
                &mut conn,
            )
            .await
            .unwrap();
        }
    }
    let deleted = scheduler::retention::sweep(&database.pool(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        deleted, 3,
        "FREE keeps 7 days (8 and 30 go), PRO 90 (91 goes)"
    );
    let left: Vec<i64> = fixtures::all_runs(&database)
        .await
        .iter()
        .map(|r| (Utc::now() - r.started_at).num_days())
        .collect();
    let mut left = left;
    left.sort_unstable();
    assert_eq!(left, [1, 1, 6, 29, 60]);
    // The dashboard counts follow.
    for (user, runs) in [(free, 2), (pro, 3)] {
        let totals = db::models::stats::run_totals(&mut conn, Some(user))
            .await
            .unwrap();
        assert_eq!(totals.total, runs);
    }
}

/// How many partitions the runs have.
async fn partitions(conn: &mut db::AsyncPgConnection) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel_async::RunQueryDsl::get_result::<Count>(
        diesel::sql_query(
            "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'execution_logs'::regclass",
        ),
        conn,
    )
    .await
    .unwrap()
    .n
}

#[tokio::test]
async fn retention_drops_the_weeks_every_plan_has_let_go() {
    let database = db::test_db::TestDatabase::new().await;
    let pro = fixtures::user(&database).await; // fixtures make PRO users, kept 90 days
    let mut conn = database.connect().await;
    let sql = |sql: String| diesel::sql_query(sql);
    diesel_async::RunQueryDsl::execute(
        sql("SELECT create_run_partitions(now() - interval '130 days', now())".into()),
        &mut conn,
    )
    .await
    .unwrap();
    let job = fixtures::job(
        &database,
        pro,
        &JobSpec::every_second("http://example.com/".into()),
    )
    .await;
    // 120 and 100 days old: their weeks ended more than 90 days ago. 1 day old: kept.
    for days in [120, 100, 1] {
        diesel_async::RunQueryDsl::execute(
            sql(format!(
                "INSERT INTO execution_logs (job_id, user_id, status, trigger, scheduled_for, started_at) \
                 VALUES ('{job}', '{pro}', 'SUCCESS', 'SCHEDULE', now() - interval '{days} days', \
                         now() - interval '{days} days')"
            )),
            &mut conn,
        )
        .await
        .unwrap();
    }
    // The week two weeks ahead is missing: the sweep makes it.
    const AHEAD: &str = "'execution_logs_' || \
        to_char(run_week(now() + interval '14 days') AT TIME ZONE 'UTC', 'YYYYMMDD')";
    diesel_async::RunQueryDsl::execute(
        sql(format!(
            "DO $$ BEGIN EXECUTE format('DROP TABLE %I', {AHEAD}); END $$"
        )),
        &mut conn,
    )
    .await
    .unwrap();
    let ahead_exists = format!("SELECT to_regclass({AHEAD}) IS NOT NULL AS value");
    assert!(!db::test_db::query_bool(&mut conn, &ahead_exists).await);
    let before = partitions(&mut conn).await;

    let deleted = scheduler::retention::sweep(&database.pool(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        deleted, 0,
        "no PRO run is deleted row by row outside the default partition"
    );
    let left: Vec<i64> = fixtures::all_runs(&database)
        .await
        .iter()
        .map(|r| (Utc::now() - r.started_at).num_days())
        .collect();
    assert_eq!(left, [1], "the old weeks went whole");
    assert!(
        db::test_db::query_bool(&mut conn, &ahead_exists).await,
        "the coming weeks have their partitions"
    );
    assert!(
        partitions(&mut conn).await < before,
        "week partitions were dropped ({before} before)"
    );
    let totals = db::models::stats::run_totals(&mut conn, Some(pro))
        .await
        .unwrap();
    assert_eq!(totals.total, 1, "the dropped weeks' counts went with them");
    assert!(
        !db::test_db::query_bool(
            &mut conn,
            "SELECT EXISTS (SELECT 1 FROM run_counts WHERE bucket < now() - interval '97 days') AS value"
        )
        .await
    );
}

#[tokio::test]
async fn retention_deletes_notices_as_old_as_the_oldest_runs_kept_unless_pending() {
    let database = db::test_db::TestDatabase::new().await;
    let user = fixtures::user(&database).await;
    let mut conn = database.connect().await;
    for (days, status) in [
        (1, "SENT"),
        (89, "FAILED"),
        (91, "SENT"),
        (120, "FOLDED"),
        (95, "PENDING"),
    ] {
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query(format!(
                "INSERT INTO notifications (user_id, event_id, kind, status, content, created_at) \
                 VALUES ('{user}', gen_random_uuid(), 'TEST', '{status}', '{{}}', now() - interval '{days} days')"
            )),
            &mut conn,
        )
        .await
        .unwrap();
    }
    scheduler::retention::sweep(&database.pool(), &CancellationToken::new())
        .await
        .unwrap();
    #[derive(diesel::QueryableByName)]
    struct Left {
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
    }
    let mut left: Vec<String> = diesel_async::RunQueryDsl::load::<Left>(
        diesel::sql_query("SELECT status FROM notifications"),
        &mut conn,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|l| l.status)
    .collect();
    left.sort();
    assert_eq!(
        left,
        ["FAILED", "PENDING", "SENT"],
        "the 91- and 120-day-old ones go"
    );
}
