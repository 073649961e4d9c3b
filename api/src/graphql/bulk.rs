//! `cloneJob`, and actions on all of the caller's jobs with a tag (`crate::jobs::bulk`).

use async_graphql::{Context, ID, Object, Result};

use super::admin::parse_id;
use super::job::Job;
use crate::auth;
use crate::jobs::bulk;
use crate::state::AppState;

fn state<'a>(ctx: &'a Context<'_>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
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
}
