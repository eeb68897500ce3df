//! Scheme payloads (`PaymentPayload.payload`): exact EVM with EIP-3009,
//! exact EVM with Permit2, exact SVM. The kind is recognised by which key is
//! present, as the reference SDK does: `permit2Authorization`, then
//! `authorization`, then `transaction`; anything else is kept as raw JSON.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The `payload` of a PaymentPayload.
#[allow(clippy::large_enum_variant)] // decoded once, then read; see message.rs
#[derive(Debug, Clone, PartialEq)]
pub enum SchemePayload {
    /// `{signature, authorization}`.
    Eip3009(Eip3009Payload),
    /// `{signature, permit2Authorization}`.
    Permit2(Permit2Payload),
    /// `{transaction}`: a base64 serialized, partially signed Solana transaction.
    Svm(SvmPayload),
    /// Another scheme (ERC-7710, future ones): kept as it came.
    Other(Map<String, Value>),
}

/// exact/EVM via EIP-3009 (`transferWithAuthorization`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Eip3009Payload {
    /// 0x hex; 65 bytes for an EOA, longer for ERC-1271/6492 wallets.
    pub signature: String,
    pub authorization: Eip3009Authorization,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// The signed `TransferWithAuthorization` values, all strings on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Eip3009Authorization {
    pub from: String,
    pub to: String,
    /// Decimal integer, atomic units.
    pub value: String,
    /// Decimal unix seconds.
    pub valid_after: String,
    /// Decimal unix seconds.
    pub valid_before: String,
    /// 0x-prefixed 32-byte hex.
    pub nonce: String,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// exact (or upto) on EVM via Permit2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permit2Payload {
    pub signature: String,
    pub permit2_authorization: Permit2Authorization,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permit2Authorization {
    pub permitted: TokenPermissions,
    pub from: String,
    /// The x402 Permit2 proxy.
    pub spender: String,
    /// Decimal uint256.
    pub nonce: String,
    /// Decimal unix seconds.
    pub deadline: String,
    pub witness: Permit2Witness,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPermissions {
    pub token: String,
    /// Decimal integer, atomic units.
    pub amount: String,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permit2Witness {
    pub to: String,
    /// Only in `upto`: the address that must submit the settlement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facilitator: Option<String>,
    pub valid_after: String,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// exact/SVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SvmPayload {
    pub transaction: String,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl SchemePayload {
    /// Pick the kind of `payload` by its keys. A payload with a recognised
    /// key but a wrong shape is an error, reported with its inner path.
    pub fn from_map(map: Map<String, Value>) -> Result<Self, (String, serde_json::Error)> {
        fn as_<T: serde::de::DeserializeOwned>(
            map: Map<String, Value>,
        ) -> Result<T, (String, serde_json::Error)> {
            serde_path_to_error::deserialize(Value::Object(map))
                .map_err(|e| (e.path().to_string(), e.into_inner()))
        }
        if map.contains_key("permit2Authorization") {
            as_(map).map(SchemePayload::Permit2)
        } else if map.contains_key("authorization") {
            as_(map).map(SchemePayload::Eip3009)
        } else if map.contains_key("transaction") {
            as_(map).map(SchemePayload::Svm)
        } else {
            Ok(SchemePayload::Other(map))
        }
    }

    pub fn eip3009(&self) -> Option<&Eip3009Payload> {
        match self {
            SchemePayload::Eip3009(p) => Some(p),
            _ => None,
        }
    }

    pub fn permit2(&self) -> Option<&Permit2Payload> {
        match self {
            SchemePayload::Permit2(p) => Some(p),
            _ => None,
        }
    }

    pub fn svm(&self) -> Option<&SvmPayload> {
        match self {
            SchemePayload::Svm(p) => Some(p),
            _ => None,
        }
    }
}

impl Serialize for SchemePayload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SchemePayload::Eip3009(p) => p.serialize(s),
            SchemePayload::Permit2(p) => p.serialize(s),
            SchemePayload::Svm(p) => p.serialize(s),
            SchemePayload::Other(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for SchemePayload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        SchemePayload::from_map(map)
            .map_err(|(path, e)| serde::de::Error::custom(format!("at `{path}`: {e}")))
    }
}
