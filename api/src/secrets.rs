//! Users' secrets behind `setSecret`, `deleteSecret` and `secrets`, and the check that a
//! job refers only to secrets its owner has. Values are sealed here and opened only by
//! the scheduler, as a request fires; no answer, log line or error carries one.

use chrono::Utc;
use db::models::Job;
use db::models::secret::StoredSecret;
use scheduler::secrets::{self, MAX_NAME, MAX_VALUE_BYTES};
use uuid::Uuid;

use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Secrets one user may keep.
pub const MAX_SECRETS: i64 = 100;

/// A secret as answers show it: never its value.
#[derive(Debug, Clone)]
pub struct SecretInfo {
    pub stored: StoredSecret,
    /// The caller's jobs that refer to it.
    pub used_by: Vec<Job>,
}

/// The places of a job a secret may be written into, with their contract field names.
fn places<'a>(
    url: &'a str,
    headers: Option<&'a serde_json::Value>,
    body: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    let mut places = vec![("targetUrl", url)];
    if let Some(headers) = headers.and_then(|h| h.as_object()) {
        places.extend(
            headers
                .values()
                .filter_map(|v| v.as_str())
                .map(|v| ("headers", v)),
        );
    }
    if let Some(body) = body {
        places.push(("body", body));
    }
    places
}

/// Whether `job` refers to the secret `name`.
fn uses(job: &Job, name: &str) -> bool {
    places(&job.target_url, job.headers.as_ref(), job.body.as_deref())
        .iter()
        .any(|(_, text)| secrets::references(text).contains(&name))
}

/// BAD_USER_INPUT, naming the field, unless every `{{secrets.NAME}}` in a job's URL,
/// header values and body (as they would be saved) names a secret of `user_id`.
pub async fn check_references(
    state: &AppState,
    user_id: Uuid,
    url: &str,
    headers: Option<&serde_json::Value>,
    body: Option<&str>,
) -> ApiResult<()> {
    let places = places(url, headers, body);
    if !places.iter().any(|(_, text)| secrets::refers(text)) {
        return Ok(());
    }
    let mut conn = state.conn().await?;
    let known: Vec<String> = StoredSecret::of_users(&mut conn, &[user_id])
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    for (field, text) in places {
        for name in secrets::references(text) {
            if !secrets::valid_name(name) {
                return Err(ApiError::bad_input(
                    field,
                    format!(
                        "`{{{{secrets.{name}}}}}` is not a secret reference: names are letters, digits and _"
                    ),
                ));
            }
            if !known.iter().any(|k| k == name) {
                return Err(ApiError::bad_input(
                    field,
                    format!("no secret named {name}: set it with setSecret first"),
                ));
            }
        }
    }
    Ok(())
}

/// `setSecret`: seals and stores the value (replacing one of that name).
pub async fn set(
    state: &AppState,
    viewer: &Claims,
    name: &str,
    value: &str,
) -> ApiResult<SecretInfo> {
    let name = name.trim();
    if !secrets::valid_name(name) {
        return Err(ApiError::bad_input(
            "name",
            format!("must be 1 to {MAX_NAME} letters, digits or _, not starting with a digit"),
        ));
    }
    if value.is_empty() || value.len() > MAX_VALUE_BYTES {
        return Err(ApiError::bad_input(
            "value",
            format!("must be 1 to {MAX_VALUE_BYTES} bytes"),
        ));
    }
    let sealed = state.secrets.seal(viewer.sub, name, value);
    let now = Utc::now();
    let row = StoredSecret {
        user_id: viewer.sub,
        name: name.to_owned(),
        key_id: sealed.key_id,
        nonce: sealed.nonce,
        ciphertext: sealed.ciphertext,
        created_at: now,
        updated_at: now,
    };
    let mut conn = state.conn().await?;
    let stored = StoredSecret::put_within_limit(&mut conn, &row, MAX_SECRETS)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!("you have {MAX_SECRETS} secrets: delete one first"))
        })?;
    let used_by = Job::all_of_user(&mut conn, viewer.sub)
        .await?
        .into_iter()
        .filter(|job| uses(job, name))
        .collect();
    Ok(SecretInfo { stored, used_by })
}

/// `deleteSecret`: refused while a job refers to it (the job would fail at its next run).
pub async fn delete(state: &AppState, viewer: &Claims, name: &str) -> ApiResult<bool> {
    let mut conn = state.conn().await?;
    let users: Vec<String> = Job::all_of_user(&mut conn, viewer.sub)
        .await?
        .into_iter()
        .filter(|job| uses(job, name))
        .map(|job| format!("`{}`", job.name))
        .collect();
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "the secret {name} is used by {}: change them first",
            users.join(", ")
        )));
    }
    if !StoredSecret::delete(&mut conn, viewer.sub, name).await? {
        return Err(ApiError::NotFound(format!("no secret named {name}")));
    }
    Ok(true)
}

/// `secrets`: the caller's, by name, each with the jobs that use it.
pub async fn list(state: &AppState, viewer: &Claims) -> ApiResult<Vec<SecretInfo>> {
    let mut conn = state.conn().await?;
    let stored = StoredSecret::of_users(&mut conn, &[viewer.sub]).await?;
    let jobs = Job::all_of_user(&mut conn, viewer.sub).await?;
    Ok(stored
        .into_iter()
        .map(|stored| SecretInfo {
            used_by: jobs
                .iter()
                .filter(|job| uses(job, &stored.name))
                .cloned()
                .collect(),
            stored,
        })
        .collect())
}

/// `cronops rotate-secrets`: seals again under SECRETS_KEY every value sealed under a
/// previous key, a page at a time. Returns how many; a value that does not open is
/// reported and left.
pub async fn rotate(pool: &db::Pool, keyring: &secrets::Keyring) -> anyhow::Result<usize> {
    let mut conn = pool.get().await?;
    let mut resealed = 0;
    let mut stuck: Vec<(Uuid, String)> = Vec::new();
    loop {
        let page = StoredSecret::under_other_keys(&mut conn, keyring.current_id(), 500).await?;
        let page: Vec<_> = page
            .into_iter()
            .filter(|s| !stuck.contains(&(s.user_id, s.name.clone())))
            .collect();
        if page.is_empty() {
            break;
        }
        for old in page {
            let sealed = secrets::Sealed {
                key_id: old.key_id.clone(),
                nonce: old.nonce.clone(),
                ciphertext: old.ciphertext.clone(),
            };
            match keyring.open(old.user_id, &old.name, &sealed) {
                Ok(value) => {
                    let new = keyring.seal(old.user_id, &old.name, &value);
                    if StoredSecret::reseal(
                        &mut conn,
                        &old,
                        &new.key_id,
                        &new.nonce,
                        &new.ciphertext,
                    )
                    .await?
                    {
                        resealed += 1;
                    }
                }
                Err(e) => {
                    tracing::error!(user_id = %old.user_id, name = %old.name, error = %e, "cannot open a secret to seal it again");
                    stuck.push((old.user_id, old.name));
                }
            }
        }
    }
    if !stuck.is_empty() {
        anyhow::bail!(
            "{} secrets did not open under SECRETS_KEY or SECRETS_PREVIOUS_KEYS; {resealed} were sealed again",
            stuck.len()
        );
    }
    Ok(resealed)
}
