//! Jobs as listings show them: a page of a filter, its count, and counts per user.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::enums::JobStatus;
use crate::schema::jobs;

use super::Job;

impl Job {
    /// One page of jobs, newest first, keyset after `after` = (created_at, id).
    pub async fn page(
        conn: &mut AsyncPgConnection,
        filter: &JobFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> QueryResult<Vec<Job>> {
        let mut query = filter.apply(jobs::table.into_boxed());
        if let Some((created_at, id)) = after {
            query = query.filter(
                jobs::created_at
                    .lt(created_at)
                    .or(jobs::created_at.eq(created_at).and(jobs::id.lt(id))),
            );
        }
        query
            .order((jobs::created_at.desc(), jobs::id.desc()))
            .limit(limit)
            .select(Job::as_select())
            .load(conn)
            .await
    }

    /// How many jobs match the filter.
    pub async fn count(conn: &mut AsyncPgConnection, filter: &JobFilter) -> QueryResult<i64> {
        filter
            .apply(jobs::table.into_boxed())
            .count()
            .get_result(conn)
            .await
    }

    /// How many jobs each of these users owns (users without jobs are absent).
    pub async fn count_by_user(
        conn: &mut AsyncPgConnection,
        user_ids: &[Uuid],
    ) -> QueryResult<Vec<(Uuid, i64)>> {
        jobs::table
            .filter(jobs::user_id.eq_any(user_ids))
            .group_by(jobs::user_id)
            .select((jobs::user_id, diesel::dsl::count_star()))
            .load(conn)
            .await
    }
}

/// Which jobs a listing shows.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this user's (always set for users; admins may list everyone's).
    pub user_id: Option<Uuid>,
    pub status: Option<JobStatus>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Only jobs with this tag.
    pub tag: Option<String>,
}

impl JobFilter {
    fn apply<'a>(
        &self,
        mut query: jobs::BoxedQuery<'a, diesel::pg::Pg>,
    ) -> jobs::BoxedQuery<'a, diesel::pg::Pg> {
        if let Some(user_id) = self.user_id {
            query = query.filter(jobs::user_id.eq(user_id));
        }
        if let Some(status) = self.status {
            query = query.filter(jobs::status.eq(status));
        }
        if let Some(tag) = &self.tag {
            query = query.filter(jobs::tags.contains(vec![tag.clone()]));
        }
        if let Some(search) = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            query = query.filter(jobs::name.ilike(format!("%{}%", escape_like(search))));
        }
        query
    }
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a LIKE pattern.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
