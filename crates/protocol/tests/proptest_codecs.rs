//! Property tests of the codec round trips: any message encodes to a header
//! (or body) that decodes back to the same message and the same JSON; any
//! JSON survives the header codec; no input makes a decoder panic.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use x402scope_protocol::payload::{
    Eip3009Authorization, Eip3009Payload, Permit2Authorization, Permit2Payload, Permit2Witness,
    SvmPayload, TokenPermissions,
};
use x402scope_protocol::{
    DecodeError, Nullable, PaymentPayload, PaymentPayloadV1, PaymentPayloadV2, PaymentRequired,
    PaymentRequiredV1, PaymentRequiredV2, PaymentRequirements, PaymentRequirementsV1, ResourceInfo,
    SchemePayload, SettleResponse, VerifyRequest, decode_body, decode_header, decode_header_bytes,
    encode_header,
};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[ -~]{0,24}", 1 => "\\PC{0,12}"]
}

fn digits() -> impl Strategy<Value = String> {
    "0|[1-9][0-9]{0,30}"
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>()
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(Value::Number),
        text().prop_map(Value::String),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Fields no message knows, to check they are kept.
fn unknown() -> impl Strategy<Value = Map<String, Value>> {
    btree_map("x_[a-zA-Z0-9]{1,8}", json(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn nullable_map() -> impl Strategy<Value = Nullable<Map<String, Value>>> {
    prop_oneof![
        Just(Nullable::Absent),
        Just(Nullable::Null),
        btree_map("[a-zA-Z]{1,10}", json(), 0..4)
            .prop_map(|m| Nullable::Value(m.into_iter().collect())),
    ]
}

prop_compose! {
    fn requirements()(
        scheme in text(), network in text(), amount in digits(), asset in text(),
        pay_to in text(), max_timeout_seconds in any::<u64>(), extra in nullable_map(),
        unknown in unknown(),
    ) -> PaymentRequirements {
        PaymentRequirements { scheme, network, amount, asset, pay_to, max_timeout_seconds, extra, unknown }
    }
}

prop_compose! {
    fn resource()(
        url in text(), description in proptest::option::of(text()),
        mime_type in proptest::option::of(text()), unknown in unknown(),
    ) -> ResourceInfo {
        ResourceInfo { url, description, mime_type, unknown }
    }
}

prop_compose! {
    fn required_v2()(
        error in proptest::option::of(text()), resource in resource(),
        accepts in vec(requirements(), 1..4), extensions in nullable_map(), unknown in unknown(),
    ) -> PaymentRequiredV2 {
        PaymentRequiredV2 { x402_version: 2, error, resource, accepts, extensions, unknown }
    }
}

prop_compose! {
    fn requirements_v1()(
        r in requirements(), resource in text(), description in proptest::option::of(text()),
        mime_type in proptest::option::of(text()),
        output_schema in prop_oneof![Just(Nullable::Absent), Just(Nullable::Null), json().prop_filter("null is Nullable::Null", |v| !v.is_null()).prop_map(Nullable::Value)],
    ) -> PaymentRequirementsV1 {
        PaymentRequirementsV1 {
            scheme: r.scheme, network: r.network, max_amount_required: r.amount, resource,
            description, mime_type, output_schema, pay_to: r.pay_to,
            max_timeout_seconds: r.max_timeout_seconds, asset: r.asset, extra: r.extra,
            unknown: r.unknown,
        }
    }
}

prop_compose! {
    fn authorization()(
        from in text(), to in text(), value in digits(), valid_after in digits(),
        valid_before in digits(), nonce in "0x[0-9a-f]{64}", unknown in unknown(),
    ) -> Eip3009Authorization {
        Eip3009Authorization { from, to, value, valid_after, valid_before, nonce, unknown }
    }
}

fn scheme_payload() -> impl Strategy<Value = SchemePayload> {
    prop_oneof![
        (text(), authorization(), unknown()).prop_map(|(signature, authorization, unknown)| {
            SchemePayload::Eip3009(Eip3009Payload {
                signature,
                authorization,
                unknown,
            })
        }),
        (
            text(),
            text(),
            digits(),
            text(),
            proptest::option::of(text()),
            digits(),
            unknown()
        )
            .prop_map(|(signature, token, amount, to, facilitator, n, unknown)| {
                SchemePayload::Permit2(Permit2Payload {
                    signature,
                    permit2_authorization: Permit2Authorization {
                        permitted: TokenPermissions {
                            token,
                            amount,
                            unknown: Map::new(),
                        },
                        from: to.clone(),
                        spender: "0x402085c248EeA27D92E8b30b2C58ed07f9E20001".into(),
                        nonce: n.clone(),
                        deadline: n.clone(),
                        witness: Permit2Witness {
                            to,
                            facilitator,
                            valid_after: n,
                            unknown: Map::new(),
                        },
                        unknown: Map::new(),
                    },
                    unknown,
                })
            }),
        (text(), unknown()).prop_map(|(transaction, unknown)| {
            SchemePayload::Svm(SvmPayload {
                transaction,
                unknown,
            })
        }),
        unknown().prop_map(SchemePayload::Other),
    ]
}

prop_compose! {
    fn payload_v2()(
        resource in proptest::option::of(resource()), accepted in requirements(),
        payload in scheme_payload(), extensions in nullable_map(), unknown in unknown(),
    ) -> PaymentPayloadV2 {
        PaymentPayloadV2 { x402_version: 2, resource, accepted, payload, extensions, unknown }
    }
}

prop_compose! {
    fn settle()(
        success in any::<bool>(),
        error_reason in proptest::option::of(text().prop_map(|s| x402scope_protocol::ErrorReason::new(&s))),
        error_message in proptest::option::of(text()), payer in proptest::option::of(text()),
        transaction in text(), network in text(), amount in proptest::option::of(digits()),
        extensions in nullable_map(), unknown in unknown(),
    ) -> SettleResponse {
        SettleResponse { success, error_reason, error_message, payer, transaction, network, amount, extensions, unknown }
    }
}

/// Encode as a header and decode as `T`; both the value and its JSON must survive.
fn via_header<T>(m: &T) -> T
where
    T: x402scope_protocol::Decode + serde::Serialize,
{
    let header = encode_header(m).expect("encodes");
    let back: T = decode_header(&header).expect("decodes");
    assert_eq!(
        serde_json::to_value(&back).expect("encodes"),
        serde_json::to_value(m).expect("encodes")
    );
    back
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn v2_payment_required(m in required_v2()) {
        prop_assert_eq!(via_header::<PaymentRequired>(&PaymentRequired::V2(m.clone())), PaymentRequired::V2(m));
    }

    #[test]
    fn v1_payment_required(accepts in vec(requirements_v1(), 0..3), error in proptest::option::of(text()), unknown in unknown()) {
        let m = PaymentRequired::V1(PaymentRequiredV1 { x402_version: 1, error, accepts, unknown });
        let body = serde_json::to_vec(&m).expect("encodes");
        prop_assert_eq!(decode_body::<PaymentRequired>(&body).expect("decodes"), m.clone());
        prop_assert_eq!(via_header(&m), m);
    }

    #[test]
    fn payment_payloads(v2 in payload_v2(), scheme in text(), network in text(), payload in scheme_payload()) {
        let v1 = PaymentPayload::V1(PaymentPayloadV1 { x402_version: 1, scheme, network, payload, unknown: Map::new() });
        prop_assert_eq!(via_header(&v1), v1);
        let v2 = PaymentPayload::V2(v2);
        prop_assert_eq!(via_header(&v2), v2);
    }

    #[test]
    fn settle_responses(m in settle()) {
        prop_assert_eq!(via_header(&m), m);
    }

    #[test]
    fn verify_requests(p in payload_v2(), r in requirements(), unknown in unknown()) {
        let req = VerifyRequest {
            x402_version: 2,
            payment_payload: PaymentPayload::V2(p),
            payment_requirements: x402scope_protocol::AnyRequirements::V2(r),
            unknown,
        };
        let body = serde_json::to_vec(&req).expect("encodes");
        prop_assert_eq!(decode_body::<VerifyRequest>(&body).expect("decodes"), req);
    }

    #[test]
    fn any_json_survives_the_header_codec(v in json()) {
        let header = encode_header(&v).expect("encodes");
        prop_assert!(header.len() % 4 == 0);
        prop_assert!(header.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));
        prop_assert_eq!(decode_header::<Value>(&header).expect("decodes"), v);
    }

    #[test]
    fn base64url_and_lost_padding_are_refused(m in settle()) {
        let header = encode_header(&m).expect("encodes");
        let url = header.replace('+', "-").replace('/', "_");
        if url != header {
            let is_url = matches!(decode_header::<SettleResponse>(&url), Err(DecodeError::Base64Url { .. }));
            prop_assert!(is_url);
        }
        let unpadded = header.trim_end_matches('=');
        if unpadded != header {
            let is_pad = matches!(decode_header::<SettleResponse>(unpadded), Err(DecodeError::BadPadding { .. }));
            prop_assert!(is_pad);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let _ = decode_header_bytes::<PaymentRequired>(&bytes);
        let _ = decode_header_bytes::<PaymentPayload>(&bytes);
        let _ = decode_header_bytes::<SettleResponse>(&bytes);
        let _ = decode_body::<PaymentRequired>(&bytes);
        let _ = decode_body::<VerifyRequest>(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(v in json()) {
        let body = serde_json::to_vec(&v).expect("encodes");
        let _ = decode_body::<PaymentRequired>(&body);
        let _ = decode_body::<PaymentPayload>(&body);
        let _ = decode_body::<VerifyRequest>(&body);
        let _ = decode_body::<x402scope_protocol::bazaar::DiscoveryResponse>(&body);
    }
}
