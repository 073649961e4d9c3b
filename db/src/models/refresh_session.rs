//! Refresh sessions: one row per issued refresh token, grouped in families by rotation.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::refresh_sessions;

/// A refresh token as stored (hashed). A family starts at login; each rotation adds a row
/// to it and marks the previous one rotated.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = refresh_sessions, check_for_backend(diesel::pg::Pg))]
pub struct RefreshSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A refresh token about to be handed out.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = refresh_sessions)]
pub struct NewRefreshSession<'a> {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The token was live: it is now rotated, and this is its successor in the family.
    Rotated(RefreshSession),
    /// Unknown, expired or revoked: nothing changed.
    Invalid,
    /// Already rotated: someone replayed it, so its whole family is now revoked.
    Reused { family_id: Uuid, user_id: Uuid },
}

impl RefreshSession {
    /// Stores a new refresh token.
    pub async fn create(
        conn: &mut AsyncPgConnection,
        new: &NewRefreshSession<'_>,
    ) -> QueryResult<RefreshSession> {
        diesel::insert_into(refresh_sessions::table)
            .values(new)
            .returning(RefreshSession::as_returning())
            .get_result(conn)
            .await
    }

    /// Rotates a live token: marks it rotated and stores its successor (`new_token_hash`)
    /// in the same family, in one transaction. The conditional update makes two
    /// concurrent refreshes with one token end as one rotation and one reuse. Presenting
    /// an already-rotated token revokes its whole family (the token was stolen or replayed).
    /// A family lives `absolute_ttl` from its login at most: past that its tokens are
    /// invalid, and a successor never outlives it.
    pub async fn rotate(
        conn: &mut AsyncPgConnection,
        token_hash: &str,
        new_token_hash: &str,
        new_expires_at: DateTime<Utc>,
        absolute_ttl: chrono::Duration,
    ) -> QueryResult<Rotation> {
        let (token_hash, new_token_hash) = (token_hash.to_owned(), new_token_hash.to_owned());
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            let now = Utc::now();
            let family: Option<Uuid> = refresh_sessions::table
                .filter(refresh_sessions::token_hash.eq(&token_hash))
                .select(refresh_sessions::family_id)
                .first(conn)
                .await
                .optional()?;
            let Some(family) = family else {
                return Ok(Rotation::Invalid);
            };
            let started: Option<DateTime<Utc>> = refresh_sessions::table
                .filter(refresh_sessions::family_id.eq(family))
                .select(diesel::dsl::min(refresh_sessions::created_at))
                .first(conn)
                .await?;
            let family_ends = started.unwrap_or(now) + absolute_ttl;
            if family_ends <= now {
                return Ok(Rotation::Invalid);
            }
            let new_expires_at = new_expires_at.min(family_ends);
            let rotated = diesel::update(refresh_sessions::table)
                .filter(refresh_sessions::token_hash.eq(&token_hash))
                .filter(refresh_sessions::rotated_at.is_null())
                .filter(refresh_sessions::revoked_at.is_null())
                .filter(refresh_sessions::expires_at.gt(now))
                .set(refresh_sessions::rotated_at.eq(now))
                .returning(RefreshSession::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if let Some(old) = rotated {
                let successor = Self::create(
                    conn,
                    &NewRefreshSession {
                        user_id: old.user_id,
                        family_id: old.family_id,
                        token_hash: &new_token_hash,
                        expires_at: new_expires_at,
                    },
                )
                .await?;
                return Ok(Rotation::Rotated(successor));
            }
            let existing = refresh_sessions::table
                .filter(refresh_sessions::token_hash.eq(&token_hash))
                .select(RefreshSession::as_select())
                .first(conn)
                .await
                .optional()?;
            match existing {
                Some(session) if session.rotated_at.is_some() => {
                    Self::revoke_family(conn, session.family_id).await?;
                    Ok(Rotation::Reused {
                        family_id: session.family_id,
                        user_id: session.user_id,
                    })
                }
                _ => Ok(Rotation::Invalid),
            }
        })
        .await
    }

    /// Revokes every token of a family (a logout, or a detected theft).
    pub async fn revoke_family(
        conn: &mut AsyncPgConnection,
        family_id: Uuid,
    ) -> QueryResult<usize> {
        diesel::update(refresh_sessions::table)
            .filter(refresh_sessions::family_id.eq(family_id))
            .filter(refresh_sessions::revoked_at.is_null())
            .set(refresh_sessions::revoked_at.eq(Utc::now()))
            .execute(conn)
            .await
    }

    /// Revokes the family of the token with this hash; the token's family and user ids,
    /// if known.
    pub async fn revoke_by_token(
        conn: &mut AsyncPgConnection,
        token_hash: &str,
    ) -> QueryResult<Option<(Uuid, Uuid)>> {
        let family = refresh_sessions::table
            .filter(refresh_sessions::token_hash.eq(token_hash))
            .select((refresh_sessions::family_id, refresh_sessions::user_id))
            .first::<(Uuid, Uuid)>(conn)
            .await
            .optional()?;
        if let Some((family_id, _)) = family {
            Self::revoke_family(conn, family_id).await?;
        }
        Ok(family)
    }

    /// Revokes every session of a user except the family `keep` (the caller's own).
    pub async fn revoke_all_for_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        keep: Option<Uuid>,
    ) -> QueryResult<usize> {
        // The nil id is never a family, so `None` keeps nothing.
        let keep = keep.unwrap_or(Uuid::nil());
        diesel::update(refresh_sessions::table)
            .filter(refresh_sessions::user_id.eq(user_id))
            .filter(refresh_sessions::revoked_at.is_null())
            .filter(refresh_sessions::family_id.ne(keep))
            .set(refresh_sessions::revoked_at.eq(Utc::now()))
            .execute(conn)
            .await
    }
}
