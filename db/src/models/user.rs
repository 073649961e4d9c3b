//! Accounts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::enums::{Plan, Role};
use crate::schema::users;

/// A user account as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// PHC string (argon2id); never leaves the server.
    pub password_hash: String,
    pub role: Role,
    pub plan: Plan,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns a new account needs; the rest take their defaults.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub plan: Plan,
    pub email_verified_at: Option<DateTime<Utc>>,
}

/// The stored form of an email: trimmed and lower-cased, so that one address in any case
/// is one account (the unique key compares this form).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl User {
    /// The user with this id.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<User> {
        users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .await
    }

    /// The user with this email, in any case and with surrounding blanks.
    pub async fn find_by_email(
        conn: &mut AsyncPgConnection,
        email: &str,
    ) -> QueryResult<Option<User>> {
        users::table
            .filter(users::email.eq(normalize_email(email)))
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Creates the account, or brings the existing one with the same email to these
    /// values. Used by `cronops seed`, which must give the same state when run twice.
    /// `new.email` must already be normalised ([`normalize_email`]).
    pub async fn upsert(conn: &mut AsyncPgConnection, new: &NewUser<'_>) -> QueryResult<User> {
        diesel::insert_into(users::table)
            .values(new)
            .on_conflict(users::email)
            .do_update()
            .set((
                users::name.eq(excluded(users::name)),
                users::password_hash.eq(excluded(users::password_hash)),
                users::role.eq(excluded(users::role)),
                users::plan.eq(excluded(users::plan)),
                users::email_verified_at.eq(excluded(users::email_verified_at)),
            ))
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }
}
