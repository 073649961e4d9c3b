//! Parsed GraphQL documents by query text.
//!
//! Clients send the same few query texts over and over (a dashboard's `jobs` query, a
//! page's `logs` query), and parsing one cost about 5 % of the API's CPU per request in
//! the `api` benchmark. Cloning a parsed document is cheaper than parsing its text again.
//! Only parsing is skipped: async-graphql still checks depth, directives, complexity and
//! every validation rule on each request, against the request's own variables.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

/// Distinct query texts kept; the least recently used one is dropped past this.
const CAPACITY: usize = 256;
/// Longer texts are parsed every time: a document can be some 10 times its text, so
/// this bounds the cache near 256 × 40 KiB however texts are chosen to fill it.
const MAX_QUERY_BYTES: usize = 4 * 1024;

pub struct DocumentCache(Mutex<LruCache<String, ExecutableDocument>>);

impl Default for DocumentCache {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).expect("a non-zero capacity");
        DocumentCache(Mutex::new(LruCache::new(capacity)))
    }
}

impl DocumentCache {
    /// Gives `request` its parsed document, from the cache or parsed now and kept. A text
    /// that does not parse is left to async-graphql, which reports the syntax error.
    pub fn prepare(&self, request: &mut async_graphql::Request) {
        if request.query.len() > MAX_QUERY_BYTES {
            return;
        }
        let cached = self.lock().get(request.query.as_str()).cloned();
        if let Some(document) = cached {
            request.set_parsed_query(document);
            return;
        }
        if let Ok(document) = async_graphql::parser::parse_query(&request.query) {
            self.lock().put(request.query.clone(), document.clone());
            request.set_parsed_query(document);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, ExecutableDocument>> {
        // A panic while holding the lock cannot leave the cache half-written in a way
        // that matters: every entry is a whole document.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_text_gets_the_document_it_parses_to() {
        let cache = DocumentCache::default();
        let text = "{ jobs(first: 20) { totalCount } }";
        for _ in 0..2 {
            let mut request = async_graphql::Request::new(text);
            cache.prepare(&mut request);
            let document = request.parsed_query().unwrap().clone();
            assert_eq!(
                format!("{document:?}"),
                format!("{:?}", async_graphql::parser::parse_query(text).unwrap())
            );
        }
        assert_eq!(cache.lock().len(), 1);
    }

    #[test]
    fn syntax_errors_and_long_texts_are_not_kept() {
        let cache = DocumentCache::default();
        let mut broken = async_graphql::Request::new("{ jobs(first: ");
        cache.prepare(&mut broken);
        assert!(broken.parsed_query().is_err());
        let long = format!("{{ plans {{ name }} }} #{}", "x".repeat(MAX_QUERY_BYTES));
        cache.prepare(&mut async_graphql::Request::new(long));
        assert_eq!(cache.lock().len(), 0);
    }

    #[test]
    fn the_cache_keeps_at_most_its_capacity() {
        let cache = DocumentCache::default();
        for i in 0..CAPACITY + 10 {
            cache.prepare(&mut async_graphql::Request::new(format!(
                "query Q{i} {{ plans {{ name }} }}"
            )));
        }
        assert_eq!(cache.lock().len(), CAPACITY);
    }
}
