//! Each user's signing secret: what CronOps signs its requests to the user's endpoints
//! with, so that they can tell them from forgeries. Made on first use.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::signing_secrets;

/// A user's secrets: `current` signs; `next` becomes `current` on rotation.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_secrets, check_for_backend(diesel::pg::Pg))]
pub struct SigningSecret {
    pub user_id: Uuid,
    pub current: String,
    pub next: String,
    pub created_at: DateTime<Utc>,
}

impl SigningSecret {
    /// The user's secrets, made from `fresh` (called twice) if the user has none yet.
    /// Concurrent first uses agree: the first insert wins and every caller reads it.
    pub async fn of_user(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        fresh: impl Fn() -> String,
    ) -> QueryResult<SigningSecret> {
        if let Some(found) = signing_secrets::table
            .find(user_id)
            .select(SigningSecret::as_select())
            .first(conn)
            .await
            .optional()?
        {
            return Ok(found);
        }
        diesel::insert_into(signing_secrets::table)
            .values(&SigningSecret {
                user_id,
                current: fresh(),
                next: fresh(),
                created_at: Utc::now(),
            })
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
        signing_secrets::table
            .find(user_id)
            .select(SigningSecret::as_select())
            .first(conn)
            .await
    }

    /// The secrets of these users, made for those who have none yet (as
    /// [`SigningSecret::of_user`] does): one statement when all have theirs.
    pub async fn of_users(
        conn: &mut AsyncPgConnection,
        user_ids: &[Uuid],
        fresh: impl Fn() -> String,
    ) -> QueryResult<HashMap<Uuid, SigningSecret>> {
        let mut found: HashMap<Uuid, SigningSecret> = signing_secrets::table
            .filter(signing_secrets::user_id.eq_any(user_ids))
            .select(SigningSecret::as_select())
            .load(conn)
            .await?
            .into_iter()
            .map(|s| (s.user_id, s))
            .collect();
        for user_id in user_ids {
            if !found.contains_key(user_id) {
                let made = SigningSecret::of_user(conn, *user_id, &fresh).await?;
                found.insert(*user_id, made);
            }
        }
        Ok(found)
    }

    /// Promotes `next` to `current` and makes a new `next` from `fresh` (making both for
    /// a user who has none yet). Concurrent rotations each promote once.
    pub async fn rotate(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        fresh: impl Fn() -> String,
    ) -> QueryResult<SigningSecret> {
        SigningSecret::of_user(conn, user_id, &fresh).await?;
        diesel::update(signing_secrets::table.find(user_id))
            .set((
                signing_secrets::current.eq(signing_secrets::next),
                signing_secrets::next.eq(fresh()),
                signing_secrets::created_at.eq(Utc::now()),
            ))
            .returning(SigningSecret::as_returning())
            .get_result(conn)
            .await
    }
}
