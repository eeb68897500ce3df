//! The IO loops: an ordered parallel backfill, and a head follower that checks
//! block hashes and rolls back on reorgs. Both write through a [`PaymentSink`]
//! and move the checkpoint only with the data it covers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, BloomInput};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::pairing::AUTHORIZATION_USED;
use crate::range::shrink;
use crate::reorg::{BlockRef, BlockWindow, Check};
use crate::rpc::{EvmRpc, Header, RpcError};
use crate::scan::{self, ChainLog, ScanError};
use crate::types::{Checkpoint, EvmPayment, FacilitatorLookup, PaymentSink, TxInfo};

/// What the indexer does on one chain.
#[derive(Debug, Clone)]
pub struct ChainSettings {
    pub chain_id: u64,
    /// Watched token contracts.
    pub tokens: Vec<Address>,
    /// First block to index when there is no checkpoint.
    pub start_block: u64,
    /// Blocks to stay behind the head.
    pub confirmations: u64,
    /// Largest `eth_getLogs` range.
    pub max_range: u64,
    /// Ranges fetched in parallel during backfill.
    pub concurrency: usize,
    /// Blocks kept for reorg checks; a deeper reorg halts the indexer.
    pub window: usize,
    /// How often to look for a new head.
    pub poll_interval: Duration,
}

/// Progress events for a UI (dropped when nobody keeps up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Blocks `[from, to]` are committed, with `settlements` found in them.
    Committed {
        from: u64,
        to: u64,
        settlements: usize,
    },
    /// The chain reorganised: everything above `fork` was rolled back.
    Reorg { fork: u64, depth: u64 },
    /// At the safe head; waiting for new blocks.
    Idle { head: u64, safe: u64 },
}

/// Why indexing stopped.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("the RPC's answer does not hold together: {0}")]
    Scan(#[from] ScanError),
    #[error("the store failed: {0}")]
    Sink(Box<dyn std::error::Error + Send + Sync>),
    #[error(
        "chain {chain_id}: reorg deeper than the {window}-block window (no block from {window_start} up is canonical any more); halting. Raise `confirmations`, then re-index from a block before {window_start} (or roll back the store below it)"
    )]
    ReorgTooDeep {
        chain_id: u64,
        window: usize,
        window_start: u64,
    },
    #[error(
        "block {number}: the RPC's log answers lack logs that the block's receipts hold, {attempts} times; halting rather than skipping them"
    )]
    MissingLogs { number: u64, attempts: u32 },
}

/// While following, payments are marked final at most once per this many blocks.
pub const FINAL_EVERY: u64 = 32;

/// Times a log answer that lacks a block's logs is asked again before halting.
pub const MISSING_LOGS_ATTEMPTS: u32 = 5;

/// The totals of a backfill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackfillStats {
    pub blocks: u64,
    pub settlements: usize,
}

/// The EVM indexer for one chain.
pub struct EvmIndexer<S> {
    rpc: Arc<EvmRpc>,
    sink: Arc<S>,
    facilitators: Arc<dyn FacilitatorLookup>,
    settings: ChainSettings,
    progress: Option<mpsc::Sender<Progress>>,
}

impl<S> std::fmt::Debug for EvmIndexer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvmIndexer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

struct Chunk {
    from: u64,
    to: u64,
    payments: Vec<EvmPayment>,
    last: Header,
}

impl<S: PaymentSink + 'static> EvmIndexer<S> {
    pub fn new(
        rpc: Arc<EvmRpc>,
        sink: Arc<S>,
        facilitators: Arc<dyn FacilitatorLookup>,
        settings: ChainSettings,
    ) -> Self {
        EvmIndexer {
            rpc,
            sink,
            facilitators,
            settings,
            progress: None,
        }
    }

    /// Send progress events to `tx` (a bounded channel; events are dropped when full).
    pub fn with_progress(mut self, tx: mpsc::Sender<Progress>) -> Self {
        self.progress = Some(tx);
        self
    }

    fn report(&self, p: Progress) {
        if let Some(tx) = &self.progress {
            let _ = tx.try_send(p);
        }
    }

    fn sink_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> IndexError {
        IndexError::Sink(Box::new(e))
    }

    /// The block to start from: after the checkpoint, or the configured start.
    pub async fn resume_point(&self) -> Result<u64, IndexError> {
        let cp = self
            .sink
            .checkpoint(self.settings.chain_id)
            .await
            .map_err(Self::sink_err)?;
        Ok(cp.map_or(self.settings.start_block, |c| c.block + 1))
    }

    /// The highest block the indexer may read: head minus confirmations.
    pub async fn safe_head(&self, cancel: &CancellationToken) -> Result<(u64, u64), IndexError> {
        let head = self.rpc.head(cancel).await?;
        Ok((head, head.saturating_sub(self.settings.confirmations)))
    }

    /// Index `[from, to]` with parallel range fetches, committing strictly in
    /// block order. Stops cleanly (after the last commit) when `cancel` fires.
    pub async fn backfill(
        &self,
        from: u64,
        to: u64,
        cancel: &CancellationToken,
    ) -> Result<BackfillStats, IndexError> {
        let mut stats = BackfillStats::default();
        if from > to {
            return Ok(stats);
        }
        // Rows at or below the finalized block are final as they are written.
        let finalized = self.rpc.finalized(cancel).await?;
        let step = self.settings.max_range.max(1);
        let ranges = (from..=to)
            .step_by(step as usize)
            .map(move |a| (a, (a + step - 1).min(to)));
        let mut chunks = futures::stream::iter(ranges)
            .map(|(a, b)| self.fetch_chunk(a, b, cancel))
            .buffered(self.settings.concurrency.max(1));
        while let Some(chunk) = chunks.next().await {
            let mut chunk = match chunk {
                Ok(c) => c,
                Err(IndexError::Rpc(RpcError::Cancelled)) => return Ok(stats),
                Err(e) => return Err(e),
            };
            for p in &mut chunk.payments {
                p.is_final = finalized.is_some_and(|f| p.block_number <= f);
            }
            let found = chunk.payments.len();
            let checkpoint = Checkpoint {
                block: chunk.to,
                hash: chunk.last.block.hash,
            };
            self.sink
                .commit(
                    self.settings.chain_id,
                    chunk.payments,
                    vec![chunk.last.block],
                    checkpoint,
                )
                .await
                .map_err(Self::sink_err)?;
            stats.blocks += chunk.to - chunk.from + 1;
            stats.settlements += found;
            self.report(Progress::Committed {
                from: chunk.from,
                to: chunk.to,
                settlements: found,
            });
            if cancel.is_cancelled() {
                break;
            }
        }
        Ok(stats)
    }

    /// Fetch one range, shrinking it when the provider says it is too large.
    ///
    /// The last block's header is read first: a lagging node does not have it
    /// yet (retried), and its bloom checks the log answer that ends there.
    async fn fetch_chunk(
        &self,
        from: u64,
        to: u64,
        cancel: &CancellationToken,
    ) -> Result<Chunk, IndexError> {
        let last = self.rpc.header(to, cancel).await?;
        let logs = self.range_logs(from, to, &last, cancel).await?;
        let payments = self.payments_from(&logs, cancel).await?;
        Ok(Chunk {
            from,
            to,
            payments,
            last,
        })
    }

    /// The logs of `[from, to]` (`last` is block `to`), in as many requests as
    /// the provider's range limit needs. Each answer is checked against the bloom
    /// of the last block it covers, and asked again while it contradicts it.
    async fn range_logs(
        &self,
        from: u64,
        to: u64,
        last: &Header,
        cancel: &CancellationToken,
    ) -> Result<Vec<ChainLog>, IndexError> {
        let mut logs = Vec::new();
        let mut start = from;
        while start <= to {
            let (end, mut part) = self.logs_within_limit(start, to, cancel).await?;
            let header = if end == to {
                *last
            } else {
                self.rpc.header(end, cancel).await?
            };
            let mut attempt = 0;
            loop {
                if let Some(l) = part
                    .iter()
                    .find(|l| l.block_number == end && l.block_hash != header.block.hash)
                {
                    return Err(RpcError::Invalid {
                        method: "eth_getLogs",
                        reason: format!(
                            "logs say block {end} is {}, the header says {} (a reorg under the range?)",
                            l.block_hash, header.block.hash
                        ),
                    }
                    .into());
                }
                if !self.contradicts_bloom(&header, &part, cancel).await? {
                    break;
                }
                attempt += 1;
                self.missing_logs_pause(end, attempt, cancel).await?;
                part = self
                    .rpc
                    .logs(&self.settings.tokens, start, end, cancel)
                    .await?;
            }
            logs.append(&mut part);
            start = end + 1;
        }
        Ok(logs)
    }

    /// The logs from `start` up to `to` or as far as the provider allows in one
    /// request, with where they end.
    async fn logs_within_limit(
        &self,
        start: u64,
        to: u64,
        cancel: &CancellationToken,
    ) -> Result<(u64, Vec<ChainLog>), IndexError> {
        let mut end = to;
        loop {
            match self
                .rpc
                .logs(&self.settings.tokens, start, end, cancel)
                .await
            {
                Ok(part) => return Ok((end, part)),
                Err(RpcError::RangeTooLarge { failure, .. }) => {
                    let smaller = shrink(start, end, failure).unwrap_or((start, start));
                    if smaller == (start, end) {
                        return Err(RpcError::RangeTooLarge {
                            method: "eth_getLogs",
                            failure,
                        }
                        .into());
                    }
                    end = smaller.1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Whether the bloom of `header`'s block may hold a watched token's
    /// `AuthorizationUsed` (a bloom has false positives, never false negatives).
    fn bloom_may_match(&self, header: &Header) -> bool {
        header
            .logs_bloom
            .contains_input(BloomInput::Raw(AUTHORIZATION_USED.as_slice()))
            && self.settings.tokens.iter().any(|t| {
                header
                    .logs_bloom
                    .contains_input(BloomInput::Raw(t.as_slice()))
            })
    }

    /// Whether a log answer that covers `header`'s block misses that block's
    /// logs: the answer has none from it, the bloom says it may have some, and its
    /// receipts (read only in that case, to tell a lie from a bloom false
    /// positive) do have some.
    async fn contradicts_bloom(
        &self,
        header: &Header,
        logs: &[ChainLog],
        cancel: &CancellationToken,
    ) -> Result<bool, IndexError> {
        if !self.bloom_may_match(header)
            || logs.iter().any(|l| l.block_number == header.block.number)
        {
            return Ok(false);
        }
        let truth = self
            .rpc
            .receipt_logs(&self.settings.tokens, &header.block, cancel)
            .await?;
        if !truth.is_empty() {
            tracing::debug!(
                block = header.block.number,
                missing = truth.len(),
                "a log answer lacks logs that the block's receipts hold; asking again"
            );
        }
        Ok(!truth.is_empty())
    }

    /// Wait before asking again for logs the answer lacked; give up (halting with
    /// a clear error, never skipping the block) after [`MISSING_LOGS_ATTEMPTS`].
    async fn missing_logs_pause(
        &self,
        number: u64,
        attempt: u32,
        cancel: &CancellationToken,
    ) -> Result<(), IndexError> {
        if attempt >= MISSING_LOGS_ATTEMPTS {
            return Err(IndexError::MissingLogs {
                number,
                attempts: attempt,
            });
        }
        tokio::select! {
            _ = cancel.cancelled() => Err(RpcError::Cancelled.into()),
            _ = tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))) => Ok(()),
        }
    }

    /// Senders and block times for the settlements among `logs`, then [`scan`].
    async fn payments_from(
        &self,
        logs: &[ChainLog],
        cancel: &CancellationToken,
    ) -> Result<Vec<EvmPayment>, IndexError> {
        let concurrency = self.settings.concurrency.max(1) * 4;
        let txs: HashMap<B256, TxInfo> = futures::stream::iter(scan::txs_needing_sender(logs))
            .map(|h| async move { self.rpc.tx(h, cancel).await.map(|t| (h, t)) })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        let times: HashMap<u64, u64> = futures::stream::iter(scan::blocks_needing_time(logs))
            .map(|n| async move {
                let header = self.rpc.header(n, cancel).await?;
                // The logs name their block's hash: it must be this block's.
                if let Some(l) = logs.iter().find(|l| l.block_number == n)
                    && l.block_hash != header.block.hash
                {
                    return Err(RpcError::Invalid {
                        method: "eth_getLogs",
                        reason: format!(
                            "logs say block {n} is {}, the header says {} (a reorg under the range?)",
                            l.block_hash, header.block.hash
                        ),
                    });
                }
                Ok((n, header.timestamp))
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        Ok(scan::scan(
            self.settings.chain_id,
            logs,
            &txs,
            &times,
            self.facilitators.as_ref(),
        )?)
    }

    /// Resume, backfill in parallel up to a window's depth below the safe head,
    /// then follow the head block by block (which records every block for the
    /// reorg window) until cancelled.
    pub async fn run(&self, cancel: &CancellationToken) -> Result<(), IndexError> {
        self.backfill_to_window(cancel).await?;
        self.follow(cancel).await
    }

    /// The parallel part of [`run`](Self::run): from the resume point to the
    /// safe head minus the window. Returns what it did.
    pub async fn backfill_to_window(
        &self,
        cancel: &CancellationToken,
    ) -> Result<BackfillStats, IndexError> {
        let start = self.resume_point().await?;
        let (_, safe) = self.safe_head(cancel).await?;
        let end = safe.saturating_sub(self.settings.window as u64);
        if start <= end && safe >= self.settings.window as u64 {
            return self.backfill(start, end, cancel).await;
        }
        Ok(BackfillStats::default())
    }

    /// The reorg window as the store last committed it.
    async fn stored_window(&self) -> Result<BlockWindow, IndexError> {
        let stored = self
            .sink
            .window(self.settings.chain_id, self.settings.window)
            .await
            .map_err(Self::sink_err)?;
        Ok(BlockWindow::restore(self.settings.window, stored))
    }

    /// Follow until at the safe head (one pass, for tests and one-shot runs),
    /// then mark what is now finalized.
    pub async fn follow_to_head(&self, cancel: &CancellationToken) -> Result<(), IndexError> {
        let mut window = self.stored_window().await?;
        while self.follow_step(&mut window, cancel).await? {}
        self.mark_final(cancel).await?;
        Ok(())
    }

    /// Mark every committed payment at or below the chain's finalized block
    /// final. Returns the block marked up to, if any.
    pub async fn mark_final(&self, cancel: &CancellationToken) -> Result<Option<u64>, IndexError> {
        let Some(finalized) = self.rpc.finalized(cancel).await? else {
            return Ok(None);
        };
        let chain_id = self.settings.chain_id;
        let Some(cp) = self
            .sink
            .checkpoint(chain_id)
            .await
            .map_err(Self::sink_err)?
        else {
            return Ok(None);
        };
        let up_to = finalized.min(cp.block);
        let changed = self
            .sink
            .mark_final(chain_id, up_to)
            .await
            .map_err(Self::sink_err)?;
        tracing::debug!(chain_id, up_to, changed, "marked final");
        Ok(Some(up_to))
    }

    /// Follow the head one block at a time behind the confirmation depth,
    /// checking hashes and rolling back on reorgs, until `cancel` fires.
    pub async fn follow(&self, cancel: &CancellationToken) -> Result<(), IndexError> {
        let mut window = self.stored_window().await?;
        // Marking final is a write per call (a re-insert on ClickHouse): do it
        // when idle, at most once per `FINAL_EVERY` new blocks.
        let mut marked_at: Option<u64> = None;
        loop {
            if cancel.is_cancelled() {
                return Ok(());
            }
            match self.follow_step(&mut window, cancel).await {
                Ok(true) => {}
                Ok(false) => {
                    let tip = window.tip().map_or(0, |t| t.number);
                    if marked_at.is_none_or(|m| tip >= m + FINAL_EVERY) {
                        match self.mark_final(cancel).await {
                            Ok(_) => marked_at = Some(tip),
                            Err(IndexError::Rpc(RpcError::Cancelled)) => return Ok(()),
                            Err(e) => return Err(e),
                        }
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(self.settings.poll_interval) => {}
                    }
                }
                Err(IndexError::Rpc(RpcError::Cancelled)) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Index the next block if there is one; `Ok(false)` when at the safe head.
    pub async fn follow_step(
        &self,
        window: &mut BlockWindow,
        cancel: &CancellationToken,
    ) -> Result<bool, IndexError> {
        let chain_id = self.settings.chain_id;
        let next = match window.tip() {
            Some(tip) => tip.number + 1,
            None => {
                // No window yet: seed it from the checkpoint, verified against the chain.
                match self
                    .sink
                    .checkpoint(chain_id)
                    .await
                    .map_err(Self::sink_err)?
                {
                    Some(cp) => {
                        let header = self.rpc.header(cp.block, cancel).await?;
                        if header.block.hash != cp.hash {
                            return Err(IndexError::ReorgTooDeep {
                                chain_id,
                                window: self.settings.window,
                                window_start: cp.block,
                            });
                        }
                        window.push(header.block).ok();
                        cp.block + 1
                    }
                    None => self.settings.start_block,
                }
            }
        };
        let (head, safe) = self.safe_head(cancel).await?;
        if next > safe {
            // Nothing new; but a reorg may have replaced our tip with a chain of the
            // same height, which only a hash check shows.
            if let Some(tip) = window.tip().copied()
                && tip.number <= head
                && self.rpc.header(tip.number, cancel).await?.block.hash != tip.hash
            {
                self.handle_reorg(window, cancel).await?;
                return Ok(true);
            }
            self.report(Progress::Idle { head, safe });
            return Ok(false);
        }
        let header = self.rpc.header(next, cancel).await?;
        match window.check(&header.block) {
            Check::Extends => {
                let logs = self.logs_at_checked(&header, cancel).await?;
                let payments = self.payments_from(&logs, cancel).await?;
                let found = payments.len();
                let checkpoint = Checkpoint {
                    block: next,
                    hash: header.block.hash,
                };
                self.sink
                    .commit(chain_id, payments, vec![header.block], checkpoint)
                    .await
                    .map_err(Self::sink_err)?;
                window.push(header.block).ok();
                self.report(Progress::Committed {
                    from: next,
                    to: next,
                    settlements: found,
                });
                Ok(true)
            }
            Check::Known | Check::BelowWindow => Ok(true),
            Check::Gap { .. } | Check::Reorg => {
                self.handle_reorg(window, cancel).await?;
                Ok(true)
            }
        }
    }

    /// Find where the chains meet, roll the store back above it, and trim the window.
    async fn handle_reorg(
        &self,
        window: &mut BlockWindow,
        cancel: &CancellationToken,
    ) -> Result<(), IndexError> {
        let chain_id = self.settings.chain_id;
        let tip = window.tip().map_or(0, |t| t.number);
        let mut fork: Option<BlockRef> = None;
        let ours: Vec<BlockRef> = window.iter().rev().copied().collect();
        for block in ours {
            let canonical = self.rpc.header(block.number, cancel).await?;
            if canonical.block.hash == block.hash {
                fork = Some(block);
                break;
            }
        }
        let Some(fork) = fork else {
            return Err(IndexError::ReorgTooDeep {
                chain_id,
                window: self.settings.window,
                window_start: window.iter().next().map_or(0, |b| b.number),
            });
        };
        self.sink
            .rollback_above(chain_id, fork.number, fork.hash)
            .await
            .map_err(Self::sink_err)?;
        window.truncate_above(fork.number);
        tracing::warn!(
            chain_id,
            fork = fork.number,
            depth = tip - fork.number,
            "reorg: rolled back"
        );
        self.report(Progress::Reorg {
            fork: fork.number,
            depth: tip - fork.number,
        });
        Ok(())
    }

    /// Logs of one block by hash; an empty answer for a block whose bloom and
    /// receipts say it holds our events is a lie to ask again about, not an
    /// empty block.
    async fn logs_at_checked(
        &self,
        header: &Header,
        cancel: &CancellationToken,
    ) -> Result<Vec<ChainLog>, IndexError> {
        let mut attempt = 0;
        loop {
            let logs = self
                .rpc
                .logs_at(&self.settings.tokens, &header.block, cancel)
                .await?;
            if !self.contradicts_bloom(header, &logs, cancel).await? {
                return Ok(logs);
            }
            attempt += 1;
            self.missing_logs_pause(header.block.number, attempt, cancel)
                .await?;
        }
    }
}
