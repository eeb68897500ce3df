//! Networks as CAIP-2 chain ids (`namespace:reference`), the x402 v1 network
//! names, and the Solana genesis-hash normalisation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A CAIP-2 network id such as `eip155:8453` or `solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Network {
    namespace: String,
    reference: String,
}

/// Why a text is not a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0:?} is not CAIP-2 (`namespace:reference`, e.g. `eip155:8453`)")]
    NotCaip2(String),
    #[error("network {0:?} is neither CAIP-2 nor a known x402 v1 network name")]
    Unknown(String),
}

/// The CAIP-2 namespace of EVM chains.
pub const EIP155: &str = "eip155";
/// The CAIP-2 namespace of Solana clusters.
pub const SOLANA: &str = "solana";

/// Solana mainnet-beta: the first 32 characters of its genesis hash.
pub const SOLANA_MAINNET: &str = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp";
/// Solana devnet: the first 32 characters of its genesis hash.
pub const SOLANA_DEVNET: &str = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1";
/// Solana testnet: the first 32 characters of its genesis hash.
pub const SOLANA_TESTNET: &str = "4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z";

/// One row of the x402 v1 name table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V1Name {
    /// The v1 name, e.g. `base-sepolia`.
    pub name: &'static str,
    /// The CAIP-2 namespace, `eip155` or `solana`.
    pub namespace: &'static str,
    /// The CAIP-2 reference: the chain id, or the cut Solana genesis hash.
    pub reference: &'static str,
}

const fn evm(name: &'static str, reference: &'static str) -> V1Name {
    V1Name {
        name,
        namespace: EIP155,
        reference,
    }
}

const fn sol(name: &'static str, reference: &'static str) -> V1Name {
    V1Name {
        name,
        namespace: SOLANA,
        reference,
    }
}

/// The v1 network names and their CAIP-2 ids (x402 reference SDKs and x402-rs).
pub const V1_NAMES: &[V1Name] = &[
    evm("ethereum", "1"),
    evm("sepolia", "11155111"),
    evm("base", "8453"),
    evm("base-sepolia", "84532"),
    evm("avalanche", "43114"),
    evm("avalanche-fuji", "43113"),
    evm("polygon", "137"),
    evm("polygon-amoy", "80002"),
    evm("sei", "1329"),
    evm("sei-testnet", "1328"),
    evm("iotex", "4689"),
    evm("peaq", "3338"),
    evm("story", "1514"),
    evm("educhain", "41923"),
    evm("abstract", "2741"),
    evm("abstract-testnet", "11124"),
    evm("skale-base-sepolia", "324705682"),
    evm("megaeth", "4326"),
    evm("monad", "143"),
    evm("stable", "988"),
    evm("stable-testnet", "2201"),
    // x402-rs only
    evm("xdc", "50"),
    evm("xrpl-evm", "1440000"),
    evm("celo", "42220"),
    evm("celo-sepolia", "11142220"),
    evm("radius", "723487"),
    evm("radius-testnet", "72344"),
    sol("solana", SOLANA_MAINNET),
    sol("solana-devnet", SOLANA_DEVNET),
    sol("solana-testnet", SOLANA_TESTNET),
];

impl Network {
    pub fn eip155(chain_id: u64) -> Self {
        Network {
            namespace: EIP155.into(),
            reference: chain_id.to_string(),
        }
    }

    /// A Solana cluster from its (cut or full) genesis hash.
    pub fn solana(genesis: &str) -> Result<Self, NetworkError> {
        Network::parse_caip2(&format!("{SOLANA}:{genesis}"))
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn reference(&self) -> &str {
        &self.reference
    }

    pub fn is_evm(&self) -> bool {
        self.namespace == EIP155
    }

    pub fn is_solana(&self) -> bool {
        self.namespace == SOLANA
    }

    /// The EVM chain id, for `eip155:*` networks.
    pub fn evm_chain_id(&self) -> Option<u64> {
        self.is_evm().then(|| self.reference.parse().ok()).flatten()
    }

    /// Parse a CAIP-2 id: namespace `[-a-z0-9]{3,8}`, reference `[-_a-zA-Z0-9]{1,32}`.
    ///
    /// One normalisation: a Solana reference longer than 32 characters (a
    /// full genesis hash, which some third parties send) is cut to the 32
    /// characters CAIP-30 uses.
    pub fn parse_caip2(s: &str) -> Result<Self, NetworkError> {
        let err = || NetworkError::NotCaip2(s.to_owned());
        let (ns, mut reference) = s.split_once(':').ok_or_else(err)?;
        if ns == SOLANA && reference.len() > 32 && reference.is_ascii() {
            reference = &reference[..32];
        }
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

    /// The network of an x402 v1 name such as `base-sepolia`.
    pub fn from_v1_name(name: &str) -> Option<Self> {
        V1_NAMES.iter().find(|r| r.name == name).map(|r| Network {
            namespace: r.namespace.into(),
            reference: r.reference.into(),
        })
    }

    /// The x402 v1 name of this network, if it has one.
    pub fn v1_name(&self) -> Option<&'static str> {
        V1_NAMES
            .iter()
            .find(|r| r.namespace == self.namespace && r.reference == self.reference)
            .map(|r| r.name)
    }

    /// Parse what third parties send: a CAIP-2 id (with the Solana
    /// normalisation) or an x402 v1 name.
    pub fn parse_lenient(s: &str) -> Result<Self, NetworkError> {
        if s.contains(':') {
            return Network::parse_caip2(s);
        }
        Network::from_v1_name(s).ok_or_else(|| NetworkError::Unknown(s.to_owned()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caip2_parse_and_format() {
        let n = Network::parse_caip2("eip155:8453").unwrap();
        assert_eq!(n.evm_chain_id(), Some(8453));
        assert_eq!(n.to_string(), "eip155:8453");
        for bad in [
            "",
            "eip155",
            ":1",
            "ei:1",
            "eip155:",
            "EIP155:1",
            "eip155:1 ",
            "a:b:c",
        ] {
            assert!(Network::parse_caip2(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lenient_refuses_unknown_names() {
        assert_eq!(
            Network::parse_lenient("flare"),
            Err(NetworkError::Unknown("flare".into()))
        );
    }
}
