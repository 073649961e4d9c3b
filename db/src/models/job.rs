//! Jobs: what to call, on which schedule, and where the job stands.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::batch::load_by_key;
use crate::enums::{HttpMethod, JobStatus, TargetType};
use crate::schema::jobs;

pub use super::job_listing::{JobFilter, escape_like};

/// A scheduled HTTP call as stored. PostgreSQL is its source of truth; the scheduler's
/// Redis work holds the next fire time of each ACTIVE job.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct Job {
    pub id: Uuid,
    /// The owner; every read is filtered by it.
    pub user_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// `None` for a job that runs once, at `run_at`.
    pub cron_expression: Option<String>,
    /// IANA name the cron expression is read in.
    pub timezone: String,
    pub target_type: TargetType,
    pub target_url: String,
    pub http_method: HttpMethod,
    /// A flat JSON object of string values.
    pub headers: Option<serde_json::Value>,
    pub body: Option<String>,
    pub timeout_ms: i32,
    pub max_retries: i32,
    pub status: JobStatus,
    /// The first slot the job may fire at, as of when a user last set its schedule
    /// (created, edited or resumed it). The scheduler does not move it on each run: the
    /// runs themselves say how far the job got, and the API reckons the next fire time
    /// from the expression.
    pub next_run_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What an answer must be for a run to succeed (`scheduler::criteria`); `None`:
    /// any 2xx.
    pub success_criteria: Option<serde_json::Value>,
    /// Where and when its failures are told (`scheduler::alerts`); `None`: never.
    pub alert_policy: Option<serde_json::Value>,
    /// Runs failed in a row, their retries spent (the scheduler's count).
    pub consecutive_failures: i32,
    /// Why the scheduler paused the job, until it is resumed.
    pub paused_reason: Option<String>,
    /// What its owner wrote when pausing it, until it is resumed.
    pub pause_note: Option<String>,
    /// Which failures it retries and how long it waits (`scheduler::retry`); `None`:
    /// every failure, the default waits.
    pub retry_policy: Option<serde_json::Value>,
    /// `LATEST_ONCE`, `SKIP` or `ALL`: what it does with slots missed in a gap
    /// (`scheduler::catch_up`).
    pub catch_up_policy: String,
    /// `ALLOW` or `SKIP`: whether a slot fires while the previous run is still out.
    pub overlap_policy: String,
    /// The one instant a job without a cron expression fires at.
    pub run_at: Option<DateTime<Utc>>,
    /// No slot of its cron expression before this.
    pub start_at: Option<DateTime<Utc>>,
    /// No slot of its cron expression after this.
    pub end_at: Option<DateTime<Utc>>,
    /// Most scheduled runs it makes; then it is COMPLETED.
    pub max_runs: Option<i32>,
    /// Scheduled runs made so far, counted (by the scheduler) only for a job with
    /// `max_runs`.
    pub scheduled_runs: i32,
    /// Each slot fires up to this long after its time (`scheduler::timing`).
    pub jitter_seconds: i32,
    /// Labels its owner groups jobs by (listing filters, bulk actions).
    pub tags: Vec<String>,
}

/// An ACTIVE job as the reconciler sees it (see [`Job::active_page`]): selected from
/// jobs joined with users.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct ActiveJob {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The owner's plan, which sets the owner's concurrency.
    #[diesel(select_expression = crate::schema::users::plan)]
    pub plan: crate::Plan,
    pub next_run_at: Option<DateTime<Utc>>,
    pub cron_expression: Option<String>,
    pub timezone: String,
    pub run_at: Option<DateTime<Utc>>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub max_runs: Option<i32>,
    pub scheduled_runs: i32,
    pub jitter_seconds: i32,
}

/// The columns a new job needs; validation happens before this (in the API).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = jobs)]
pub struct NewJob<'a> {
    /// Chosen by the caller: a job's `H` fields derive from it before it is stored.
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub cron_expression: Option<&'a str>,
    pub timezone: &'a str,
    pub target_type: TargetType,
    pub target_url: &'a str,
    pub http_method: HttpMethod,
    pub headers: Option<&'a serde_json::Value>,
    pub body: Option<&'a str>,
    pub timeout_ms: i32,
    pub max_retries: i32,
    pub status: JobStatus,
    pub next_run_at: Option<DateTime<Utc>>,
    pub success_criteria: Option<&'a serde_json::Value>,
    pub alert_policy: Option<&'a serde_json::Value>,
    pub retry_policy: Option<&'a serde_json::Value>,
    pub catch_up_policy: &'a str,
    pub overlap_policy: &'a str,
    pub run_at: Option<DateTime<Utc>>,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub max_runs: Option<i32>,
    pub jitter_seconds: i32,
    pub tags: Vec<String>,
}

impl Job {
    /// Inserts a job and returns the stored row.
    pub async fn create(conn: &mut AsyncPgConnection, new: &NewJob<'_>) -> QueryResult<Job> {
        diesel::insert_into(jobs::table)
            .values(new)
            .returning(Job::as_returning())
            .get_result(conn)
            .await
    }

    /// The job with this id if `user_id` owns it. Another user's job is indistinguishable
    /// from a missing one, so callers answer NOT_FOUND for both.
    pub async fn find_owned(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<Option<Job>> {
        jobs::table
            .find(id)
            .filter(jobs::user_id.eq(user_id))
            .select(Job::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// The jobs with these ids (any order; missing ids are simply absent): a handful, as
    /// the API's loaders ask for.
    pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<Job>> {
        jobs::table
            .filter(jobs::id.eq_any(ids))
            .select(Job::as_select())
            .load(conn)
            .await
    }

    /// Like [`Job::find_many`] for a scheduler batch of up to a few thousand ids, probed by
    /// key (see [`crate::batch`]); it costs a transaction's extra round trips.
    pub async fn load_batch(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<Job>> {
        let query = jobs::table
            .filter(jobs::id.eq_any(ids.to_vec()))
            .select(Job::as_select());
        load_by_key(conn, query).await
    }

    /// The status of each of these jobs that still exists (a scheduler's last look before
    /// it fires runs it prepared ahead).
    pub async fn statuses(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
    ) -> QueryResult<Vec<(Uuid, JobStatus)>> {
        let query = jobs::table
            .filter(jobs::id.eq_any(ids.to_vec()))
            .select((jobs::id, jobs::status));
        load_by_key(conn, query).await
    }

    /// One page of ACTIVE jobs ordered by id, after `after` (keyset), with what the
    /// reconciler mirrors in Redis: their owner, its plan and their next fire time.
    pub async fn active_page(
        conn: &mut AsyncPgConnection,
        after: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<ActiveJob>> {
        use crate::schema::users;
        let mut query = jobs::table
            .inner_join(users::table)
            .filter(jobs::status.eq(JobStatus::Active))
            .select(ActiveJob::as_select())
            .order(jobs::id)
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(jobs::id.gt(after));
        }
        query.load(conn).await
    }

    /// Which of these ids are ACTIVE jobs.
    pub async fn active_among(
        conn: &mut AsyncPgConnection,
        ids: &[Uuid],
    ) -> QueryResult<Vec<Uuid>> {
        let query = jobs::table
            .filter(jobs::id.eq_any(ids.to_vec()))
            .filter(jobs::status.eq(JobStatus::Active))
            .select(jobs::id);
        load_by_key(conn, query).await
    }

    /// Inserts a job unless the user already owns `max_jobs`. The user's row is locked
    /// for the count and the insert, so concurrent creations of one user queue up and
    /// the limit holds exactly.
    pub async fn create_within_limit(
        conn: &mut AsyncPgConnection,
        new: &NewJob<'_>,
        max_jobs: i64,
    ) -> QueryResult<Result<Job, LimitReached>> {
        let new = new.clone();
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            crate::models::User::lock(conn, new.user_id).await?;
            let owned = Job::count_counted(conn, new.user_id).await?;
            if owned >= max_jobs {
                return Ok(Err(LimitReached { owned }));
            }
            Ok(Ok(Job::create(conn, &new).await?))
        })
        .await
    }

    /// Saves a COMPLETED job its owner makes ACTIVE again, unless the user already owns
    /// `max_jobs` (completed jobs do not count), with the same lock as
    /// [`Job::create_within_limit`].
    pub async fn reactivate_within_limit(
        conn: &mut AsyncPgConnection,
        job: &Job,
        max_jobs: i64,
    ) -> QueryResult<Result<Option<Job>, LimitReached>> {
        let job = job.clone();
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            crate::models::User::lock(conn, job.user_id).await?;
            let owned = Job::count_counted(conn, job.user_id).await?;
            if owned >= max_jobs {
                return Ok(Err(LimitReached { owned }));
            }
            Ok(Ok(Job::save(conn, &job).await?))
        })
        .await
    }

    /// The jobs of a user a plan limit counts: ACTIVE and PAUSED, not COMPLETED.
    pub(crate) async fn count_counted(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
    ) -> QueryResult<i64> {
        jobs::table
            .filter(jobs::user_id.eq(user_id))
            .filter(jobs::status.ne(JobStatus::Completed))
            .count()
            .get_result(conn)
            .await
    }

    /// Saves every editable field of a job the user owns (`None` when it is not theirs).
    pub async fn save(conn: &mut AsyncPgConnection, job: &Job) -> QueryResult<Option<Job>> {
        diesel::update(
            jobs::table
                .find(job.id)
                .filter(jobs::user_id.eq(job.user_id)),
        )
        .set((
            jobs::name.eq(&job.name),
            jobs::description.eq(&job.description),
            jobs::cron_expression.eq(&job.cron_expression),
            jobs::timezone.eq(&job.timezone),
            jobs::target_type.eq(job.target_type),
            jobs::target_url.eq(&job.target_url),
            jobs::http_method.eq(job.http_method),
            jobs::headers.eq(&job.headers),
            jobs::body.eq(&job.body),
            jobs::timeout_ms.eq(job.timeout_ms),
            jobs::max_retries.eq(job.max_retries),
            jobs::status.eq(job.status),
            jobs::next_run_at.eq(job.next_run_at),
            jobs::success_criteria.eq(&job.success_criteria),
            jobs::alert_policy.eq(&job.alert_policy),
            jobs::paused_reason.eq(&job.paused_reason),
            jobs::pause_note.eq(&job.pause_note),
            jobs::retry_policy.eq(&job.retry_policy),
            jobs::catch_up_policy.eq(&job.catch_up_policy),
            jobs::overlap_policy.eq(&job.overlap_policy),
            jobs::run_at.eq(job.run_at),
            jobs::start_at.eq(job.start_at),
            jobs::end_at.eq(job.end_at),
            jobs::max_runs.eq(job.max_runs),
            jobs::jitter_seconds.eq(job.jitter_seconds),
            jobs::tags.eq(&job.tags),
        ))
        .returning(Job::as_returning())
        .get_result(conn)
        .await
        .optional()
    }

    /// Deletes a job the user owns, with its logs. Whether there was one.
    pub async fn delete_owned(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        user_id: Uuid,
    ) -> QueryResult<bool> {
        diesel::delete(jobs::table.find(id).filter(jobs::user_id.eq(user_id)))
            .execute(conn)
            .await
            .map(|n| n > 0)
    }

    /// A user's job with this exact name, if any (the seed's idempotence key).
    pub async fn find_by_name(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        name: &str,
    ) -> QueryResult<Option<Job>> {
        jobs::table
            .filter(jobs::user_id.eq(user_id))
            .filter(jobs::name.eq(name))
            .select(Job::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Every job of a user (for plan checks).
    pub async fn all_of_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<Vec<Job>> {
        jobs::table
            .filter(jobs::user_id.eq(user_id))
            .order((jobs::created_at.desc(), jobs::id.desc()))
            .select(Job::as_select())
            .load(conn)
            .await
    }
}

/// The user already owns as many jobs as the plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitReached {
    pub owned: i64,
}
