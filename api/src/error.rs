//! The API's errors, mapped to GraphQL in one place with the contract's `extensions.code`.

use async_graphql::{ErrorExtensions, Value};

/// An error a resolver returns. Internal causes are logged and never reach the client.
///
/// It has no `Display` on purpose: async-graphql turns any `Display` type into an error
/// without extensions, so this type converts only through [`ErrorExtensions`]. Resolvers
/// return `async_graphql::Result<T>`, and `?` on an `ApiError` always yields the
/// contract's `extensions.code`.
#[derive(Debug)]
pub enum ApiError {
    /// No valid access token.
    Unauthenticated(String),
    /// Authenticated, but not allowed. `reason` lands in `extensions.reason`.
    Forbidden {
        message: String,
        reason: Option<&'static str>,
    },
    /// Input that breaks a rule; `field` names the input field when one is to blame.
    BadUserInput {
        message: String,
        field: Option<String>,
    },
    /// No such object, or another user's (the two are indistinguishable on purpose).
    NotFound(String),
    /// The write conflicts with existing state (duplicate email, last admin, ...).
    Conflict(String),
    /// The user's plan does not allow this.
    PlanLimitReached(String),
    /// Too many requests; try again after `retry_after` seconds.
    RateLimited { retry_after: u64 },
    /// A dependency failed in a way the client can act on (an email that could not be
    /// sent): INTERNAL_SERVER_ERROR with a message that says what to do, and no internals.
    Unavailable(String),
    /// Anything else. The cause is logged with context; the client sees a fixed message.
    Internal(anyhow::Error),
}

impl ApiError {
    /// A field-level input error.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::BadUserInput {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// The message the client reads.
    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated(message)
            | ApiError::NotFound(message)
            | ApiError::Conflict(message)
            | ApiError::PlanLimitReached(message)
            | ApiError::Forbidden { message, .. }
            | ApiError::Unavailable(message)
            | ApiError::BadUserInput { message, .. } => message.clone(),
            ApiError::RateLimited { retry_after } => {
                format!("too many requests, try again in {retry_after} s")
            }
            ApiError::Internal(_) => "internal server error".to_owned(),
        }
    }

    /// The contract's `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden { .. } => "FORBIDDEN",
            ApiError::BadUserInput { .. } => "BAD_USER_INPUT",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::PlanLimitReached(_) => "PLAN_LIMIT_REACHED",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Unavailable(_) | ApiError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }
}

impl From<db::Error> for ApiError {
    fn from(e: db::Error) -> ApiError {
        ApiError::Internal(e.into())
    }
}

impl From<db::QueryError> for ApiError {
    fn from(e: db::QueryError) -> ApiError {
        ApiError::Internal(e.into())
    }
}

impl From<scheduler::Error> for ApiError {
    fn from(e: scheduler::Error) -> ApiError {
        ApiError::Internal(e.into())
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        async_graphql::Error::new(self.message()).extend_with(|_, ext| {
            ext.set("code", self.code());
            match self {
                ApiError::BadUserInput {
                    field: Some(field), ..
                } => ext.set("field", field.as_str()),
                ApiError::Forbidden {
                    reason: Some(reason),
                    ..
                } => ext.set("reason", *reason),
                ApiError::RateLimited { retry_after } => {
                    ext.set("retryAfter", Value::from(*retry_after))
                }
                _ => {}
            }
        })
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> async_graphql::Error {
        e.extend()
    }
}

/// What the functions behind the resolvers return.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let error: async_graphql::Error =
            ApiError::Internal(anyhow::anyhow!("relation \"users\" does not exist")).into();
        assert_eq!(error.message, "internal server error");
        let ext = serde_json::to_value(error.extensions.unwrap()).unwrap();
        assert_eq!(ext, serde_json::json!({"code": "INTERNAL_SERVER_ERROR"}));
    }

    #[test]
    fn field_and_retry_after_land_in_extensions() {
        let error: async_graphql::Error = ApiError::bad_input("email", "is not an email").into();
        let ext = serde_json::to_value(error.extensions.unwrap()).unwrap();
        assert_eq!(
            ext,
            serde_json::json!({"code": "BAD_USER_INPUT", "field": "email"})
        );
        let error: async_graphql::Error = ApiError::RateLimited { retry_after: 42 }.into();
        let ext = serde_json::to_value(error.extensions.unwrap()).unwrap();
        assert_eq!(
            ext,
            serde_json::json!({"code": "RATE_LIMITED", "retryAfter": 42})
        );
    }
}
