//! The outbox: how notices are leased for sending.

use std::time::Duration;

use db::models::Notification;
use db::models::notification::Alert;
use db::test_db::TestDatabase;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
}

/// A user, and the id of their account email channel (which the user's insert adds).
async fn user_with_channel(conn: &mut db::AsyncPgConnection, email: &str) -> (Uuid, Uuid) {
    let user = diesel::sql_query(
        "INSERT INTO users (email, name, password_hash, email_verified_at) \
         VALUES ($1, 'Notified', 'x', now()) RETURNING id",
    )
    .bind::<diesel::sql_types::Text, _>(email)
    .get_result::<Id>(conn)
    .await
    .unwrap()
    .id;
    let channel = diesel::sql_query("SELECT id FROM notification_channels WHERE user_id = $1")
        .bind::<diesel::sql_types::Uuid, _>(user)
        .get_result::<Id>(conn)
        .await
        .unwrap()
        .id;
    (user, channel)
}

async fn raise(conn: &mut db::AsyncPgConnection, user: Uuid, channel: Uuid) -> Uuid {
    let content = serde_json::json!({});
    let alert = Alert {
        user_id: user,
        job_id: None,
        run_id: None,
        kind: "TEST",
        content: &content,
        channel_ids: &[channel],
    };
    Notification::raise(conn, &[alert], None).await.unwrap()[0].id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_has_one_notice_out_at_a_time_the_oldest_first() {
    let database = TestDatabase::new().await;
    let mut conn = database.connect().await;
    let (ann, anns) = user_with_channel(&mut conn, "ann@example.com").await;
    let (bob, bobs) = user_with_channel(&mut conn, "bob@example.com").await;
    let first = raise(&mut conn, ann, anns).await;
    let second = raise(&mut conn, ann, anns).await;
    let bobs_only = raise(&mut conn, bob, bobs).await;
    let lease = Duration::from_secs(60);

    let mut leased: Vec<Uuid> = Notification::lease_due(&mut conn, 10, lease)
        .await
        .unwrap()
        .iter()
        .map(|n| n.id)
        .collect();
    leased.sort();
    let mut expected = vec![first, bobs_only];
    expected.sort();
    assert_eq!(leased, expected, "one per channel, the oldest");
    // While the first is out, the channel's next waits.
    assert!(
        Notification::lease_due(&mut conn, 10, lease)
            .await
            .unwrap()
            .is_empty()
    );
    diesel::sql_query("UPDATE notifications SET status = 'SENT' WHERE id = $1")
        .bind::<diesel::sql_types::Uuid, _>(first)
        .execute(&mut conn)
        .await
        .unwrap();
    let next = Notification::lease_due(&mut conn, 10, lease).await.unwrap();
    assert_eq!(next.iter().map(|n| n.id).collect::<Vec<_>>(), [second]);
    assert_eq!(next[0].attempts, 1);
}
