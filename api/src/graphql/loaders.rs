//! Batch loaders, one set per request, so lists never make a query per row (N+1).

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use db::models::{ExecutionLog, Job, User};
use uuid::Uuid;

use crate::state::AppState;

/// Every loader of one request.
pub struct Loaders {
    pub users: DataLoader<UserLoader>,
    pub jobs: DataLoader<JobLoader>,
    pub job_counts: DataLoader<JobCountLoader>,
    pub log_counts: DataLoader<LogCountLoader>,
    pub newest_logs: DataLoader<NewestLogsLoader>,
    pub last_runs: DataLoader<LastRunLoader>,
}

impl Loaders {
    /// Fresh loaders (their caches live as long as the request).
    pub fn new(state: &AppState) -> Loaders {
        Loaders {
            users: DataLoader::new(UserLoader(state.clone()), tokio::spawn),
            jobs: DataLoader::new(JobLoader(state.clone()), tokio::spawn),
            job_counts: DataLoader::new(JobCountLoader(state.clone()), tokio::spawn),
            log_counts: DataLoader::new(LogCountLoader(state.clone()), tokio::spawn),
            newest_logs: DataLoader::new(NewestLogsLoader(state.clone()), tokio::spawn),
            last_runs: DataLoader::new(LastRunLoader(state.clone()), tokio::spawn),
        }
    }
}

/// Errors cross the loader as text; the cause is logged where it happened.
type LoadError = std::sync::Arc<String>;

fn fail(e: impl std::fmt::Display) -> LoadError {
    tracing::error!(error = %e, "batch load failed");
    std::sync::Arc::new("internal server error".to_owned())
}

pub struct UserLoader(AppState);

impl Loader<Uuid> for UserLoader {
    type Value = User;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, User>, LoadError> {
        let mut conn = self.0.db.get().await.map_err(fail)?;
        let users = User::find_many(&mut conn, keys).await.map_err(fail)?;
        Ok(users.into_iter().map(|u| (u.id, u)).collect())
    }
}

pub struct JobLoader(AppState);

impl Loader<Uuid> for JobLoader {
    type Value = Job;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Job>, LoadError> {
        let mut conn = self.0.db.get().await.map_err(fail)?;
        let jobs = Job::find_many(&mut conn, keys).await.map_err(fail)?;
        Ok(jobs.into_iter().map(|j| (j.id, j)).collect())
    }
}

pub struct JobCountLoader(AppState);

impl Loader<Uuid> for JobCountLoader {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, i64>, LoadError> {
        let mut conn = self.0.db.get().await.map_err(fail)?;
        let counts = Job::count_by_user(&mut conn, keys).await.map_err(fail)?;
        Ok(counts.into_iter().collect())
    }
}

pub struct LogCountLoader(AppState);

impl Loader<Uuid> for LogCountLoader {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, i64>, LoadError> {
        let mut conn = self.0.db.get().await.map_err(fail)?;
        let counts = ExecutionLog::count_by_job(&mut conn, keys)
            .await
            .map_err(fail)?;
        Ok(counts.into_iter().collect())
    }
}

/// The first page of runs of many jobs at once, keyed by (job, page size).
pub struct NewestLogsLoader(AppState);

impl Loader<(Uuid, i64)> for NewestLogsLoader {
    type Value = Vec<ExecutionLog>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(Uuid, i64)],
    ) -> Result<HashMap<(Uuid, i64), Vec<ExecutionLog>>, LoadError> {
        let mut by_size: HashMap<i64, Vec<Uuid>> = HashMap::new();
        for (job, size) in keys {
            by_size.entry(*size).or_default().push(*job);
        }
        let mut conn = self.0.db.get().await.map_err(fail)?;
        let mut out: HashMap<(Uuid, i64), Vec<ExecutionLog>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for (size, jobs) in by_size {
            for log in ExecutionLog::newest_per_job(&mut conn, &jobs, size)
                .await
                .map_err(fail)?
            {
                out.entry((log.job_id, size)).or_default().push(log);
            }
        }
        Ok(out)
    }
}

/// The latest finished run of many jobs at once.
pub struct LastRunLoader(AppState);

impl Loader<Uuid> for LastRunLoader {
    type Value = ExecutionLog;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, ExecutionLog>, LoadError> {
        let mut conn = self.0.db.get().await.map_err(fail)?;
        let runs = ExecutionLog::last_closed_per_job(&mut conn, keys)
            .await
            .map_err(fail)?;
        Ok(runs.into_iter().map(|run| (run.job_id, run)).collect())
    }
}
