//! The facilitator registry: which facilitator submits settlements from which
//! address on which network (EVM: the transaction sender; Solana: the fee
//! payer).
//!
//! The built-in data (`crates/core/data/facilitators.json`) is compiled in.
//! Keys rotate, so the registry can be extended at runtime with the signers a
//! facilitator lists in its `GET /supported` reply.

use std::collections::HashMap;

use serde::Deserialize;

use crate::address::{Address, AddressError};
use crate::network::{Network, NetworkError};

/// The registry file shipped with x402scope.
pub const BUILTIN_JSON: &str = include_str!("../data/facilitators.json");

/// Why registry data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("facilitator registry is not valid JSON of the expected shape: {0}")]
    Json(String),
    #[error("facilitator {facilitator:?}: signer network {network:?}: {source}")]
    Network {
        facilitator: String,
        network: String,
        source: NetworkError,
    },
    #[error("facilitator {facilitator:?}: signer address {address:?}: {source}")]
    Address {
        facilitator: String,
        address: String,
        source: AddressError,
    },
    #[error("facilitator id {0:?} appears twice")]
    DuplicateId(String),
}

/// Which networks a signer key covers: one CAIP-2 network, or a whole
/// namespace (`eip155:*`, as `/supported` writes it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetworkPattern {
    Exact(Network),
    Namespace(String),
}

impl NetworkPattern {
    /// Parse `eip155:8453`, `eip155:*`, or an x402 v1 name.
    pub fn parse(s: &str) -> Result<Self, NetworkError> {
        match s.strip_suffix(":*") {
            Some(ns) if !ns.is_empty() && !ns.contains(':') => {
                Ok(NetworkPattern::Namespace(ns.to_owned()))
            }
            _ => Network::parse_lenient(s).map(NetworkPattern::Exact),
        }
    }

    pub fn namespace(&self) -> &str {
        match self {
            NetworkPattern::Exact(n) => n.namespace(),
            NetworkPattern::Namespace(ns) => ns,
        }
    }

    pub fn matches(&self, network: &Network) -> bool {
        match self {
            NetworkPattern::Exact(n) => n == network,
            NetworkPattern::Namespace(ns) => ns == network.namespace(),
        }
    }
}

impl std::fmt::Display for NetworkPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkPattern::Exact(n) => n.fmt(f),
            NetworkPattern::Namespace(ns) => write!(f, "{ns}:*"),
        }
    }
}

/// One signing key of a facilitator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub network: NetworkPattern,
    pub address: Address,
    /// When the key was first seen (`YYYY-MM-DD`), if known.
    pub first_seen: Option<String>,
}

/// A facilitator and its known keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facilitator {
    pub id: String,
    pub name: String,
    pub url: Option<String>,
    pub signers: Vec<Signer>,
}

#[derive(Deserialize)]
struct FileJson {
    facilitators: Vec<FacilitatorJson>,
}

#[derive(Deserialize)]
struct FacilitatorJson {
    id: String,
    name: String,
    url: Option<String>,
    #[serde(default)]
    signers: Vec<SignerJson>,
}

#[derive(Deserialize)]
struct SignerJson {
    network: String,
    address: String,
    first_seen: Option<String>,
}

/// Lookup by (network, address) → facilitator.
#[derive(Debug, Clone, Default)]
pub struct FacilitatorRegistry {
    facilitators: Vec<Facilitator>,
    /// (exact network, address) → index into `facilitators`.
    exact: HashMap<(Network, Address), usize>,
    /// (namespace, address) → index, for `ns:*` signers.
    wildcard: HashMap<(String, Address), usize>,
}

fn parse_signer(
    facilitator: &str,
    network: &str,
    address: &str,
    first_seen: Option<String>,
) -> Result<Signer, RegistryError> {
    let pattern = NetworkPattern::parse(network).map_err(|source| RegistryError::Network {
        facilitator: facilitator.to_owned(),
        network: network.to_owned(),
        source,
    })?;
    let address = Address::parse_for_namespace(pattern.namespace(), address).map_err(|source| {
        RegistryError::Address {
            facilitator: facilitator.to_owned(),
            address: address.to_owned(),
            source,
        }
    })?;
    Ok(Signer {
        network: pattern,
        address,
        first_seen,
    })
}

impl FacilitatorRegistry {
    /// The registry compiled into x402scope.
    pub fn builtin() -> Result<Self, RegistryError> {
        FacilitatorRegistry::from_json(BUILTIN_JSON)
    }

    /// Load a registry file: `{"facilitators":[{id,name,url,signers:[{network,address,first_seen}]}]}`.
    pub fn from_json(json: &str) -> Result<Self, RegistryError> {
        let file: FileJson =
            serde_json::from_str(json).map_err(|e| RegistryError::Json(e.to_string()))?;
        let mut reg = FacilitatorRegistry::default();
        for f in file.facilitators {
            if reg.get(&f.id).is_some() {
                return Err(RegistryError::DuplicateId(f.id));
            }
            let signers = f
                .signers
                .into_iter()
                .map(|s| parse_signer(&f.id, &s.network, &s.address, s.first_seen))
                .collect::<Result<Vec<_>, _>>()?;
            reg.facilitators.push(Facilitator {
                id: f.id,
                name: f.name,
                url: f.url,
                signers: Vec::new(),
            });
            let idx = reg.facilitators.len() - 1;
            for s in signers {
                reg.insert(idx, s);
            }
        }
        Ok(reg)
    }

    fn insert(&mut self, idx: usize, signer: Signer) -> bool {
        let key_taken = match &signer.network {
            NetworkPattern::Exact(n) => self.exact.get(&(n.clone(), signer.address)).copied(),
            NetworkPattern::Namespace(ns) => {
                self.wildcard.get(&(ns.clone(), signer.address)).copied()
            }
        };
        match key_taken {
            Some(i) if i == idx => return false,
            Some(other) => self.facilitators[other]
                .signers
                .retain(|k| !(k.network == signer.network && k.address == signer.address)),
            None => {}
        }
        match &signer.network {
            NetworkPattern::Exact(n) => self.exact.insert((n.clone(), signer.address), idx),
            NetworkPattern::Namespace(ns) => {
                self.wildcard.insert((ns.clone(), signer.address), idx)
            }
        };
        self.facilitators[idx].signers.push(signer);
        true
    }

    pub fn facilitators(&self) -> &[Facilitator] {
        &self.facilitators
    }

    pub fn get(&self, id: &str) -> Option<&Facilitator> {
        self.facilitators.iter().find(|f| f.id == id)
    }

    /// The facilitator that signs from `address` on `network`: an exact
    /// network entry first, then a namespace-wide (`ns:*`) one.
    pub fn lookup(&self, network: &Network, address: &Address) -> Option<&Facilitator> {
        self.exact
            .get(&(network.clone(), *address))
            .or_else(|| {
                self.wildcard
                    .get(&(network.namespace().to_owned(), *address))
            })
            .map(|&i| &self.facilitators[i])
    }

    /// Like [`lookup`](Self::lookup), from text (EVM addresses in any case).
    pub fn lookup_str(&self, network: &Network, address: &str) -> Option<&Facilitator> {
        let a = Address::parse_for(network, address).ok()?;
        self.lookup(network, &a)
    }

    /// Add the signers a facilitator lists in `/supported` (`signers` map of
    /// network pattern → addresses, plus fee payers and facilitator
    /// addresses from `kinds[].extra`). Unknown facilitators are created with
    /// `id` as their name. Returns how many keys were new.
    ///
    /// A key already registered to another facilitator is moved to this one:
    /// the facilitator's own `/supported` is the fresher source.
    pub fn extend_from_supported<'a>(
        &mut self,
        id: &str,
        url: Option<&str>,
        signers: impl IntoIterator<Item = (&'a str, &'a str)>,
        seen_on: Option<&str>,
    ) -> Result<usize, RegistryError> {
        let parsed = signers
            .into_iter()
            .map(|(net, addr)| parse_signer(id, net, addr, seen_on.map(str::to_owned)))
            .collect::<Result<Vec<_>, _>>()?;
        let idx = match self.facilitators.iter().position(|f| f.id == id) {
            Some(i) => i,
            None => {
                self.facilitators.push(Facilitator {
                    id: id.to_owned(),
                    name: id.to_owned(),
                    url: url.map(str::to_owned),
                    signers: Vec::new(),
                });
                self.facilitators.len() - 1
            }
        };
        let mut added = 0;
        for s in parsed {
            let already = self.facilitators[idx]
                .signers
                .iter()
                .any(|k| k.network == s.network && k.address == s.address);
            if !already && self.insert(idx, s) {
                added += 1;
            }
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_loads_every_signer() {
        let reg = FacilitatorRegistry::builtin().unwrap();
        let raw: serde_json::Value = serde_json::from_str(BUILTIN_JSON).unwrap();
        let want: usize = raw["facilitators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["signers"].as_array().map_or(0, Vec::len))
            .sum();
        let got: usize = reg.facilitators().iter().map(|f| f.signers.len()).sum();
        assert_eq!(got, want);
        assert_eq!(
            reg.facilitators().len(),
            raw["facilitators"].as_array().unwrap().len()
        );
    }

    #[test]
    fn bad_data_is_a_typed_error() {
        let bad_addr = r#"{"facilitators":[{"id":"x","name":"X","url":null,
            "signers":[{"network":"eip155:8453","address":"0x12","first_seen":null}]}]}"#;
        assert!(matches!(
            FacilitatorRegistry::from_json(bad_addr),
            Err(RegistryError::Address { .. })
        ));
        let bad_net = r#"{"facilitators":[{"id":"x","name":"X","url":null,
            "signers":[{"network":"mars","address":"0x12","first_seen":null}]}]}"#;
        assert!(matches!(
            FacilitatorRegistry::from_json(bad_net),
            Err(RegistryError::Network { .. })
        ));
        let dup = r#"{"facilitators":[{"id":"x","name":"X","url":null},{"id":"x","name":"Y","url":null}]}"#;
        assert_eq!(
            FacilitatorRegistry::from_json(dup).unwrap_err(),
            RegistryError::DuplicateId("x".into())
        );
        assert!(matches!(
            FacilitatorRegistry::from_json("[]"),
            Err(RegistryError::Json(_))
        ));
    }
}
