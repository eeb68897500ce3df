//! Error reasons from facilitators and servers. Implementations disagree on
//! the codes (spec, TS, Go, Python and x402-rs each have their own), and some
//! send an object instead of a string, so the raw value is kept and mapped to
//! a normalised [`ErrorCategory`] here.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An `errorReason` / `invalidReason` exactly as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorReason(pub Value);

/// What a reason means, whoever wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorCategory {
    InsufficientFunds,
    InvalidSignature,
    /// `validBefore` / deadline passed.
    Expired,
    /// `validAfter` not reached.
    NotYetValid,
    AmountMismatch,
    RecipientMismatch,
    NetworkMismatch,
    /// Wrong token, token name/version or missing EIP-712 domain.
    AssetMismatch,
    /// The payload does not match the requirements it claims.
    RequirementsMismatch,
    UnsupportedScheme,
    UnsupportedNetwork,
    InvalidVersion,
    /// Malformed payload or requirements.
    InvalidPayload,
    /// The nonce or transaction was already used (replay, duplicate settlement).
    Replay,
    /// Permit2 allowance or ERC-20 approval needed.
    AllowanceRequired,
    SimulationFailed,
    /// The settlement transaction was sent and failed.
    TransactionFailed,
    /// The payer is a smart wallet that is not deployed.
    UndeployedWallet,
    /// Unexpected facilitator error.
    Unexpected,
    /// A reason x402scope does not know.
    Other,
}

/// Exact codes, from the spec and the SDKs' tables.
const EXACT: &[(&str, ErrorCategory)] = {
    use ErrorCategory::*;
    &[
        ("insufficient_funds", InsufficientFunds),
        (
            "invalid_exact_evm_payload_authorization_valid_after",
            NotYetValid,
        ),
        (
            "invalid_exact_evm_payload_authorization_valid_before",
            Expired,
        ),
        (
            "invalid_exact_evm_payload_authorization_value_mismatch",
            AmountMismatch,
        ),
        (
            "invalid_exact_evm_payload_authorization_value",
            AmountMismatch,
        ),
        ("invalid_exact_evm_payload_signature", InvalidSignature),
        (
            "invalid_exact_evm_payload_recipient_mismatch",
            RecipientMismatch,
        ),
        ("invalid_network", UnsupportedNetwork),
        ("invalid_payload", InvalidPayload),
        ("invalid_payment_requirements", InvalidPayload),
        ("invalid_scheme", UnsupportedScheme),
        ("unsupported_scheme", UnsupportedScheme),
        ("invalid_x402_version", InvalidVersion),
        ("invalid_transaction_state", TransactionFailed),
        ("unexpected_verify_error", Unexpected),
        ("unexpected_settle_error", Unexpected),
        ("duplicate_settlement", Replay),
        // TS EVM
        ("invalid_exact_evm_scheme", UnsupportedScheme),
        ("invalid_exact_evm_network_mismatch", NetworkMismatch),
        ("invalid_exact_evm_missing_eip712_domain", AssetMismatch),
        ("invalid_exact_evm_recipient_mismatch", RecipientMismatch),
        ("invalid_exact_evm_signature", InvalidSignature),
        ("invalid_exact_evm_authorization_value", AmountMismatch),
        (
            "invalid_exact_evm_payload_undeployed_smart_wallet",
            UndeployedWallet,
        ),
        ("invalid_exact_evm_transaction_failed", TransactionFailed),
        ("invalid_exact_evm_token_name_mismatch", AssetMismatch),
        ("invalid_exact_evm_token_version_mismatch", AssetMismatch),
        ("invalid_exact_evm_eip3009_not_supported", AssetMismatch),
        ("invalid_exact_evm_nonce_already_used", Replay),
        ("invalid_exact_evm_insufficient_balance", InsufficientFunds),
        (
            "invalid_exact_evm_transaction_simulation_failed",
            SimulationFailed,
        ),
        // Permit2
        ("invalid_permit2_spender", InvalidPayload),
        ("invalid_permit2_recipient_mismatch", RecipientMismatch),
        ("permit2_deadline_expired", Expired),
        ("permit2_not_yet_valid", NotYetValid),
        ("permit2_payment_too_early", NotYetValid),
        ("permit2_amount_mismatch", AmountMismatch),
        ("permit2_2612_amount_mismatch", AmountMismatch),
        ("permit2_token_mismatch", AssetMismatch),
        ("invalid_permit2_signature", InvalidSignature),
        ("permit2_allowance_required", AllowanceRequired),
        ("permit2_simulation_failed", SimulationFailed),
        ("permit2_insufficient_balance", InsufficientFunds),
        ("permit2_proxy_not_deployed", Unexpected),
        ("permit2_invalid_amount", AmountMismatch),
        ("permit2_invalid_destination", RecipientMismatch),
        ("permit2_invalid_owner", InvalidPayload),
        ("permit2_invalid_nonce", InvalidPayload),
        // x402-rs
        ("invalid_format", InvalidPayload),
        ("invalid_payment_amount", AmountMismatch),
        ("invalid_payment_early", NotYetValid),
        ("invalid_payment_expired", Expired),
        ("chain_id_mismatch", NetworkMismatch),
        ("recipient_mismatch", RecipientMismatch),
        ("asset_mismatch", AssetMismatch),
        ("accepted_requirements_mismatch", RequirementsMismatch),
        ("invalid_signature", InvalidSignature),
        ("transaction_simulation", SimulationFailed),
        ("unsupported_chain", UnsupportedNetwork),
        ("unexpected_error", Unexpected),
    ]
};

/// Substrings tried in order when no exact code matches (SVM and Go
/// families, vendors' own codes).
const PATTERNS: &[(&str, ErrorCategory)] = {
    use ErrorCategory::*;
    &[
        ("allowance", AllowanceRequired),
        ("approval", AllowanceRequired),
        ("insufficient", InsufficientFunds),
        ("balance", InsufficientFunds),
        ("nonce", Replay),
        ("duplicate", Replay),
        ("already", Replay),
        ("replay", Replay),
        ("signature", InvalidSignature),
        ("valid_before", Expired),
        ("expired", Expired),
        ("deadline", Expired),
        ("valid_after", NotYetValid),
        ("early", NotYetValid),
        ("recipient", RecipientMismatch),
        ("destination", RecipientMismatch),
        ("pay_to", RecipientMismatch),
        ("amount", AmountMismatch),
        ("value", AmountMismatch),
        ("mint", AssetMismatch),
        ("token", AssetMismatch),
        ("asset", AssetMismatch),
        ("network", NetworkMismatch),
        ("chain", NetworkMismatch),
        ("simulat", SimulationFailed),
        ("transaction_failed", TransactionFailed),
        ("scheme", UnsupportedScheme),
        ("version", InvalidVersion),
        ("unexpected", Unexpected),
        ("invalid", InvalidPayload),
    ]
};

/// Normalise one reason code.
pub fn categorize(code: &str) -> ErrorCategory {
    let lower = code.trim().to_ascii_lowercase();
    if let Some((_, c)) = EXACT.iter().find(|(k, _)| *k == lower) {
        return *c;
    }
    PATTERNS
        .iter()
        .find(|(k, _)| lower.contains(k))
        .map_or(ErrorCategory::Other, |(_, c)| *c)
}

impl ErrorReason {
    pub fn new(code: &str) -> Self {
        ErrorReason(Value::String(code.to_owned()))
    }

    /// The code as text: the string itself, or an object's `code`, `reason`
    /// or `type` field.
    pub fn code(&self) -> Option<&str> {
        match &self.0 {
            Value::String(s) => Some(s),
            Value::Object(o) => ["code", "reason", "type", "error"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str)),
            _ => None,
        }
    }

    pub fn category(&self) -> ErrorCategory {
        self.code().map_or(ErrorCategory::Other, categorize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_maps_to_its_table_category() {
        for (code, cat) in EXACT {
            assert_eq!(categorize(code), *cat, "{code}");
        }
    }
}
