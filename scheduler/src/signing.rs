//! Signatures on what CronOps sends to a user's endpoints, so that a receiver can tell a
//! real call from a forged or replayed one: `X-CronOps-Signature:
//! t=<unix>,v1=<hex>,v1=<hex>`, each hex an HMAC-SHA256 of `<t>.<signed content>`, the
//! first under the user's current secret and the second under the next one. A receiver
//! checks that one of them matches (in constant time) and that `t` is recent; one that
//! already holds the next secret keeps verifying across a rotation.
//!
//! The signed content of a job's request is `<execution id>.<body>` (the body empty when
//! there is none), so a signature cannot be moved to another run; a webhook notice's is
//! its body.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The header name.
pub const HEADER: &str = "X-CronOps-Signature";

/// A user's secrets: `current` signs, and so does `next`, which becomes `current` on
/// rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    pub current: String,
    pub next: String,
}

/// A new secret: `whsec_` and 32 random bytes in hex. The whole string is the HMAC key.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// The HMAC under `secret` of `<t>.` followed by `parts` joined with `.`, in hex.
pub fn hmac_hex(secret: &str, t: i64, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    for part in parts {
        mac.update(b".");
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The header value for content sent at `t` (unix seconds), made of `parts`.
pub fn header_value(secrets: &Secrets, t: i64, parts: &[&[u8]]) -> String {
    format!(
        "t={t},v1={},v1={}",
        hmac_hex(&secrets.current, t, parts),
        hmac_hex(&secrets.next, t, parts)
    )
}

/// The header value for a job's request: its execution id and body.
pub fn request_header(secrets: &Secrets, t: i64, execution_id: uuid::Uuid, body: &[u8]) -> String {
    header_value(
        secrets,
        t,
        &[execution_id.hyphenated().to_string().as_bytes(), body],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_known_hmacs() {
        let secrets = Secrets {
            current: "whsec_test".to_owned(),
            next: "whsec_next".to_owned(),
        };
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            header_value(&secrets, 1_700_000_000, &[br#"{"a":1}"#]),
            format!(
                "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789,v1={}",
                hmac_hex("whsec_next", 1_700_000_000, &[br#"{"a":1}"#])
            )
        );
        // echo -n '1700000000.00000000-0000-0000-0000-000000000001.ping' \
        //   | openssl dgst -sha256 -hmac whsec_test
        let id = uuid::Uuid::from_u128(1);
        let signed = request_header(&secrets, 1_700_000_000, id, b"ping");
        assert!(
            signed.starts_with(
                "t=1700000000,v1=d1f917e6d7cb12786698ca7a4a0848901dce28a73942df7c49c193bb260b8d6b,v1="
            ),
            "{signed}"
        );
        // A GET has no body: the content ends with the dot.
        assert_eq!(
            hmac_hex(
                "whsec_test",
                1_700_000_000,
                &[id.to_string().as_bytes(), b""]
            ),
            "e2b45284afe58e97c8dcbdec94158ccf6f7e2f835df64777a2112365aa1fb4fd"
        );
        assert_ne!(new_secret(), new_secret());
    }
}
