//! Accounts and sessions: sign-up with an emailed code, password logins, rotating refresh
//! tokens, password reset and profile changes. Resolvers in `graphql::auth` call these
//! functions; everything here is plain async code over the application state.

pub mod account;
pub mod api_keys;
pub mod limits;
pub mod password;
pub mod rate_limit;
pub mod session;
pub mod tokens;
pub mod validate;

use std::net::IpAddr;

use async_graphql::Context;

use crate::error::{ApiError, ApiResult};
use tokens::{Claims, TokenError};

/// What one request (or one WebSocket connection) presented: its bearer token, checked
/// once when the request arrives, and the client's address for rate limits.
#[derive(Debug, Clone, Default)]
pub struct RequestAuth {
    pub credentials: Credentials,
    pub client_ip: Option<IpAddr>,
}

/// The outcome of checking the bearer token.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Credentials {
    /// No token was sent.
    #[default]
    Anonymous,
    /// A valid access token.
    Valid(Claims),
    /// A token was sent and refused.
    Invalid(TokenError),
    /// An API key over its rate limit.
    Limited { retry_after: u64 },
    /// An API key that could not be looked up (the database is unreachable).
    Unavailable,
}

impl RequestAuth {
    /// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
    pub fn parse_bearer(value: &str) -> Option<String> {
        let (scheme, token) = value.trim().split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
    }

    /// The token of a WebSocket `connection_init` payload, under `Authorization`,
    /// `authorization` (both `Bearer <token>`) or `authToken` (bare or with `Bearer`).
    pub fn token_from_init_payload(payload: &serde_json::Value) -> Option<String> {
        ["Authorization", "authorization", "authToken"]
            .iter()
            .filter_map(|key| payload.get(key)?.as_str())
            .find_map(|value| {
                Self::parse_bearer(value).or_else(|| {
                    let bare = value.trim();
                    (!bare.is_empty() && !bare.contains(' ')).then(|| bare.to_owned())
                })
            })
    }

    /// A short key for rate limits by address (see [`ip_key`]).
    pub fn ip_key(&self) -> String {
        self.client_ip.map_or_else(|| "unknown".to_owned(), ip_key)
    }
}

/// The key of an address in rate limits: an IPv4 address, or the /64 network of an IPv6
/// one (one subscriber usually holds a whole /64, and could otherwise take a fresh
/// address for every request).
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Checks a bearer token (if any) against the access-token key.
pub fn check_token(keys: &tokens::TokenKeys, token: Option<&str>) -> Credentials {
    match token {
        None => Credentials::Anonymous,
        Some(token) => match keys.verify_access(token) {
            Ok(claims) => Credentials::Valid(claims),
            Err(e) => Credentials::Invalid(e),
        },
    }
}

/// Checks a bearer value (if any): an API key against the stored keys, anything else as
/// an access token.
pub async fn authenticate(state: &crate::state::AppState, token: Option<&str>) -> Credentials {
    match token {
        Some(key) if api_keys::is_key(key) => api_keys::authenticate(state, key).await,
        token => check_token(&state.tokens, token),
    }
}

/// The request's auth context (anonymous when the transport added none).
pub fn request_auth<'a>(ctx: &'a Context<'_>) -> &'a RequestAuth {
    static ANONYMOUS: RequestAuth = RequestAuth {
        credentials: Credentials::Anonymous,
        client_ip: None,
    };
    ctx.data_opt::<RequestAuth>().unwrap_or(&ANONYMOUS)
}

/// The caller's verified claims, or UNAUTHENTICATED saying what to do about it.
pub fn viewer<'a>(ctx: &'a Context<'_>) -> ApiResult<&'a Claims> {
    match &request_auth(ctx).credentials {
        Credentials::Valid(claims) => Ok(claims),
        Credentials::Anonymous => Err(ApiError::Unauthenticated(
            "authentication required: send `Authorization: Bearer <accessToken>`".into(),
        )),
        Credentials::Invalid(TokenError::Expired) => Err(ApiError::Unauthenticated(
            "the access token has expired: get a new one with refreshToken".into(),
        )),
        Credentials::Invalid(TokenError::Invalid) => Err(ApiError::Unauthenticated(
            "the access token is invalid".into(),
        )),
        Credentials::Invalid(TokenError::UnknownKey) => Err(ApiError::Unauthenticated(
            "the API key is unknown, revoked or expired".into(),
        )),
        Credentials::Limited { retry_after } => Err(ApiError::RateLimited {
            retry_after: *retry_after,
        }),
        Credentials::Unavailable => Err(ApiError::Unavailable(
            "the API key could not be checked just now: try again shortly".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bearer_tokens_are_read_from_headers_and_init_payloads() {
        assert_eq!(RequestAuth::parse_bearer("Bearer abc"), Some("abc".into()));
        assert_eq!(
            RequestAuth::parse_bearer("bearer  abc "),
            Some("abc".into())
        );
        assert_eq!(RequestAuth::parse_bearer("Basic abc"), None);
        assert_eq!(RequestAuth::parse_bearer("Bearer "), None);
        for payload in [
            json!({"Authorization": "Bearer t1"}),
            json!({"authorization": "Bearer t1"}),
            json!({"authToken": "t1"}),
            json!({"authToken": "Bearer t1"}),
        ] {
            assert_eq!(
                RequestAuth::token_from_init_payload(&payload),
                Some("t1".into()),
                "{payload}"
            );
        }
        assert_eq!(RequestAuth::token_from_init_payload(&json!({})), None);
        assert_eq!(RequestAuth::token_from_init_payload(&json!(null)), None);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_network() {
        let key = |s: &str| ip_key(s.parse().unwrap());
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("::ffff:198.51.100.1"), "198.51.100.1");
    }
}
