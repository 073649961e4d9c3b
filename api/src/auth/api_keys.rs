//! API keys: long-lived credentials for scripts, each limited to scopes. A key is shown
//! once when made; the server keeps only its keyed hash (as for refresh tokens), looks it
//! up on every request, so a revoked key stops working on every instance at once, and
//! closes the sockets opened with it.

use chrono::{DateTime, TimeDelta, Utc};
use db::models::ApiKey;
use rand::Rng;
use uuid::Uuid;

use super::Credentials;
use super::tokens::{Claims, TokenError};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What every key starts with, so that it is recognised (and found by secret scanners).
pub const KEY_PREFIX: &str = "cok_";

/// Characters of a key after [`KEY_PREFIX`]: base62, 43 of them, 256 bits.
const KEY_CHARS: usize = 43;

/// Characters shown of a key (`prefix`), the prefix included.
const SHOWN: usize = KEY_PREFIX.len() + 8;

/// Keys one user may hold.
pub const MAX_KEYS: i64 = 20;

/// How stale `lastUsedAt` may get before a use writes it again.
const TOUCH_AFTER: TimeDelta = TimeDelta::seconds(60);

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Queries and subscriptions.
    Read,
    /// Mutations of jobs, channels and secrets.
    Write,
    /// Administrator operations (for ADMIN users only).
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "READ",
            Scope::Write => "WRITE",
            Scope::Admin => "ADMIN",
        }
    }

    fn parse(stored: &str) -> Option<Scope> {
        match stored {
            "READ" => Some(Scope::Read),
            "WRITE" => Some(Scope::Write),
            "ADMIN" => Some(Scope::Admin),
            _ => None,
        }
    }

    /// The scopes stored for a key.
    pub fn of_key(key: &ApiKey) -> Vec<Scope> {
        key.scopes.iter().filter_map(|s| Scope::parse(s)).collect()
    }
}

/// What a request made with a key may do (the key's id is the claims' `jti` and `sid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub scopes: Vec<Scope>,
}

impl KeyGrant {
    /// FORBIDDEN unless the key has `scope`.
    pub fn require(&self, scope: Scope) -> ApiResult<()> {
        if self.scopes.contains(&scope) {
            return Ok(());
        }
        Err(ApiError::Forbidden {
            message: format!("this API key lacks the {} scope", scope.as_str()),
            reason: Some("API_KEY_SCOPE"),
        })
    }
}

/// FORBIDDEN for a request made with a key: changing the password, the plan or the keys
/// needs a signed-in session.
pub fn require_session(viewer: &Claims) -> ApiResult<()> {
    if viewer.key.is_none() {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        message: "an API key cannot do this: sign in with a password".into(),
        reason: Some("SESSION_REQUIRED"),
    })
}

/// Whether a bearer value is an API key rather than an access token.
pub fn is_key(token: &str) -> bool {
    token.starts_with(KEY_PREFIX)
}

/// A new key.
pub fn generate() -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let body: String = (0..KEY_CHARS)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect();
    format!("{KEY_PREFIX}{body}")
}

/// The credentials of a request that presented `key`: its owner, as a key limited to its
/// scopes, unless it is unknown, revoked or expired, or over its rate limit.
pub async fn authenticate(state: &AppState, key: &str) -> Credentials {
    let now = Utc::now();
    let hash = state.tokens.hash_secret(key);
    let found = async {
        let mut conn = state.conn().await?;
        let found = ApiKey::find_live(&mut conn, &hash, now).await?;
        if let Some((key, _)) = &found
            && key.last_used_at.is_none_or(|at| now - at > TOUCH_AFTER)
        {
            ApiKey::touch(&mut conn, key.id, now).await?;
        }
        Ok::<_, ApiError>(found)
    };
    let (key, role) = match found.await {
        Ok(Some(found)) => found,
        Ok(None) => return Credentials::Invalid(TokenError::UnknownKey),
        Err(e) => {
            tracing::warn!(error = ?e, "could not look an API key up");
            return Credentials::Unavailable;
        }
    };
    if let Err(ApiError::RateLimited { retry_after }) =
        super::limits::check(state, state.key_limit(), &key.id.to_string()).await
    {
        return Credentials::Limited { retry_after };
    }
    let far = now + TimeDelta::days(3650);
    Credentials::Valid(Claims {
        sub: key.user_id,
        role,
        exp: key.expires_at.unwrap_or(far).timestamp(),
        iat: key.created_at.timestamp(),
        jti: key.id,
        // Sockets opened with a key are its "session": revoking it closes them.
        sid: key.id,
        typ: "api_key".to_owned(),
        key: Some(KeyGrant {
            scopes: Scope::of_key(&key),
        }),
    })
}

/// What `createApiKey` asks for.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// `createApiKey`: the key (shown this once) and its record.
pub async fn create(
    state: &AppState,
    viewer: &Claims,
    mut new: NewKey,
) -> ApiResult<(String, ApiKey)> {
    require_session(viewer)?;
    let name = new.name.trim().to_owned();
    if !(1..=100).contains(&name.chars().count()) {
        return Err(ApiError::bad_input(
            "name",
            "must be 1 to 100 characters long",
        ));
    }
    new.scopes.sort();
    new.scopes.dedup();
    if new.scopes.is_empty() {
        return Err(ApiError::bad_input("scopes", "give at least one scope"));
    }
    if new.scopes.contains(&Scope::Admin) {
        let user = super::account::current_user(state, viewer).await?;
        if user.role != db::Role::Admin {
            return Err(ApiError::bad_input(
                "scopes",
                "the ADMIN scope is for administrators' keys",
            ));
        }
    }
    if new.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::bad_input("expiresAt", "must be in the future"));
    }
    let key = generate();
    let record = ApiKey {
        id: Uuid::new_v4(),
        user_id: viewer.sub,
        name,
        prefix: key[..SHOWN].to_owned(),
        key_hash: state.tokens.hash_secret(&key),
        scopes: new.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        created_at: Utc::now(),
        last_used_at: None,
        expires_at: new.expires_at,
    };
    let mut conn = state.conn().await?;
    let stored = ApiKey::create_within_limit(&mut conn, &record, MAX_KEYS)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!("you have {MAX_KEYS} API keys: revoke one first"))
        })?;
    Ok((key, stored))
}

/// `apiKeys`: the caller's keys, newest first.
pub async fn list(state: &AppState, viewer: &Claims) -> ApiResult<Vec<ApiKey>> {
    let mut conn = state.conn().await?;
    Ok(ApiKey::of_user(&mut conn, viewer.sub).await?)
}

/// `revokeApiKey`: deletes the key, so the next request with it is refused on every
/// instance, and closes the sockets opened with it.
pub async fn revoke(state: &AppState, viewer: &Claims, id: Uuid) -> ApiResult<bool> {
    require_session(viewer)?;
    let mut conn = state.conn().await?;
    if !ApiKey::delete_owned(&mut conn, id, viewer.sub).await? {
        return Err(ApiError::NotFound(format!("no API key with id {id}")));
    }
    drop(conn);
    super::session::announce_ended(state, viewer.sub, Some(id), None, "the API key was revoked")
        .await;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_recognisable() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(is_key(&a));
        assert_eq!(a.len(), KEY_PREFIX.len() + KEY_CHARS);
        assert!(
            a[KEY_PREFIX.len()..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert!(!is_key("eyJhbGciOiJIUzI1NiJ9.e30.x"));
    }

    #[test]
    fn a_grant_allows_only_its_scopes() {
        let grant = KeyGrant {
            scopes: vec![Scope::Read],
        };
        assert!(grant.require(Scope::Read).is_ok());
        let refused = grant.require(Scope::Write).unwrap_err();
        assert_eq!(refused.message(), "this API key lacks the WRITE scope");
    }
}
