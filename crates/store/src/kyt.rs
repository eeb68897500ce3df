//! The KYT (know-your-transaction) part of the store: sanctions list versions
//! and their entries, screening results, alerts, review cases with their
//! append-only hash-chained events, and reviewers' API keys (hashes only).
//!
//! The rules (what a status means, how a chain is hashed, who may approve what)
//! live in `x402scope-kyt`; the store only keeps the facts, the same on both
//! backends. Case events are never updated or deleted by x402scope.

use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// One load of a list: a version of `source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListVersion {
    /// `SOURCE@SHA256-PREFIX`, unique.
    pub id: String,
    /// The list's name, e.g. `ofac-sdn` or a custom list's name.
    pub source: String,
    /// `sdn`, `csv` or `json`.
    pub format: String,
    /// The publisher's date (Unix seconds, UTC midnight for a date), or 0 if unknown.
    pub published_at: i64,
    pub loaded_at: i64,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
    pub entry_count: u64,
}

/// One address on a list version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub version_id: String,
    /// Normalised: EVM lowercase 0x hex; anything else exactly as listed.
    pub address: String,
    /// `evm`, `solana` or `other`.
    pub kind: String,
    /// The list's ticker (`ETH`, `USDC`, `SOL`, …) or empty.
    pub ticker: String,
    /// Who the list says it belongs to.
    pub label: String,
}

/// An address added or removed by a list version, against the source's previous version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListChange {
    pub version_id: String,
    pub source: String,
    pub address: String,
    /// `added` or `removed`.
    pub change: String,
    pub label: String,
}

/// Payments between two addresses through one submitter, summed: the payment graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEdge {
    pub chain: String,
    pub payer: String,
    pub pay_to: String,
    /// The transaction sender (the facilitator's address).
    pub tx_from: String,
    pub payments: u64,
}

/// A screening hit. Natural key: `id` (derived from address, kind, listed address, source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    /// The screened address.
    pub address: String,
    /// `ownership` (the address is listed) or `exposure` (it paid or was paid by a listed address).
    pub kind: String,
    /// Where the address was seen: `payer`, `pay_to`, `facilitator` (comma-separated when several).
    pub role: String,
    /// The listed address: the address itself for ownership, the counterparty for exposure.
    pub listed_address: String,
    pub source: String,
    /// The list version that raised it (again, if it was raised before).
    pub list_version: String,
    pub label: String,
    /// `open`, or `removed` once no active list version lists `listed_address`.
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The list version whose rescreen removed it, or empty.
    pub removed_by: String,
}

/// The screening status of an address as of the last screening run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screening {
    pub address: String,
    /// `listed`, `exposed` or `clear`. An address without a row is not screened.
    pub status: String,
    /// The active list versions it was screened against, comma-separated.
    pub list_versions: String,
    pub screened_at: i64,
}

/// A review case about one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub alert_id: String,
    pub opened_at: i64,
    pub opened_by: String,
}

/// One entry of a case's timeline. Natural key: (case_id, seq), seq from 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub case_id: String,
    pub seq: u64,
    pub at: i64,
    /// The reviewer who acted.
    pub actor: String,
    /// `open`, `assign`, `comment`, `disposition`, `reopen`, `approve`.
    pub action: String,
    /// The action's details as canonical JSON (note, disposition, assignee).
    pub payload: String,
    /// The previous event's hash (64 zeros for seq 0).
    pub prev_hash: String,
    pub hash: String,
}

/// A reviewer's API key: only its SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The key's public identifier (also its prefix).
    pub key_id: String,
    pub reviewer: String,
    /// Space-separated scopes, e.g. `kyt:read kyt:review`.
    pub scopes: String,
    /// SHA-256 of the whole key, lowercase hex.
    pub key_hash: String,
    pub created_at: i64,
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
    /// Store a list version with its entries and its changes against the
    /// source's previous version.
    pub async fn kyt_insert_list_version(
        &self,
        version: ListVersion,
        entries: Vec<ListEntry>,
        changes: Vec<ListChange>,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.kyt_insert_list_version(version, entries, changes).await)
    }

    /// Every list version, oldest load first.
    pub async fn kyt_list_versions(&self) -> Result<Vec<ListVersion>, StoreError> {
        dispatch!(self, s => s.kyt_list_versions().await)
    }

    /// The entries of a version, by address.
    pub async fn kyt_list_entries(&self, version_id: &str) -> Result<Vec<ListEntry>, StoreError> {
        dispatch!(self, s => s.kyt_list_entries(version_id).await)
    }

    /// Changes recorded by list versions, by (version, change, address).
    pub async fn kyt_list_changes(&self) -> Result<Vec<ListChange>, StoreError> {
        dispatch!(self, s => s.kyt_list_changes().await)
    }

    /// The payment graph: payments summed by (chain, payer, pay_to, tx_from).
    pub async fn kyt_payment_edges(&self) -> Result<Vec<PaymentEdge>, StoreError> {
        dispatch!(self, s => s.kyt_payment_edges().await)
    }

    /// Insert or replace alerts by id.
    pub async fn kyt_put_alerts(&self, alerts: Vec<Alert>) -> Result<(), StoreError> {
        dispatch!(self, s => s.kyt_put_alerts(alerts).await)
    }

    /// Every alert, by id.
    pub async fn kyt_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        dispatch!(self, s => s.kyt_alerts().await)
    }

    /// Insert or replace screening statuses by address.
    pub async fn kyt_put_screenings(&self, items: Vec<Screening>) -> Result<(), StoreError> {
        dispatch!(self, s => s.kyt_put_screenings(items).await)
    }

    /// The status of one address, if it was screened.
    pub async fn kyt_screening(&self, address: &str) -> Result<Option<Screening>, StoreError> {
        dispatch!(self, s => s.kyt_screening(address).await)
    }

    /// Every screening status, by address.
    pub async fn kyt_screenings(&self) -> Result<Vec<Screening>, StoreError> {
        dispatch!(self, s => s.kyt_screenings().await)
    }

    /// Create a case with its first event (seq 0).
    pub async fn kyt_create_case(&self, case: Case, first: CaseEvent) -> Result<(), StoreError> {
        dispatch!(self, s => s.kyt_create_case(case, first).await)
    }

    /// Every case, by opening time.
    pub async fn kyt_cases(&self) -> Result<Vec<Case>, StoreError> {
        dispatch!(self, s => s.kyt_cases().await)
    }

    /// Append an event. Fails with [`StoreError::Conflict`] if its seq is taken.
    pub async fn kyt_append_event(&self, event: CaseEvent) -> Result<(), StoreError> {
        dispatch!(self, s => s.kyt_append_event(event).await)
    }

    /// Events of one case (or of every case), by (case_id, seq).
    pub async fn kyt_events(&self, case_id: Option<&str>) -> Result<Vec<CaseEvent>, StoreError> {
        dispatch!(self, s => s.kyt_events(case_id).await)
    }

    pub async fn kyt_put_key(&self, key: ApiKey) -> Result<(), StoreError> {
        dispatch!(self, s => s.kyt_put_key(key).await)
    }

    pub async fn kyt_key(&self, key_id: &str) -> Result<Option<ApiKey>, StoreError> {
        dispatch!(self, s => s.kyt_key(key_id).await)
    }
}
