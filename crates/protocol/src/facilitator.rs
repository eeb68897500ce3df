//! The facilitator HTTP API: `POST /verify` and `/settle` bodies, their
//! replies, and `GET /supported`. Replies come from third parties, so
//! reasons are kept raw (see [`ErrorReason`]) and unknown fields are kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::codec::{Decode, DecodeError, typed};
use crate::message::{AnyRequirements, PaymentPayload, Version, version_of};
use crate::nullable::Nullable;
use crate::reason::ErrorReason;

/// The body of `POST /verify` and `POST /settle`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    pub x402_version: u64,
    pub payment_payload: PaymentPayload,
    /// In the shape of the request's `x402Version`.
    pub payment_requirements: AnyRequirements,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// `/settle` takes the same body as `/verify`.
pub type SettleRequest = VerifyRequest;

/// Put `prefix` in front of the path of a shape error.
fn under(prefix: &str, e: DecodeError) -> DecodeError {
    match e {
        DecodeError::WrongType { path, message } => DecodeError::WrongType {
            path: if path == "." {
                prefix.to_owned()
            } else {
                format!("{prefix}.{path}")
            },
            message,
        },
        other => other,
    }
}

impl Decode for VerifyRequest {
    fn from_json(value: Value) -> Result<Self, DecodeError> {
        let version = version_of(&value)?;
        let Value::Object(mut obj) = value else {
            return Err(DecodeError::WrongType {
                path: ".".into(),
                message: "expected an object".into(),
            });
        };
        let mut take = |key: &str| {
            obj.remove(key).ok_or_else(|| DecodeError::WrongType {
                path: ".".into(),
                message: format!("missing field `{key}`"),
            })
        };
        let x402_version = match version {
            Version::V1 => 1,
            Version::V2 => 2,
        };
        take("x402Version")?;
        let payment_payload = PaymentPayload::from_json(take("paymentPayload")?)
            .map_err(|e| under("paymentPayload", e))?;
        let requirements = take("paymentRequirements")?;
        let payment_requirements = match version {
            Version::V1 => typed(requirements).map(AnyRequirements::V1),
            Version::V2 => typed(requirements).map(AnyRequirements::V2),
        }
        .map_err(|e| under("paymentRequirements", e))?;
        Ok(VerifyRequest {
            x402_version,
            payment_payload,
            payment_requirements,
            unknown: obj,
        })
    }
}

impl<'de> Deserialize<'de> for VerifyRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        VerifyRequest::from_json(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The reply to `/verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    pub is_valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<ErrorReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub extensions: Nullable<Map<String, Value>>,
    /// Added by the 2026-06 foundation spec.
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub extra: Nullable<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// The reply to `/settle`, and the `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<ErrorReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Required in v1, optional in v2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// EVM: the 0x tx hash; SVM: the base58 signature; `""` on failure.
    pub transaction: String,
    pub network: String,
    /// upto: the amount actually settled (may be `"0"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub extensions: Nullable<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// The reply to `GET /supported`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedResponse {
    pub kinds: Vec<SupportedKind>,
    /// v2 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Vec<String>>,
    /// v2 only: network pattern (`eip155:*`, `eip155:84532`) → signer addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signers: Option<BTreeMap<String, Vec<String>>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// One `(x402Version, scheme, network)` a facilitator handles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    pub x402_version: u64,
    pub scheme: String,
    /// CAIP-2 for v2, a v1 name for v1.
    pub network: String,
    /// `feePayer` (SVM), `facilitatorAddress` (upto), `areFeesSponsored` (Stellar).
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub extra: Nullable<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl SupportedResponse {
    /// Every (network pattern, address) this reply names as the
    /// facilitator's own: the `signers` map, plus `kinds[].extra.feePayer`
    /// and `facilitatorAddress`. Feed it to
    /// `FacilitatorRegistry::extend_from_supported`.
    pub fn signer_keys(&self) -> Vec<(&str, &str)> {
        let mut keys: Vec<(&str, &str)> = Vec::new();
        for (pattern, addrs) in self.signers.iter().flatten() {
            keys.extend(addrs.iter().map(|a| (pattern.as_str(), a.as_str())));
        }
        for kind in &self.kinds {
            let Some(extra) = kind.extra.as_ref() else {
                continue;
            };
            for field in ["feePayer", "facilitatorAddress"] {
                if let Some(a) = extra.get(field).and_then(Value::as_str) {
                    keys.push((kind.network.as_str(), a));
                }
            }
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

crate::codec::decode_via_serde!(VerifyResponse, SettleResponse, SupportedResponse);
