//! What the scheduler writes: runs, never their jobs; batches probed by key.

use chrono::{DateTime, Utc};
use db::models::execution_log::{Completion, NewExecutionLog};
use db::models::{ExecutionLog, Job};
use db::test_db::TestDatabase;
use db::{ExecutionStatus, ExecutionTrigger};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[derive(diesel::QueryableByName)]
struct Stamp {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    updated_at: DateTime<Utc>,
}

async fn updated_at(conn: &mut db::AsyncPgConnection, job: Uuid) -> DateTime<Utc> {
    diesel::sql_query("SELECT updated_at FROM jobs WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(job)
        .get_result::<Stamp>(conn)
        .await
        .unwrap()
        .updated_at
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_do_not_write_their_job_but_edits_move_updated_at() {
    let database = TestDatabase::new().await;
    let mut conn = database.connect().await;
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let job = diesel::sql_query(
        "WITH u AS (INSERT INTO users (email, name, password_hash, email_verified_at) \
                    VALUES ('stamp@example.com', 'Stamp', 'x', now()) RETURNING id) \
         INSERT INTO jobs (user_id, name, cron_expression, target_url, updated_at) \
         SELECT id, 'stamp', '* * * * *', 'https://example.com', now() - interval '1 day' FROM u \
         RETURNING id",
    )
    .get_result::<Id>(&mut conn)
    .await
    .unwrap()
    .id;
    let before = updated_at(&mut conn, job).await;

    let xmin = row_version(&mut conn, job).await;
    let now = Utc::now();
    let user_id = Job::find_many(&mut conn, &[job]).await.unwrap()[0].user_id;
    let run = new_run(job, user_id, now);
    ExecutionLog::insert_new(&mut conn, std::slice::from_ref(&run))
        .await
        .unwrap();
    let closed = ExecutionLog::complete_many(&mut conn, &[success(&run, now)])
        .await
        .unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(
        row_version(&mut conn, job).await,
        xmin,
        "a run writes its own row only, never its job's"
    );
    assert_eq!(updated_at(&mut conn, job).await, before);

    diesel::sql_query("UPDATE jobs SET name = 'renamed' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(job)
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(
        updated_at(&mut conn, job).await > before,
        "an edit moves updated_at"
    );
}

/// A row's version: it changes with every write of the row.
async fn row_version(conn: &mut db::AsyncPgConnection, job: Uuid) -> String {
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Text)]
        xmin: String,
    }
    diesel::sql_query("SELECT xmin::text AS xmin FROM jobs WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(job)
        .get_result::<Version>(conn)
        .await
        .unwrap()
        .xmin
}

/// A scheduled run of `job_id` about to start at `now`.
fn new_run(job_id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> NewExecutionLog {
    NewExecutionLog {
        id: ExecutionLog::slot_id(job_id, now, ExecutionTrigger::Schedule, 1),
        job_id,
        user_id,
        status: ExecutionStatus::Prepared,
        trigger: ExecutionTrigger::Schedule,
        attempt: 1,
        scheduled_for: now,
        late: false,
        started_at: now,
        finished_at: None,
        error: None,
    }
}

/// `run` answered 200 at `now`.
fn success(run: &NewExecutionLog, now: DateTime<Utc>) -> Completion {
    Completion {
        id: run.id,
        scheduled_for: run.scheduled_for,
        status: ExecutionStatus::Success,
        sent_at: now,
        late: false,
        finished_at: now,
        duration_ms: 3,
        http_status: Some(200),
        response_body: Some("ok".to_owned()),
        response_body_truncated: false,
        response_content_type: None,
        error: None,
    }
}

async fn insert_jobs(conn: &mut db::AsyncPgConnection, count: usize) -> Vec<Uuid> {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: Uuid,
    }
    let mut ids: Vec<Uuid> = diesel::sql_query(format!(
        "WITH u AS (INSERT INTO users (email, name, password_hash, email_verified_at) \
                    VALUES ('locks@example.com', 'Locks', 'x', now()) RETURNING id) \
         INSERT INTO jobs (user_id, name, cron_expression, target_url) \
         SELECT u.id, 'job ' || i, '* * * * *', 'https://example.com' \
         FROM u, generate_series(1, {count}) AS i RETURNING id"
    ))
    .load::<Id>(conn)
    .await
    .unwrap()
    .into_iter()
    .map(|i| i.id)
    .collect();
    ids.sort();
    ids
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Scans {
    #[diesel(sql_type = diesel::sql_types::Text)]
    relname: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq_scan: i64,
}

/// Runs read so far in this transaction, from any partition.
async fn runs_read(conn: &mut db::AsyncPgConnection) -> diesel::QueryResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct Read {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        tuples: i64,
    }
    let read: Read = diesel::sql_query(
        "SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)::int8 \
                AS tuples \
         FROM pg_stat_xact_user_tables WHERE relname LIKE 'execution_logs%'",
    )
    .get_result(conn)
    .await?;
    Ok(read.tuples)
}

/// Index scans so far in this transaction, by partition of the runs.
async fn index_scans_by_partition(
    conn: &mut db::AsyncPgConnection,
) -> diesel::QueryResult<std::collections::HashMap<String, i64>> {
    #[derive(diesel::QueryableByName)]
    struct Partition {
        #[diesel(sql_type = diesel::sql_types::Text)]
        relname: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        idx_scan: i64,
    }
    let partitions: Vec<Partition> = diesel::sql_query(
        "SELECT relname::text, coalesce(idx_scan, 0) AS idx_scan FROM pg_stat_xact_user_tables \
         WHERE relid IN (SELECT inhrelid FROM pg_inherits \
                         WHERE inhparent = 'execution_logs'::regclass)",
    )
    .load(conn)
    .await?;
    assert!(partitions.len() > 2, "the runs are partitioned");
    Ok(partitions
        .into_iter()
        .map(|p| (p.relname, p.idx_scan))
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduler_batches_probe_rows_by_key_whatever_the_table_size() {
    // 1,000 of 20,000 analysed jobs, and a run table the statistics still think empty:
    // left to itself the planner reads the whole table for each batch, so a burst's cost
    // grows with the tables.
    use diesel_async::AsyncConnection;
    let database = TestDatabase::new().await;
    let mut conn = database.connect().await;
    let ids = insert_jobs(&mut conn, 20_000).await;
    diesel::sql_query("ANALYZE jobs")
        .execute(&mut conn)
        .await
        .unwrap();
    let batch: Vec<Uuid> = ids.iter().step_by(20).copied().collect();
    let user_id = Job::find_many(&mut conn, &batch[..1]).await.unwrap()[0].user_id;
    let now = Utc::now();
    let rows: Vec<NewExecutionLog> = batch
        .iter()
        .map(|job_id| new_run(*job_id, user_id, now))
        .collect();
    let completions: Vec<Completion> = rows.iter().map(|row| success(row, now)).collect();
    // 50,000 earlier runs in the week of these slots, analysed: a batch that read its
    // partition whole rather than probing its keys would read all of them.
    diesel::sql_query(
        "INSERT INTO execution_logs (job_id, user_id, status, trigger, scheduled_for, started_at) \
         SELECT $1, $2, 'SUCCESS', 'SCHEDULE', t, t \
         FROM generate_series(1, 50000) AS i, LATERAL (SELECT $3 - i * interval '1 ms' AS t) AS s",
    )
    .bind::<diesel::sql_types::Uuid, _>(batch[0])
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("ANALYZE execution_logs")
        .execute(&mut conn)
        .await
        .unwrap();

    // Inside one outer transaction, so that its own scan counters can be read. Inside it a
    // call's setting would last to the end, so it is switched back on before each call:
    // every call must set it itself.
    async fn seq_scans_allowed(conn: &mut db::AsyncPgConnection) -> diesel::QueryResult<()> {
        diesel::sql_query("SELECT set_config('enable_seqscan', 'on', true)")
            .execute(conn)
            .await
            .map(drop)
    }
    let scans = conn
        .transaction::<_, diesel::result::Error, _>(async move |conn| {
            seq_scans_allowed(conn).await?;
            assert_eq!(Job::statuses(conn, &batch).await?.len(), 1_000);
            seq_scans_allowed(conn).await?;
            assert_eq!(Job::load_batch(conn, &batch).await?.len(), 1_000);
            seq_scans_allowed(conn).await?;
            assert_eq!(Job::active_among(conn, &batch).await?.len(), 1_000);
            seq_scans_allowed(conn).await?;
            let started = ExecutionLog::insert_new(conn, &rows).await?;
            assert_eq!(started.len(), 1_000);
            let ids: Vec<Uuid> = started.iter().map(|r| r.id).collect();
            seq_scans_allowed(conn).await?;
            assert_eq!(ExecutionLog::load_batch(conn, &ids).await?.len(), 1_000);
            let before = index_scans_by_partition(conn).await?;
            let read_before = runs_read(conn).await?;
            seq_scans_allowed(conn).await?;
            let done = ExecutionLog::complete_many(conn, &completions).await?;
            assert_eq!(done.len(), 1_000);
            let read = runs_read(conn).await? - read_before;
            assert!(read <= 2_000, "closing 1,000 runs read {read} rows");
            // Closing names each run's slot, so only the week of these slots is probed.
            let after = index_scans_by_partition(conn).await?;
            let probed: Vec<&String> = after
                .iter()
                .filter(|(name, scans)| before.get(*name) != Some(scans))
                .map(|(name, _)| name)
                .collect();
            assert_eq!(probed.len(), 1, "partitions probed: {probed:?}");
            // The runs' partitions count as one table.
            diesel::sql_query(
                "SELECT CASE WHEN relname LIKE 'execution_logs%' THEN 'execution_logs' \
                             ELSE relname::text END AS relname, \
                        sum(seq_scan)::int8 AS seq_scan \
                 FROM pg_stat_xact_user_tables \
                 WHERE relname = 'jobs' OR relname LIKE 'execution_logs%' GROUP BY 1 ORDER BY 1",
            )
            .load::<Scans>(conn)
            .await
        })
        .await
        .unwrap();
    let scan = |relname: &str| Scans {
        relname: relname.to_owned(),
        seq_scan: 0,
    };
    assert_eq!(scans, vec![scan("execution_logs"), scan("jobs")]);

    // The planner settings last for each call's own transaction only: the pooled
    // connection goes back to other users (the API) as it was.
    Job::statuses(&mut conn, &ids[..10]).await.unwrap();
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let setting = diesel::sql_query("SELECT current_setting('enable_seqscan') AS value")
        .get_result::<Setting>(&mut conn)
        .await
        .unwrap();
    assert_eq!(setting.value, "on");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_can_only_belong_to_its_jobs_owner() {
    // Runs carry their owner for tenant filters without a join; the database refuses a
    // run filed under another user than its job's.
    let database = TestDatabase::new().await;
    let mut conn = database.connect().await;
    let job = insert_jobs(&mut conn, 1).await[0];
    let run = |user: &str| {
        format!(
            "INSERT INTO execution_logs (job_id, user_id, status, trigger, scheduled_for) \
             SELECT id, {user}, 'RUNNING', 'SCHEDULE', now() FROM jobs WHERE id = '{job}'"
        )
    };
    diesel::sql_query(
        "INSERT INTO users (email, name, password_hash) VALUES ('other@example.com', 'Other', 'x')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let other = "(SELECT id FROM users WHERE email = 'other@example.com')";
    let refused = diesel::sql_query(run(other)).execute(&mut conn).await;
    assert!(
        matches!(
            refused,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                _
            ))
        ),
        "{refused:?}"
    );
    assert_eq!(
        diesel::sql_query(run("user_id")).execute(&mut conn).await,
        Ok(1)
    );
}
