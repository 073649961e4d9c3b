//! API keys: what a script authenticates with instead of a password. Only a keyed hash
//! of each key is stored (the API makes it); revoking a key deletes it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::enums::Role;
use crate::schema::{api_keys, users};

/// A key as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    /// The first characters of the key, shown to tell keys apart.
    pub prefix: String,
    pub key_hash: String,
    /// `READ`, `WRITE`, `ADMIN`.
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Stores `key` unless its user has `max` keys already (`Ok(None)` then). The user's
    /// row is locked for the count and the insert, so the limit holds exactly.
    pub async fn create_within_limit(
        conn: &mut AsyncPgConnection,
        key: &ApiKey,
        max: i64,
    ) -> QueryResult<Option<ApiKey>> {
        let key = key.clone();
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            crate::models::User::lock(conn, key.user_id).await?;
            let owned: i64 = api_keys::table
                .filter(api_keys::user_id.eq(key.user_id))
                .count()
                .get_result(conn)
                .await?;
            if owned >= max {
                return Ok(None);
            }
            diesel::insert_into(api_keys::table)
                .values(&key)
                .returning(ApiKey::as_returning())
                .get_result(conn)
                .await
                .map(Some)
        })
        .await
    }

    /// A user's keys, newest first.
    pub async fn of_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<Vec<ApiKey>> {
        api_keys::table
            .filter(api_keys::user_id.eq(user_id))
            .order((api_keys::created_at.desc(), api_keys::id.desc()))
            .select(ApiKey::as_select())
            .load(conn)
            .await
    }

    /// The key stored as `key_hash`, with its owner's role, unless it has expired.
    pub async fn find_live(
        conn: &mut AsyncPgConnection,
        key_hash: &str,
        now: DateTime<Utc>,
    ) -> QueryResult<Option<(ApiKey, Role)>> {
        api_keys::table
            .inner_join(users::table)
            .filter(api_keys::key_hash.eq(key_hash))
            .filter(
                api_keys::expires_at
                    .is_null()
                    .or(api_keys::expires_at.gt(now)),
            )
            .select((ApiKey::as_select(), users::role))
            .first(conn)
            .await
            .optional()
    }

    /// Notes that the key was used at `now`.
    pub async fn touch(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::update(api_keys::table.find(id))
            .set(api_keys::last_used_at.eq(now))
            .execute(conn)
            .await
            .map(drop)
    }

    /// Deletes a key the user owns; whether there was one.
    pub async fn delete_owned(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<bool> {
        diesel::delete(
            api_keys::table
                .find(id)
                .filter(api_keys::user_id.eq(user_id)),
        )
        .execute(conn)
        .await
        .map(|n| n > 0)
    }
}
