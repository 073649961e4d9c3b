//! The operation a request runs and its root fields, read from its parsed document: what
//! the request limits and the metrics labels both look at.

use std::collections::HashSet;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};

/// The operation `name` picks (the only one when unnamed; the first of several, which
/// execution then refuses for the missing name).
pub fn selected<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    match &document.operations {
        DocumentOperations::Single(op) => Some(&op.node),
        DocumentOperations::Multiple(ops) => match name {
            Some(name) => ops.get(name).map(|op| &op.node),
            None => ops.values().next().map(|op| &op.node),
        },
    }
}

/// The root fields of `operation`, through fragments and inline fragments, once per
/// appearance (an alias counts again).
pub fn root_fields<'a>(
    document: &'a ExecutableDocument,
    operation: &'a OperationDefinition,
) -> Vec<&'a str> {
    let mut fields = Vec::new();
    collect(
        &operation.selection_set.node,
        document,
        &mut HashSet::new(),
        &mut fields,
    );
    fields
}

fn collect<'a>(
    set: &'a SelectionSet,
    document: &'a ExecutableDocument,
    seen: &mut HashSet<&'a str>,
    fields: &mut Vec<&'a str>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => fields.push(field.node.name.node.as_str()),
            Selection::InlineFragment(inline) => {
                collect(&inline.node.selection_set.node, document, seen, fields)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                // Each fragment once: a cycle (refused by validation) ends here.
                if seen.insert(name)
                    && let Some(fragment) = document.fragments.get(name)
                {
                    collect(&fragment.node.selection_set.node, document, seen, fields);
                }
            }
        }
    }
}
