//! `secrets`, `setSecret` and `deleteSecret` (`crate::secrets`): names and dates, never a
//! value.

use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

use super::job::Job;
use crate::auth;
use crate::secrets::SecretInfo;
use crate::state::AppState;

fn state<'a>(ctx: &'a Context<'_>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// A secret: written into a job's URL, header values or body wherever it says
/// `{{secrets.NAME}}`, when the job fires.
pub struct Secret(SecretInfo);

#[Object]
impl Secret {
    async fn name(&self) -> &str {
        &self.0.stored.name
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.stored.created_at
    }

    /// When its value was last set.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.stored.updated_at
    }

    /// The caller's jobs that refer to it.
    async fn used_by(&self) -> Vec<Job> {
        self.0.used_by.iter().cloned().map(Job).collect()
    }
}

#[derive(Default)]
pub struct SecretsQuery;

#[Object]
impl SecretsQuery {
    /// The caller's secrets, by name.
    async fn secrets(&self, ctx: &Context<'_>) -> Result<Vec<Secret>> {
        let viewer = auth::viewer(ctx)?;
        let list = crate::secrets::list(state(ctx), viewer).await?;
        Ok(list.into_iter().map(Secret).collect())
    }
}

#[derive(Default)]
pub struct SecretsMutation;

#[Object]
impl SecretsMutation {
    /// Sets a secret (replacing the value of one of that name): `name` letters, digits and
    /// `_` (at most 64), `value` at most 4 KiB; at most 100 secrets. The value is sealed
    /// at once and never shown again.
    async fn set_secret(&self, ctx: &Context<'_>, name: String, value: String) -> Result<Secret> {
        let viewer = auth::viewer(ctx)?;
        Ok(Secret(
            crate::secrets::set(state(ctx), viewer, &name, &value).await?,
        ))
    }

    /// Deletes a secret no job refers to (CONFLICT, naming them, otherwise).
    async fn delete_secret(&self, ctx: &Context<'_>, name: String) -> Result<bool> {
        let viewer = auth::viewer(ctx)?;
        Ok(crate::secrets::delete(state(ctx), viewer, &name).await?)
    }
}
