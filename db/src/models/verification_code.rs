//! Email verification codes: at most one live code per user.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::models::User;
use crate::schema::email_verification_codes;

/// What one try of a code came to.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeAttempt {
    /// Right code: the email is verified now and the code is gone.
    Verified(User),
    /// Wrong code; `remaining` tries are left (0: the code is dead now).
    Wrong { remaining: i32 },
    /// The code had already used up its tries.
    Exhausted,
    /// The code is past its expiry.
    Expired,
    /// The user has no code (never sent, or already used).
    Missing,
}

/// A user's current sign-up code (hashed).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = email_verification_codes, primary_key(user_id), check_for_backend(diesel::pg::Pg))]
pub struct VerificationCode {
    pub user_id: Uuid,
    pub code_hash: String,
    pub expires_at: DateTime<Utc>,
    /// Wrong tries so far; at the limit the code is dead.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

impl VerificationCode {
    /// Stores a new code for the user, replacing (and so killing) any previous one.
    pub async fn replace(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        code_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::insert_into(email_verification_codes::table)
            .values((
                email_verification_codes::user_id.eq(user_id),
                email_verification_codes::code_hash.eq(code_hash),
                email_verification_codes::expires_at.eq(expires_at),
            ))
            .on_conflict(email_verification_codes::user_id)
            .do_update()
            .set((
                email_verification_codes::code_hash
                    .eq(excluded(email_verification_codes::code_hash)),
                email_verification_codes::expires_at
                    .eq(excluded(email_verification_codes::expires_at)),
                email_verification_codes::attempts.eq(0),
                email_verification_codes::created_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await
            .map(drop)
    }

    /// The user's code, locked until the transaction ends so that concurrent guesses are
    /// counted one after the other.
    pub async fn find_for_update(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
    ) -> QueryResult<Option<VerificationCode>> {
        email_verification_codes::table
            .find(user_id)
            .select(VerificationCode::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// Counts one wrong try.
    pub async fn record_failed_attempt(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
    ) -> QueryResult<i32> {
        diesel::update(email_verification_codes::table.find(user_id))
            .set(email_verification_codes::attempts.eq(email_verification_codes::attempts + 1))
            .returning(email_verification_codes::attempts)
            .get_result(conn)
            .await
    }

    /// Removes the user's code (used, or the account is verified).
    pub async fn delete(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<usize> {
        diesel::delete(email_verification_codes::table.find(user_id))
            .execute(conn)
            .await
    }

    /// Tries `presented_hash` against the user's code, in one transaction with the row
    /// locked so that concurrent guesses are counted one after the other. A right code
    /// verifies the email and deletes the code; a wrong one counts a try.
    pub async fn attempt(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        presented_hash: &str,
        max_attempts: i32,
    ) -> QueryResult<CodeAttempt> {
        let presented_hash = presented_hash.to_owned();
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            let Some(code) = Self::find_for_update(conn, user_id).await? else {
                return Ok(CodeAttempt::Missing);
            };
            if code.attempts >= max_attempts {
                return Ok(CodeAttempt::Exhausted);
            }
            if code.expires_at <= Utc::now() {
                return Ok(CodeAttempt::Expired);
            }
            if code.code_hash != presented_hash {
                let attempts = Self::record_failed_attempt(conn, user_id).await?;
                return Ok(CodeAttempt::Wrong {
                    remaining: (max_attempts - attempts).max(0),
                });
            }
            Self::delete(conn, user_id).await?;
            Ok(CodeAttempt::Verified(
                User::mark_verified(conn, user_id).await?,
            ))
        })
        .await
    }
}
