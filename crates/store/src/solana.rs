//! The Solana indexer's part of the store: its progress per watched address,
//! and the finality of its rows by signature. Rows themselves are written with
//! [`Store::commit_payments`], like every other source's.
//!
//! The rules (when a cursor moves, when a row is final or dropped) live in
//! `x402scope-solana`; the store only keeps the facts, the same on both backends.

use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// Where indexing of one watched address resumes. Empty strings mean "none".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SolanaCursor {
    /// CAIP-2 network id.
    pub chain: String,
    pub address: String,
    /// Everything at or older than this signature is indexed and final.
    pub until: String,
    /// The scan in progress has committed everything down to this signature.
    pub before: String,
    /// The newest finalized signature the scan in progress has seen.
    pub next_until: String,
    pub updated_at: i64,
}

/// A stored transaction whose rows are not final yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTx {
    pub tx_id: String,
    pub slot: u64,
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e,
            Store::ClickHouse($s) => $e,
        }
    };
}

impl Store {
    /// The cursor of (`chain`, `address`), if one was stored.
    pub async fn solana_cursor(
        &self,
        chain: &str,
        address: &str,
    ) -> Result<Option<SolanaCursor>, StoreError> {
        dispatch!(self, s => s.solana_cursor(chain, address).await)
    }

    /// Insert or replace a cursor by (chain, address).
    pub async fn solana_put_cursor(&self, cursor: SolanaCursor) -> Result<(), StoreError> {
        dispatch!(self, s => s.solana_put_cursor(cursor).await)
    }

    /// The transactions of `chain` with rows not final yet, by signature.
    pub async fn solana_pending(&self, chain: &str) -> Result<Vec<PendingTx>, StoreError> {
        dispatch!(self, s => s.solana_pending(chain).await)
    }

    /// Mark every row of these transactions final. Returns how many rows changed.
    pub async fn solana_mark_final(
        &self,
        chain: &str,
        tx_ids: Vec<String>,
    ) -> Result<u64, StoreError> {
        if tx_ids.is_empty() {
            return Ok(0);
        }
        dispatch!(self, s => s.solana_mark_final(chain, tx_ids).await)
    }

    /// Remove every row of these transactions (dropped before finality).
    pub async fn solana_remove(&self, chain: &str, tx_ids: Vec<String>) -> Result<(), StoreError> {
        if tx_ids.is_empty() {
            return Ok(());
        }
        dispatch!(self, s => s.solana_remove(chain, tx_ids).await)
    }
}
