//! Header and body codecs. A header is standard base64 (with padding) of
//! UTF-8 JSON; a body is JSON. Decoding is strict and every failure is a
//! [`DecodeError`] that says what was wrong and where. Nothing here panics on
//! bad input.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The largest header value accepted by [`decode_header`] (32 KiB; Node's
/// default limit for all headers together is 16 KiB).
pub const MAX_HEADER_LEN: usize = 32 * 1024;
/// The largest body accepted by [`decode_body`] (4 MiB).
pub const MAX_BODY_LEN: usize = 4 * 1024 * 1024;

const STANDARD_STRICT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(false),
);

/// Why a header or body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the value is empty")]
    Empty,
    #[error("the value is {len} bytes, more than the {max} allowed")]
    TooLarge { len: usize, max: usize },
    #[error(
        "the header uses the base64url alphabet ({found:?} at byte {offset}); x402 requires standard base64 (+ and /)"
    )]
    Base64Url { offset: usize, found: char },
    #[error("the header has bad base64 padding: {detail}")]
    BadPadding { detail: String },
    #[error("the header is not base64: {detail}")]
    BadBase64 { detail: String },
    #[error("the decoded header is not UTF-8 (invalid from byte {valid_up_to})")]
    NotUtf8 { valid_up_to: usize },
    #[error("not JSON, at line {line} column {column}: {message}")]
    BadJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the JSON at `{path}` has the wrong shape: {message}")]
    WrongType { path: String, message: String },
}

/// A message type that can be built from decoded JSON. Versioned messages
/// (v1 or v2 by `x402Version`) pick their shape first, so error paths point
/// into the shape that was chosen.
pub trait Decode: Sized {
    fn from_json(value: Value) -> Result<Self, DecodeError>;
}

/// Deserialise `value` as `T`, with the JSON path of the first mismatch.
pub fn typed<T: DeserializeOwned>(value: Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(value).map_err(|e| DecodeError::WrongType {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

impl Decode for Value {
    fn from_json(value: Value) -> Result<Self, DecodeError> {
        Ok(value)
    }
}

/// Implement [`Decode`] through the type's own serde shape.
macro_rules! decode_via_serde {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::codec::Decode for $t {
            fn from_json(value: serde_json::Value) -> Result<Self, $crate::codec::DecodeError> {
                $crate::codec::typed(value)
            }
        })*
    };
}
pub(crate) use decode_via_serde;

/// Base64 header value → the raw JSON bytes, checked strictly.
pub fn header_bytes(value: &str, max: usize) -> Result<Vec<u8>, DecodeError> {
    // Optional whitespace around a field value is not part of it (RFC 9110 §5.5).
    let text = value.trim_matches([' ', '\t']);
    if text.len() > max {
        return Err(DecodeError::TooLarge {
            len: text.len(),
            max,
        });
    }
    if text.is_empty() {
        return Err(DecodeError::Empty);
    }
    let bytes = text.as_bytes();
    if let Some(offset) = bytes.iter().position(|&b| b == b'-' || b == b'_') {
        return Err(DecodeError::Base64Url {
            offset,
            found: char::from(bytes[offset]),
        });
    }
    if let Some(offset) = bytes
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='))
    {
        return Err(DecodeError::BadBase64 {
            detail: match text.get(offset..).and_then(|t| t.chars().next()) {
                Some(c) => format!("character {c:?} at byte {offset}"),
                None => format!("invalid byte at {offset}"),
            },
        });
    }
    let body_len = bytes.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    let pad = bytes.len() - body_len;
    if let Some(offset) = bytes[..body_len].iter().position(|&b| b == b'=') {
        return Err(DecodeError::BadPadding {
            detail: format!("'=' inside the data at byte {offset}"),
        });
    }
    if pad > 2 {
        return Err(DecodeError::BadPadding {
            detail: format!("{pad} '=' characters, at most 2 are allowed"),
        });
    }
    if !bytes.len().is_multiple_of(4) {
        return Err(DecodeError::BadPadding {
            detail: format!(
                "length {} is not a multiple of 4 (missing or extra '=')",
                bytes.len()
            ),
        });
    }
    STANDARD_STRICT.decode(bytes).map_err(|e| match e {
        base64::DecodeError::InvalidPadding => DecodeError::BadPadding {
            detail: "padding does not match the data length".into(),
        },
        other => DecodeError::BadBase64 {
            detail: other.to_string(),
        },
    })
}

/// Raw JSON bytes → a JSON value.
pub fn json_value(bytes: &[u8]) -> Result<Value, DecodeError> {
    serde_json::from_slice(bytes).map_err(|e| DecodeError::BadJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Decode a header value (`PAYMENT-REQUIRED`, `PAYMENT-SIGNATURE`,
/// `PAYMENT-RESPONSE`, `X-PAYMENT`, `X-PAYMENT-RESPONSE`) of at most
/// [`MAX_HEADER_LEN`] bytes.
pub fn decode_header<T: Decode>(value: &str) -> Result<T, DecodeError> {
    decode_header_with_limit(value, MAX_HEADER_LEN)
}

/// [`decode_header`] with another size limit.
pub fn decode_header_with_limit<T: Decode>(value: &str, max: usize) -> Result<T, DecodeError> {
    let raw = header_bytes(value, max)?;
    let text = std::str::from_utf8(&raw).map_err(|e| DecodeError::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    T::from_json(json_value(text.as_bytes())?)
}

/// Decode a header value given as bytes (as HTTP libraries hand them over).
pub fn decode_header_bytes<T: Decode>(value: &[u8]) -> Result<T, DecodeError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(DecodeError::TooLarge {
            len: value.len(),
            max: MAX_HEADER_LEN,
        });
    }
    // Non-ASCII bytes are never base64; report them as such.
    match std::str::from_utf8(value) {
        Ok(s) => decode_header(s),
        Err(e) => Err(DecodeError::BadBase64 {
            detail: format!("non-ASCII byte at {}", e.valid_up_to()),
        }),
    }
}

/// Decode a JSON body (the v1 402 body, facilitator requests and replies,
/// discovery lists) of at most [`MAX_BODY_LEN`] bytes.
pub fn decode_body<T: Decode>(body: &[u8]) -> Result<T, DecodeError> {
    if body.len() > MAX_BODY_LEN {
        return Err(DecodeError::TooLarge {
            len: body.len(),
            max: MAX_BODY_LEN,
        });
    }
    T::from_json(json_value(body)?)
}

/// Encode a message as a header value: standard base64 with padding of its
/// compact UTF-8 JSON.
pub fn encode_header<T: Serialize>(message: &T) -> Result<String, serde_json::Error> {
    Ok(STANDARD_STRICT.encode(serde_json::to_vec(message)?))
}

/// Encode a message as a compact JSON body.
pub fn encode_body<T: Serialize>(message: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(message)
}
