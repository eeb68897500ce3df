//! Decode arbitrary bytes as every x402 header and body type. Decoding must
//! never panic, and whatever decodes must re-encode to a message that
//! decodes back to the same value.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use x402scope_protocol::bazaar::DiscoveryResponse;
use x402scope_protocol::codec::{Decode, decode_body, decode_header_bytes, encode_header};
use x402scope_protocol::{
    PaymentPayload, PaymentRequired, SettleResponse, SupportedResponse, VerifyRequest,
    VerifyResponse,
};

fn header_round_trip<T: Decode + Serialize + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(first) = decode_header_bytes::<T>(bytes) {
        let encoded = encode_header(&first).expect("a decoded message encodes");
        let again: T =
            x402scope_protocol::decode_header(&encoded).expect("re-encoded header decodes");
        assert_eq!(first, again);
    }
}

fn body_round_trip<T: Decode + Serialize + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(first) = decode_body::<T>(bytes) {
        let encoded = serde_json::to_vec(&first).expect("a decoded message encodes");
        let again: T = decode_body(&encoded).expect("re-encoded body decodes");
        assert_eq!(first, again);
    }
}

fuzz_target!(|data: &[u8]| {
    // The bytes as a header value, as they came.
    header_round_trip::<PaymentRequired>(data);
    header_round_trip::<PaymentPayload>(data);
    header_round_trip::<SettleResponse>(data);
    // The bytes as JSON inside a well-formed header, so the JSON layer is
    // reached through the header path too.
    let wrapped = base64::engine::general_purpose::STANDARD.encode(data);
    header_round_trip::<PaymentRequired>(wrapped.as_bytes());
    header_round_trip::<PaymentPayload>(wrapped.as_bytes());
    header_round_trip::<SettleResponse>(wrapped.as_bytes());
    // The bytes as a body.
    body_round_trip::<PaymentRequired>(data);
    body_round_trip::<PaymentPayload>(data);
    body_round_trip::<VerifyRequest>(data);
    body_round_trip::<VerifyResponse>(data);
    body_round_trip::<SettleResponse>(data);
    body_round_trip::<SupportedResponse>(data);
    body_round_trip::<DiscoveryResponse>(data);
});
