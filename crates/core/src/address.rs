//! Addresses: EVM (20 bytes, compared as bytes so case never matters,
//! displayed with the EIP-55 checksum) and Solana (base58 of exactly 32 bytes).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::network::Network;

/// Why a text is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("EVM address {0:?} does not start with 0x")]
    MissingPrefix(String),
    #[error("EVM address {input:?} has {len} hex digits, expected 40")]
    EvmLength { input: String, len: usize },
    #[error("EVM address {0:?} is not hexadecimal")]
    NotHex(String),
    #[error("Solana address {0:?} is not base58")]
    NotBase58(String),
    #[error("Solana address {input:?} decodes to {len} bytes, expected 32")]
    SolanaLength { input: String, len: usize },
    #[error("network {0} has no address format known to x402scope")]
    UnsupportedNetwork(String),
}

/// An EVM address. Equality and hashing are on the 20 bytes, so
/// `0xabc…` and `0xABC…` are the same address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EvmAddress(pub alloy_primitives::Address);

impl EvmAddress {
    /// Parse `0x` + 40 hex digits in any case. The EIP-55 checksum is not
    /// enforced (much real data is lower case); see [`EvmAddress::has_valid_checksum`].
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        let hex = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .ok_or_else(|| AddressError::MissingPrefix(s.to_owned()))?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AddressError::NotHex(s.to_owned()));
        }
        if hex.len() != 40 {
            return Err(AddressError::EvmLength {
                input: s.to_owned(),
                len: hex.len(),
            });
        }
        let mut bytes = [0u8; 20];
        for (i, pair) in hex.as_bytes().chunks_exact(2).enumerate() {
            bytes[i] = (nibble(pair[0]) << 4) | nibble(pair[1]);
        }
        Ok(EvmAddress(alloy_primitives::Address::from(bytes)))
    }

    /// The EIP-55 mixed-case form.
    pub fn to_checksum(&self) -> String {
        self.0.to_checksum(None)
    }

    /// The lower-case form, for storage and comparison as text.
    pub fn to_lower(&self) -> String {
        format!("{:#x}", self.0)
    }

    /// True when `s` is all lower case, all upper case, or the exact EIP-55 form.
    pub fn has_valid_checksum(s: &str) -> bool {
        let Ok(a) = EvmAddress::parse(s) else {
            return false;
        };
        let hex = &s[2..];
        hex.bytes().all(|b| !b.is_ascii_uppercase())
            || hex.bytes().all(|b| !b.is_ascii_lowercase())
            || a.to_checksum() == s
    }
}

fn nibble(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

impl fmt::Display for EvmAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl FromStr for EvmAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EvmAddress::parse(s)
    }
}

/// A Solana public key: base58 of exactly 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SolanaAddress(pub [u8; 32]);

impl SolanaAddress {
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        // 32 bytes are at most 44 base58 characters; refuse longer text before decoding.
        if s.len() > 44 {
            return Err(AddressError::SolanaLength {
                input: s.to_owned(),
                len: s.len() * 3 / 4,
            });
        }
        let bytes = bs58::decode(s)
            .into_vec()
            .map_err(|_| AddressError::NotBase58(s.to_owned()))?;
        let len = bytes.len();
        let arr: [u8; 32] = bytes.try_into().map_err(|_| AddressError::SolanaLength {
            input: s.to_owned(),
            len,
        })?;
        Ok(SolanaAddress(arr))
    }
}

impl fmt::Display for SolanaAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).into_string())
    }
}

impl FromStr for SolanaAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SolanaAddress::parse(s)
    }
}

/// An address on any supported chain family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    Evm(EvmAddress),
    Solana(SolanaAddress),
}

impl Address {
    /// Parse an address in the format of `network`'s namespace.
    pub fn parse_for(network: &Network, s: &str) -> Result<Self, AddressError> {
        Address::parse_for_namespace(network.namespace(), s)
    }

    /// Parse an address in the format of a CAIP-2 namespace (`eip155`, `solana`).
    pub fn parse_for_namespace(namespace: &str, s: &str) -> Result<Self, AddressError> {
        match namespace {
            crate::network::EIP155 => EvmAddress::parse(s).map(Address::Evm),
            crate::network::SOLANA => SolanaAddress::parse(s).map(Address::Solana),
            other => Err(AddressError::UnsupportedNetwork(other.to_owned())),
        }
    }

    /// Guess the family from the text: `0x` means EVM, anything else Solana.
    pub fn parse_any(s: &str) -> Result<Self, AddressError> {
        if s.starts_with("0x") || s.starts_with("0X") {
            EvmAddress::parse(s).map(Address::Evm)
        } else {
            SolanaAddress::parse(s).map(Address::Solana)
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Evm(a) => a.fmt(f),
            Address::Solana(a) => a.fmt(f),
        }
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(EvmAddress);
serde_via_str!(SolanaAddress);

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse_any(s)
    }
}
serde_via_str!(Address);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evm_case_does_not_matter() {
        let a = EvmAddress::parse("0x036CbD53842c5426634e7929541eC2318f3dCF7e").unwrap();
        let b = EvmAddress::parse("0x036cbd53842c5426634e7929541ec2318f3dcf7e").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "0x036CbD53842c5426634e7929541eC2318f3dCF7e");
        assert_eq!(b.to_lower(), "0x036cbd53842c5426634e7929541ec2318f3dcf7e");
        assert!(EvmAddress::has_valid_checksum(
            "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
        ));
        assert!(!EvmAddress::has_valid_checksum(
            "0x036CbD53842c5426634e7929541eC2318f3dCF7E"
        ));
    }

    #[test]
    fn evm_errors() {
        use AddressError::*;
        assert!(matches!(EvmAddress::parse("036cbd"), Err(MissingPrefix(_))));
        assert!(matches!(
            EvmAddress::parse("0x12"),
            Err(EvmLength { len: 2, .. })
        ));
        assert!(matches!(EvmAddress::parse("0xzz"), Err(NotHex(_))));
        assert!(matches!(EvmAddress::parse("0xé"), Err(NotHex(_))));
    }

    #[test]
    fn solana_is_32_bytes() {
        let mint = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
        assert_eq!(SolanaAddress::parse(mint).unwrap().to_string(), mint);
        assert!(matches!(
            SolanaAddress::parse("0OIl"),
            Err(AddressError::NotBase58(_))
        ));
        assert!(matches!(
            SolanaAddress::parse("3yZe7d"),
            Err(AddressError::SolanaLength { .. })
        ));
        assert!(SolanaAddress::parse(&"1".repeat(200)).is_err());
    }
}
