//! What the scheduler writes to a job row is bookkeeping, not an edit.

use chrono::{DateTime, Utc};
use db::ExecutionStatus;
use db::models::Job;
use db::test_db::TestDatabase;
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
async fn runs_do_not_change_a_jobs_updated_at_but_edits_do() {
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

    let next = Utc::now() + chrono::Duration::minutes(1);
    assert_eq!(
        Job::set_next_runs(&mut conn, &[(job, Some(next))])
            .await
            .unwrap(),
        1
    );
    let ran = Utc::now();
    assert_eq!(
        Job::record_last_runs(&mut conn, &[(job, ran, ExecutionStatus::Success)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        updated_at(&mut conn, job).await,
        before,
        "scheduler bookkeeping (next and last run) must not count as an edit"
    );

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
