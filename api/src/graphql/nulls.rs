//! Null propagation as the GraphQL spec has it (§6.4.4, "Handling Execution Errors").
//!
//! async-graphql 7 drops the key of a field whose resolver fails, and turns an object
//! left without keys into `null`, whatever the schema says. A typed client then reads a
//! missing key, or `null` where the schema promised a value. The spec's rule: a failed
//! field is `null` if its type allows it; if not, the `null` goes up to the nearest
//! position that allows it (a field or a list item), up to `data` itself.
//!
//! The rule is applied to a response after execution, and only to one with errors: each
//! error's path is read against the operation (for aliases and fragments) and the
//! schema's field types, and the nearest nullable position on it is set to `null`. A
//! response without errors costs nothing.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, OperationDefinition, OperationType,
    Selection, SelectionSet, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, PathSegment, Response, Value};

/// Field types by type and field name, read once from the served SDL.
struct Types(HashMap<String, HashMap<String, Type>>);

static TYPES: LazyLock<Types> = LazyLock::new(|| Types::of(&super::sdl()));

impl Types {
    fn of(sdl: &str) -> Types {
        let mut types = HashMap::new();
        let document = async_graphql::parser::parse_schema(sdl).expect("the served SDL parses");
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let fields = match definition.node.kind {
                TypeKind::Object(object) => object.fields,
                TypeKind::Interface(interface) => interface.fields,
                _ => continue,
            };
            let fields = fields
                .into_iter()
                .map(|f| (f.node.name.node.to_string(), f.node.ty.node))
                .collect();
            types.insert(definition.node.name.node.to_string(), fields);
        }
        Types(types)
    }

    fn field(&self, parent: &str, field: &str) -> Option<&Type> {
        self.0.get(parent)?.get(field)
    }
}

/// Applies null propagation to `response`, executed from `query` (the operation named
/// `operation_name`, or its only one).
pub fn propagate(response: &mut Response, query: &str, operation_name: Option<&str>) {
    propagate_with(&TYPES, response, query, operation_name);
}

fn propagate_with(
    types: &Types,
    response: &mut Response,
    query: &str,
    operation_name: Option<&str>,
) {
    if response.errors.iter().all(|e| e.path.is_empty()) {
        return;
    }
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return;
    };
    let Some(operation) = operation(&document, operation_name) else {
        return;
    };
    let mut failures: Vec<(&[PathSegment], Vec<bool>)> = response
        .errors
        .iter()
        .filter(|e| !e.path.is_empty())
        .map(|e| {
            (
                e.path.as_slice(),
                nullable_along(types, &document, operation, &e.path),
            )
        })
        .collect();
    failures.sort_by_key(|(path, _)| path.len());
    let mut data = std::mem::take(&mut response.data);
    let mut applied: Vec<&[PathSegment]> = Vec::new();
    for (path, nullable) in failures {
        // The nearest nullable position from the failed one up, `data` if none.
        let mut depth = nearest_nullable(&nullable, path.len());
        loop {
            let target = &path[..depth];
            if applied.iter().any(|done| target.starts_with(done)) {
                break;
            }
            if depth == 0 {
                response.data = Value::Null;
                return;
            }
            match set_null(&mut data, target) {
                Ok(()) => {
                    applied.push(target);
                    break;
                }
                // The way went through a list async-graphql dropped whole (one item
                // failed): the null goes to the list's own nearest nullable position.
                Err(list_depth) => depth = nearest_nullable(&nullable, list_depth),
            }
        }
    }
    response.data = data;
}

/// How many segments lead to the nearest nullable position at or above `depth`.
fn nearest_nullable(nullable: &[bool], depth: usize) -> usize {
    nullable[..depth]
        .iter()
        .rposition(|n| *n)
        .map_or(0, |i| i + 1)
}

fn operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        _ => None,
    }
}

/// Whether each position along `path` may be null, outermost first. A position whose
/// type is not known (introspection) counts as nullable.
fn nullable_along(
    types: &Types,
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    path: &[PathSegment],
) -> Vec<bool> {
    let root = match operation.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    };
    // The type of each position along the path, outermost first.
    let mut nullable = Vec::with_capacity(path.len());
    let mut parent = root.to_owned();
    let mut sets: Vec<&SelectionSet> = vec![&operation.selection_set.node];
    let mut current: Option<Type> = None;
    for segment in path {
        match segment {
            PathSegment::Field(key) => {
                let fields = fields_named(document, &sets, key);
                let ty = fields
                    .first()
                    .and_then(|name| types.field(&parent, name.0.as_str()))
                    .cloned();
                sets = fields.iter().map(|(_, set)| *set).collect();
                if let Some(ty) = &ty {
                    parent = named(ty).to_owned();
                }
                current = ty;
            }
            PathSegment::Index(_) => {
                current = current.and_then(|ty| match ty.base {
                    BaseType::List(item) => Some(*item),
                    BaseType::Named(_) => None,
                });
            }
        }
        nullable.push(current.as_ref().is_none_or(|ty| ty.nullable));
    }
    nullable
}

/// The fields of `sets` (fragments included) answered under `key`: their names and
/// selections.
fn fields_named<'a>(
    document: &'a ExecutableDocument,
    sets: &[&'a SelectionSet],
    key: &str,
) -> Vec<(Name, &'a SelectionSet)> {
    let mut found = Vec::new();
    let mut pending: Vec<&SelectionSet> = sets.to_vec();
    // Fragments cannot nest without end (validation refuses cycles); the bound is a guard.
    let mut budget = 10_000;
    while let Some(set) = pending.pop() {
        for selection in &set.items {
            budget -= 1;
            if budget == 0 {
                return found;
            }
            match &selection.node {
                Selection::Field(field) if field.node.response_key().node.as_str() == key => {
                    found.push((field.node.name.node.clone(), &field.node.selection_set.node));
                }
                Selection::Field(_) => {}
                Selection::InlineFragment(inline) => pending.push(&inline.node.selection_set.node),
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node)
                    {
                        pending.push(&fragment.node.selection_set.node);
                    }
                }
            }
        }
    }
    found
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(item) => named(item),
    }
}

/// Sets the position at `path` of `data` to `null`, making the objects on the way that
/// async-graphql turned into `null` for having lost every key. When the way goes through
/// a list that is not there, fails with the depth of that list.
fn set_null(data: &mut Value, path: &[PathSegment]) -> Result<(), usize> {
    let mut position = data;
    for (i, segment) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        position = match segment {
            PathSegment::Field(key) => {
                if *position == Value::Null {
                    *position = Value::Object(Default::default());
                }
                let Value::Object(object) = position else {
                    return Err(i);
                };
                object.entry(Name::new(key)).or_insert(Value::Null)
            }
            PathSegment::Index(index) => match position {
                Value::List(items) if *index < items.len() => &mut items[*index],
                _ => return Err(i),
            },
        };
        if last {
            *position = Value::Null;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
    use serde_json::json;

    use super::{Types, propagate_with};

    struct Query;

    #[derive(SimpleObject)]
    #[graphql(complex)]
    struct Node {
        id: i32,
    }

    fn even(id: i32) -> async_graphql::Result<i32> {
        if id % 2 == 1 {
            Err("odd".into())
        } else {
            Ok(id)
        }
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
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let types = Types::of(&schema.sdl());
        let mut response = schema.execute(query).await;
        propagate_with(&types, &mut response, query, None);
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
        // Alone in its selection, under an alias, it still keeps its parent an object.
        let (data, _) = run("{ n: nullable(id: 1) { l: lenient } }").await;
        assert_eq!(data, json!({"n": {"l": null}}));
    }

    #[tokio::test]
    async fn a_failed_non_null_field_nulls_the_nearest_nullable_parent() {
        let (data, errors) = run("{ ok nullable(id: 1) { id strict } }").await;
        assert_eq!(data, json!({"ok": 1, "nullable": null}));
        assert_eq!(errors, [("odd".into(), json!(["nullable", "strict"]))]);
        // Through a fragment.
        let (data, _) = run("{ ok nullable(id: 1) { ...F } } fragment F on Node { strict }").await;
        assert_eq!(data, json!({"ok": 1, "nullable": null}));
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
