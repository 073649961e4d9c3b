//! Actions on all of a user's jobs with a tag, each in one transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::enums::JobStatus;
use crate::schema::jobs;

use super::Job;

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
}
