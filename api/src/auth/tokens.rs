//! Access tokens (short-lived HS256 JWTs) and the opaque secrets CronOps hands out and
//! stores only as keyed hashes: refresh tokens, reset tokens and email codes.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::config::{AppEnv, AuthConfig};

/// Used only outside production when JWT_ACCESS_SECRET / JWT_REFRESH_SECRET are unset,
/// so that `make dev` works without configuration.
pub const DEV_ACCESS_SECRET: &str = "cronops-development-access-secret-not-for-production";
pub const DEV_REFRESH_SECRET: &str = "cronops-development-refresh-secret-not-for-production";

/// What an access token says. `typ` keeps a token of another kind from passing as one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The role when the token was issued; ADMIN checks re-read it from the database.
    pub role: db::Role,
    pub exp: i64,
    pub iat: i64,
    /// Unique per token.
    pub jti: Uuid,
    /// The refresh-session family the token was issued for (the caller's "session").
    pub sid: Uuid,
    /// Always `access` (an API key's claims say `api_key`, and are never a token).
    #[serde(rename = "type")]
    pub typ: String,
    /// What an API key may do, when the caller presented one instead of a token.
    #[serde(skip)]
    pub key: Option<super::api_keys::KeyGrant>,
}

const ACCESS: &str = "access";

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
    #[error("the API key is unknown, revoked or expired")]
    UnknownKey,
}

/// The keys and lifetimes of every token the API issues.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Key of the HMAC that stores refresh tokens, reset tokens and email codes.
    secret_hash_key: Vec<u8>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Longest a session family lives, however often it is refreshed.
    pub refresh_absolute_ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from the configuration (development falls back to fixed development secrets;
    /// production has refused to start without real ones).
    pub fn new(config: &AuthConfig, env: AppEnv) -> TokenKeys {
        if env == AppEnv::Development && config.jwt_access_secret.is_none() {
            tracing::warn!("JWT_ACCESS_SECRET is not set: using the development secret");
        }
        let access = config
            .jwt_access_secret
            .as_deref()
            .unwrap_or(DEV_ACCESS_SECRET);
        let refresh = config
            .jwt_refresh_secret
            .as_deref()
            .unwrap_or(DEV_REFRESH_SECRET);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(access.as_bytes()),
            decoding: DecodingKey::from_secret(access.as_bytes()),
            validation,
            secret_hash_key: refresh.as_bytes().to_vec(),
            access_ttl: config.jwt_access_expires_in,
            refresh_ttl: config.jwt_refresh_expires_in,
            refresh_absolute_ttl: config.jwt_refresh_absolute_ttl,
        }
    }

    /// A signed access token for the user in session family `sid`.
    pub fn issue_access(&self, user_id: Uuid, role: db::Role, sid: Uuid) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            role,
            iat: now,
            exp: now + i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX / 2),
            jti: Uuid::new_v4(),
            sid,
            typ: ACCESS.to_owned(),
            key: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// Verifies signature (HS256 only, so `alg: none` and others fail), expiry and kind.
    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if data.claims.typ != ACCESS {
            return Err(TokenError::Invalid);
        }
        Ok(data.claims)
    }

    /// The stored form of a secret (refresh token, reset token, email code): an HMAC
    /// keyed by JWT_REFRESH_SECRET, so a database dump alone cannot test guesses.
    pub fn hash_secret(&self, secret: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret_hash_key)
            .expect("HMAC takes any key length");
        mac.update(secret.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `secret` is the one stored as `stored_hash`, compared in constant time.
    pub fn secret_matches(&self, secret: &str, stored_hash: &str) -> bool {
        let Ok(stored) = hex::decode(stored_hash) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret_hash_key)
            .expect("HMAC takes any key length");
        mac.update(secret.as_bytes());
        mac.verify_slice(&stored).is_ok()
    }
}

/// Whether two secrets are equal, in time that does not depend on where they differ
/// (both are MACed, and the tags compared in constant time).
pub fn same_secret(presented: &str, expected: &str) -> bool {
    let tag = |secret: &str| {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(b"cronops-compare").expect("HMAC takes any key length");
        mac.update(secret.as_bytes());
        mac
    };
    let expected = tag(expected).finalize().into_bytes();
    tag(presented).verify_slice(&expected).is_ok()
}

/// A fresh 256-bit random token, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh 6-digit code, uniform over 000000..=999999, from the OS-seeded CSPRNG.
pub fn random_code() -> String {
    use rand::Rng;
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str, ttl: Duration) -> TokenKeys {
        TokenKeys::new(
            &AuthConfig {
                jwt_access_secret: Some(secret.to_owned()),
                jwt_refresh_secret: Some("r".repeat(32)),
                jwt_access_expires_in: ttl,
                jwt_refresh_expires_in: Duration::from_secs(3600),
                jwt_refresh_absolute_ttl: Duration::from_secs(30 * 86_400),
            },
            AppEnv::Test,
        )
    }

    #[test]
    fn access_tokens_round_trip_and_refuse_tampering() {
        let keys = keys(&"a".repeat(32), Duration::from_secs(900));
        let (user, sid) = (Uuid::new_v4(), Uuid::new_v4());
        let token = keys.issue_access(user, db::Role::Admin, sid);
        let claims = keys.verify_access(&token).unwrap();
        assert_eq!(
            (claims.sub, claims.role, claims.sid),
            (user, db::Role::Admin, sid)
        );
        assert_eq!(claims.exp - claims.iat, 900);

        let other = self::keys(&"b".repeat(32), Duration::from_secs(900));
        assert_eq!(
            other.verify_access(&token),
            Err(TokenError::Invalid),
            "wrong secret"
        );

        let mut tampered = token.clone();
        tampered.insert(tampered.len() - 3, 'x');
        assert_eq!(keys.verify_access(&tampered), Err(TokenError::Invalid));

        // alg: none with the same claims.
        let payload = token.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
        );
        assert_eq!(keys.verify_access(&none), Err(TokenError::Invalid));

        assert_eq!(
            keys.verify_access(&random_token()),
            Err(TokenError::Invalid),
            "refresh token as access"
        );
    }

    #[test]
    fn secrets_are_stored_as_keyed_hashes() {
        let keys = keys(&"a".repeat(32), Duration::from_secs(900));
        let token = random_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
        let hash = keys.hash_secret(&token);
        assert_ne!(hash, token);
        assert!(keys.secret_matches(&token, &hash));
        assert!(!keys.secret_matches(&random_token(), &hash));
        let code = random_code();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
    }
}
