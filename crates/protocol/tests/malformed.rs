//! Malformed headers and bodies: each gives its typed error, never a panic.

use base64::Engine as _;
use x402scope_protocol::codec::{MAX_BODY_LEN, MAX_HEADER_LEN};
use x402scope_protocol::{
    DecodeError, PaymentPayload, PaymentRequired, SettleResponse, VerifyRequest, decode_body,
    decode_header, decode_header_bytes,
};

const CAPTURED_V2: &str =
    include_str!("fixtures/x402-captures/v2-402-weather.payment-required.json");

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn header_err(value: &str) -> DecodeError {
    decode_header::<PaymentRequired>(value).expect_err(value)
}

#[test]
fn base64url_is_refused() {
    // `>>>?` encodes to `Pj4+Pw==` in standard base64 and `Pj4-Pw==` in base64url.
    let json = r#"{"a":">>>?"}"#;
    let url = base64::engine::general_purpose::URL_SAFE.encode(json);
    assert!(url.contains('-') || url.contains('_'), "{url}");
    assert!(
        matches!(header_err(&url), DecodeError::Base64Url { .. }),
        "{url}"
    );
    assert_eq!(
        header_err("eyJ4-"),
        DecodeError::Base64Url {
            offset: 4,
            found: '-'
        }
    );
    assert!(matches!(
        header_err("e_J4"),
        DecodeError::Base64Url {
            offset: 1,
            found: '_'
        }
    ));
}

#[test]
fn bad_padding_is_refused() {
    let good = b64(r#"{"x402Version":2}"#);
    assert!(good.ends_with('='), "{good}");
    let unpadded = good.trim_end_matches('=');
    for bad in [
        unpadded.to_owned(),
        format!("{good}="),
        format!("{unpadded}==="),
        format!("ab=c{good}"),
        "=".into(),
    ] {
        assert!(
            matches!(header_err(&bad), DecodeError::BadPadding { .. }),
            "{bad}: {:?}",
            header_err(&bad)
        );
    }
}

#[test]
fn bad_base64_is_refused() {
    for bad in [
        "eyJ4*DAy",
        "ey J4",
        "eyJ4\u{e9}A==",
        "AB==",
        "QUI="[..3].to_owned().as_str(),
    ] {
        let e = header_err(bad);
        assert!(
            matches!(
                e,
                DecodeError::BadBase64 { .. } | DecodeError::BadPadding { .. }
            ),
            "{bad:?}: {e:?}"
        );
    }
    // Non-canonical trailing bits: "AB==" decodes leniently to 0x00 but its
    // last symbol carries bits that a canonical encoder leaves at zero.
    assert!(matches!(header_err("AB=="), DecodeError::BadBase64 { .. }));
    assert!(matches!(header_err("a*b="), DecodeError::BadBase64 { .. }));
    assert!(matches!(
        decode_header_bytes::<PaymentRequired>(&[0x65, 0xff, 0x4a, 0x34]),
        Err(DecodeError::BadBase64 { .. })
    ));
}

#[test]
fn not_utf8_is_refused() {
    let value = base64::engine::general_purpose::STANDARD.encode([b'{', 0xff, 0xfe, b'}']);
    assert_eq!(header_err(&value), DecodeError::NotUtf8 { valid_up_to: 1 });
}

#[test]
fn bad_json_is_refused() {
    for text in ["{", "not json", r#"{"x402Version":2,}"#, "{} trailing", ""] {
        let e = if text.is_empty() {
            decode_body::<PaymentRequired>(text.as_bytes()).unwrap_err()
        } else {
            header_err(&b64(text))
        };
        assert!(matches!(e, DecodeError::BadJson { .. }), "{text:?}: {e:?}");
    }
    let deep = "[".repeat(10_000);
    assert!(matches!(
        decode_body::<PaymentRequired>(deep.as_bytes()),
        Err(DecodeError::BadJson { .. })
    ));
}

/// The captured v2 PaymentRequired with one field replaced.
fn v2_with(pointer: &str, value: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(CAPTURED_V2).expect("capture is JSON");
    *v.pointer_mut(pointer).expect("pointer exists") = value;
    b64(&v.to_string())
}

#[test]
fn wrong_types_name_their_path() {
    use serde_json::json;
    let cases: &[(&str, serde_json::Value, &str)] = &[
        (
            "/accepts/0/maxTimeoutSeconds",
            json!("300"),
            "accepts[0].maxTimeoutSeconds",
        ),
        ("/accepts/0/amount", json!(1000), "accepts[0].amount"),
        ("/accepts", json!({}), "accepts"),
        ("/resource/url", json!(null), "resource.url"),
        ("/error", json!(["x"]), "error"),
        ("/accepts/0/extra", json!("USDC"), "accepts[0].extra"),
    ];
    for (pointer, value, path) in cases {
        match header_err(&v2_with(pointer, value.clone())) {
            DecodeError::WrongType { path: got, .. } => assert_eq!(got, *path, "{pointer}"),
            other => panic!("{pointer}: {other:?}"),
        }
    }
}

#[test]
fn versions_are_checked() {
    for (json, message) in [
        (r#"{"accepts":[]}"#, "missing field `x402Version`"),
        (r#"{"x402Version":3}"#, "unsupported x402 version 3"),
        (r#"{"x402Version":"2"}"#, "expected 1 or 2, found a string"),
    ] {
        assert_eq!(
            header_err(&b64(json)),
            DecodeError::WrongType {
                path: "x402Version".into(),
                message: message.into()
            }
        );
    }
    assert!(matches!(
        header_err(&b64("[]")),
        DecodeError::WrongType { .. }
    ));
    // a v1 payload in a v2 shape: v1 requires scheme and network at the top
    let e = decode_header::<PaymentPayload>(&b64(r#"{"x402Version":1,"payload":{}}"#)).unwrap_err();
    assert!(matches!(e, DecodeError::WrongType { .. }), "{e:?}");
}

#[test]
fn nested_payload_errors_keep_their_path() {
    let mut v: serde_json::Value = serde_json::from_str(include_str!(
        "fixtures/x402-captures/v2-facilitator-verify-request.json"
    ))
    .unwrap();
    v["paymentPayload"]["payload"]["authorization"]["value"] = serde_json::json!(1000);
    let e = decode_body::<VerifyRequest>(v.to_string().as_bytes()).unwrap_err();
    match e {
        DecodeError::WrongType { path, message } => {
            assert!(path.starts_with("paymentPayload.payload"), "{path}");
            assert!(message.contains("authorization.value"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    v["paymentPayload"]["payload"]["authorization"]["value"] = serde_json::json!("1000");
    v["paymentRequirements"]["payTo"] = serde_json::json!(false);
    assert!(matches!(
        decode_body::<VerifyRequest>(v.to_string().as_bytes()),
        Err(DecodeError::WrongType { path, .. }) if path == "paymentRequirements.payTo"
    ));
}

#[test]
fn oversized_inputs_are_refused() {
    let big = "A".repeat(MAX_HEADER_LEN + 4);
    assert_eq!(
        header_err(&big),
        DecodeError::TooLarge {
            len: MAX_HEADER_LEN + 4,
            max: MAX_HEADER_LEN
        }
    );
    assert!(matches!(
        decode_header_bytes::<SettleResponse>(big.as_bytes()),
        Err(DecodeError::TooLarge { .. })
    ));
    let body = vec![b' '; MAX_BODY_LEN + 1];
    assert!(matches!(
        decode_body::<SettleResponse>(&body),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn empty_header_is_refused() {
    assert_eq!(header_err(""), DecodeError::Empty);
    assert_eq!(header_err("  \t"), DecodeError::Empty);
}

#[test]
fn errors_explain_themselves() {
    let e = header_err(&v2_with(
        "/accepts/0/maxTimeoutSeconds",
        serde_json::json!("300"),
    ));
    let text = e.to_string();
    assert!(text.contains("accepts[0].maxTimeoutSeconds"), "{text}");
    assert!(header_err("eyJ4-").to_string().contains("base64url"));
}
