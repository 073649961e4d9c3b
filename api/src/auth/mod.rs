//! Accounts and sessions: password hashing, and what a request presents to authenticate.

pub mod password;

use std::net::IpAddr;

/// What one request (or one WebSocket connection) presented: the raw bearer token, not
/// yet verified, and the client's address for rate limits.
#[derive(Debug, Clone, Default)]
pub struct RequestAuth {
    pub bearer: Option<String>,
    pub client_ip: Option<IpAddr>,
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
    pub fn from_init_payload(payload: &serde_json::Value) -> Option<String> {
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
                RequestAuth::from_init_payload(&payload),
                Some("t1".into()),
                "{payload}"
            );
        }
        assert_eq!(RequestAuth::from_init_payload(&json!({})), None);
        assert_eq!(RequestAuth::from_init_payload(&json!(null)), None);
    }
}
