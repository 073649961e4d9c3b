//! Each user's signing secret: what CronOps signs its requests to the user's endpoints
//! with, so that they can tell them from forgeries. Made on first use.

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
}
