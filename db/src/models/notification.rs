//! The notices outbox: written in the transaction of the run that causes them, then
//! delivered at least once by whichever scheduler instance leases them first.
//!
//! A PENDING notice is leased by moving its `next_attempt_at` past the longest a send
//! may take: other instances skip it until then, and if the holder dies the lease runs
//! out and another instance sends it. The hourly cap counts alerts (`event_id`: one alert
//! gives one notice per channel); alerts over it are FOLDED and summed up later in one
//! DIGEST per channel.

use std::collections::HashMap;
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

/// Alerts a user received in the window.
#[derive(QueryableByName)]
struct Raised {
    #[diesel(sql_type = SqlUuid)]
    user_id: Uuid,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Notices to insert, column by column.
#[derive(Default)]
struct Rows {
    user_id: Vec<Uuid>,
    event_id: Vec<Uuid>,
    job_id: Vec<Option<Uuid>>,
    channel_id: Vec<Uuid>,
    run_id: Vec<Option<Uuid>>,
    kind: Vec<String>,
    status: Vec<String>,
    content: Vec<serde_json::Value>,
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
    /// Raises alerts, in order: for each, one notice per channel of its `channel_ids`
    /// that is the user's and verified; PENDING, or FOLDED once its user is at the cap
    /// (`None`: no cap, as for a test notice). With a cap, call inside a transaction:
    /// the users are locked until it ends, so concurrent schedulers cannot overshoot
    /// it. Returns the notices written.
    pub async fn raise(
        conn: &mut AsyncPgConnection,
        alerts: &[Alert<'_>],
        cap: Option<Cap>,
    ) -> QueryResult<Vec<Notification>> {
        let mut users: Vec<Uuid> = alerts.iter().map(|a| a.user_id).collect();
        users.sort();
        users.dedup();
        // How many more alerts each user may receive now.
        let mut room: HashMap<Uuid, i64> = HashMap::new();
        if let Some(cap) = cap {
            for user in &users {
                lock_user(conn, *user).await?;
            }
            let raised: Vec<Raised> = diesel::sql_query(
                "SELECT user_id, count(DISTINCT event_id) AS n FROM notifications \
                 WHERE user_id = ANY($1) AND kind <> 'TEST' AND status <> 'FOLDED' \
                   AND created_at > now() - $2::interval GROUP BY user_id",
            )
            .bind::<Array<SqlUuid>, _>(&users)
            .bind::<Text, _>(interval(cap.window))
            .load(conn)
            .await?;
            for user in &users {
                let n = raised
                    .iter()
                    .find(|r| r.user_id == *user)
                    .map_or(0, |r| r.n);
                room.insert(*user, i64::from(cap.per_window) - n);
            }
        }
        let mut rows = Rows::default();
        for alert in alerts {
            let status = match room.get_mut(&alert.user_id) {
                None => "PENDING",
                Some(left) if *left > 0 => {
                    *left -= 1;
                    "PENDING"
                }
                Some(_) => "FOLDED",
            };
            let event_id = Uuid::now_v7();
            for channel in alert.channel_ids {
                rows.user_id.push(alert.user_id);
                rows.event_id.push(event_id);
                rows.job_id.push(alert.job_id);
                rows.channel_id.push(*channel);
                rows.run_id.push(alert.run_id);
                rows.kind.push(alert.kind.to_owned());
                rows.status.push(status.to_owned());
                rows.content.push(alert.content.clone());
            }
        }
        if rows.user_id.is_empty() {
            return Ok(Vec::new());
        }
        diesel::sql_query(
            "INSERT INTO notifications (user_id, event_id, job_id, channel_id, run_id, kind, status, content) \
             SELECT v.user_id, v.event_id, v.job_id, v.channel_id, v.run_id, v.kind, v.status, v.content \
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::jsonb[]) \
                  WITH ORDINALITY AS v(user_id, event_id, job_id, channel_id, run_id, kind, status, content, n) \
             JOIN notification_channels AS c \
               ON c.id = v.channel_id AND c.user_id = v.user_id AND c.verified_at IS NOT NULL \
             ORDER BY v.n \
             RETURNING *",
        )
        .bind::<Array<SqlUuid>, _>(rows.user_id)
        .bind::<Array<SqlUuid>, _>(rows.event_id)
        .bind::<Array<Nullable<SqlUuid>>, _>(rows.job_id)
        .bind::<Array<SqlUuid>, _>(rows.channel_id)
        .bind::<Array<Nullable<SqlUuid>>, _>(rows.run_id)
        .bind::<Array<Text>, _>(rows.kind)
        .bind::<Array<Text>, _>(rows.status)
        .bind::<Array<Jsonb>, _>(rows.content)
        .load(conn)
        .await
    }

    /// Leases up to `limit` due notices for `lease` and counts the attempt. A channel's
    /// notices go out one at a time and in order: a notice is due only once every older
    /// notice of its channel is sent or failed for good, so it is never sent while an
    /// older one is out (however slow the channel) or waits for a retry. A notice whose
    /// channel is gone is leased too: sending it fails for good.
    pub async fn lease_due(
        conn: &mut AsyncPgConnection,
        limit: i64,
        lease: Duration,
    ) -> QueryResult<Vec<Notification>> {
        diesel::sql_query(
            "UPDATE notifications SET next_attempt_at = now() + $2::interval, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM notifications AS n \
                          WHERE status = 'PENDING' AND next_attempt_at <= now() \
                            AND NOT EXISTS (SELECT 1 FROM notifications AS o \
                                            WHERE o.channel_id = n.channel_id AND o.status = 'PENDING' \
                                              AND (o.created_at, o.id) < (n.created_at, n.id)) \
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
