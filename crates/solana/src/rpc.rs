//! The Solana RPC calls the indexer makes, through the non-blocking
//! `solana-client`, rate limited (`governor`) and retried with backoff.
//!
//! Every answer is decoded into this crate's own types, so a reply of the
//! wrong shape (a lying or broken node) is a typed [`RpcError::Invalid`], and
//! an unreachable node is [`RpcError::Unreachable`] after the retries.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use solana_client::client_error::{ClientError, ClientErrorKind};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_request::{RpcError as ClientRpcError, RpcRequest};
use solana_commitment_config::CommitmentConfig;
use tokio_util::sync::CancellationToken;

use crate::cursor::{SigInfo, SigStatus};
use crate::tx::TxResponse;

/// Why an RPC call failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("the Solana RPC {url} is unreachable or failing after {attempts} attempts: {detail}")]
    Unreachable {
        url: String,
        attempts: u32,
        detail: String,
    },
    #[error("the Solana RPC {url} answered {method} with something that is not valid: {detail}")]
    Invalid {
        url: String,
        method: &'static str,
        detail: String,
    },
    #[error("the Solana RPC {url} refused {method}: {detail}")]
    Refused {
        url: String,
        method: &'static str,
        detail: String,
    },
    #[error("the Solana RPC {url} does not have transaction {signature} it listed")]
    MissingTransaction { url: String, signature: String },
    #[error("cancelled")]
    Cancelled,
}

/// How to reach the node.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    pub url: String,
    /// Requests per second (at least 1).
    pub requests_per_second: u32,
    /// Attempts per call, transient failures only (at least 1).
    pub max_attempts: u32,
    pub timeout: Duration,
    /// First backoff; doubled per attempt, up to 10 s.
    pub backoff: Duration,
}

impl RpcConfig {
    pub fn new(url: impl Into<String>) -> Self {
        RpcConfig {
            url: url.into(),
            requests_per_second: 8,
            max_attempts: 6,
            timeout: Duration::from_secs(30),
            backoff: Duration::from_millis(250),
        }
    }
}

/// A rate-limited, retrying Solana RPC client; cheap to clone.
#[derive(Clone)]
pub struct SolanaRpc {
    client: Arc<RpcClient>,
    limiter: Arc<DefaultDirectRateLimiter>,
    config: RpcConfig,
    cancel: CancellationToken,
}

impl std::fmt::Debug for SolanaRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolanaRpc")
            .field("url", &redact(&self.config.url))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigEntry {
    signature: String,
    slot: u64,
    #[serde(default)]
    err: Option<Value>,
    #[serde(default)]
    confirmation_status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WithContext<T> {
    value: T,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusEntry {
    #[serde(default)]
    err: Option<Value>,
    #[serde(default)]
    confirmation_status: Option<String>,
}

fn method_name(r: RpcRequest) -> &'static str {
    match r {
        RpcRequest::GetSignaturesForAddress => "getSignaturesForAddress",
        RpcRequest::GetTransaction => "getTransaction",
        RpcRequest::GetSignatureStatuses => "getSignatureStatuses",
        RpcRequest::GetSlot => "getSlot",
        RpcRequest::GetGenesisHash => "getGenesisHash",
        _ => "an RPC method",
    }
}

/// Whether a failure may pass if the call is made again.
fn is_transient(e: &ClientError) -> bool {
    match e.kind() {
        ClientErrorKind::Io(_) | ClientErrorKind::Reqwest(_) | ClientErrorKind::Middleware(_) => {
            true
        }
        ClientErrorKind::RpcError(ClientRpcError::RpcRequestError(_)) => true,
        // The server-error range: node behind, block not yet available, slot skipped…
        ClientErrorKind::RpcError(ClientRpcError::RpcResponseError { code, .. }) => {
            (-32099..=-32000).contains(code)
        }
        _ => false,
    }
}

fn is_shape_error(e: &ClientError) -> bool {
    matches!(
        e.kind(),
        ClientErrorKind::SerdeJson(_) | ClientErrorKind::RpcError(ClientRpcError::ParseError(_))
    )
}

/// `scheme://host[:port]`, with `/***` and `?***` when a path or query was cut.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let tail = &rest[end..];
    let mut out = if scheme.is_empty() {
        host.to_owned()
    } else {
        format!("{scheme}://{host}")
    };
    if !tail.trim_start_matches('/').is_empty() {
        let path = tail.split(['?', '#']).next().unwrap_or("");
        if !path.trim_start_matches('/').is_empty() {
            out.push_str("/***");
        }
        if tail.contains('?') {
            out.push_str("?***");
        }
    }
    out
}

fn is_finalized(status: Option<&str>) -> bool {
    status == Some("finalized")
}

impl SolanaRpc {
    pub fn new(config: RpcConfig, cancel: CancellationToken) -> Self {
        let client = RpcClient::new_with_timeout_and_commitment(
            config.url.clone(),
            config.timeout,
            CommitmentConfig::confirmed(),
        );
        let rps = NonZeroU32::new(config.requests_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        SolanaRpc {
            client: Arc::new(client),
            limiter: Arc::new(RateLimiter::direct(Quota::per_second(rps))),
            config,
            cancel,
        }
    }

    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// The URL as errors show it: scheme and host only, since providers put API
    /// keys in the path, the query or the user info.
    fn shown_url(&self) -> String {
        redact(&self.config.url)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: RpcRequest,
        params: Value,
    ) -> Result<T, RpcError> {
        let attempts = self.config.max_attempts.max(1);
        let mut delay = self.config.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            tokio::select! {
                () = self.cancel.cancelled() => return Err(RpcError::Cancelled),
                () = self.limiter.until_ready() => {}
            }
            let result = tokio::select! {
                () = self.cancel.cancelled() => return Err(RpcError::Cancelled),
                r = self.client.send::<T>(request, params.clone()) => r,
            };
            let e = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let method = method_name(request);
            if is_shape_error(&e) {
                return Err(RpcError::Invalid {
                    url: self.shown_url(),
                    method,
                    detail: e.to_string(),
                });
            }
            if !is_transient(&e) {
                return Err(RpcError::Refused {
                    url: self.shown_url(),
                    method,
                    detail: e.to_string(),
                });
            }
            if attempt >= attempts {
                return Err(RpcError::Unreachable {
                    url: self.shown_url(),
                    attempts,
                    detail: e.to_string(),
                });
            }
            tracing::debug!(method, attempt, error = %e, "Solana RPC call failed; retrying");
            let jitter = Duration::from_millis(rand::random_range(
                0..=delay.as_millis().min(1000) as u64 / 4,
            ));
            tokio::select! {
                () = self.cancel.cancelled() => return Err(RpcError::Cancelled),
                () = tokio::time::sleep(delay + jitter) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    /// The CAIP-2 reference of the node's cluster: its genesis hash, cut to 32 characters.
    pub async fn genesis_reference(&self) -> Result<String, RpcError> {
        let hash: String = self.call(RpcRequest::GetGenesisHash, json!([])).await?;
        Ok(hash.chars().take(32).collect())
    }

    /// The newest finalized slot.
    pub async fn finalized_slot(&self) -> Result<u64, RpcError> {
        self.call(RpcRequest::GetSlot, json!([{"commitment": "finalized"}]))
            .await
    }

    /// Up to `limit` signatures naming `address`, newest first, older than
    /// `before` and newer than `until` (both exclusive), at `confirmed`.
    pub async fn signatures(
        &self,
        address: &str,
        before: Option<&str>,
        until: Option<&str>,
        limit: usize,
    ) -> Result<Vec<SigInfo>, RpcError> {
        let mut config = json!({"commitment": "confirmed", "limit": limit.clamp(1, 1000)});
        if let Some(b) = before {
            config["before"] = json!(b);
        }
        if let Some(u) = until {
            config["until"] = json!(u);
        }
        let entries: Vec<SigEntry> = self
            .call(
                RpcRequest::GetSignaturesForAddress,
                json!([address, config]),
            )
            .await?;
        Ok(entries
            .into_iter()
            .map(|e| SigInfo {
                finalized: is_finalized(e.confirmation_status.as_deref()),
                failed: e.err.is_some_and(|v| !v.is_null()),
                signature: e.signature,
                slot: e.slot,
            })
            .collect())
    }

    /// A transaction at `confirmed`, jsonParsed, any version.
    pub async fn transaction(&self, signature: &str) -> Result<TxResponse, RpcError> {
        let config = json!({
            "encoding": "jsonParsed",
            "commitment": "confirmed",
            "maxSupportedTransactionVersion": 0
        });
        // A listed transaction the node cannot yet give back is retried like a
        // transient failure, then reported.
        let mut delay = self.config.backoff;
        for _ in 0..self.config.max_attempts.max(1) {
            let tx: Option<TxResponse> = self
                .call(RpcRequest::GetTransaction, json!([signature, config]))
                .await?;
            if let Some(tx) = tx {
                return Ok(tx);
            }
            tokio::select! {
                () = self.cancel.cancelled() => return Err(RpcError::Cancelled),
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        Err(RpcError::MissingTransaction {
            url: self.shown_url(),
            signature: signature.to_owned(),
        })
    }

    /// The status of each signature (searching the whole history), in order;
    /// `None` for a signature the node does not know.
    pub async fn statuses(
        &self,
        signatures: &[String],
    ) -> Result<Vec<Option<SigStatus>>, RpcError> {
        let mut out = Vec::with_capacity(signatures.len());
        for chunk in signatures.chunks(256) {
            let answer: WithContext<Vec<Option<StatusEntry>>> = self
                .call(
                    RpcRequest::GetSignatureStatuses,
                    json!([chunk, {"searchTransactionHistory": true}]),
                )
                .await?;
            if answer.value.len() != chunk.len() {
                return Err(RpcError::Invalid {
                    url: self.shown_url(),
                    method: "getSignatureStatuses",
                    detail: format!(
                        "{} statuses for {} signatures",
                        answer.value.len(),
                        chunk.len()
                    ),
                });
            }
            out.extend(answer.value.into_iter().map(|s| {
                s.map(|s| SigStatus {
                    finalized: is_finalized(s.confirmation_status.as_deref()),
                    failed: s.err.is_some_and(|v| !v.is_null()),
                })
            }));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn urls_in_errors_are_redacted() {
        let cases = [
            (
                "https://api.mainnet-beta.solana.com",
                "https://api.mainnet-beta.solana.com",
            ),
            (
                "https://api.mainnet-beta.solana.com/",
                "https://api.mainnet-beta.solana.com",
            ),
            ("http://127.0.0.1:8899", "http://127.0.0.1:8899"),
            ("https://rpc.example/KEY", "https://rpc.example/***"),
            ("https://rpc.example/?api-key=K", "https://rpc.example?***"),
            (
                "https://u:p@rpc.example/v1/K?x=1",
                "https://rpc.example/***?***",
            ),
        ];
        for (url, want) in cases {
            assert_eq!(redact(url), want, "{url}");
        }
    }
}
