//! Signatures on what CronOps sends to a user's endpoints, so that a receiver can tell a
//! real call from a forged or replayed one: `X-CronOps-Signature: t=<unix>,v1=<hex>`, the
//! hex an HMAC-SHA256 under the user's signing secret of `<t>.<body>`. A receiver checks
//! the HMAC (in constant time) and that `t` is recent.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The header name.
pub const HEADER: &str = "X-CronOps-Signature";

/// A new secret: `whsec_` and 32 random bytes in hex. The whole string is the HMAC key.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex::encode(bytes))
}

/// The HMAC of `<t>.<body>` under `secret`, in hex.
pub fn hmac_hex(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The header value for `body` sent at `t` (unix seconds).
pub fn header_value(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hmac_hex(secret, t, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_known_hmac() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            header_value("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_ne!(new_secret(), new_secret());
    }
}
