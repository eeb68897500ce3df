//! The analysis part of the store: the derived correlation table (one row per
//! claim and per unclaimed payment, replaced wholesale by every analysis run),
//! the address flags of the organic filter, the ledger of payments the analysis
//! has observed (so that a payment a reorg removed is still known as removed),
//! and the write of `payments.is_organic`.
//!
//! The rules (what a status means, which rule matched) live in
//! `x402scope-analysis`; the store keeps the facts and the derived rows, the same
//! on both backends.

use serde::{Deserialize, Serialize};
use x402scope_core::Amount;

use crate::{ListingSnapshot, Payment, Store, StoreError};

/// One derived correlation row. Natural key: `row_key`
/// (`claim:SOURCE:CLAIM_ID` or `payment:CHAIN:TX:OUTER:INNER`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchRow {
    pub row_key: String,
    /// The claim's source and id; empty for a payment nobody claimed.
    pub claim_source: String,
    pub claim_id: String,
    /// The payment's chain, or the claim's network when there is no payment.
    pub network: String,
    /// The payment's transaction, or the claim's when there is no payment.
    pub tx_id: String,
    pub idx_outer: u32,
    pub idx_inner: u32,
    /// A payment (current or removed by a reorg) belongs to the row.
    pub has_payment: bool,
    /// `matched`, `matched_pending_finality`, `amount_mismatch`, … (see `x402scope-analysis`).
    pub status: String,
    /// `r1_tx`, `r2_evm_nonce`, `r3_solana_memo`, `r4_fuzzy`, or empty.
    pub rule: String,
    pub payer: String,
    pub pay_to: String,
    pub asset: String,
    /// The payment's amount (0 when there is no payment).
    pub amount: Amount,
    /// The claim's amount (0 when there is no claim).
    pub claimed_amount: Amount,
    /// The payment's block time (0 when there is no payment).
    pub block_time: i64,
    /// The claim's time (0 when there is no claim).
    pub claimed_at: i64,
    pub facilitator: String,
    /// The attributed resource, or empty.
    pub resource: String,
    /// `price_match`, `underpaid`, `overpaid`, `matched_prior_price`, `no_listing`, `ambiguous`.
    pub price_status: String,
    /// The listed price the payment was compared with (0 when none).
    pub listed_amount: Amount,
    pub is_final: bool,
    pub is_organic: bool,
    /// Why, in words.
    pub detail: String,
    pub run_at: i64,
}

/// A flag of the organic filter on an address. Natural key: (address, flag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressFlag {
    pub address: String,
    /// `self_payment`, `facilitator_address`, `circular_flow`, `inorganic_seller`.
    pub flag: String,
    pub detail: String,
    pub run_at: i64,
}

/// The natural key of a payment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PaymentKey {
    pub chain: String,
    pub tx_id: String,
    pub idx_outer: u32,
    pub idx_inner: u32,
}

impl PaymentKey {
    pub fn of(p: &Payment) -> Self {
        PaymentKey {
            chain: p.chain.clone(),
            tx_id: p.tx_id.clone(),
            idx_outer: p.idx_outer,
            idx_inner: p.idx_inner,
        }
    }
}

/// A run of the analysis whose rows are being staged (see [`Store::analysis_begin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisRun(u64);

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e,
            Store::ClickHouse($s) => $e,
        }
    };
}

impl Store {
    /// Every current payment, by (chain, tx_id, idx_outer, idx_inner).
    pub async fn analysis_payments(&self) -> Result<Vec<Payment>, StoreError> {
        dispatch!(self, s => s.analysis_payments().await)
    }

    /// Up to `limit` current payments after `after` (from the first when `None`),
    /// by (chain, tx_id, idx_outer, idx_inner): the analysis reads the store in
    /// such pages, so that a run's memory does not grow with the store.
    pub async fn analysis_payments_page(
        &self,
        after: Option<PaymentKey>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        dispatch!(self, s => s.analysis_payments_page(after, limit).await)
    }

    /// Up to `limit` observed payments after `after`, by key (as
    /// [`Store::analysis_observed`], a page at a time).
    pub async fn analysis_observed_page(
        &self,
        after: Option<PaymentKey>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        dispatch!(self, s => s.analysis_observed_page(after, limit).await)
    }

    /// Every listing snapshot, without its raw JSON (`raw` is empty), by
    /// (source, resource, accept_index, observed_at).
    pub async fn analysis_listings(&self) -> Result<Vec<ListingSnapshot>, StoreError> {
        dispatch!(self, s => s.analysis_listings().await)
    }

    /// Record payments as observed (insert, or replace the same key's row: a
    /// re-included payment gets its new block). Their `is_final`/`is_organic` are not kept.
    pub async fn analysis_observe(&self, payments: Vec<Payment>) -> Result<(), StoreError> {
        dispatch!(self, s => s.analysis_observe(payments).await)
    }

    /// Every payment ever observed, current or since removed, by key.
    pub async fn analysis_observed(&self) -> Result<Vec<Payment>, StoreError> {
        dispatch!(self, s => s.analysis_observed().await)
    }

    /// Write `is_organic` of these payments (by key; rows no longer there are
    /// left alone). Returns how many rows were written.
    pub async fn analysis_set_organic(
        &self,
        flags: Vec<(PaymentKey, bool)>,
    ) -> Result<u64, StoreError> {
        dispatch!(self, s => s.analysis_set_organic(flags).await)
    }

    /// Start a run whose derived rows are written in pages
    /// ([`Store::analysis_stage`]) and shown together by [`Store::analysis_commit`].
    /// The run's id orders runs by their start (both backends show the newest
    /// committed run, and delete older runs' rows at a commit).
    pub async fn analysis_begin(&self) -> Result<AnalysisRun, StoreError> {
        Ok(AnalysisRun(crate::ch::next_version()))
    }

    /// Add derived rows to a run that is not committed yet; readers do not see
    /// them until it is.
    pub async fn analysis_stage(
        &self,
        run: AnalysisRun,
        rows: Vec<MatchRow>,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        dispatch!(self, s => s.analysis_stage(run.0, rows).await)
    }

    /// Replace every derived row and address flag by the run's: its staged rows
    /// and these flags. Readers see the old run or the new one, never a mix.
    pub async fn analysis_commit(
        &self,
        run: AnalysisRun,
        flags: Vec<AddressFlag>,
        run_at: i64,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.analysis_commit(run.0, flags, run_at).await)
    }

    /// A whole run at once: [`Store::analysis_begin`], one stage, and the commit.
    pub async fn analysis_replace(
        &self,
        rows: Vec<MatchRow>,
        flags: Vec<AddressFlag>,
        run_at: i64,
    ) -> Result<(), StoreError> {
        let run = self.analysis_begin().await?;
        self.analysis_stage(run, rows).await?;
        self.analysis_commit(run, flags, run_at).await
    }

    /// The derived rows of the latest run (of one payTo, if given), by row_key.
    pub async fn analysis_matches(
        &self,
        pay_to: Option<&str>,
    ) -> Result<Vec<MatchRow>, StoreError> {
        dispatch!(self, s => s.analysis_matches(pay_to).await)
    }

    /// The address flags of the latest run, by (address, flag).
    pub async fn analysis_address_flags(&self) -> Result<Vec<AddressFlag>, StoreError> {
        dispatch!(self, s => s.analysis_address_flags().await)
    }

    /// When the latest run finished, if any ran.
    pub async fn analysis_last_run(&self) -> Result<Option<i64>, StoreError> {
        dispatch!(self, s => s.analysis_last_run().await)
    }
}
