//! What one GraphQL document may cost, checked before anything runs, on HTTP and on the
//! WebSocket alike (both execute through the schema and its extensions).
//!
//! - Its size with fragments expanded: validation itself walks every field once per
//!   spread, so a fragment used by fragments used by fragments is refused before it is.
//! - Aliases of one root field (`a0: nextRuns … a99: nextRuns`), and more than one of the
//!   account operations that hash a password or guess a secret.
//! - Depth and cost: async-graphql computes both while validating, with the weights of
//!   the schema's fields (lists multiply their selection by their page size, expensive
//!   resolvers carry their own weight); over a limit is `QUERY_TOO_COMPLEX` with the
//!   figures in `extensions`.
//! - Over the WebSocket, each operation also counts against the client's global per-IP
//!   rate limit, as each HTTP request does in its middleware.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
    NextValidation,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, Selection,
    SelectionSet,
};
use async_graphql::{ErrorExtensions, Name, Positioned, ServerError, ServerResult, Value};
use async_graphql::{ValidationResult, Variables};

use crate::error::ApiError;
use crate::state::AppState;

/// Deepest selection a query may nest; generous for every contract query.
pub const MAX_DEPTH: usize = 16;
/// Largest cost a document may have (see the module doc); a dashboard page of 100 jobs
/// with a dozen fields each costs about 1,500.
pub const MAX_COST: usize = 10_000;
/// Most fields a document may hold once its fragments are expanded.
pub const MAX_EXPANDED_FIELDS: usize = 2_000;
/// Most times one root field may appear in an operation (under aliases).
pub const MAX_SAME_ROOT_FIELD: usize = 10;
/// Root fields that hash a password, check a secret or send an email: one per document.
pub const ACCOUNT_OPERATIONS: [&str; 6] = [
    "login",
    "signup",
    "verifyEmail",
    "resetPassword",
    "changePassword",
    "forgotPassword",
];
/// Weight of a `totalCount` (a COUNT over the list's rows).
pub const COUNT_COST: usize = 10;
/// Weight of a report made of several aggregate queries (`stats`, `analytics`, the admin
/// ones); `nextRuns` weighs a tenth of it plus one per time asked.
pub const REPORT_COST: usize = 200;
/// Weight of `health` (a round trip to each store).
pub const HEALTH_COST: usize = 20;
/// Weight of an operation that runs argon2 (19 MiB and tens of milliseconds of a core).
pub const HASH_COST: usize = 500;
/// Fragments nested deeper than this make a document too complex (and keep the walk
/// below from recursing without end).
const MAX_FRAGMENT_NESTING: usize = 32;

/// Marks a request that came over the WebSocket, from this address: its operations count
/// against the global per-IP limit one by one.
#[derive(Debug, Clone, Copy)]
pub struct OverWebSocket {
    pub client_ip: std::net::IpAddr,
}

/// The extension that applies these limits to every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLimits;

impl ExtensionFactory for RequestLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Limiter::default())
    }
}

#[derive(Debug, Default)]
struct Limiter {
    operation_name: Mutex<Option<String>>,
}

/// A `QUERY_TOO_COMPLEX` error with its figures.
fn too_complex(message: String, figures: &[(&str, Value)]) -> ServerError {
    let error = async_graphql::Error::new(message).extend_with(|_, ext| {
        ext.set("code", "QUERY_TOO_COMPLEX");
        for (name, value) in figures {
            ext.set(*name, value.clone());
        }
    });
    error.into_server_error(Default::default())
}

#[async_trait::async_trait]
impl Extension for Limiter {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        if let (Some(ws), Some(state)) =
            (ctx.data_opt::<OverWebSocket>(), ctx.data_opt::<AppState>())
        {
            crate::auth::limits::check(state, state.global_limit(), &ws_key(ws))
                .await
                .map_err(|e: ApiError| e.extend().into_server_error(Default::default()))?;
        }
        *self.operation_name.lock().expect("name lock") = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let name = self.operation_name.lock().expect("name lock").clone();
        check_document(&document, name.as_deref())?;
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if result.depth > MAX_DEPTH {
            return Err(vec![too_complex(
                format!(
                    "the query nests {} levels deep; at most {MAX_DEPTH} are allowed",
                    result.depth
                ),
                &[
                    ("depth", Value::from(result.depth as u64)),
                    ("maxDepth", Value::from(MAX_DEPTH as u64)),
                ],
            )]);
        }
        if result.complexity > MAX_COST {
            return Err(vec![too_complex(
                format!(
                    "the query costs {} and at most {MAX_COST} is allowed: ask for smaller pages (`first`) or fewer nested lists",
                    result.complexity
                ),
                &[
                    ("cost", Value::from(result.complexity as u64)),
                    ("limit", Value::from(MAX_COST as u64)),
                ],
            )]);
        }
        Ok(result)
    }
}

/// The global limit's subject for a WebSocket client: the same key HTTP uses.
fn ws_key(ws: &OverWebSocket) -> String {
    crate::auth::ip_key(ws.client_ip)
}

/// The checks that need only the document: its expanded size, aliases of one root field,
/// and account operations.
fn check_document(document: &ExecutableDocument, operation_name: Option<&str>) -> ServerResult<()> {
    let mut sizes = FragmentSizes::new(&document.fragments);
    let mut total = 0usize;
    let operations: Vec<&Positioned<OperationDefinition>> = match &document.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(ops) => ops.values().collect(),
    };
    for op in &operations {
        total = total.saturating_add(sizes.of_set(&op.node.selection_set.node, 0));
    }
    for name in document.fragments.keys() {
        total = total.saturating_add(sizes.of_fragment(name, 0));
    }
    if total > MAX_EXPANDED_FIELDS {
        return Err(too_complex(
            format!(
                "the query holds {} fields with its fragments expanded; at most {MAX_EXPANDED_FIELDS} are allowed",
                display_count(total)
            ),
            &[
                ("fields", Value::from(total.min(u32::MAX as usize) as u64)),
                ("maxFields", Value::from(MAX_EXPANDED_FIELDS as u64)),
            ],
        ));
    }

    let Some(operation) = super::operation::selected(document, operation_name) else {
        return Ok(()); // execution reports the unknown operation
    };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for field in super::operation::root_fields(document, operation) {
        *counts.entry(field).or_default() += 1;
    }
    if let Some((field, count)) = counts
        .iter()
        .filter(|(_, count)| **count > MAX_SAME_ROOT_FIELD)
        .max_by_key(|(_, count)| **count)
    {
        return Err(too_complex(
            format!(
                "`{field}` appears {count} times; at most {MAX_SAME_ROOT_FIELD} are allowed in one request"
            ),
            &[
                ("field", Value::from(*field)),
                ("count", Value::from(*count as u64)),
                ("limit", Value::from(MAX_SAME_ROOT_FIELD as u64)),
            ],
        ));
    }
    let account: usize = ACCOUNT_OPERATIONS
        .iter()
        .filter_map(|name| counts.get(name))
        .sum();
    if account > 1 {
        return Err(too_complex(
            format!(
                "send {} one at a time: a request may hold only one of them",
                ACCOUNT_OPERATIONS.join(", ")
            ),
            &[
                ("count", Value::from(account as u64)),
                ("limit", Value::from(1u64)),
            ],
        ));
    }
    Ok(())
}

fn display_count(n: usize) -> String {
    if n == usize::MAX {
        "too many".to_owned()
    } else {
        n.to_string()
    }
}

/// Sizes of selections with fragments expanded, each fragment computed once.
struct FragmentSizes<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    known: HashMap<&'a str, usize>,
}

impl<'a> FragmentSizes<'a> {
    fn new(fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>) -> Self {
        FragmentSizes {
            fragments,
            known: HashMap::new(),
        }
    }

    fn of_fragment(&mut self, name: &'a str, nesting: usize) -> usize {
        if let Some(size) = self.known.get(name) {
            return *size;
        }
        if nesting > MAX_FRAGMENT_NESTING {
            return usize::MAX;
        }
        // A cycle counts as empty here; validation refuses it.
        self.known.insert(name, 0);
        let size = match self.fragments.get(name) {
            Some(fragment) => self.of_set(&fragment.node.selection_set.node, nesting + 1),
            None => 0,
        };
        self.known.insert(name, size);
        size
    }

    fn of_set(&mut self, set: &'a SelectionSet, nesting: usize) -> usize {
        set.items.iter().fold(0usize, |total, item| {
            let size = match &item.node {
                Selection::Field(field) => {
                    1usize.saturating_add(self.of_set(&field.node.selection_set.node, nesting))
                }
                Selection::InlineFragment(inline) => {
                    self.of_set(&inline.node.selection_set.node, nesting)
                }
                Selection::FragmentSpread(spread) => {
                    self.of_fragment(spread.node.fragment_name.node.as_str(), nesting)
                }
            };
            total.saturating_add(size)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str) -> Result<(), String> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        check_document(&document, None).map_err(|e| e.message)
    }

    #[test]
    fn fragment_bombs_are_measured_without_expanding_them() {
        // Each level doubles: 2^20 fields once expanded, counted in a few steps.
        let mut query = String::from("{ ...f0 }\n");
        for level in 0..20 {
            query.push_str(&format!(
                "fragment f{level} on Query {{ ...f{next} ...f{next} }}\n",
                next = level + 1
            ));
        }
        query.push_str("fragment f20 on Query { me { id } }\n");
        let refused = check(&query).unwrap_err();
        assert!(
            refused.contains("fields with its fragments expanded"),
            "{refused}"
        );
        assert!(check("{ me { id email } jobs { totalCount } }").is_ok());
    }

    #[test]
    fn aliases_of_one_root_field_and_account_operations_are_bounded() {
        let aliases = |n: usize, field: &str| {
            let body: String = (0..n).map(|i| format!("a{i}: {field} ")).collect();
            format!("{{ {body} }}")
        };
        assert!(check(&aliases(MAX_SAME_ROOT_FIELD, "health { status }")).is_ok());
        let refused = check(&aliases(MAX_SAME_ROOT_FIELD + 1, "health { status }")).unwrap_err();
        assert!(refused.contains("`health` appears 11 times"), "{refused}");
        // Through a fragment too.
        let refused = check(&format!(
            "{{ ...f }} fragment f on Query {{ {} }}",
            &aliases(11, "me { id }")[1..aliases(11, "me { id }").len() - 1]
        ))
        .unwrap_err();
        assert!(refused.contains("`me` appears 11 times"), "{refused}");

        let two = r#"mutation { a: login(email: "a@b.c", password: "x") { accessToken } b: forgotPassword(email: "a@b.c") }"#;
        assert!(check(two).unwrap_err().contains("one at a time"));
        let one = r#"mutation { a: login(email: "a@b.c", password: "x") { accessToken } }"#;
        assert!(check(one).is_ok());
    }
}
