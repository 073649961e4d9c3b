//! What an API key may run: a query or subscription needs its READ scope, a mutation its
//! WRITE scope. Checked once per operation, as its document is parsed, so that no field
//! of an operation the key may not run is resolved, over HTTP and WebSocket alike. ADMIN
//! is checked with the role (`auth::account::require_admin`), and what needs a
//! signed-in session says so itself (`auth::api_keys::require_session`).

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{ErrorExtensions, ServerResult, Variables};

use crate::auth::api_keys::Scope;
use crate::auth::{Credentials, RequestAuth};

/// The extension (one checker per request).
pub struct KeyScopes;

impl ExtensionFactory for KeyScopes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Checker::default())
    }
}

#[derive(Default)]
struct Checker {
    operation_name: Mutex<Option<String>>,
}

/// The scopes the operations a request may run need: the named one, or every one of the
/// document when none is named.
fn needed(document: &ExecutableDocument, name: Option<&str>) -> Vec<Scope> {
    let scope = |ty: OperationType| match ty {
        OperationType::Mutation => Scope::Write,
        OperationType::Query | OperationType::Subscription => Scope::Read,
    };
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => vec![scope(op.node.ty)],
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get(name)
            .map(|op| scope(op.node.ty))
            .into_iter()
            .collect(),
        (DocumentOperations::Multiple(ops), None) => {
            ops.values().map(|op| scope(op.node.ty)).collect()
        }
    }
}

#[async_trait::async_trait]
impl Extension for Checker {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
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
        let grant = match ctx.data_opt::<RequestAuth>().map(|auth| &auth.credentials) {
            Some(Credentials::Valid(claims)) => claims.key.as_ref(),
            _ => None,
        };
        if let Some(grant) = grant {
            let name = self.operation_name.lock().expect("name lock").clone();
            for scope in needed(&document, name.as_deref()) {
                grant.require(scope).map_err(|e| {
                    let mut error = e.extend().into_server_error(Default::default());
                    error.locations.clear();
                    error
                })?;
            }
        }
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(query: &str, name: Option<&str>) -> Vec<Scope> {
        needed(&async_graphql::parser::parse_query(query).unwrap(), name)
    }

    #[test]
    fn queries_need_read_and_mutations_write() {
        assert_eq!(scopes("{ jobs { totalCount } }", None), vec![Scope::Read]);
        assert_eq!(
            scopes("subscription { executionEvents { id } }", None),
            vec![Scope::Read]
        );
        assert_eq!(
            scopes("mutation { deleteJob(id: 1) }", None),
            vec![Scope::Write]
        );
        let both = "query A { me { id } } mutation B { deleteJob(id: 1) }";
        assert_eq!(scopes(both, Some("A")), vec![Scope::Read]);
        let mut all = scopes(both, None);
        all.sort();
        assert_eq!(all, vec![Scope::Read, Scope::Write]);
    }
}
