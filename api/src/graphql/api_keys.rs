//! `apiKeys`, `createApiKey` and `revokeApiKey`: keys for scripts (`crate::auth::api_keys`).

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::admin::parse_id;
use crate::auth::{self, api_keys};
use crate::state::AppState;

fn state<'a>(ctx: &'a Context<'_>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// What a key may do.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyScope {
    /// Queries and subscriptions.
    Read,
    /// Mutations (jobs, channels, secrets); never the password, the plan or keys.
    Write,
    /// Administrator operations, for an ADMIN's keys.
    Admin,
}

impl From<ApiKeyScope> for api_keys::Scope {
    fn from(scope: ApiKeyScope) -> api_keys::Scope {
        match scope {
            ApiKeyScope::Read => api_keys::Scope::Read,
            ApiKeyScope::Write => api_keys::Scope::Write,
            ApiKeyScope::Admin => api_keys::Scope::Admin,
        }
    }
}

impl From<api_keys::Scope> for ApiKeyScope {
    fn from(scope: api_keys::Scope) -> ApiKeyScope {
        match scope {
            api_keys::Scope::Read => ApiKeyScope::Read,
            api_keys::Scope::Write => ApiKeyScope::Write,
            api_keys::Scope::Admin => ApiKeyScope::Admin,
        }
    }
}

/// A key, without the key itself (shown only when made).
#[derive(SimpleObject, Debug)]
pub struct ApiKey {
    pub id: ID,
    pub name: String,
    /// Its first characters (`cok_` and 8 more), to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<ApiKeyScope>,
    pub created_at: DateTime<Utc>,
    /// When it was last used, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<db::models::ApiKey> for ApiKey {
    fn from(key: db::models::ApiKey) -> ApiKey {
        ApiKey {
            id: ID(key.id.to_string()),
            scopes: api_keys::Scope::of_key(&key)
                .into_iter()
                .map(Into::into)
                .collect(),
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            expires_at: key.expires_at,
        }
    }
}

/// A new key: `key` is shown this once (send it as `Authorization: Bearer <key>`).
#[derive(SimpleObject, Debug)]
pub struct CreatedApiKey {
    pub key: String,
    pub api_key: ApiKey,
}

/// `createApiKey`'s input.
#[derive(InputObject, Debug)]
pub struct CreateApiKeyInput {
    /// 1 to 100 characters.
    name: String,
    scopes: Vec<ApiKeyScope>,
    /// When it stops working; never, without it.
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct ApiKeysQuery;

#[Object]
impl ApiKeysQuery {
    /// The caller's API keys, newest first.
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        let viewer = auth::viewer(ctx)?;
        let keys = api_keys::list(state(ctx), viewer).await?;
        Ok(keys.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct ApiKeysMutation;

#[Object]
impl ApiKeysMutation {
    /// Makes an API key (at most 20 per user; ADMIN scope for administrators only). Needs
    /// a signed-in session, not a key.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> Result<CreatedApiKey> {
        let viewer = auth::viewer(ctx)?;
        let new = api_keys::NewKey {
            name: input.name,
            scopes: input.scopes.into_iter().map(Into::into).collect(),
            expires_at: input.expires_at,
        };
        let (key, stored) = api_keys::create(state(ctx), viewer, new).await?;
        Ok(CreatedApiKey {
            key,
            api_key: stored.into(),
        })
    }

    /// Revokes one of the caller's keys: refused from the next request on, on every
    /// server, and its open sockets close. Needs a signed-in session.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let viewer = auth::viewer(ctx)?;
        let id = parse_id(&id, "API key")?;
        Ok(api_keys::revoke(state(ctx), viewer, id).await?)
    }
}
