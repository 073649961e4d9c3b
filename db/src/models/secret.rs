//! Users' secrets as stored: sealed values (`scheduler::secrets` seals and opens them),
//! never plain text.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::secrets;

/// A sealed secret.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = secrets, check_for_backend(diesel::pg::Pg))]
pub struct StoredSecret {
    pub user_id: Uuid,
    pub name: String,
    /// Which of the deployment's keys sealed it.
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StoredSecret {
    /// Stores a secret, replacing the value of one of that name, unless it is new and its
    /// user has `max` already (`Ok(None)` then). The user's row is locked for the count.
    pub async fn put_within_limit(
        conn: &mut AsyncPgConnection,
        secret: &StoredSecret,
        max: i64,
    ) -> QueryResult<Option<StoredSecret>> {
        let secret = secret.clone();
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            crate::models::User::lock(conn, secret.user_id).await?;
            let exists = secrets::table
                .find((secret.user_id, &secret.name))
                .count()
                .get_result::<i64>(conn)
                .await?
                > 0;
            if !exists {
                let owned: i64 = secrets::table
                    .filter(secrets::user_id.eq(secret.user_id))
                    .count()
                    .get_result(conn)
                    .await?;
                if owned >= max {
                    return Ok(None);
                }
            }
            diesel::insert_into(secrets::table)
                .values(&secret)
                .on_conflict((secrets::user_id, secrets::name))
                .do_update()
                .set((
                    secrets::key_id.eq(&secret.key_id),
                    secrets::nonce.eq(&secret.nonce),
                    secrets::ciphertext.eq(&secret.ciphertext),
                    secrets::updated_at.eq(secret.updated_at),
                ))
                .returning(StoredSecret::as_returning())
                .get_result(conn)
                .await
                .map(Some)
        })
        .await
    }

    /// The secrets of these users, by user and name.
    pub async fn of_users(
        conn: &mut AsyncPgConnection,
        user_ids: &[Uuid],
    ) -> QueryResult<Vec<StoredSecret>> {
        secrets::table
            .filter(secrets::user_id.eq_any(user_ids))
            .order((secrets::user_id, secrets::name))
            .select(StoredSecret::as_select())
            .load(conn)
            .await
    }

    /// Deletes a user's secret; whether there was one.
    pub async fn delete(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        name: &str,
    ) -> QueryResult<bool> {
        diesel::delete(secrets::table.find((user_id, name)))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }

    /// Up to `limit` secrets sealed under another key than `key_id`.
    pub async fn under_other_keys(
        conn: &mut AsyncPgConnection,
        key_id: &str,
        limit: i64,
    ) -> QueryResult<Vec<StoredSecret>> {
        secrets::table
            .filter(secrets::key_id.ne(key_id))
            .limit(limit)
            .select(StoredSecret::as_select())
            .load(conn)
            .await
    }

    /// Replaces a secret's sealed value if it is still sealed under `old_key_id` (a value
    /// set meanwhile is left as it is).
    pub async fn reseal(
        conn: &mut AsyncPgConnection,
        old: &StoredSecret,
        key_id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> QueryResult<bool> {
        diesel::update(
            secrets::table
                .find((old.user_id, &old.name))
                .filter(secrets::key_id.eq(&old.key_id))
                .filter(secrets::nonce.eq(&old.nonce)),
        )
        .set((
            secrets::key_id.eq(key_id),
            secrets::nonce.eq(nonce),
            secrets::ciphertext.eq(ciphertext),
        ))
        .execute(conn)
        .await
        .map(|n| n > 0)
    }
}
