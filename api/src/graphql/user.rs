//! The `User` object.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::loaders::Loaders;
use super::{Plan, Role};

/// An account, as its owner (or an admin) sees it.
#[derive(Debug, Clone)]
pub struct User(pub db::models::User);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The login email, normalised to lower case.
    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn role(&self) -> Role {
        self.0.role.into()
    }

    async fn plan(&self) -> Plan {
        self.0.plan.into()
    }

    /// Whether the sign-up code was entered (or a reset link used).
    async fn email_verified(&self) -> bool {
        self.0.is_verified()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// How many jobs the user owns.
    async fn job_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let loaders = ctx.data_unchecked::<Loaders>();
        let count = loaders.job_counts.load_one(self.0.id).await?.unwrap_or(0);
        Ok(super::stats::int(count))
    }
}
