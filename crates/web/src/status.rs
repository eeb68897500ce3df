//! What each part of a running x402scope is doing: shared between the parts
//! (which report) and the web server (which shows it in the banner, /healthz and
//! /metrics).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use utoipa::ToSchema;

/// The state of one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartState {
    /// Started; no answer from its source yet.
    Starting,
    /// Working.
    Running,
    /// Its source failed; it retries with backoff.
    Unreachable,
    /// Stopped after an error it cannot retry, or on shutdown.
    Stopped,
    /// Turned off in the configuration.
    Disabled,
}

/// One part's status, as shown by /healthz.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PartStatus {
    /// `web`, `evm:base`, …
    pub name: String,
    /// `web`, `evm-indexer`, …
    pub kind: String,
    pub state: PartState,
    /// The network it reads (CAIP-2), if it is a source.
    pub network: Option<String>,
    /// The last block (or slot) committed to the store.
    pub last_block: Option<u64>,
    /// The source's head, as last seen.
    pub head: Option<u64>,
    /// head - last_block, when both are known.
    pub lag: Option<u64>,
    /// The last error, kept until the next success.
    pub last_error: Option<String>,
    /// Unix seconds of the last success.
    pub last_ok_at: Option<i64>,
    /// Seconds until the next retry, while unreachable.
    pub retry_in_secs: Option<u64>,
    /// Rows written to the store since start.
    pub rows_written: u64,
    /// Source (RPC) errors since start.
    pub errors: u64,
}

impl PartStatus {
    pub fn new(name: &str, kind: &str, network: Option<String>) -> Self {
        PartStatus {
            name: name.to_owned(),
            kind: kind.to_owned(),
            state: PartState::Starting,
            network,
            last_block: None,
            head: None,
            lag: None,
            last_error: None,
            last_ok_at: None,
            retry_in_secs: None,
            rows_written: 0,
            errors: 0,
        }
    }

    /// Whether the banner should show this part.
    pub fn is_degraded(&self) -> bool {
        matches!(self.state, PartState::Unreachable | PartState::Stopped)
            && self.last_error.is_some()
    }
}

/// The board every part reports to; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    parts: Arc<RwLock<BTreeMap<String, PartStatus>>>,
    metrics: Arc<RwLock<Vec<crate::metrics::ExternalFamily>>>,
}

impl StatusBoard {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) a part.
    pub fn register(&self, status: PartStatus) {
        let name = status.name.clone();
        if let Ok(mut parts) = self.parts.write() {
            parts.insert(name.clone(), status);
        }
        self.update(&name, |_| {});
    }

    /// Change a registered part; unknown names are ignored.
    pub fn update(&self, name: &str, f: impl FnOnce(&mut PartStatus)) {
        if let Ok(mut parts) = self.parts.write()
            && let Some(p) = parts.get_mut(name)
        {
            f(p);
            p.lag = match (p.head, p.last_block) {
                (Some(h), Some(b)) => Some(h.saturating_sub(b)),
                _ => None,
            };
        }
    }

    /// Every part, by name.
    pub fn snapshot(&self) -> Vec<PartStatus> {
        self.parts
            .read()
            .map(|p| p.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Add a metric family that a part keeps itself (e.g. the webhook
    /// receiver's delivery counts): `/metrics` reads it at every scrape.
    pub fn add_metrics(&self, family: crate::metrics::ExternalFamily) {
        if let Ok(mut m) = self.metrics.write() {
            m.retain(|f| f.name != family.name);
            m.push(family);
        }
    }

    /// The families added with [`StatusBoard::add_metrics`].
    pub fn external_metrics(&self) -> Vec<crate::metrics::ExternalFamily> {
        self.metrics.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// Parts the banner shows.
    pub fn degraded(&self) -> Vec<PartStatus> {
        self.snapshot()
            .into_iter()
            .filter(PartStatus::is_degraded)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_follows_head_and_last_block() {
        let board = StatusBoard::new();
        board.register(PartStatus::new("evm:base", "evm-indexer", None));
        board.update("evm:base", |p| {
            p.head = Some(100);
            p.last_block = Some(90);
        });
        assert_eq!(board.snapshot()[0].lag, Some(10));
        board.update("evm:base", |p| p.last_block = Some(101));
        assert_eq!(board.snapshot()[0].lag, Some(0));
        board.update("nope", |p| p.head = Some(1));
        assert_eq!(board.snapshot().len(), 1);
    }

    #[test]
    fn only_failing_parts_with_an_error_are_degraded() {
        let board = StatusBoard::new();
        board.register(PartStatus::new("a", "k", None));
        board.update("a", |p| p.state = PartState::Unreachable);
        assert!(board.degraded().is_empty());
        board.update("a", |p| p.last_error = Some("connection refused".into()));
        assert_eq!(board.degraded().len(), 1);
    }
}
