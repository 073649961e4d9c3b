//! Null propagation as the GraphQL spec has it (§6.4.4, "Handling Execution Errors").
//!
//! async-graphql 7 drops the key of a field whose resolver fails, and turns an object
//! left without keys into `null`, whatever the schema says. A typed client then reads a
//! missing key, or `null` where the schema promised a value. The spec's rule: a failed
//! field is `null` if its type allows it; if not, the `null` goes up to the nearest
//! position that allows it (a field or a list item), up to `data` itself.
//!
//! Every field and list item passes through [`Extension::resolve`] with its path and
//! type, children before parents, so the rule is applied there: a nullable position
//! that failed (or holds a failed non-null child) answers `null` and its error is kept
//! here until the response is built; a non-null one fails in turn and marks its parent.
//! The marker errors that stand for a propagated `null` never reach the client.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, NextSubscribe,
    ResolveInfo,
};
use async_graphql::{QueryPathNode, QueryPathSegment, Response, ServerError, ServerResult, Value};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

/// The message of the error that stands for a `null` propagated from a child; the child's
/// own error is the one reported.
const PROPAGATED: &str = "\u{0}null propagated from a non-null child";

/// The extension that applies the spec's null propagation.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullPropagation;

impl ExtensionFactory for NullPropagation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Propagation::default())
    }
}

/// One request's extension; its state is shared with the stream of a subscription.
#[derive(Debug, Default)]
struct Propagation(Arc<State>);

/// One request's state.
#[derive(Debug, Default)]
struct State {
    /// Paths of positions that must be `null` because a non-null child failed; the empty
    /// path is `data`.
    nulled: Mutex<HashSet<Vec<String>>>,
    /// Whether `nulled` may hold anything (the common case costs one load per field).
    any_nulled: AtomicBool,
    /// Errors of nullable positions answered as `null`, for the response.
    errors: Mutex<Vec<ServerError>>,
    /// The type of each list field being resolved, by path.
    lists: Mutex<HashMap<Vec<String>, String>>,
}

impl State {
    fn enter_list(&self, path: &QueryPathNode<'_>, return_type: &str) -> Vec<String> {
        let path = path.to_string_vec();
        let mut lists = self.lists.lock().expect("lists lock");
        lists.insert(path.clone(), return_type.to_owned());
        path
    }

    fn leave_list(&self, path: &[String]) {
        self.lists.lock().expect("lists lock").remove(path);
    }

    /// Whether the list item at `path` may be null, from its list field's type: one
    /// `[...]` is taken off that type for each index between the field and the item.
    fn item_nullable(&self, path: &QueryPathNode<'_>) -> bool {
        let mut depth = 0;
        let mut node = Some(path);
        while let Some(QueryPathNode {
            segment: QueryPathSegment::Index(_),
            parent,
        }) = node
        {
            depth += 1;
            node = *parent;
        }
        let Some(field) = node else {
            return false;
        };
        let lists = self.lists.lock().expect("lists lock");
        let Some(mut ty) = lists.get(&field.to_string_vec()).map(String::as_str) else {
            return false;
        };
        for _ in 0..depth {
            ty = ty.trim_end_matches('!');
            ty = ty
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or(ty);
        }
        !ty.ends_with('!')
    }

    fn take_nulled(&self, path: &[String]) -> bool {
        self.any_nulled.load(Ordering::Acquire)
            && self.nulled.lock().expect("nulled lock").remove(path)
    }

    fn mark(&self, path: Vec<String>) {
        self.nulled.lock().expect("nulled lock").insert(path);
        self.any_nulled.store(true, Ordering::Release);
    }

    /// Adds the errors kept here to `response`, drops the markers, and nulls `data` when a
    /// non-null root field failed.
    fn finish(&self, mut response: Response) -> Response {
        response
            .errors
            .extend(self.errors.lock().expect("errors lock").drain(..));
        response.errors.retain(|e| e.message != PROPAGATED);
        if self.take_nulled(&[]) {
            response.data = Value::Null;
        }
        response
    }
}

#[async_trait::async_trait]
impl Extension for Propagation {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        self.0.finish(response)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        // Each event's fields resolve before its response is yielded, so what the state
        // holds then is that event's.
        let state = self.0.clone();
        next.run(ctx, stream)
            .map(move |response| state.finish(response))
            .boxed()
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let state = &self.0;
        let path_node = info.path_node;
        let item = matches!(path_node.segment, QueryPathSegment::Index(_));
        // A list field's type tells whether its items may be null (async-graphql's own
        // type for an item always says they may not).
        let list_field = (!item && info.return_type.starts_with('['))
            .then(|| state.enter_list(path_node, info.return_type));
        let own_type = (!item).then(|| info.return_type.to_owned());
        let result = next.run(ctx, info).await;
        let child_failed = state.any_nulled.load(Ordering::Acquire)
            && state.take_nulled(&path_node.to_string_vec());
        let failed = match result {
            Ok(value) if !child_failed => {
                if let Some(path) = list_field {
                    state.leave_list(&path);
                }
                return Ok(value);
            }
            Ok(_) => None,
            Err(error) => Some(error),
        };
        let nullable = match own_type {
            Some(own_type) => !own_type.ends_with('!'),
            None => state.item_nullable(path_node),
        };
        if let Some(path) = list_field {
            state.leave_list(&path);
        }
        if nullable {
            if let Some(error) = failed.filter(|e| e.message != PROPAGATED) {
                state.errors.lock().expect("errors lock").push(error);
            }
            return Ok(Some(Value::Null));
        }
        let mut parent = path_node.to_string_vec();
        parent.pop();
        state.mark(parent);
        Err(failed.unwrap_or_else(|| ServerError::new(PROPAGATED, None)))
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
    use serde_json::json;

    use super::NullPropagation;

    struct Query;

    #[derive(SimpleObject)]
    #[graphql(complex)]
    struct Node {
        id: i32,
    }

    #[async_graphql::ComplexObject]
    impl Node {
        /// Non-null, fails on odd ids.
        async fn strict(&self) -> async_graphql::Result<i32> {
            even(self.id)
        }
        /// Nullable, fails on odd ids.
        async fn lenient(&self) -> async_graphql::Result<Option<i32>> {
            even(self.id).map(Some)
        }
    }

    fn even(id: i32) -> async_graphql::Result<i32> {
        if id % 2 == 1 {
            Err("odd".into())
        } else {
            Ok(id)
        }
    }

    #[Object]
    impl Query {
        async fn ok(&self) -> i32 {
            1
        }
        async fn nullable(&self, id: i32) -> Option<Node> {
            Some(Node { id })
        }
        async fn strict(&self, id: i32) -> Node {
            Node { id }
        }
        async fn nullable_items(&self) -> Vec<Option<Node>> {
            (0..3).map(|id| Some(Node { id })).collect()
        }
        async fn strict_items(&self) -> Option<Vec<Node>> {
            Some((0..3).map(|id| Node { id }).collect())
        }
    }

    async fn run(query: &str) -> (serde_json::Value, Vec<(String, serde_json::Value)>) {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(NullPropagation)
            .finish();
        let response = schema.execute(query).await;
        let errors = response
            .errors
            .iter()
            .map(|e| (e.message.clone(), serde_json::to_value(&e.path).unwrap()))
            .collect();
        (response.data.into_json().unwrap(), errors)
    }

    #[tokio::test]
    async fn a_failed_nullable_field_is_null_and_keeps_its_key() {
        let (data, errors) = run("{ ok nullable(id: 1) { id lenient } }").await;
        assert_eq!(
            data,
            json!({"ok": 1, "nullable": {"id": 1, "lenient": null}})
        );
        assert_eq!(errors, [("odd".into(), json!(["nullable", "lenient"]))]);
        // Alone in its selection, it still keeps its parent an object.
        let (data, _) = run("{ nullable(id: 1) { lenient } }").await;
        assert_eq!(data, json!({"nullable": {"lenient": null}}));
    }

    #[tokio::test]
    async fn a_failed_non_null_field_nulls_the_nearest_nullable_parent() {
        let (data, errors) = run("{ ok nullable(id: 1) { id strict } }").await;
        assert_eq!(data, json!({"ok": 1, "nullable": null}));
        assert_eq!(errors, [("odd".into(), json!(["nullable", "strict"]))]);
        // Through non-null parents up to `data`.
        let (data, errors) = run("{ ok strict(id: 1) { id strict } }").await;
        assert_eq!(data, json!(null));
        assert_eq!(errors, [("odd".into(), json!(["strict", "strict"]))]);
    }

    #[tokio::test]
    async fn list_items_take_the_null_when_they_may() {
        let (data, errors) = run("{ nullableItems { id strict } }").await;
        assert_eq!(
            data,
            json!({"nullableItems": [{"id": 0, "strict": 0}, null, {"id": 2, "strict": 2}]})
        );
        assert_eq!(
            errors,
            [("odd".into(), json!(["nullableItems", 1, "strict"]))]
        );
        // Non-null items null the list, which may be null.
        let (data, errors) = run("{ ok strictItems { id strict } }").await;
        assert_eq!(data, json!({"ok": 1, "strictItems": null}));
        assert_eq!(
            errors,
            [("odd".into(), json!(["strictItems", 1, "strict"]))]
        );
    }
}
