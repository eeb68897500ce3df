//! x402 v1 messages: the 402 JSON body (PaymentRequirementsResponse), the
//! requirements, and the `X-PAYMENT` header (PaymentPayload).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use x402scope_core::{Amount, AmountError, Network, NetworkError};

use crate::bazaar::OutputSchemaV1;
use crate::nullable::Nullable;
use crate::payload::SchemePayload;

/// The v1 402 body `{x402Version:1, error, accepts}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequiredV1 {
    /// 1.
    pub x402_version: u64,
    /// Required by the v1 spec, optional for the v2 SDK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub accepts: Vec<PaymentRequirementsV1>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// One v1 way to pay; resource information sits in each requirement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirementsV1 {
    pub scheme: String,
    /// A v1 name such as `base-sepolia`.
    pub network: String,
    /// Decimal integer, atomic units.
    pub max_amount_required: String,
    /// The resource URL.
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Object or `null`; `input` carries the v1 discovery data.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub output_schema: Nullable<Value>,
    pub pay_to: String,
    pub max_timeout_seconds: u64,
    pub asset: String,
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub extra: Nullable<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl PaymentRequirementsV1 {
    /// The network: a v1 name, or CAIP-2 where third parties mix them.
    pub fn network(&self) -> Result<Network, NetworkError> {
        Network::parse_lenient(&self.network)
    }

    pub fn max_amount_required(&self) -> Result<Amount, AmountError> {
        Amount::parse_decimal(&self.max_amount_required)
    }

    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.as_ref()?.get(key)?.as_str()
    }

    /// `outputSchema` read as the v1 Bazaar shape, when it is an object.
    pub fn output_schema(&self) -> Option<Result<OutputSchemaV1, serde_json::Error>> {
        self.output_schema
            .as_ref()
            .filter(|v| v.is_object())
            .map(|v| serde_json::from_value(v.clone()))
    }
}

/// The v1 `X-PAYMENT` header `{x402Version:1, scheme, network, payload}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayloadV1 {
    /// 1.
    pub x402_version: u64,
    pub scheme: String,
    pub network: String,
    pub payload: SchemePayload,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

crate::codec::decode_via_serde!(PaymentRequiredV1, PaymentPayloadV1, PaymentRequirementsV1);
