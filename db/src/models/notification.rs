//! The notices outbox: written in the transaction of the run that causes them, then
//! delivered at least once by whichever scheduler instance leases them first.
//!
//! A PENDING notice is leased by moving its `next_attempt_at` past the longest a send
//! may take: other instances skip it until then, and if the holder dies the lease runs
//! out and another instance sends it. The hourly cap counts alerts (`event_id`: one alert
//! gives one notice per channel); alerts over it are FOLDED and summed up later in one
//! DIGEST per channel.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::notifications;

/// A notice as stored.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = notifications, check_for_backend(diesel::pg::Pg))]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The alert it tells (one per channel share it).
    pub event_id: Uuid,
    pub job_id: Option<Uuid>,
    pub channel_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    /// `FAILING`, `RECOVERED`, `AUTO_PAUSED`, `DIGEST` or `TEST`.
    pub kind: String,
    /// `PENDING`, `SENT`, `FAILED` or `FOLDED`.
    pub status: String,
    /// What it says, fixed when it was raised.
    pub content: serde_json::Value,
    pub attempts: i32,
    /// When it may next be sent; while it is being sent, when its lease runs out.
    pub next_attempt_at: DateTime<Utc>,
    /// The digest it was folded into.
    pub digest_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// An alert to raise: one notice per channel of `channel_ids` that is the user's and
/// verified.
#[derive(Debug, Clone)]
pub struct Alert<'a> {
    pub user_id: Uuid,
    pub job_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    pub kind: &'a str,
    pub content: &'a serde_json::Value,
    pub channel_ids: &'a [Uuid],
}

/// At most `per_window` alerts of a user in any `window`; the rest are folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub per_window: u32,
    pub window: Duration,
}

/// Postgres `interval` of a duration, as text (`'3600000 milliseconds'`).
fn interval(duration: Duration) -> String {
    format!("{} milliseconds", duration.as_millis())
}

/// Serialises the user's alerting for the rest of the transaction, so the cap counts
/// every alert another instance is raising at the same moment.
async fn lock_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<()> {
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(hashtextextended('cronops-notify:' || $1::text, 0))",
    )
    .bind::<SqlUuid, _>(user_id)
    .execute(conn)
    .await
    .map(drop)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Alerts of the user counted against the cap: created in the window, not folded, not
/// tests.
async fn alerts_in_window(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    window: Duration,
) -> QueryResult<i64> {
    diesel::sql_query(
        "SELECT count(DISTINCT event_id) AS n FROM notifications \
         WHERE user_id = $1 AND kind <> 'TEST' AND status <> 'FOLDED' \
           AND created_at > now() - $2::interval",
    )
    .bind::<SqlUuid, _>(user_id)
    .bind::<Text, _>(interval(window))
    .get_result::<Count>(conn)
    .await
    .map(|c| c.n)
}

impl Notification {
    /// Raises an alert: PENDING notices, or FOLDED ones when the user is at the cap
    /// (`None`: no cap, as for a test notice). Call inside a transaction: the user is
    /// locked until it ends. Returns the notices written.
    pub async fn raise(
        conn: &mut AsyncPgConnection,
        alert: &Alert<'_>,
        cap: Option<Cap>,
    ) -> QueryResult<Vec<Notification>> {
        let status = match cap {
            Some(cap) => {
                lock_user(conn, alert.user_id).await?;
                let raised = alerts_in_window(conn, alert.user_id, cap.window).await?;
                if raised >= i64::from(cap.per_window) {
                    "FOLDED"
                } else {
                    "PENDING"
                }
            }
            None => "PENDING",
        };
        diesel::sql_query(
            "INSERT INTO notifications (user_id, event_id, job_id, channel_id, run_id, kind, status, content) \
             SELECT $1, $2, $3, c.id, $4, $5, $6, $7 FROM notification_channels c \
             WHERE c.user_id = $1 AND c.id = ANY($8) AND c.verified_at IS NOT NULL \
             RETURNING *",
        )
        .bind::<SqlUuid, _>(alert.user_id)
        .bind::<SqlUuid, _>(Uuid::now_v7())
        .bind::<Nullable<SqlUuid>, _>(alert.job_id)
        .bind::<Nullable<SqlUuid>, _>(alert.run_id)
        .bind::<Text, _>(alert.kind)
        .bind::<Text, _>(status)
        .bind::<Jsonb, _>(alert.content)
        .bind::<Array<SqlUuid>, _>(alert.channel_ids)
        .load(conn)
        .await
    }

    /// Leases up to `limit` due notices for `lease` and counts the attempt. A notice whose
    /// channel is gone is leased too: sending it fails for good.
    pub async fn lease_due(
        conn: &mut AsyncPgConnection,
        limit: i64,
        lease: Duration,
    ) -> QueryResult<Vec<Notification>> {
        diesel::sql_query(
            "UPDATE notifications SET next_attempt_at = now() + $2::interval, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM notifications \
                          WHERE status = 'PENDING' AND next_attempt_at <= now() \
                          ORDER BY next_attempt_at, created_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
             RETURNING *",
        )
        .bind::<BigInt, _>(limit)
        .bind::<Text, _>(interval(lease))
        .load(conn)
        .await
    }

    /// Records a delivery, on the notice and on its channel.
    pub async fn sent(conn: &mut AsyncPgConnection, notice: &Notification) -> QueryResult<()> {
        diesel::sql_query(
            "WITH n AS (UPDATE notifications SET status = 'SENT', sent_at = now(), last_error = NULL \
                        WHERE id = $1 AND status = 'PENDING' RETURNING channel_id) \
             UPDATE notification_channels SET last_delivery_at = now(), last_error = NULL \
             WHERE id = (SELECT channel_id FROM n)",
        )
        .bind::<SqlUuid, _>(notice.id)
        .execute(conn)
        .await
        .map(drop)
    }

    /// Records a failed attempt: tried again at `retry_at`, or FAILED for good when
    /// `None`. The channel shows the error either way.
    pub async fn attempt_failed(
        conn: &mut AsyncPgConnection,
        notice: &Notification,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> QueryResult<()> {
        diesel::sql_query(
            "WITH n AS (UPDATE notifications \
                        SET status = CASE WHEN $3::timestamptz IS NULL THEN 'FAILED' ELSE 'PENDING' END, \
                            next_attempt_at = coalesce($3, next_attempt_at), last_error = $2 \
                        WHERE id = $1 AND status = 'PENDING' RETURNING channel_id) \
             UPDATE notification_channels SET last_error = $2 WHERE id = (SELECT channel_id FROM n)",
        )
        .bind::<SqlUuid, _>(notice.id)
        .bind::<Text, _>(error)
        .bind::<Nullable<Timestamptz>, _>(retry_at)
        .execute(conn)
        .await
        .map(drop)
    }

    /// Users with folded notices not yet in a digest (a few at a time).
    pub async fn users_with_folded(
        conn: &mut AsyncPgConnection,
        limit: i64,
    ) -> QueryResult<Vec<Uuid>> {
        notifications::table
            .filter(notifications::status.eq("FOLDED"))
            .filter(notifications::digest_id.is_null())
            .select(notifications::user_id)
            .distinct()
            .limit(limit)
            .load(conn)
            .await
    }

    /// Folds the user's folded notices into one DIGEST per channel, in one transaction,
    /// if the cap has room for it now; `summary` makes a digest's content from the
    /// notices it sums up. Returns the digests written.
    pub async fn digest(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        cap: Cap,
        summary: fn(&[Notification]) -> serde_json::Value,
    ) -> QueryResult<Vec<Notification>> {
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            lock_user(conn, user_id).await?;
            if alerts_in_window(conn, user_id, cap.window).await? >= i64::from(cap.per_window) {
                return Ok(Vec::new());
            }
            let folded: Vec<Notification> = notifications::table
                .filter(notifications::user_id.eq(user_id))
                .filter(notifications::status.eq("FOLDED"))
                .filter(notifications::digest_id.is_null())
                .order((notifications::created_at.asc(), notifications::id.asc()))
                .select(Notification::as_select())
                .for_update()
                .load(conn)
                .await?;
            let event_id = Uuid::now_v7();
            let mut channels: Vec<Option<Uuid>> = folded.iter().map(|n| n.channel_id).collect();
            channels.sort();
            channels.dedup();
            let mut digests = Vec::new();
            for channel in channels {
                let items: Vec<Notification> = folded
                    .iter()
                    .filter(|n| n.channel_id == channel)
                    .cloned()
                    .collect();
                let ids: Vec<Uuid> = items.iter().map(|n| n.id).collect();
                let status = if channel.is_some() { "PENDING" } else { "FAILED" };
                let digest: Notification = diesel::sql_query(
                    "INSERT INTO notifications (user_id, event_id, channel_id, kind, status, content) \
                     VALUES ($1, $2, $3, 'DIGEST', $4, $5) RETURNING *",
                )
                .bind::<SqlUuid, _>(user_id)
                .bind::<SqlUuid, _>(event_id)
                .bind::<Nullable<SqlUuid>, _>(channel)
                .bind::<Text, _>(status)
                .bind::<Jsonb, _>(summary(&items))
                .get_result(conn)
                .await?;
                diesel::update(notifications::table.filter(notifications::id.eq_any(&ids)))
                    .set(notifications::digest_id.eq(digest.id))
                    .execute(conn)
                    .await?;
                digests.push(digest);
            }
            Ok(digests)
        })
        .await
    }

    /// One page of a user's notices, newest first, after `after` (keyset), of one job if
    /// `job_id` is set.
    pub async fn page_of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        job_id: Option<Uuid>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> QueryResult<Vec<Notification>> {
        let mut query = notifications::table
            .filter(notifications::user_id.eq(user_id))
            .select(Notification::as_select())
            .order((notifications::created_at.desc(), notifications::id.desc()))
            .limit(limit)
            .into_boxed();
        if let Some(job_id) = job_id {
            query = query.filter(notifications::job_id.eq(job_id));
        }
        if let Some((at, id)) = after {
            query = query.filter(
                notifications::created_at
                    .lt(at)
                    .or(notifications::created_at
                        .eq(at)
                        .and(notifications::id.lt(id))),
            );
        }
        query.load(conn).await
    }

    /// One of the user's notices.
    pub async fn find_owned(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<Option<Notification>> {
        notifications::table
            .find(id)
            .filter(notifications::user_id.eq(user_id))
            .select(Notification::as_select())
            .first(conn)
            .await
            .optional()
    }
}
