//! Messages of either protocol version, picked by `x402Version`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::codec::{Decode, DecodeError, typed};
use crate::v1::{PaymentPayloadV1, PaymentRequiredV1, PaymentRequirementsV1};
use crate::v2::{PaymentPayloadV2, PaymentRequiredV2, PaymentRequirements};

/// The protocol version of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2,
}

/// Read `x402Version` (1 or 2) from a JSON object.
pub fn version_of(value: &Value) -> Result<Version, DecodeError> {
    let wrong = |message: String| DecodeError::WrongType {
        path: "x402Version".into(),
        message,
    };
    let Some(obj) = value.as_object() else {
        return Err(DecodeError::WrongType {
            path: ".".into(),
            message: format!("expected a JSON object, found {}", kind(value)),
        });
    };
    match obj.get("x402Version") {
        None => Err(wrong("missing field `x402Version`".into())),
        Some(v) => match v.as_u64() {
            Some(1) => Ok(Version::V1),
            Some(2) => Ok(Version::V2),
            Some(n) => Err(wrong(format!("unsupported x402 version {n}"))),
            None => Err(wrong(format!("expected 1 or 2, found {}", kind(v)))),
        },
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a non-integer number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

macro_rules! versioned {
    ($(#[$doc:meta])* $name:ident, $v1:ty, $v2:ty) => {
        $(#[$doc])*
        // Messages are decoded once and then read; boxing the larger
        // version would only make matching on them clumsier.
        #[allow(clippy::large_enum_variant)]
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            V1($v1),
            V2($v2),
        }

        impl $name {
            pub fn version(&self) -> Version {
                match self {
                    $name::V1(_) => Version::V1,
                    $name::V2(_) => Version::V2,
                }
            }
        }

        impl Decode for $name {
            fn from_json(value: Value) -> Result<Self, DecodeError> {
                match version_of(&value)? {
                    Version::V1 => typed(value).map($name::V1),
                    Version::V2 => typed(value).map($name::V2),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $name::V1(m) => m.serialize(s),
                    $name::V2(m) => m.serialize(s),
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = Value::deserialize(d)?;
                <$name as Decode>::from_json(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

versioned!(
    /// A 402 answer: the v1 JSON body or the v2 `PAYMENT-REQUIRED` header.
    PaymentRequired,
    PaymentRequiredV1,
    PaymentRequiredV2
);
versioned!(
    /// A client payment: v1 `X-PAYMENT` or v2 `PAYMENT-SIGNATURE`.
    PaymentPayload,
    PaymentPayloadV1,
    PaymentPayloadV2
);

/// Requirements of either version (inside a facilitator request, the version
/// comes from the request's `x402Version`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum AnyRequirements {
    V1(PaymentRequirementsV1),
    V2(PaymentRequirements),
}

impl Serialize for AnyRequirements {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnyRequirements::V1(r) => r.serialize(s),
            AnyRequirements::V2(r) => r.serialize(s),
        }
    }
}
