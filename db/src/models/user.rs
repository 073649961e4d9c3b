//! Accounts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
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
    /// Locks the user's row until the transaction ends: the one lock that per-user limits
    /// (jobs, channels) count under, so concurrent creations cannot overshoot them.
    pub async fn lock(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
        users::table
            .find(id)
            .select(users::id)
            .for_update()
            .first::<Uuid>(conn)
            .await
            .map(drop)
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

    /// Inserts a new account. A taken email fails with a unique violation of
    /// `users_email_key`, which callers turn into CONFLICT.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewUser<'_>) -> QueryResult<User> {
        diesel::insert_into(users::table)
            .values(new)
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }

    /// Marks the email verified (keeps an earlier verification time).
    pub async fn mark_verified(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<User> {
        diesel::update(users::table.find(id))
            .set(users::email_verified_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
            >("coalesce(email_verified_at, now())")))
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }

    /// Replaces the password hash.
    pub async fn set_password_hash(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        password_hash: &str,
    ) -> QueryResult<User> {
        diesel::update(users::table.find(id))
            .set(users::password_hash.eq(password_hash))
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }

    /// Changes the display name.
    pub async fn set_name(conn: &mut AsyncPgConnection, id: Uuid, name: &str) -> QueryResult<User> {
        diesel::update(users::table.find(id))
            .set(users::name.eq(name))
            .returning(User::as_returning())
            .get_result(conn)
            .await
    }

    /// The users with these ids (any order).
    pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<User>> {
        users::table
            .filter(users::id.eq_any(ids))
            .select(User::as_select())
            .load(conn)
            .await
    }

    /// The user with this id, if any.
    pub async fn find_optional(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Option<User>> {
        users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Whether the email is verified.
    pub fn is_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }

    /// Sets a new password hash and revokes every session of the user but the family
    /// `keep` (the caller's own), in one transaction.
    pub async fn change_password(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        new_password_hash: &str,
        keep: Option<Uuid>,
    ) -> QueryResult<User> {
        let new_password_hash = new_password_hash.to_owned();
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            let user = Self::set_password_hash(conn, id, &new_password_hash).await?;
            crate::models::RefreshSession::revoke_all_for_user(conn, id, keep).await?;
            Ok(user)
        })
        .await
    }

    /// Changes the user's role, refusing to leave the system without an administrator.
    /// Every admin row is locked first, so two concurrent demotions of the last two admins
    /// cannot both pass. `Ok(None)` when the user does not exist.
    pub async fn set_role(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        role: Role,
    ) -> QueryResult<Result<Option<User>, LastAdmin>> {
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            let admins: Vec<Uuid> = users::table
                .filter(users::role.eq(Role::Admin))
                .select(users::id)
                .for_update()
                .load(conn)
                .await?;
            if role != Role::Admin && admins == [id] {
                return Ok(Err(LastAdmin));
            }
            let user = diesel::update(users::table.find(id))
                .set(users::role.eq(role))
                .returning(User::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            Ok(Ok(user))
        })
        .await
    }
}

/// The change would leave no administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastAdmin;

impl User {
    /// Changes the plan after `check` approves it against the user's jobs, with the user
    /// row locked so no job is created between the check and the change. `check` returns
    /// what the user must change first.
    pub async fn change_plan<F>(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        plan: Plan,
        check: F,
    ) -> QueryResult<Result<User, String>>
    where
        F: FnOnce(&[crate::models::Job]) -> Result<(), String> + Send + 'static,
    {
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            users::table
                .find(id)
                .select(users::id)
                .for_update()
                .first::<Uuid>(conn)
                .await?;
            let jobs = crate::models::Job::all_of_user(conn, id).await?;
            if let Err(problem) = check(&jobs) {
                return Ok(Err(problem));
            }
            let user = diesel::update(users::table.find(id))
                .set(users::plan.eq(plan))
                .returning(User::as_returning())
                .get_result(conn)
                .await?;
            Ok(Ok(user))
        })
        .await
    }
}

/// Which users an admin listing shows.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive substring of the email or the name.
    pub search: Option<String>,
    pub role: Option<Role>,
}

impl UserFilter {
    fn apply<'a>(
        &self,
        mut query: users::BoxedQuery<'a, diesel::pg::Pg>,
    ) -> users::BoxedQuery<'a, diesel::pg::Pg> {
        if let Some(role) = self.role {
            query = query.filter(users::role.eq(role));
        }
        if let Some(search) = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let pattern = format!("%{}%", crate::models::job::escape_like(search));
            query = query.filter(
                users::email
                    .ilike(pattern.clone())
                    .or(users::name.ilike(pattern)),
            );
        }
        query
    }
}

impl User {
    /// One page of users, newest first, keyset after `after` = (created_at, id).
    pub async fn page(
        conn: &mut AsyncPgConnection,
        filter: &UserFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> QueryResult<Vec<User>> {
        let mut query = filter.apply(users::table.into_boxed());
        if let Some((created_at, id)) = after {
            query = query.filter(
                users::created_at
                    .lt(created_at)
                    .or(users::created_at.eq(created_at).and(users::id.lt(id))),
            );
        }
        query
            .order((users::created_at.desc(), users::id.desc()))
            .limit(limit)
            .select(User::as_select())
            .load(conn)
            .await
    }

    /// How many users match the filter.
    pub async fn count(conn: &mut AsyncPgConnection, filter: &UserFilter) -> QueryResult<i64> {
        filter
            .apply(users::table.into_boxed())
            .count()
            .get_result(conn)
            .await
    }

    /// Deletes a user with their jobs, runs, sessions and codes (cascades), refusing to
    /// delete the last administrator. Returns the ids of the jobs that went, so the caller
    /// can take them off the schedule; `Ok(None)` when there was no such user.
    pub async fn delete_cascade(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> QueryResult<Result<Option<Vec<Uuid>>, LastAdmin>> {
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            let admins: Vec<Uuid> = users::table
                .filter(users::role.eq(Role::Admin))
                .select(users::id)
                .for_update()
                .load(conn)
                .await?;
            if admins == [id] {
                return Ok(Err(LastAdmin));
            }
            let jobs: Vec<Uuid> = crate::schema::jobs::table
                .filter(crate::schema::jobs::user_id.eq(id))
                .select(crate::schema::jobs::id)
                .load(conn)
                .await?;
            let deleted = diesel::delete(users::table.find(id)).execute(conn).await?;
            Ok(Ok((deleted > 0).then_some(jobs)))
        })
        .await
    }
}
