//! Password reset tokens: random, stored hashed, one hour, single use.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::models::{RefreshSession, User};
use crate::schema::password_reset_tokens;

/// A reset token as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = password_reset_tokens, check_for_backend(diesel::pg::Pg))]
pub struct PasswordResetToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl PasswordResetToken {
    /// Stores a new token for the user.
    pub async fn create(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::insert_into(password_reset_tokens::table)
            .values((
                password_reset_tokens::user_id.eq(user_id),
                password_reset_tokens::token_hash.eq(token_hash),
                password_reset_tokens::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Uses the token if it is live, returning its user. One conditional update, so a
    /// token can be used once even by two concurrent requests.
    pub async fn consume(
        conn: &mut AsyncPgConnection,
        token_hash: &str,
    ) -> QueryResult<Option<Uuid>> {
        let now = Utc::now();
        diesel::update(password_reset_tokens::table)
            .filter(password_reset_tokens::token_hash.eq(token_hash))
            .filter(password_reset_tokens::used_at.is_null())
            .filter(password_reset_tokens::expires_at.gt(now))
            .set(password_reset_tokens::used_at.eq(now))
            .returning(password_reset_tokens::user_id)
            .get_result(conn)
            .await
            .optional()
    }

    /// Whether a token with this hash is live (unused, unexpired). A cheap look before the
    /// expensive part of a reset; [`Self::reset_password`] decides for good.
    pub async fn is_live(conn: &mut AsyncPgConnection, token_hash: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            password_reset_tokens::table
                .filter(password_reset_tokens::token_hash.eq(token_hash))
                .filter(password_reset_tokens::used_at.is_null())
                .filter(password_reset_tokens::expires_at.gt(Utc::now())),
        ))
        .get_result(conn)
        .await
    }

    /// Marks every other live token of the user used (a reset ends them all).
    pub async fn consume_all_for_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
    ) -> QueryResult<usize> {
        diesel::update(password_reset_tokens::table)
            .filter(password_reset_tokens::user_id.eq(user_id))
            .filter(password_reset_tokens::used_at.is_null())
            .set(password_reset_tokens::used_at.eq(Utc::now()))
            .execute(conn)
            .await
    }

    /// Uses a live token to set the user's password, in one transaction: every other
    /// reset token of the user dies, every session is revoked, and the email counts as
    /// verified (the link proved it). `None` when the token is unknown, used or expired.
    pub async fn reset_password(
        conn: &mut AsyncPgConnection,
        token_hash: &str,
        new_password_hash: &str,
    ) -> QueryResult<Option<User>> {
        let (token_hash, new_password_hash) = (token_hash.to_owned(), new_password_hash.to_owned());
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            let Some(user_id) = Self::consume(conn, &token_hash).await? else {
                return Ok(None);
            };
            Self::consume_all_for_user(conn, user_id).await?;
            RefreshSession::revoke_all_for_user(conn, user_id, None).await?;
            User::set_password_hash(conn, user_id, &new_password_hash).await?;
            Ok(Some(User::mark_verified(conn, user_id).await?))
        })
        .await
    }
}
