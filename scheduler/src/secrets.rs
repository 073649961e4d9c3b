//! Users' secrets: values kept encrypted at rest (AES-256-GCM under the deployment's
//! `SECRETS_KEY`), written into a job's request only when it fires, wherever the job says
//! `{{secrets.NAME}}` (its URL, header values and body).
//!
//! Each value is sealed with a fresh random nonce and its owner and name as associated
//! data, so a sealed value copied to another user or name does not open. A sealed value
//! names the key it was sealed with (the first 8 bytes of the key's SHA-256), so the key
//! can change: the previous keys still open old values until they are sealed again under
//! the new one (`cronops rotate-secrets`).

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What a job writes where a secret's value goes: `{{secrets.NAME}}`.
const OPEN: &str = "{{secrets.";
const CLOSE: &str = "}}";

/// The longest name, and the longest value in bytes.
pub const MAX_NAME: usize = 64;
pub const MAX_VALUE_BYTES: usize = 4 * 1024;

/// Values shorter than this are not searched for in what a run keeps (a one-character
/// value would blank out every such character of a response).
const REDACT_FROM: usize = 4;

/// A value as stored: the key it was sealed with, the nonce and the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Why a value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "sealed with a key this deployment does not have ({0}): set it in SECRETS_PREVIOUS_KEYS"
    )]
    UnknownKey(String),
    #[error(
        "the value does not open under its key: it was altered, or moved to another user or name"
    )]
    Tampered,
}

/// The deployment's keys: the current one seals, it and the previous ones open.
#[derive(Clone)]
pub struct Keyring {
    current: (String, Aes256Gcm),
    previous: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.0)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A key's id: the first 8 bytes of its SHA-256, in hex.
fn key_id(key: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(key)[..8])
}

/// A key written as 64 hex characters.
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text.trim()).map_err(|_| "must be 64 hex characters".to_owned())?;
    bytes
        .try_into()
        .map_err(|_| "must be 64 hex characters (32 bytes)".to_owned())
}

fn associated(user_id: Uuid, name: &str) -> Vec<u8> {
    let mut aad = user_id.as_bytes().to_vec();
    aad.extend_from_slice(name.as_bytes());
    aad
}

impl Keyring {
    pub fn new(current: &[u8; 32], previous: &[[u8; 32]]) -> Keyring {
        let cipher = |key: &[u8; 32]| (key_id(key), Aes256Gcm::new(key.into()));
        Keyring {
            current: cipher(current),
            previous: previous.iter().map(cipher).collect(),
        }
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        &self.current.0
    }

    /// Seals `value`, the secret `name` of `user_id`, under the current key.
    pub fn seal(&self, user_id: Uuid, name: &str, value: &str) -> Sealed {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: value.as_bytes(),
            aad: &associated(user_id, name),
        };
        let ciphertext = self
            .current
            .1
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("AES-GCM seals any value this size");
        Sealed {
            key_id: self.current.0.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens a value sealed by [`Keyring::seal`] with any of the keys.
    pub fn open(&self, user_id: Uuid, name: &str, sealed: &Sealed) -> Result<String, SecretError> {
        let cipher = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|(id, _)| *id == sealed.key_id)
            .map(|(_, cipher)| cipher)
            .ok_or_else(|| SecretError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != 12 {
            return Err(SecretError::Tampered);
        }
        let payload = Payload {
            msg: &sealed.ciphertext,
            aad: &associated(user_id, name),
        };
        let plain = cipher
            .decrypt(Nonce::from_slice(&sealed.nonce), payload)
            .map_err(|_| SecretError::Tampered)?;
        String::from_utf8(plain).map_err(|_| SecretError::Tampered)
    }
}

/// Whether `name` may name a secret: a letter or `_`, then letters, digits and `_`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The names `text` refers to with `{{secrets.NAME}}`, in order (repeats included). A
/// reference whose name is not a valid name is returned as written, to be refused.
pub fn references(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else { break };
        names.push(after[..end].trim());
        rest = &after[end + CLOSE.len()..];
    }
    names
}

/// Whether `text` refers to any secret.
pub fn refers(text: &str) -> bool {
    text.contains(OPEN)
}

/// `text` with each `{{secrets.NAME}}` replaced by its value; the first name without one
/// is the error.
pub fn substitute(text: &str, values: &HashMap<String, String>) -> Result<String, String> {
    if !refers(text) {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else { break };
        let name = after[..end].trim();
        let value = values.get(name).ok_or_else(|| name.to_owned())?;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &after[end + CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `text` with every value of `values` (of [`REDACT_FROM`] bytes or more) replaced by
/// `[secret NAME]`: what a run keeps of a response or an error never holds a value, even
/// when the target echoes it back.
pub fn redact(text: &str, values: &HashMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (name, value) in values {
        if value.len() >= REDACT_FROM && out.contains(value.as_str()) {
            out = out.replace(value.as_str(), &format!("[secret {name}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_open_only_for_their_user_and_name_and_under_a_known_key() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let user = Uuid::new_v4();
        let old = Keyring::new(&a, &[]);
        let sealed = old.seal(user, "TOKEN", "s3cret-value");
        assert_ne!(sealed.ciphertext, b"s3cret-value");
        assert_ne!(old.seal(user, "TOKEN", "s3cret-value").nonce, sealed.nonce);
        assert_eq!(old.open(user, "TOKEN", &sealed).unwrap(), "s3cret-value");
        assert_eq!(
            old.open(Uuid::new_v4(), "TOKEN", &sealed),
            Err(SecretError::Tampered)
        );
        assert_eq!(old.open(user, "OTHER", &sealed), Err(SecretError::Tampered));
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert_eq!(
            old.open(user, "TOKEN", &altered),
            Err(SecretError::Tampered)
        );
        // A new key opens what the previous one sealed, and seals under itself.
        let rotated = Keyring::new(&b, &[a]);
        assert_eq!(
            rotated.open(user, "TOKEN", &sealed).unwrap(),
            "s3cret-value"
        );
        assert_ne!(rotated.seal(user, "TOKEN", "x").key_id, sealed.key_id);
        let without = Keyring::new(&b, &[]);
        assert!(matches!(
            without.open(user, "TOKEN", &sealed),
            Err(SecretError::UnknownKey(_))
        ));
    }

    #[test]
    fn references_are_found_substituted_and_redacted() {
        let text = "https://x/?t={{secrets.TOKEN}}&u={{ secrets.USER }}&x={{secrets.bad-name}}";
        assert_eq!(
            references(text),
            vec!["TOKEN", "bad-name"],
            "only the exact form refers"
        );
        assert!(
            valid_name("TOKEN") && valid_name("_a1") && !valid_name("1a") && !valid_name("a-b")
        );
        let values: HashMap<String, String> = [("TOKEN", "tok-123"), ("USER", "ann")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        assert_eq!(
            substitute("Bearer {{secrets.TOKEN}}!", &values).unwrap(),
            "Bearer tok-123!"
        );
        assert_eq!(
            substitute("{{secrets.NONE}}", &values),
            Err("NONE".to_owned())
        );
        assert_eq!(
            redact("got tok-123 and ann", &values),
            "got [secret TOKEN] and ann",
            "values under 4 bytes are left"
        );
    }
}
