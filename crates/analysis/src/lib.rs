//! x402scope analysis: what the facts in the store mean together.
//!
//! - [`correlate`]: claims (webhooks, paid-probe receipts) against on-chain
//!   payments, rules R1–R4 and every correlation status;
//! - [`attribute`]: the resource a payment pays for, and its price status;
//! - [`organic`]: the organic filter (self-payment, facilitator addresses,
//!   circular flow, the organic seller rule);
//! - [`reconcile`]: a seller's report and its CSV.
//!
//! These four are pure and table-tested. [`run`] is the one IO step: it reads
//! the facts from the store, runs them, writes `payments.is_organic` and
//! replaces the derived table wholesale, so every run is exact again after a
//! reorg or a late webhook. Nothing here is ever edited by hand.

pub mod attribute;
pub mod correlate;
pub mod http;
pub mod organic;
pub mod reconcile;
mod run;

#[cfg(test)]
mod correlate_tests;

pub use run::{AnalysisConfig, RunReport, run, seller_report};

/// Why an analysis step failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("store: {0}")]
    Store(#[from] x402scope_store::StoreError),
}
