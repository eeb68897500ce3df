//! x402 v2 messages: `PAYMENT-REQUIRED` (PaymentRequired), the
//! requirements, and `PAYMENT-SIGNATURE` (PaymentPayload).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use x402scope_core::{Amount, AmountError, Network, NetworkError};

use crate::nullable::Nullable;
use crate::payload::SchemePayload;

/// The v2 `PAYMENT-REQUIRED` header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequiredV2 {
    /// 2.
    pub x402_version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub resource: ResourceInfo,
    pub accepts: Vec<PaymentRequirements>,
    /// `{"<key>": {info, schema}}`, e.g. `bazaar`; may be `null`.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub extensions: Nullable<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// The resource a v2 payment is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// One v2 way to pay (`accepts[i]`, `accepted`, `paymentRequirements`).
///
/// Network, amount and addresses are kept as the text that came, so the
/// message re-encodes exactly (v2 servers match `accepted` by deep
/// equality); the accessors parse them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    pub scheme: String,
    /// CAIP-2.
    pub network: String,
    /// Decimal integer, atomic units.
    pub amount: String,
    /// Token contract or SPL mint.
    pub asset: String,
    pub pay_to: String,
    pub max_timeout_seconds: u64,
    /// Scheme-specific: EVM `name`, `version`, `assetTransferMethod`; SVM
    /// `feePayer`, `memo`; upto `facilitatorAddress`. May be `null`.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub extra: Nullable<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl PaymentRequirements {
    /// The network, read leniently (CAIP-2, or a v1 name some servers send).
    pub fn network(&self) -> Result<Network, NetworkError> {
        Network::parse_lenient(&self.network)
    }

    pub fn amount(&self) -> Result<Amount, AmountError> {
        Amount::parse_decimal(&self.amount)
    }

    /// A string field of `extra`, e.g. `name`, `version`, `feePayer`.
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.as_ref()?.get(key)?.as_str()
    }
}

/// The v2 `PAYMENT-SIGNATURE` header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayloadV2 {
    /// 2.
    pub x402_version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInfo>,
    /// A verbatim copy of the chosen `accepts[i]`.
    pub accepted: PaymentRequirements,
    pub payload: SchemePayload,
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub extensions: Nullable<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

crate::codec::decode_via_serde!(PaymentRequiredV2, PaymentPayloadV2, PaymentRequirements);
