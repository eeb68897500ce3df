//! x402 wire protocol: the v1 and v2 message types, the header and body
//! codecs, error-reason normalisation, the Bazaar discovery types and the
//! EIP-3009 EIP-712 helpers. Pure: no IO, no clock, no network.
//!
//! Every message keeps the fields it does not know (`unknown`), and fields
//! whose text matters for equality (networks, amounts, addresses) are kept
//! as they came with typed accessors, so a decoded message re-encodes to
//! equal JSON.

pub mod bazaar;
pub mod codec;
pub mod eip712;
pub mod facilitator;
pub mod message;
pub mod nullable;
pub mod payload;
pub mod reason;
pub mod v1;
pub mod v2;

pub use codec::{
    Decode, DecodeError, decode_body, decode_header, decode_header_bytes, encode_body,
    encode_header,
};
pub use facilitator::{
    SettleRequest, SettleResponse, SupportedKind, SupportedResponse, VerifyRequest, VerifyResponse,
};
pub use message::{AnyRequirements, PaymentPayload, PaymentRequired, Version};
pub use nullable::Nullable;
pub use payload::SchemePayload;
pub use reason::{ErrorCategory, ErrorReason};
pub use v1::{PaymentPayloadV1, PaymentRequiredV1, PaymentRequirementsV1};
pub use v2::{PaymentPayloadV2, PaymentRequiredV2, PaymentRequirements, ResourceInfo};

/// Header names, as the SDKs emit them (HTTP header names are case-insensitive).
pub mod headers {
    /// v2: the 402 answer.
    pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";
    /// v2: the client's payment.
    pub const PAYMENT_SIGNATURE: &str = "PAYMENT-SIGNATURE";
    /// v2: the settlement result.
    pub const PAYMENT_RESPONSE: &str = "PAYMENT-RESPONSE";
    /// v1: the client's payment.
    pub const X_PAYMENT: &str = "X-PAYMENT";
    /// v1: the settlement result.
    pub const X_PAYMENT_RESPONSE: &str = "X-PAYMENT-RESPONSE";
}
