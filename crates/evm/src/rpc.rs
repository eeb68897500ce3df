//! The RPC client the indexer uses: fallback URLs, a rate limit, retries with
//! backoff, and checks of every answer before it is trusted.
//!
//! Failures are classified into data by [`crate::range::classify`]; a "range too
//! large" answer is returned to the caller (who shrinks the range), everything
//! else that may pass is retried here, rotating to the next URL.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy::consensus::BlockHeader;
use alloy::consensus::Transaction as _;
use alloy::network::TransactionResponse;
use alloy::primitives::{Address, B256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{BlockId, BlockNumberOrTag, Filter};
use alloy::transports::{RpcError as AlloyRpcError, TransportErrorKind};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::pairing::{AUTHORIZATION_USED, LogRecord, TRANSFER};
use crate::range::{RpcFailure, classify, retry_after_in_message};
use crate::reorg::BlockRef;
use crate::scan::ChainLog;
use crate::types::TxInfo;

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// Tried in order; a failure moves to the next.
    pub urls: Vec<Url>,
    /// Requests per second across all URLs.
    pub requests_per_second: u32,
    /// Attempts per request before giving up.
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, with jitter, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

impl RpcConfig {
    pub fn new(urls: Vec<Url>) -> Self {
        RpcConfig {
            urls,
            requests_per_second: 50,
            max_attempts: 8,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Why an RPC request failed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("no RPC URL configured")]
    NoUrls,
    #[error("shut down")]
    Cancelled,
    #[error("{method}: the provider says the range is too large ({failure:?})")]
    RangeTooLarge {
        method: &'static str,
        failure: RpcFailure,
    },
    #[error("{method}: gave up after {attempts} attempts; last error: {last}")]
    Exhausted {
        method: &'static str,
        attempts: u32,
        last: String,
    },
    #[error("{method}: the answer does not hold together: {reason}")]
    Invalid {
        method: &'static str,
        reason: String,
    },
}

/// A block header's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub block: BlockRef,
    pub timestamp: u64,
    pub logs_bloom: alloy::primitives::Bloom,
}

/// The indexer's RPC client.
#[derive(Debug)]
pub struct EvmRpc {
    providers: Vec<RootProvider>,
    limiter: DefaultDirectRateLimiter,
    config: RpcConfig,
    current: AtomicUsize,
}

enum Attempt<T> {
    Done(T),
    Failed(RpcFailure, String, Option<Duration>),
}

/// The longest server-requested wait (`Retry-After`) honoured; longer hints are
/// clamped so that a misbehaving server cannot stall the indexer.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

impl EvmRpc {
    pub fn new(config: RpcConfig) -> Result<Self, RpcError> {
        if config.urls.is_empty() {
            return Err(RpcError::NoUrls);
        }
        let providers = config
            .urls
            .iter()
            .map(|u| RootProvider::new_http(u.clone()))
            .collect();
        let rps = NonZeroU32::new(config.requests_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        Ok(EvmRpc {
            providers,
            limiter: RateLimiter::direct(Quota::per_second(rps)),
            config,
            current: AtomicUsize::new(0),
        })
    }

    /// Run `op` with rate limiting, retries and URL rotation.
    async fn call<T, F, Fut>(
        &self,
        method: &'static str,
        cancel: &CancellationToken,
        op: F,
    ) -> Result<T, RpcError>
    where
        F: Fn(RootProvider) -> Fut,
        Fut: Future<Output = Result<T, AlloyRpcError<TransportErrorKind>>>,
    {
        let mut last = String::new();
        for attempt in 0..self.config.max_attempts.max(1) {
            if cancel.is_cancelled() {
                return Err(RpcError::Cancelled);
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err(RpcError::Cancelled),
                _ = self.limiter.until_ready() => {}
            }
            let index = self.current.load(Ordering::Relaxed) % self.providers.len();
            let provider = self.providers[index].clone();
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return Err(RpcError::Cancelled),
                r = tokio::time::timeout(self.config.request_timeout, op(provider)) => match r {
                    Err(_) => Attempt::Failed(RpcFailure::Timeout, "request timed out".into(), None),
                    Ok(Ok(v)) => Attempt::Done(v),
                    Ok(Err(e)) => {
                        let (status, code, message) = describe(&e);
                        let hint = retry_hint(&e);
                        Attempt::Failed(classify(status, code, &message), message, hint)
                    }
                },
            };
            let (failure, hint) = match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Failed(f, message, hint) => {
                    last = message;
                    (f, hint)
                }
            };
            if let RpcFailure::RangeTooLarge { .. } = failure {
                return Err(RpcError::RangeTooLarge { method, failure });
            }
            // Rotate to the next URL, and back off.
            self.current.store(index + 1, Ordering::Relaxed);
            let delay = match hint {
                // The server said when to come back: wait that long (clamped).
                Some(after) => after.min(MAX_RETRY_AFTER),
                None => self.backoff(attempt, failure),
            };
            tracing::debug!(method, attempt, ?failure, ?delay, error = %last, "RPC request failed; retrying");
            tokio::select! {
                _ = cancel.cancelled() => return Err(RpcError::Cancelled),
                _ = tokio::time::sleep(delay) => {}
            }
        }
        Err(RpcError::Exhausted {
            method,
            attempts: self.config.max_attempts.max(1),
            last,
        })
    }

    fn backoff(&self, attempt: u32, failure: RpcFailure) -> Duration {
        let base = self.config.base_backoff.as_millis() as u64;
        let factor = if failure == RpcFailure::RateLimited {
            4
        } else {
            1
        };
        let exp = base
            .saturating_mul(factor)
            .saturating_mul(1u64 << attempt.min(16));
        let capped = exp.min(self.config.max_backoff.as_millis() as u64);
        let jitter = rand::random_range(0..=capped / 4 + 1);
        Duration::from_millis(capped / 2 + jitter)
    }

    /// The latest block number.
    pub async fn head(&self, cancel: &CancellationToken) -> Result<u64, RpcError> {
        self.call("eth_blockNumber", cancel, |p| async move {
            p.get_block_number().await
        })
        .await
    }

    /// The chain's finalized block, or `None` when the node has none (or does
    /// not know the tag).
    pub async fn finalized(&self, cancel: &CancellationToken) -> Result<Option<u64>, RpcError> {
        match self
            .call("eth_getBlockByNumber(finalized)", cancel, |p| async move {
                p.get_block_by_number(BlockNumberOrTag::Finalized).await
            })
            .await
        {
            Ok(block) => Ok(block.map(|b| b.header.number())),
            Err(RpcError::Exhausted { last, .. }) => {
                tracing::warn!(error = %last, "the RPC gives no finalized block; rows stay non-final");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The header of block `number`; checked to be that block.
    pub async fn header(
        &self,
        number: u64,
        cancel: &CancellationToken,
    ) -> Result<Header, RpcError> {
        // A block the node does not have yet (a lagging node behind a load
        // balancer) is retried like any passing failure.
        let block = self
            .call("eth_getBlockByNumber", cancel, |p| async move {
                p.get_block_by_number(BlockNumberOrTag::Number(number))
                    .await?
                    .ok_or(AlloyRpcError::NullResp)
            })
            .await?;
        let h = &block.header;
        if h.number() != number {
            return Err(RpcError::Invalid {
                method: "eth_getBlockByNumber",
                reason: format!("asked for block {number}, got {}", h.number()),
            });
        }
        Ok(Header {
            block: BlockRef {
                number,
                hash: h.hash,
                parent_hash: h.parent_hash(),
            },
            timestamp: h.timestamp(),
            logs_bloom: h.logs_bloom(),
        })
    }

    /// `AuthorizationUsed` and `Transfer` logs of `tokens` in `[from, to]`,
    /// checked: inside the range, not removed, fully positioned.
    pub async fn logs(
        &self,
        tokens: &[Address],
        from: u64,
        to: u64,
        cancel: &CancellationToken,
    ) -> Result<Vec<ChainLog>, RpcError> {
        let filter = Filter::new()
            .address(tokens.to_vec())
            .event_signature(vec![AUTHORIZATION_USED, TRANSFER])
            .from_block(from)
            .to_block(to);
        let logs = self
            .call("eth_getLogs", cancel, |p| {
                let filter = filter.clone();
                async move { p.get_logs(&filter).await }
            })
            .await?;
        check_logs(logs, tokens, |n, _| n >= from && n <= to, "eth_getLogs")
    }

    /// The same logs for one block, by its hash (safe at the head: a reorged
    /// block's hash gives an error, not another block's logs).
    pub async fn logs_at(
        &self,
        tokens: &[Address],
        block: &BlockRef,
        cancel: &CancellationToken,
    ) -> Result<Vec<ChainLog>, RpcError> {
        let filter = Filter::new()
            .address(tokens.to_vec())
            .event_signature(vec![AUTHORIZATION_USED, TRANSFER])
            .at_block_hash(block.hash);
        let logs = self
            .call("eth_getLogs(blockHash)", cancel, |p| {
                let filter = filter.clone();
                async move { p.get_logs(&filter).await }
            })
            .await?;
        let (number, hash) = (block.number, block.hash);
        check_logs(
            logs,
            tokens,
            |n, h| n == number && h == hash,
            "eth_getLogs(blockHash)",
        )
    }

    /// The same logs for one block, read from its receipts instead of
    /// `eth_getLogs`: the check of last resort when a log answer contradicts the
    /// block's bloom.
    pub async fn receipt_logs(
        &self,
        tokens: &[Address],
        block: &BlockRef,
        cancel: &CancellationToken,
    ) -> Result<Vec<ChainLog>, RpcError> {
        let (number, hash) = (block.number, block.hash);
        let receipts = self
            .call("eth_getBlockReceipts", cancel, |p| async move {
                p.get_block_receipts(BlockId::hash(hash))
                    .await?
                    .ok_or(AlloyRpcError::NullResp)
            })
            .await?;
        let logs = receipts
            .iter()
            .flat_map(|r| r.logs().iter().cloned())
            .filter(|l| {
                tokens.contains(&l.address())
                    && matches!(l.topic0(), Some(t) if *t == AUTHORIZATION_USED || *t == TRANSFER)
            })
            .collect();
        check_logs(
            logs,
            tokens,
            |n, h| n == number && h == hash,
            "eth_getBlockReceipts",
        )
    }

    /// The sender and call of a transaction.
    pub async fn tx(&self, hash: B256, cancel: &CancellationToken) -> Result<TxInfo, RpcError> {
        let tx = self
            .call("eth_getTransactionByHash", cancel, |p| async move {
                p.get_transaction_by_hash(hash)
                    .await?
                    .ok_or(AlloyRpcError::NullResp)
            })
            .await?;
        if tx.tx_hash() != hash {
            return Err(RpcError::Invalid {
                method: "eth_getTransactionByHash",
                reason: format!("asked for {hash}, got {}", tx.tx_hash()),
            });
        }
        let input = tx.input();
        Ok(TxInfo {
            from: tx.from(),
            to: tx.to(),
            selector: input.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()),
        })
    }
}

fn check_logs(
    logs: Vec<alloy::rpc::types::Log>,
    tokens: &[Address],
    in_scope: impl Fn(u64, B256) -> bool,
    method: &'static str,
) -> Result<Vec<ChainLog>, RpcError> {
    let invalid = |reason: String| RpcError::Invalid { method, reason };
    let mut out = Vec::with_capacity(logs.len());
    for log in logs {
        if log.removed {
            return Err(invalid("a removed log in a finalized-range answer".into()));
        }
        let (Some(n), Some(h), Some(tx), Some(i)) = (
            log.block_number,
            log.block_hash,
            log.transaction_hash,
            log.log_index,
        ) else {
            return Err(invalid("a log without block, transaction or index".into()));
        };
        if !in_scope(n, h) {
            return Err(invalid(format!(
                "a log from block {n} ({h}) outside the request"
            )));
        }
        if !tokens.contains(&log.address()) {
            return Err(invalid(format!(
                "a log from {} which was not asked for",
                log.address()
            )));
        }
        out.push(ChainLog {
            block_number: n,
            block_hash: h,
            tx_hash: tx,
            log: LogRecord {
                address: log.address(),
                log_index: i,
                topics: log.topics().to_vec(),
                data: log.data().data.to_vec(),
            },
        });
    }
    Ok(out)
}

/// (HTTP status, JSON-RPC code, message) of a transport error.
fn describe(e: &AlloyRpcError<TransportErrorKind>) -> (Option<u16>, Option<i64>, String) {
    match e {
        AlloyRpcError::ErrorResp(payload) => {
            (None, Some(payload.code), payload.message.to_string())
        }
        AlloyRpcError::Transport(
            TransportErrorKind::HttpError(h)
            | TransportErrorKind::HttpErrorWithRetryAfter { error: h, .. },
        ) => (
            Some(h.status),
            None,
            format!("HTTP {}: {}", h.status, truncate(&h.body)),
        ),
        AlloyRpcError::NullResp => (None, None, "not found (yet): a null answer".into()),
        other => (None, None, other.to_string()),
    }
}

/// How long the server asked us to wait: an HTTP `Retry-After` header, or a
/// JSON-RPC error message that names a delay.
fn retry_hint(e: &AlloyRpcError<TransportErrorKind>) -> Option<Duration> {
    match e {
        AlloyRpcError::Transport(TransportErrorKind::HttpErrorWithRetryAfter {
            retry_after,
            ..
        }) => Some(*retry_after),
        AlloyRpcError::ErrorResp(payload) => retry_after_in_message(&payload.message),
        _ => None,
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}
