//! Parsed GraphQL documents by query text.
//!
//! Clients send the same few query texts over and over (a dashboard's `jobs` query, a
//! page's `logs` query), and parsing one cost about 5 % of the API's CPU per request in
//! the `api` benchmark. Cloning a parsed document is cheaper than parsing its text again.
//! Only parsing is skipped: async-graphql still checks the document's recursion depth,
//! runs every validation rule (depth and complexity limits included) against the
//! request's own variables, and works on its own copy of the document.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use lru::LruCache;

/// Distinct query texts kept; the least recently used one is dropped past this. A
/// client's pages send a few dozen different queries at most.
const CAPACITY: usize = 64;
/// Longer texts are parsed every time.
const MAX_QUERY_BYTES: usize = 4 * 1024;
/// Texts with more tokens are parsed every time: a document's size follows its tokens
/// (up to some 200 bytes for a one-letter field), not its bytes.
const MAX_TOKENS: usize = 512;
/// What one kept document can cost at most, checked by a test on the heaviest shapes
/// the two limits above let in (105 KiB, for 510 one-letter fields). The cache as a whole stays under `CAPACITY` times this
/// (8 MiB), whoever chooses the texts.
#[cfg(test)]
const MAX_DOCUMENT_BYTES: usize = 128 * 1024;

type Cache = LruCache<String, Arc<ExecutableDocument>>;

/// Recently parsed query documents, shared by every HTTP request of the API.
pub struct DocumentCache(Mutex<Cache>);

impl Default for DocumentCache {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).expect("a non-zero capacity");
        DocumentCache(Mutex::new(LruCache::new(capacity)))
    }
}

impl DocumentCache {
    /// Gives `request` its parsed document, kept from an earlier request with the same
    /// text or parsed now (and kept if small enough, see [`worth_keeping`]). A text that
    /// does not parse is left to async-graphql, which reports the syntax error.
    pub fn attach_parsed_document(&self, request: &mut async_graphql::Request) {
        if request.query.len() > MAX_QUERY_BYTES {
            return;
        }
        let cached = self.lock().get(request.query.as_str()).cloned();
        if let Some(document) = cached {
            // The deep copy is made outside the lock.
            request.set_parsed_query(ExecutableDocument::clone(&document));
            return;
        }
        // Counted on a miss only: a kept text has passed already.
        if tokens(&request.query) > MAX_TOKENS {
            return;
        }
        let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
            return;
        };
        if worth_keeping(&document) {
            let evicted = self
                .lock()
                .push(request.query.clone(), Arc::new(document.clone()));
            drop(evicted); // outside the lock too
        }
        request.set_parsed_query(document);
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        // Every entry is a whole document, so a panic elsewhere cannot leave one torn.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Queries only: a mutation's text can carry a password inline, and it should not
/// outlive its request.
fn worth_keeping(document: &ExecutableDocument) -> bool {
    match &document.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Query,
        DocumentOperations::Multiple(ops) => {
            ops.values().all(|op| op.node.ty == OperationType::Query)
        }
    }
}

/// At least the number of GraphQL tokens in `text` (each name, number and punctuator;
/// strings and comments count a token per word), without parsing it.
fn tokens(text: &str) -> usize {
    let mut count = 0;
    let mut in_word = false;
    for c in text.chars() {
        let word = c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+');
        if (word && !in_word) || (!word && !c.is_whitespace()) {
            count += 1;
        }
        in_word = word;
    }
    count
}

#[cfg(test)]
mod tests {
    use std::alloc::System;

    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, Variables};
    use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

    use super::*;

    /// Counts allocations, to weigh a kept document. nextest runs each test in a process
    /// of its own, so no other test allocates meanwhile.
    #[global_allocator]
    static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

    fn cached_len(cache: &DocumentCache) -> usize {
        cache.lock().len()
    }

    #[test]
    fn a_repeated_text_gets_the_document_it_parses_to() {
        let cache = DocumentCache::default();
        let text = "{ jobs(first: 20) { totalCount } }";
        for _ in 0..2 {
            let mut request = async_graphql::Request::new(text);
            cache.attach_parsed_document(&mut request);
            let document = request.parsed_query().unwrap().clone();
            assert_eq!(
                format!("{document:?}"),
                format!("{:?}", async_graphql::parser::parse_query(text).unwrap())
            );
        }
        assert_eq!(cached_len(&cache), 1);
    }

    struct Query;

    #[Object]
    impl Query {
        async fn a(&self) -> i32 {
            1
        }
        async fn b(&self) -> i32 {
            2
        }
    }

    #[tokio::test]
    async fn each_request_applies_its_own_variables_to_a_kept_document() {
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let cache = DocumentCache::default();
        let text = "query ($withB: Boolean!) { a b @include(if: $withB) }";
        let mut answers = Vec::new();
        for with_b in [true, false, true] {
            let mut request = async_graphql::Request::new(text)
                .variables(Variables::from_json(serde_json::json!({ "withB": with_b })));
            cache.attach_parsed_document(&mut request);
            let response = schema.execute(request).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            answers.push(response.data.into_json().unwrap());
        }
        assert_eq!(cached_len(&cache), 1);
        assert_eq!(
            answers,
            [
                serde_json::json!({"a": 1, "b": 2}),
                serde_json::json!({"a": 1}),
                serde_json::json!({"a": 1, "b": 2}),
            ]
        );
    }

    #[test]
    fn mutations_syntax_errors_and_large_documents_are_not_kept() {
        let cache = DocumentCache::default();
        let mut broken = async_graphql::Request::new("{ jobs(first: ");
        cache.attach_parsed_document(&mut broken);
        assert!(broken.parsed_query().is_err());
        let texts = [
            r#"mutation { login(email: "a@b.c", password: "secret") { accessToken } }"#.to_owned(),
            format!("{{ plans {{ name }} }} #{}", "x".repeat(MAX_QUERY_BYTES)),
            format!("{{ {} }}", "a ".repeat(MAX_TOKENS)),
        ];
        for text in texts {
            let mut request = async_graphql::Request::new(text);
            cache.attach_parsed_document(&mut request);
            // Each still gets its document for this request.
            assert!(request.parsed_query().is_ok());
        }
        assert_eq!(cached_len(&cache), 0);
    }

    #[test]
    fn the_cache_keeps_at_most_its_capacity() {
        let cache = DocumentCache::default();
        for i in 0..CAPACITY + 10 {
            cache.attach_parsed_document(&mut async_graphql::Request::new(format!(
                "query Q{i} {{ plans {{ name }} }}"
            )));
        }
        assert_eq!(cached_len(&cache), CAPACITY);
    }

    #[test]
    fn the_heaviest_documents_let_in_stay_within_their_bound() {
        /// `open`, as many `unit`s as the limits let in, and `close`.
        fn filled(open: &str, unit: impl Fn(usize) -> String, close: &str) -> String {
            let mut text = open.to_owned();
            for i in 0.. {
                let next = format!("{text}{}", unit(i));
                let whole = format!("{next}{close}");
                if whole.len() > MAX_QUERY_BYTES || tokens(&whole) > MAX_TOKENS {
                    break;
                }
                text = next;
            }
            text + close
        }
        let shapes = [
            filled("{ ", |_| "a ".to_owned(), "}"),
            filled("{ a(x: [", |_| "1,".to_owned(), "]) }"),
            filled("{ a(x: {", |i| format!("k{i}: 1 "), "}) }"),
            filled("{ ", |i| format!("f{i}: a(x: {i}) "), "}"),
        ];
        for text in shapes {
            let cache = DocumentCache::default();
            let region = Region::new(ALLOCATOR);
            cache.attach_parsed_document(&mut async_graphql::Request::new(text.clone()));
            let change = region.change();
            let kept = change
                .bytes_allocated
                .saturating_sub(change.bytes_deallocated);
            assert_eq!(cached_len(&cache), 1, "{text:.40} was not kept");
            assert!(
                kept <= MAX_DOCUMENT_BYTES,
                "{text:.40}…: {kept} bytes kept, over {MAX_DOCUMENT_BYTES}"
            );
        }
    }

    #[test]
    fn tokens_are_counted_without_parsing() {
        assert_eq!(tokens("{ jobs(first: 20) { totalCount } }"), 11);
        assert_eq!(tokens("query Q($x: Int!) { a(x: $x) }"), 18);
        assert_eq!(tokens("  "), 0);
    }
}
