//! Automatic persisted queries, as Apollo's clients speak them: a request names its
//! query by `extensions.persistedQuery.sha256Hash`, with or without the text. Without
//! the text, the query is taken from here, or the answer is `PERSISTED_QUERY_NOT_FOUND`
//! and the client sends it again with the text, which is kept for next time. A CDN can
//! then cache a GET that holds only a hash.
//!
//! The queries are kept per API instance, least recently used first out: a client whose
//! next request lands on another instance sends its text once more there. Mutations are
//! never kept (their text can hold a password), so they always travel with their text.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use super::http::{Params, Rejection};

/// Query texts kept per instance.
const CAPACITY: usize = 1024;
/// Longer texts are not kept (the cache stays under 16 MiB).
const MAX_QUERY_BYTES: usize = 16 * 1024;

pub const NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
pub const NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";

/// The queries this instance knows by hash.
pub struct PersistedQueries(Mutex<LruCache<[u8; 32], Arc<str>>>);

impl Default for PersistedQueries {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).expect("a non-zero capacity");
        PersistedQueries(Mutex::new(LruCache::new(capacity)))
    }
}

/// What a request's persisted-query extension asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// No persisted query: the request carries its text.
    None,
    /// The text came with its hash (checked): keep it if it is a query.
    Register([u8; 32]),
    /// The text was taken from here.
    Found,
}

impl PersistedQueries {
    /// Fills `params.query` from the hash when it is missing. A miss, a hash that does
    /// not match the text, or an unknown version is a [`Rejection`] the client can act on.
    pub fn resolve(&self, params: &mut Params) -> Result<Lookup, Rejection> {
        let Some(hash) = requested_hash(params.extensions.as_ref())? else {
            return Ok(Lookup::None);
        };
        match &params.query {
            Some(query) => {
                if Sha256::digest(query.as_bytes()).as_slice() != hash {
                    return Err(Rejection::bad_request("provided sha does not match query"));
                }
                Ok(Lookup::Register(hash))
            }
            None => {
                let found = self.lock().get(&hash).cloned();
                let query = found.ok_or_else(|| Rejection {
                    status: axum::http::StatusCode::OK,
                    message: "PersistedQueryNotFound".to_owned(),
                    code: NOT_FOUND,
                    allow: None,
                })?;
                params.query = Some(query.to_string());
                Ok(Lookup::Found)
            }
        }
    }

    /// Keeps a query's text under its hash.
    pub fn register(&self, hash: [u8; 32], query: &str) {
        if query.len() <= MAX_QUERY_BYTES {
            let evicted = self.lock().push(hash, Arc::from(query));
            drop(evicted);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<[u8; 32], Arc<str>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The hash named by `extensions.persistedQuery`, if any.
fn requested_hash(extensions: Option<&Map<String, Json>>) -> Result<Option<[u8; 32]>, Rejection> {
    let Some(persisted) = extensions.and_then(|e| e.get("persistedQuery")) else {
        return Ok(None);
    };
    let bad =
        || Rejection::bad_request("`extensions.persistedQuery` must be {version: 1, sha256Hash}");
    let Json::Object(persisted) = persisted else {
        return Err(bad());
    };
    if persisted.get("version").and_then(Json::as_i64) != Some(1) {
        return Err(Rejection {
            code: NOT_SUPPORTED,
            ..Rejection::bad_request("PersistedQueryNotSupported: only version 1 is known")
        });
    }
    let hex_hash = persisted
        .get("sha256Hash")
        .and_then(Json::as_str)
        .ok_or_else(bad)?;
    let mut hash = [0; 32];
    hex::decode_to_slice(hex_hash, &mut hash).map_err(|_| bad())?;
    Ok(Some(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: Option<&str>, hash: &str) -> Params {
        Params {
            query: query.map(str::to_owned),
            extensions: Some(
                serde_json::json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            ..Params::default()
        }
    }

    #[test]
    fn a_hash_finds_the_text_registered_with_it() {
        let store = PersistedQueries::default();
        let text = "{ plans { plan } }";
        let hash = hex::encode(Sha256::digest(text));

        let miss = store.resolve(&mut params(None, &hash)).unwrap_err();
        assert_eq!(miss.code, NOT_FOUND);

        let mut with_text = params(Some(text), &hash);
        let Lookup::Register(key) = store.resolve(&mut with_text).unwrap() else {
            panic!("a text with its hash is registered");
        };
        store.register(key, text);

        let mut by_hash = params(None, &hash);
        assert_eq!(store.resolve(&mut by_hash).unwrap(), Lookup::Found);
        assert_eq!(by_hash.query.as_deref(), Some(text));
    }

    #[test]
    fn a_wrong_hash_or_version_is_refused() {
        let store = PersistedQueries::default();
        let wrong = hex::encode([0u8; 32]);
        let refused = store
            .resolve(&mut params(Some("{ a }"), &wrong))
            .unwrap_err();
        assert_eq!(refused.code, super::super::http::BAD_REQUEST);
        let mut v2 = params(None, &wrong);
        v2.extensions.as_mut().unwrap()["persistedQuery"]["version"] = 2.into();
        assert_eq!(store.resolve(&mut v2).unwrap_err().code, NOT_SUPPORTED);
        assert!(store.resolve(&mut params(None, "zz")).is_err());
        assert_eq!(store.resolve(&mut Params::default()).unwrap(), Lookup::None);
    }
}
