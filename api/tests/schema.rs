//! The served schema: `schema.graphql` is what the code serves, and the code serves every
//! part of the contract (`docs/contract.graphql`) that has landed, with the contract's names,
//! argument types and defaults.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

/// Contract root fields not served yet, as `Type.field`. Each issue that lands an
/// operation removes it from here; the test fails if a listed field appears, so the list
/// can only shrink.
const NOT_YET_SERVED: &[&str] = &[];

#[test]
fn committed_schema_graphql_is_what_the_server_serves() {
    let committed = include_str!("../../schema.graphql");
    let served = api::graphql::sdl();
    assert!(
        committed == served,
        "schema.graphql is out of date: run `make schema` (cronops schema > schema.graphql) and commit it"
    );
}

/// A type's fields (or enum values / input fields), each with its rendered type and its
/// arguments `name: Type = default`.
type Shape = BTreeMap<String, BTreeMap<String, (String, Vec<String>)>>;

fn shape(sdl: &str) -> Shape {
    let document = parse_schema(sdl).expect("valid SDL");
    let mut types = Shape::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let ty = ty.node;
        let mut members = BTreeMap::new();
        match ty.kind {
            TypeKind::Object(object) => {
                for field in object.fields {
                    let field = field.node;
                    let args = field
                        .arguments
                        .iter()
                        .map(|a| {
                            let a = &a.node;
                            match &a.default_value {
                                Some(d) => format!("{}: {} = {}", a.name.node, a.ty.node, d.node),
                                None => format!("{}: {}", a.name.node, a.ty.node),
                            }
                        })
                        .collect();
                    members.insert(
                        field.name.node.to_string(),
                        (field.ty.node.to_string(), args),
                    );
                }
            }
            TypeKind::InputObject(input) => {
                for field in input.fields {
                    let f = field.node;
                    let default = f
                        .default_value
                        .map(|d| d.node.to_string())
                        .unwrap_or_default();
                    members.insert(
                        f.name.node.to_string(),
                        (f.ty.node.to_string(), vec![default]),
                    );
                }
            }
            TypeKind::Enum(e) => {
                for value in e.values {
                    members.insert(value.node.value.node.to_string(), (String::new(), vec![]));
                }
            }
            _ => {}
        }
        types.insert(ty.name.node.to_string(), members);
    }
    types
}

fn not_yet(ty: &str, field: &str) -> bool {
    NOT_YET_SERVED.contains(&format!("{ty}.{field}").as_str())
        || NOT_YET_SERVED.contains(&format!("{ty}.*").as_str())
}

#[test]
fn served_schema_keeps_the_contract() {
    let contract = shape(include_str!("../../docs/contract.graphql"));
    let served = shape(&api::graphql::sdl());
    let mut problems = Vec::new();
    let mut landed = BTreeSet::new();

    for (ty, members) in &contract {
        let Some(served_members) = served.get(ty) else {
            // Object types appear with the operations that use them; roots must be there.
            let root = matches!(ty.as_str(), "Query" | "Mutation" | "Subscription");
            if root && !not_yet(ty, "*") {
                problems.push(format!("root type {ty} is missing"));
            }
            continue;
        };
        for (name, (contract_ty, contract_args)) in members {
            let Some((served_ty, served_args)) = served_members.get(name) else {
                if !not_yet(ty, name) {
                    problems.push(format!("{ty}.{name} is missing"));
                }
                continue;
            };
            let qualified = format!("{ty}.{name}");
            if NOT_YET_SERVED.contains(&qualified.as_str()) {
                landed.insert(qualified);
            }
            if contract_ty != served_ty {
                problems.push(format!(
                    "{ty}.{name}: contract type {contract_ty}, served {served_ty}"
                ));
            }
            for arg in contract_args {
                if !served_args.contains(arg) {
                    problems.push(format!("{ty}.{name}: argument `{arg}` missing or different (served: {served_args:?})"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the served schema breaks the contract:\n{}",
        problems.join("\n")
    );
    assert!(
        landed.is_empty(),
        "served now, remove from NOT_YET_SERVED: {landed:?}"
    );
}
