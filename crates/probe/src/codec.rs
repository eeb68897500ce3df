//! Decoding of the base64 JSON headers (`PAYMENT-REQUIRED`, `PAYMENT-RESPONSE`, …).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

/// How a header value decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Standard base64 (the reference codec), to JSON.
    Standard(serde_json::Value),
    /// Only the URL-safe alphabet (or unpadded) works: the reference SDK refuses it.
    UrlSafe(serde_json::Value),
    /// Not base64 of JSON at all.
    Invalid(String),
}

fn standard_shape(s: &str) -> bool {
    // The reference decoder's gate: ^[A-Za-z0-9+/]*={0,2}$
    let trimmed = s.trim_end_matches('=');
    s.len() - trimmed.len() <= 2
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

fn json(bytes: &[u8]) -> Result<serde_json::Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

/// Decode a base64-of-JSON header value.
pub fn decode_header(value: &str) -> Decoded {
    let value = value.trim();
    if standard_shape(value) {
        return match STANDARD.decode(value) {
            Ok(bytes) => match json(&bytes) {
                Ok(v) => Decoded::Standard(v),
                Err(e) => Decoded::Invalid(e),
            },
            Err(e) => Decoded::Invalid(format!("not base64: {e}")),
        };
    }
    for engine in [&URL_SAFE, &URL_SAFE_NO_PAD] {
        if let Ok(bytes) = engine.decode(value)
            && let Ok(v) = json(&bytes)
        {
            return Decoded::UrlSafe(v);
        }
    }
    Decoded::Invalid("not standard base64".into())
}

/// Standard base64 of compact JSON, as the reference SDK encodes.
pub fn encode_header(value: &serde_json::Value) -> String {
    STANDARD.encode(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_standard_urlsafe_and_garbage() {
        let v = json!({"a": ">>>???", "b": 1});
        let std_enc = STANDARD.encode(v.to_string());
        let url_enc = URL_SAFE_NO_PAD.encode(v.to_string());
        assert!(url_enc.contains('-') || url_enc.contains('_'));
        assert_eq!(decode_header(&std_enc), Decoded::Standard(v.clone()));
        assert_eq!(decode_header(&url_enc), Decoded::UrlSafe(v.clone()));
        assert!(matches!(decode_header("%%%"), Decoded::Invalid(_)));
        assert!(matches!(
            decode_header(&STANDARD.encode("not json")),
            Decoded::Invalid(_)
        ));
        assert_eq!(encode_header(&v), std_enc);
    }
}
