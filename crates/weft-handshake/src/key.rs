//! `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` (RFC 6455 §4.1, §4.2.2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};

/// The GUID RFC 6455 §1.3 appends to the key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Computes the `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` value: the base64 of
/// the SHA-1 of the key (as sent, still base64) followed by the RFC 6455 GUID.
///
/// # Example
///
/// ```
/// // The example of RFC 6455 §1.3.
/// assert_eq!(
///     weft_handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    STANDARD.encode(sha1.finalize())
}

/// Generates a fresh `Sec-WebSocket-Key`: 16 random bytes, base64-encoded (24 characters).
///
/// RFC 6455 §4.1 asks for a nonce chosen at random for each connection; the thread-local
/// generator of `rand` is seeded from the operating system, which is what that needs.
///
/// # Example
///
/// ```
/// let key = weft_handshake::generate_key();
/// assert_eq!(key.len(), 24);
/// assert_ne!(key, weft_handshake::generate_key());
/// ```
pub fn generate_key() -> String {
    let mut nonce = [0u8; 16];
    rand::fill(&mut nonce[..]);
    STANDARD.encode(nonce)
}

/// Whether a `Sec-WebSocket-Key` value decodes, as strict base64, to exactly 16 bytes.
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    // 16 bytes always encode to 24 characters; checking the length first keeps a long
    // hostile value from being decoded at all.
    key.len() == 24 && STANDARD.decode(key).is_ok_and(|nonce| nonce.len() == 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_section_1_3_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn generated_keys_are_valid_and_fresh() {
        let a = generate_key();
        let b = generate_key();
        assert!(is_valid_key(a.as_bytes()), "{a}");
        assert!(is_valid_key(b.as_bytes()), "{b}");
        assert_ne!(a, b);
    }

    #[test]
    fn key_validation() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        // 15 bytes, 17 bytes, not base64, non-canonical trailing bits, missing padding.
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25j"));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="[..22].as_ref()));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ!="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZR=="));
        assert!(!is_valid_key(b"AAAAAAAAAAAAAAAAAAAAAAAA"));
    }
}
