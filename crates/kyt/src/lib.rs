//! KYT screening for x402scope.
//!
//! - [`lists`]: sanctions lists. The OFAC `SDN_ADVANCED.XML` format (streamed)
//!   and custom CSV/JSON lists become list versions in the store, each with its
//!   source, publish date, SHA-256 and entry count, and the addresses it added or
//!   removed against the source's previous version.
//! - [`screen`]: every payer, payTo and facilitator address in the payment graph
//!   is screened against the active version of every list: ownership (the address
//!   is listed) and direct exposure (it paid, or was paid by, a listed address).
//!   An address that was never screened is `not_screened`, never `clear`.
//! - [`case`]: alerts become review cases whose events are append-only and
//!   hash-chained; dispositions need notes, and a `true_match` is closed only when a
//!   second reviewer approves it (four-eyes).
//! - [`auth`]: reviewers' API keys with scopes, stored as SHA-256 hashes.
//! - [`http`]: the review queue, case pages, audit export and JSON API, as one
//!   self-contained axum router. KYT data appears nowhere else.
//!
//! The library is handed its store; it reads no environment and no config file.

pub mod auth;
pub mod case;
pub mod http;
pub mod lists;
pub mod screen;

use x402scope_store::StoreError;

/// Why a KYT operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KytError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the {format} list is malformed: {detail}; nothing was loaded, the previous list version stays active"
    )]
    Malformed {
        format: &'static str,
        detail: String,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
