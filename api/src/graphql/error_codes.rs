//! Every error a client reads carries `extensions.code`, including the ones async-graphql
//! raises itself before a resolver runs:
//!
//! - `GRAPHQL_PARSE_FAILED`: the document is not GraphQL;
//! - `GRAPHQL_VALIDATION_FAILED`: it breaks a validation rule (unknown field or argument,
//!   missing argument, a literal of the wrong type, unknown enum value...);
//! - `BAD_USER_INPUT`, with `extensions.field`: a variable's value does not fit the
//!   argument it is passed to (the GraphQL spec's variable coercion), or an argument
//!   cannot be read at execution;
//! - `OPERATION_RESOLUTION_FAILURE`: `operationName` names no operation of the document,
//!   or the document holds several and none is named.
//!
//! The extension also tells the transport whether execution began ([`Executed`]): a
//! request that failed before it is a *request error*, answered without `data` (and with
//! 400 under `application/graphql-response+json`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextSubscribe, NextValidation,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Pos, ServerError, ServerResult, ValidationResult, Value, Variables};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
pub const OPERATION_RESOLUTION_FAILURE: &str = "OPERATION_RESOLUTION_FAILURE";
pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";

/// Put into a request's data by a transport that needs to know whether its execution
/// began; set by the extension when it does.
#[derive(Debug, Clone, Default)]
pub struct Executed(Arc<AtomicBool>);

impl Executed {
    pub fn began(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The extension that codes every error, and applies the spec's null propagation to
/// answers with errors ([`super::nulls`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Coder::default())
    }
}

/// One request's extension; its state is shared with a subscription's stream.
#[derive(Debug, Default)]
struct Coder(Arc<Stage>);

/// One request's stage, kept to code the errors of that stage.
#[derive(Debug, Default)]
struct Stage {
    /// The operation the request names, to check its variables.
    operation_name: Mutex<Option<String>>,
    /// The query text, read again only when something failed: to tell a variable's bad
    /// value from a literal's, and to place the nulls of failed fields.
    query: Mutex<Option<String>>,
    executed: AtomicBool,
}

impl Stage {
    /// Null propagation for an answer with errors.
    fn propagate(&self, response: &mut async_graphql::Response) {
        if response.errors.is_empty() {
            return;
        }
        let query = self.query.lock().expect("query lock");
        let name = self.operation_name.lock().expect("name lock");
        if let Some(query) = query.as_deref() {
            super::nulls::propagate(response, query, name.as_deref());
        }
    }
}

#[async_trait::async_trait]
impl Extension for Coder {
    async fn request(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextRequest<'_>,
    ) -> async_graphql::Response {
        let mut response = next.run(ctx).await;
        let fallback = if self.0.executed.load(Ordering::Relaxed) {
            INTERNAL_SERVER_ERROR
        } else {
            OPERATION_RESOLUTION_FAILURE
        };
        for error in &mut response.errors {
            if code_of(error).is_none() {
                let code = if error.message.starts_with("Failed to parse") {
                    BAD_USER_INPUT
                } else {
                    fallback
                };
                set_code(error, code, None);
            }
        }
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        *self.0.operation_name.lock().expect("name lock") = request.operation_name.clone();
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        match next.run(ctx, query, variables).await {
            Ok(document) => {
                let name = self.0.operation_name.lock().expect("name lock").clone();
                required_variables(&document, name.as_deref(), variables)?;
                *self.0.query.lock().expect("query lock") = Some(query.to_owned());
                Ok(document)
            }
            Err(mut error) => {
                if code_of(&error).is_none() {
                    set_code(&mut error, PARSE_FAILED, None);
                }
                Err(error)
            }
        }
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let mut errors = match next.run(ctx).await {
            Ok(result) => return Ok(result),
            Err(errors) => errors,
        };
        // Reading an argument to weigh a field repeats the rule's finding about its value.
        if errors.len() > 1 {
            errors.retain(|e| !e.message.starts_with("Expected input type"));
        }
        let query = self.0.query.lock().expect("query lock").take();
        let document = query.and_then(|q| async_graphql::parser::parse_query(q).ok());
        for error in &mut errors {
            if code_of(error).is_some() {
                continue;
            }
            match invalid_argument(&error.message) {
                Some(field) if from_variable(document.as_ref(), &error.locations) => {
                    set_code(error, BAD_USER_INPUT, Some(field));
                }
                _ => set_code(error, VALIDATION_FAILED, None),
            }
        }
        Err(errors)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        self.0.executed.store(true, Ordering::Relaxed);
        if let Some(executed) = ctx.data_opt::<Executed>() {
            executed.0.store(true, Ordering::Relaxed);
        }
        let mut response = next.run(ctx, operation_name).await;
        // The operation executed: a document with several names one of them.
        if let Some(name) = operation_name {
            *self.0.operation_name.lock().expect("name lock") = Some(name.to_owned());
        }
        self.0.propagate(&mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, async_graphql::Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, async_graphql::Response> {
        let stage = self.0.clone();
        next.run(ctx, stream)
            .map(move |mut response| {
                stage.propagate(&mut response);
                response
            })
            .boxed()
    }
}

/// Refuses an operation whose non-null variable without a default is missing or null
/// (the spec's variable coercion); async-graphql would fail each field that reads it.
fn required_variables(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> ServerResult<()> {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => op,
            None => return Ok(()),
        },
        (DocumentOperations::Multiple(_), None) => return Ok(()),
    };
    for definition in &operation.node.variable_definitions {
        let definition = &definition.node;
        let given = variables
            .get(&definition.name.node)
            .is_some_and(|v| *v != Value::Null);
        if !definition.var_type.node.nullable && definition.default_value.is_none() && !given {
            let name = definition.name.node.as_str();
            let mut error = ServerError::new(
                format!(
                    "Variable \"${name}\" of required type \"{}\" was not provided.",
                    definition.var_type.node
                ),
                Some(definition.name.pos),
            );
            set_code(&mut error, BAD_USER_INPUT, Some(name.to_owned()));
            return Err(error);
        }
    }
    Ok(())
}

fn code_of(error: &ServerError) -> Option<&Value> {
    error.extensions.as_ref().and_then(|ext| ext.get("code"))
}

fn set_code(error: &mut ServerError, code: &str, field: Option<String>) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code);
    if let Some(field) = field {
        extensions.set("field", field);
    }
}

/// The input field named by async-graphql's "Invalid value for argument" error: the
/// argument, or the path below the `input` argument (as resolvers name their fields).
fn invalid_argument(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Invalid value for argument \"")?;
    let path = &rest[..rest.find('"')?];
    let path = path.strip_prefix("input.").unwrap_or(path);
    Some(path.to_owned())
}

/// Whether the argument at one of `locations` takes its value from a variable. A literal
/// of the wrong type is a validation error; a variable's value fails coercion.
fn from_variable(document: Option<&ExecutableDocument>, locations: &[Pos]) -> bool {
    let Some(document) = document else {
        return false;
    };
    let mut found = false;
    let mut visit = |set: &SelectionSet| {
        visit_arguments(set, &mut |name_pos, uses_variable| {
            found |= uses_variable && locations.contains(&name_pos);
        });
    };
    for (_, operation) in document.operations.iter() {
        visit(&operation.node.selection_set.node);
    }
    for fragment in document.fragments.values() {
        visit(&fragment.node.selection_set.node);
    }
    found
}

/// Calls `f` with each argument's position and whether its value holds a variable.
fn visit_arguments(set: &SelectionSet, f: &mut impl FnMut(Pos, bool)) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let arguments = field
                    .node
                    .arguments
                    .iter()
                    .chain(field.node.directives.iter().flat_map(|d| &d.node.arguments));
                for (name, value) in arguments {
                    let uses_variable = value.node.clone().into_const_with(|_| Err(())).is_err();
                    f(name.pos, uses_variable);
                }
                visit_arguments(&field.node.selection_set.node, f);
            }
            Selection::InlineFragment(inline) => {
                visit_arguments(&inline.node.selection_set.node, f)
            }
            Selection::FragmentSpread(_) => {}
        }
    }
}
