//! EIP-712 for exact/EVM via EIP-3009: the `TransferWithAuthorization`
//! struct hash, the signing digest under a token's domain, and recovery of
//! the signer from a 65-byte signature.

use alloy_primitives::{Address, B256, Signature, U256};
use alloy_sol_types::{Eip712Domain, SolStruct, sol};

use crate::payload::Eip3009Authorization;
use crate::v2::PaymentRequirements;

sol! {
    /// EIP-3009 `TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)`.
    #[derive(Debug, PartialEq, Eq)]
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// Why an authorization, domain or signature could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Eip712Error {
    #[error("authorization field `{field}` is not valid: {value:?}")]
    Field { field: &'static str, value: String },
    #[error("requirements `extra` lacks the EIP-712 domain `{0}`")]
    MissingDomain(&'static str),
    #[error("network {0:?} is not an EVM chain")]
    NotEvm(String),
    #[error("signature is not 0x hex")]
    SignatureNotHex,
    #[error("signature is {0} bytes; recovery needs a 65-byte ECDSA signature")]
    SignatureLength(usize),
    #[error("signature does not recover: {0}")]
    Recover(String),
}

/// The EIP-712 domain of a token: `{name, version, chainId, verifyingContract}`.
pub fn token_domain(name: &str, version: &str, chain_id: u64, token: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(name.to_owned().into()),
        Some(version.to_owned().into()),
        Some(U256::from(chain_id)),
        Some(token),
        None,
    )
}

/// The domain a v2 requirement implies: `extra.name`, `extra.version`, the
/// chain id of `network` and `asset`.
pub fn domain_of(req: &PaymentRequirements) -> Result<Eip712Domain, Eip712Error> {
    let name = req
        .extra_str("name")
        .ok_or(Eip712Error::MissingDomain("name"))?;
    let version = req
        .extra_str("version")
        .ok_or(Eip712Error::MissingDomain("version"))?;
    let chain_id = req
        .network()
        .ok()
        .and_then(|n| n.evm_chain_id())
        .ok_or_else(|| Eip712Error::NotEvm(req.network.clone()))?;
    let token = address("asset", &req.asset)?;
    Ok(token_domain(name, version, chain_id, token))
}

fn address(field: &'static str, s: &str) -> Result<Address, Eip712Error> {
    x402scope_core::EvmAddress::parse(s)
        .map(|a| a.0)
        .map_err(|_| Eip712Error::Field {
            field,
            value: s.to_owned(),
        })
}

fn uint(field: &'static str, s: &str) -> Result<U256, Eip712Error> {
    x402scope_core::Amount::parse_decimal(s)
        .map(|a| a.0)
        .map_err(|_| Eip712Error::Field {
            field,
            value: s.to_owned(),
        })
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if !h.len().is_multiple_of(2) || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

impl TryFrom<&Eip3009Authorization> for TransferWithAuthorization {
    type Error = Eip712Error;

    fn try_from(a: &Eip3009Authorization) -> Result<Self, Self::Error> {
        let nonce = hex_bytes(&a.nonce)
            .filter(|b| b.len() == 32)
            .map(|b| B256::from_slice(&b))
            .ok_or_else(|| Eip712Error::Field {
                field: "nonce",
                value: a.nonce.clone(),
            })?;
        Ok(TransferWithAuthorization {
            from: address("from", &a.from)?,
            to: address("to", &a.to)?,
            value: uint("value", &a.value)?,
            validAfter: uint("validAfter", &a.valid_after)?,
            validBefore: uint("validBefore", &a.valid_before)?,
            nonce,
        })
    }
}

impl TransferWithAuthorization {
    /// `hashStruct(message)`.
    pub fn struct_hash(&self) -> B256 {
        self.eip712_hash_struct()
    }

    /// `keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(message))`.
    pub fn digest(&self, domain: &Eip712Domain) -> B256 {
        self.eip712_signing_hash(domain)
    }
}

/// The address whose key made `signature` (0x hex, 65 bytes `r‖s‖v`) over `digest`.
pub fn recover_signer(digest: &B256, signature: &str) -> Result<Address, Eip712Error> {
    let bytes = hex_bytes(signature).ok_or(Eip712Error::SignatureNotHex)?;
    if bytes.len() != 65 {
        return Err(Eip712Error::SignatureLength(bytes.len()));
    }
    let sig = Signature::from_raw(&bytes).map_err(|e| Eip712Error::Recover(e.to_string()))?;
    sig.recover_address_from_prehash(digest)
        .map_err(|e| Eip712Error::Recover(e.to_string()))
}

/// Recover the payer of an EIP-3009 payment: the digest of its
/// authorization under `domain`, then the signer of its signature.
pub fn recover_authorization_signer(
    authorization: &Eip3009Authorization,
    signature: &str,
    domain: &Eip712Domain,
) -> Result<Address, Eip712Error> {
    let msg = TransferWithAuthorization::try_from(authorization)?;
    recover_signer(&msg.digest(domain), signature)
}
