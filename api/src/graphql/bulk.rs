//! `cloneJob`, actions on all of the caller's jobs with a tag (`crate::jobs::bulk`), and
//! `exportJobs` / `importJobs` (`crate::jobs::transfer`).

use async_graphql::{Context, ID, Json, Object, Result, SimpleObject};

use super::admin::parse_id;
use super::job::Job;
use crate::auth;
use crate::jobs::{bulk, transfer};
use crate::state::AppState;

fn state<'a>(ctx: &'a Context<'_>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// A reason an import changed nothing.
#[derive(SimpleObject, Debug)]
pub struct ImportProblem {
    /// The entry's index in `jobs` (null: the document as a whole).
    pub entry: Option<i32>,
    /// The field of the entry, as in `CreateJobInput`.
    pub field: Option<String>,
    pub message: String,
}

/// What an import did (or, with `dryRun` or any problem, would do: then nothing changed).
#[derive(SimpleObject, Debug)]
pub struct ImportResult {
    pub created: i32,
    pub updated: i32,
    pub dry_run: bool,
    pub problems: Vec<ImportProblem>,
}

#[derive(Default)]
pub struct TransferQuery;

#[Object]
impl TransferQuery {
    /// The caller's jobs (with `tag`, if given) as a versioned document for `importJobs`;
    /// secrets appear as their `{{secrets.NAME}}` references, never values.
    async fn export_jobs(
        &self,
        ctx: &Context<'_>,
        tag: Option<String>,
    ) -> Result<Json<serde_json::Value>> {
        let viewer = auth::viewer(ctx)?;
        Ok(Json(
            transfer::export(state(ctx), viewer, tag.as_deref()).await?,
        ))
    }
}

#[derive(Default)]
pub struct BulkMutation;

#[Object]
impl BulkMutation {
    /// A new ACTIVE job like this one, named "<name> (copy)", within the plan's limits.
    async fn clone_job(&self, ctx: &Context<'_>, id: ID) -> Result<Job> {
        let viewer = auth::viewer(ctx)?;
        let id = parse_id(&id, "job")?;
        Ok(Job(bulk::clone(state(ctx), viewer, id).await?))
    }

    /// Pauses the caller's ACTIVE jobs with this tag, all at once, each keeping `note`;
    /// answers how many.
    async fn pause_jobs(
        &self,
        ctx: &Context<'_>,
        tag: String,
        note: Option<String>,
    ) -> Result<i32> {
        let viewer = auth::viewer(ctx)?;
        Ok(bulk::pause(state(ctx), viewer, &tag, note).await?)
    }

    /// Resumes the caller's PAUSED jobs with this tag, all at once, each from its next
    /// slot (COMPLETED if it has none left); answers how many.
    async fn resume_jobs(&self, ctx: &Context<'_>, tag: String) -> Result<i32> {
        let viewer = auth::viewer(ctx)?;
        Ok(bulk::resume(state(ctx), viewer, &tag).await?)
    }

    /// Deletes the caller's jobs with this tag, with their runs, all at once; answers how
    /// many.
    async fn delete_jobs(&self, ctx: &Context<'_>, tag: String) -> Result<i32> {
        let viewer = auth::viewer(ctx)?;
        Ok(bulk::delete(state(ctx), viewer, &tag).await?)
    }

    /// Creates or updates the caller's jobs by name from an `exportJobs` document: every
    /// entry is checked first, and nothing changes if one fails (each problem is listed)
    /// or with `dryRun`.
    async fn import_jobs(
        &self,
        ctx: &Context<'_>,
        document: Json<serde_json::Value>,
        #[graphql(default_with = "Some(false)")] dry_run: Option<bool>,
    ) -> Result<ImportResult> {
        let viewer = auth::viewer(ctx)?;
        let dry_run = dry_run.unwrap_or(false);
        let outcome = transfer::import(state(ctx), viewer, &document.0, dry_run).await?;
        let int = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(ImportResult {
            created: int(outcome.created),
            updated: int(outcome.updated),
            dry_run,
            problems: outcome
                .problems
                .into_iter()
                .map(|p| ImportProblem {
                    entry: p.entry.map(int),
                    field: p.field,
                    message: p.message,
                })
                .collect(),
        })
    }
}
