//! Notification channels: where a user's alerts go (an email address, a webhook, a Slack
//! incoming webhook). Every query is filtered by the owner.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::notification_channels;

/// A channel as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = notification_channels, check_for_backend(diesel::pg::Pg))]
pub struct NotificationChannel {
    pub id: Uuid,
    pub user_id: Uuid,
    /// `EMAIL`, `WEBHOOK` or `SLACK`.
    pub kind: String,
    pub name: String,
    /// The address or URL.
    pub target: String,
    /// The account's own email (added with the account; it cannot be removed).
    pub account_email: bool,
    pub verified_at: Option<DateTime<Utc>>,
    pub verify_token_hash: Option<String>,
    pub verify_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_delivery_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A channel to add.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = notification_channels)]
pub struct NewChannel<'a> {
    pub user_id: Uuid,
    pub kind: &'a str,
    pub name: &'a str,
    pub target: &'a str,
    pub verified_at: Option<DateTime<Utc>>,
    pub verify_token_hash: Option<&'a str>,
    pub verify_expires_at: Option<DateTime<Utc>>,
}

impl NotificationChannel {
    /// A channel by id, whoever owns it (the deliverer's read).
    pub async fn find(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<NotificationChannel>> {
        notification_channels::table
            .find(id)
            .select(NotificationChannel::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// A user's channels, oldest first (the account email first of all).
    pub async fn of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
    ) -> QueryResult<Vec<NotificationChannel>> {
        notification_channels::table
            .filter(notification_channels::user_id.eq(user_id))
            .order((
                notification_channels::account_email.desc(),
                notification_channels::created_at.asc(),
                notification_channels::id.asc(),
            ))
            .select(NotificationChannel::as_select())
            .load(conn)
            .await
    }

    /// Adds a channel unless the user has `max` already (`None` then), counted under
    /// [`crate::models::User::lock`].
    pub async fn create_within_limit(
        conn: &mut AsyncPgConnection,
        new: &NewChannel<'_>,
        max: i64,
    ) -> QueryResult<Option<NotificationChannel>> {
        let new = new.clone();
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            crate::models::User::lock(conn, new.user_id).await?;
            let owned: i64 = notification_channels::table
                .filter(notification_channels::user_id.eq(new.user_id))
                .count()
                .get_result(conn)
                .await?;
            if owned >= max {
                return Ok(None);
            }
            diesel::insert_into(notification_channels::table)
                .values(&new)
                .returning(NotificationChannel::as_returning())
                .get_result(conn)
                .await
                .map(Some)
        })
        .await
    }

    /// Deletes one of the user's channels, never the account email. Whether one went.
    pub async fn delete_owned(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<bool> {
        diesel::delete(
            notification_channels::table
                .find(id)
                .filter(notification_channels::user_id.eq(user_id))
                .filter(notification_channels::account_email.eq(false)),
        )
        .execute(conn)
        .await
        .map(|n| n > 0)
    }

    /// Marks verified the channel whose live link token has this hash; the token works
    /// once.
    pub async fn verify(
        conn: &mut AsyncPgConnection,
        token_hash: &str,
    ) -> QueryResult<Option<NotificationChannel>> {
        let now = Utc::now();
        diesel::update(notification_channels::table)
            .filter(notification_channels::verify_token_hash.eq(token_hash))
            .filter(notification_channels::verify_expires_at.gt(now))
            .set((
                notification_channels::verified_at.eq(now),
                notification_channels::verify_token_hash.eq(None::<String>),
                notification_channels::verify_expires_at.eq(None::<DateTime<Utc>>),
            ))
            .returning(NotificationChannel::as_returning())
            .get_result(conn)
            .await
            .optional()
    }
}
