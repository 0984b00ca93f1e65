//! Webhook signatures: `X-Notion-Signature: sha256=<hex HMAC-SHA256(token, raw body)>`.
//!
//! Pure functions, no I/O. Invariant: verification runs over the exact raw request bytes
//! and compares in constant time (`Mac::verify_slice`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header value Notion sends for `body` signed with `token`: `sha256=<hex>`.
pub fn sign(token: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(token.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// True when `header` is a valid signature of `body` under `token` (constant-time compare).
pub fn verify(token: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_digest) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(token.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trips_and_rejects_tampering() {
        let sig = sign("secret_abc", b"{\"a\":1}");
        assert!(sig.starts_with("sha256="));
        assert!(verify("secret_abc", b"{\"a\":1}", &sig));
        assert!(!verify("secret_abc", b"{\"a\": 1}", &sig));
        assert!(!verify("secret_abd", b"{\"a\":1}", &sig));
        assert!(!verify("secret_abc", b"{\"a\":1}", "sha256=zz"));
        assert!(!verify("secret_abc", b"{\"a\":1}", "md5=00"));
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
