//! The indexing loop: for each watched address, scan its signatures from the
//! newest down to its cursor, fetch and parse each transaction, commit the
//! rows and then the cursor; then settle the finality of stored rows.
//! Decisions are made by [`crate::cursor`] and [`crate::parse`]; this module
//! only drives them and does the IO.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use x402scope_store::{Payment, SolanaCursor, Store, StoreError};

use crate::cursor::{AddressCursor, FinalityAction, SigInfo, finality_action};
use crate::parse::{FeePayerLookup, ParseError, Parsed, parse_transaction};
use crate::rpc::{RpcError, SolanaRpc};

/// Why indexing stopped.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("a transaction cannot be read: {0}")]
    Parse(#[from] ParseError),
    #[error("cancelled")]
    Cancelled,
}

/// What to index and how.
#[derive(Debug, Clone)]
pub struct IndexerSettings {
    /// CAIP-2 network id the rows are written under.
    pub chain: String,
    /// The watched addresses: facilitator fee payers and payTo accounts.
    pub addresses: Vec<String>,
    /// Signatures per `getSignaturesForAddress` page (1..=1000).
    pub page_size: usize,
    /// `getTransaction` calls in flight at once.
    pub concurrency: usize,
    /// Pause between rounds when following.
    pub poll_interval: Duration,
}

/// What the indexer reports while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A page of `address` was committed.
    Page {
        address: String,
        signatures: usize,
        transactions: usize,
        payments: usize,
    },
    /// The scan of `address` reached its resume point.
    ScanDone { address: String },
    /// The finality pass marked and removed this many transactions.
    Finality { marked: usize, removed: usize },
    /// A round ended; waiting for new transactions.
    Idle,
}

/// Totals of a round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundStats {
    pub signatures: usize,
    pub transactions: usize,
    pub payments: usize,
    pub marked_final: usize,
    pub removed: usize,
}

#[derive(Debug)]
pub struct SolanaIndexer {
    rpc: SolanaRpc,
    store: Store,
    facilitators: Arc<dyn FeePayerLookup>,
    settings: IndexerSettings,
    progress: Option<mpsc::Sender<Progress>>,
}

impl std::fmt::Debug for dyn FeePayerLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeePayerLookup")
    }
}

fn none_if_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl SolanaIndexer {
    pub fn new(
        rpc: SolanaRpc,
        store: Store,
        facilitators: Arc<dyn FeePayerLookup>,
        settings: IndexerSettings,
    ) -> Self {
        SolanaIndexer {
            rpc,
            store,
            facilitators,
            settings,
            progress: None,
        }
    }

    /// Report progress on `tx` (bounded; a full channel slows the indexer, it
    /// never drops events silently).
    pub fn with_progress(mut self, tx: mpsc::Sender<Progress>) -> Self {
        self.progress = Some(tx);
        self
    }

    pub fn settings(&self) -> &IndexerSettings {
        &self.settings
    }

    async fn report(&self, p: Progress) {
        if let Some(tx) = &self.progress {
            let _ = tx.send(p).await;
        }
    }

    async fn load_cursor(&self, address: &str) -> Result<AddressCursor, IndexError> {
        Ok(self
            .store
            .solana_cursor(&self.settings.chain, address)
            .await?
            .map(|c| AddressCursor {
                until: none_if_empty(c.until),
                before: none_if_empty(c.before),
                next_until: none_if_empty(c.next_until),
            })
            .unwrap_or_default())
    }

    async fn save_cursor(&self, address: &str, c: &AddressCursor) -> Result<(), IndexError> {
        self.store
            .solana_put_cursor(SolanaCursor {
                chain: self.settings.chain.clone(),
                address: address.to_owned(),
                until: c.until.clone().unwrap_or_default(),
                before: c.before.clone().unwrap_or_default(),
                next_until: c.next_until.clone().unwrap_or_default(),
                updated_at: now(),
            })
            .await?;
        Ok(())
    }

    /// The rows of one listed transaction (none if it is not a settlement).
    async fn fetch_one(&self, s: &SigInfo) -> Result<Vec<Payment>, IndexError> {
        let tx = self.rpc.transaction(&s.signature).await?;
        match parse_transaction(
            &tx,
            &self.settings.chain,
            self.facilitators.as_ref(),
            s.finalized,
        )? {
            Parsed::Payments(rows) => Ok(rows),
            Parsed::Excluded(why) => {
                tracing::trace!(signature = %s.signature, ?why, "not a settlement");
                Ok(Vec::new())
            }
        }
    }

    /// Scan one address down to its cursor, committing page by page.
    pub async fn scan_address(
        &self,
        address: &str,
        cancel: &CancellationToken,
    ) -> Result<RoundStats, IndexError> {
        let limit = self.settings.page_size.clamp(1, 1000);
        let mut cursor = self.load_cursor(address).await?;
        let mut stats = RoundStats::default();
        loop {
            if cancel.is_cancelled() {
                return Err(IndexError::Cancelled);
            }
            let req = cursor.request();
            let page = self
                .rpc
                .signatures(address, req.before.as_deref(), req.until.as_deref(), limit)
                .await?;
            let wanted: Vec<_> = page.iter().filter(|s| !s.failed).cloned().collect();
            // Collected first: a lazy map over borrowed entries makes the
            // future fail the `Send` check of callers that spawn it.
            let calls: Vec<_> = wanted.iter().map(|s| self.fetch_one(s)).collect();
            let fetched: Vec<Result<Vec<Payment>, IndexError>> = futures::stream::iter(calls)
                .buffered(self.settings.concurrency.max(1))
                .collect()
                .await;
            let mut rows = Vec::new();
            for r in fetched {
                rows.extend(r?);
            }
            let payments = rows.len();
            if !rows.is_empty() {
                self.store.commit_payments(rows, Vec::new(), None).await?;
            }
            let out = cursor.after_page(&page, limit);
            self.save_cursor(address, &out.cursor).await?;
            cursor = out.cursor;
            stats.signatures += page.len();
            stats.transactions += wanted.len();
            stats.payments += payments;
            self.report(Progress::Page {
                address: address.to_owned(),
                signatures: page.len(),
                transactions: wanted.len(),
                payments,
            })
            .await;
            if out.scan_done {
                self.report(Progress::ScanDone {
                    address: address.to_owned(),
                })
                .await;
                return Ok(stats);
            }
        }
    }

    /// Mark final or remove the stored rows that were not final.
    pub async fn settle_finality(&self) -> Result<(usize, usize), IndexError> {
        let pending = self.store.solana_pending(&self.settings.chain).await?;
        if pending.is_empty() {
            return Ok((0, 0));
        }
        let finalized_slot = self.rpc.finalized_slot().await?;
        let sigs: Vec<String> = pending.iter().map(|p| p.tx_id.clone()).collect();
        let statuses = self.rpc.statuses(&sigs).await?;
        let (mut mark, mut remove) = (Vec::new(), Vec::new());
        for (p, s) in pending.into_iter().zip(statuses) {
            match finality_action(p.slot, s, finalized_slot) {
                FinalityAction::MarkFinal => mark.push(p.tx_id),
                FinalityAction::Remove => remove.push(p.tx_id),
                FinalityAction::Keep => {}
            }
        }
        let counts = (mark.len(), remove.len());
        if !remove.is_empty() {
            tracing::warn!(chain = %self.settings.chain, removed = ?remove, "transactions dropped before finality removed");
        }
        self.store
            .solana_mark_final(&self.settings.chain, mark)
            .await?;
        self.store
            .solana_remove(&self.settings.chain, remove)
            .await?;
        self.report(Progress::Finality {
            marked: counts.0,
            removed: counts.1,
        })
        .await;
        Ok(counts)
    }

    /// One round: every address scanned to its cursor, then the finality pass.
    pub async fn run_once(&self, cancel: &CancellationToken) -> Result<RoundStats, IndexError> {
        let mut total = RoundStats::default();
        for address in &self.settings.addresses {
            let s = self.scan_address(address, cancel).await?;
            total.signatures += s.signatures;
            total.transactions += s.transactions;
            total.payments += s.payments;
        }
        let (marked, removed) = self.settle_finality().await?;
        total.marked_final = marked;
        total.removed = removed;
        Ok(total)
    }

    /// Rounds until `cancel`; a cancelled round ends with `Ok`.
    pub async fn run(&self, cancel: &CancellationToken) -> Result<(), IndexError> {
        loop {
            match self.run_once(cancel).await {
                Ok(_) => {}
                Err(IndexError::Cancelled | IndexError::Rpc(RpcError::Cancelled)) => return Ok(()),
                Err(e) => return Err(e),
            }
            self.report(Progress::Idle).await;
            tokio::select! {
                () = cancel.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
    }
}
