//! Networks as CAIP-2 chain ids (`namespace:reference`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A CAIP-2 network id such as `eip155:8453` or `solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Network {
    namespace: String,
    reference: String,
}

/// Why a text is not a CAIP-2 network id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0:?} is not CAIP-2 (`namespace:reference`, e.g. `eip155:8453`)")]
    NotCaip2(String),
}

impl Network {
    pub fn eip155(chain_id: u64) -> Self {
        Network {
            namespace: "eip155".into(),
            reference: chain_id.to_string(),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The EVM chain id, for `eip155:*` networks.
    pub fn evm_chain_id(&self) -> Option<u64> {
        (self.namespace == "eip155")
            .then(|| self.reference.parse().ok())
            .flatten()
    }

    /// Parse a CAIP-2 id: namespace `[-a-z0-9]{3,8}`, reference `[-_a-zA-Z0-9]{1,32}`.
    pub fn parse_caip2(s: &str) -> Result<Self, NetworkError> {
        let err = || NetworkError::NotCaip2(s.to_owned());
        let (ns, reference) = s.split_once(':').ok_or_else(err)?;
        let ns_ok = (3..=8).contains(&ns.len())
            && ns
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let ref_ok = (1..=32).contains(&reference.len())
            && reference
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ns_ok || !ref_ok {
            return Err(err());
        }
        Ok(Network {
            namespace: ns.to_owned(),
            reference: reference.to_owned(),
        })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.reference)
    }
}

impl FromStr for Network {
    type Err = NetworkError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Network::parse_caip2(s)
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Network::parse_caip2(&s).map_err(serde::de::Error::custom)
    }
}
