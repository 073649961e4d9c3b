//! Actions on all of a user's jobs with a tag, each in one transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::enums::JobStatus;
use crate::schema::jobs;

use super::Job;
use super::job::NewJob;

impl Job {
    /// Pauses the user's ACTIVE jobs tagged `tag`, with `note`; returns them.
    pub async fn pause_tagged(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        tag: &str,
        note: Option<&str>,
    ) -> QueryResult<Vec<Job>> {
        diesel::update(
            jobs::table
                .filter(jobs::user_id.eq(user_id))
                .filter(jobs::tags.contains(vec![tag.to_owned()]))
                .filter(jobs::status.eq(JobStatus::Active)),
        )
        .set((
            jobs::status.eq(JobStatus::Paused),
            jobs::pause_note.eq(note),
            jobs::next_run_at.eq(None::<DateTime<Utc>>),
        ))
        .returning(Job::as_returning())
        .get_results(conn)
        .await
    }

    /// Resumes the user's PAUSED jobs tagged `tag`: `next` says, for each, its first slot
    /// from now (`None`: it has no slot left, and is COMPLETED). Their notes and the
    /// scheduler's reasons are cleared, and so is the count of a job the scheduler paused.
    /// Returns them as saved.
    pub async fn resume_tagged(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        tag: &str,
        next: impl Fn(&Job) -> Option<DateTime<Utc>> + Send,
    ) -> QueryResult<Vec<Job>> {
        let tag = tag.to_owned();
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            let paused: Vec<Job> = jobs::table
                .filter(jobs::user_id.eq(user_id))
                .filter(jobs::tags.contains(vec![tag]))
                .filter(jobs::status.eq(JobStatus::Paused))
                .order(jobs::id)
                .for_update()
                .select(Job::as_select())
                .load(conn)
                .await?;
            let mut resumed = Vec::with_capacity(paused.len());
            for job in paused {
                let mut active = Job {
                    status: JobStatus::Active,
                    ..job.clone()
                };
                active.next_run_at = next(&active);
                let status = if active.next_run_at.is_some() {
                    JobStatus::Active
                } else {
                    JobStatus::Completed
                };
                let failures = if job.paused_reason.is_some() {
                    0
                } else {
                    job.consecutive_failures
                };
                let saved = diesel::update(jobs::table.find(job.id))
                    .set((
                        jobs::status.eq(status),
                        jobs::next_run_at.eq(active.next_run_at),
                        jobs::pause_note.eq(None::<String>),
                        jobs::paused_reason.eq(None::<String>),
                        jobs::consecutive_failures.eq(failures),
                    ))
                    .returning(Job::as_returning())
                    .get_result(conn)
                    .await?;
                resumed.push(saved);
            }
            Ok(resumed)
        })
        .await
    }

    /// Deletes the user's jobs tagged `tag`, with their runs; returns their ids.
    pub async fn delete_tagged(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        tag: &str,
    ) -> QueryResult<Vec<Uuid>> {
        diesel::delete(
            jobs::table
                .filter(jobs::user_id.eq(user_id))
                .filter(jobs::tags.contains(vec![tag.to_owned()])),
        )
        .returning(jobs::id)
        .get_results(conn)
        .await
    }

    /// Writes an import in one transaction: each row inserted (`creates`) or saved,
    /// unless the user would then own more than `max_jobs` active or paused jobs. The
    /// user's row is locked for the count, as for [`Job::create_within_limit`].
    pub async fn import(
        conn: &mut AsyncPgConnection,
        user_id: Uuid,
        rows: &[Job],
        creates: &[bool],
        max_jobs: i64,
    ) -> QueryResult<Result<Vec<Job>, super::job::LimitReached>> {
        let rows = rows.to_vec();
        let creates = creates.to_vec();
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            crate::models::User::lock(conn, user_id).await?;
            let owned = Job::count_counted(conn, user_id).await?;
            let adding = rows
                .iter()
                .zip(&creates)
                .filter(|(row, create)| **create && row.status != JobStatus::Completed)
                .count() as i64;
            if owned + adding > max_jobs {
                return Ok(Err(super::job::LimitReached { owned }));
            }
            let mut saved = Vec::with_capacity(rows.len());
            for (row, create) in rows.iter().zip(&creates) {
                let job = if *create {
                    Job::create(conn, &row.into()).await?
                } else {
                    Job::save(conn, row)
                        .await?
                        .ok_or(diesel::result::Error::NotFound)?
                };
                saved.push(job);
            }
            Ok(Ok(saved))
        })
        .await
    }
}

impl<'a> From<&'a Job> for NewJob<'a> {
    /// A stored job's columns, to insert it as it is (an import).
    fn from(job: &'a Job) -> NewJob<'a> {
        NewJob {
            id: job.id,
            user_id: job.user_id,
            name: &job.name,
            description: job.description.as_deref(),
            cron_expression: job.cron_expression.as_deref(),
            timezone: &job.timezone,
            target_type: job.target_type,
            target_url: &job.target_url,
            http_method: job.http_method,
            headers: job.headers.as_ref(),
            body: job.body.as_deref(),
            timeout_ms: job.timeout_ms,
            max_retries: job.max_retries,
            status: job.status,
            next_run_at: job.next_run_at,
            success_criteria: job.success_criteria.as_ref(),
            alert_policy: job.alert_policy.as_ref(),
            retry_policy: job.retry_policy.as_ref(),
            catch_up_policy: &job.catch_up_policy,
            overlap_policy: &job.overlap_policy,
            run_at: job.run_at,
            start_at: job.start_at,
            end_at: job.end_at,
            max_runs: job.max_runs,
            jitter_seconds: job.jitter_seconds,
            tags: job.tags.clone(),
        }
    }
}
