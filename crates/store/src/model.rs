//! The facts the store keeps and the answers its queries give. Backend-neutral:
//! addresses are normalised strings (EVM: lowercase 0x hex; Solana: base58),
//! networks are CAIP-2, times are Unix seconds (UTC), amounts are exact.

use serde::{Deserialize, Serialize};
use x402scope_core::Amount;

/// One x402 payment found on chain. Natural key: (chain, tx_id, idx_outer, idx_inner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// CAIP-2 network id.
    pub chain: String,
    /// EVM transaction hash (0x, lowercase) or Solana signature (base58).
    pub tx_id: String,
    /// EVM: the `AuthorizationUsed` log index. Solana: the outer instruction index.
    pub idx_outer: u32,
    /// EVM: 0. Solana: 0 for a top-level instruction, k + 1 for inner instruction k.
    pub idx_inner: u32,
    /// Block number (EVM) or slot (Solana).
    pub block_number: u64,
    pub block_hash: String,
    pub block_time: i64,
    pub asset: String,
    pub payer: String,
    pub pay_to: String,
    pub amount: Amount,
    /// EVM: the EIP-3009 nonce (0x hex). Solana: the memo, or empty.
    pub nonce: String,
    /// The facilitator id, or [`UNKNOWN_FACILITATOR`].
    pub facilitator: String,
    /// The transaction sender (EVM) or fee payer (Solana).
    pub tx_from: String,
    /// `eip3009`, `spl_transfer_checked`, `spl_transfer`, …
    pub method: String,
    /// Past finality (Solana `finalized`; EVM beyond the reorg window).
    pub is_final: bool,
    /// Not flagged by the organic filter (self-payment, circular flow, …).
    pub is_organic: bool,
}

/// The facilitator id of a settlement whose sender no registry lists.
pub const UNKNOWN_FACILITATOR: &str = "unknown";

/// An indexer's progress on one chain: everything up to `block` is committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub chain: String,
    pub block: u64,
    pub hash: String,
}

/// A block kept for reorg checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowBlock {
    pub chain: String,
    pub number: u64,
    pub hash: String,
    pub parent_hash: String,
}

/// A facilitator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facilitator {
    pub id: String,
    pub name: String,
    pub url: String,
}

/// An address that submits a facilitator's settlements on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    pub facilitator_id: String,
    pub network: String,
    pub address: String,
    pub first_seen: i64,
    pub last_seen: i64,
    /// Where it was learned: `registry`, `supported`, `manual`.
    pub source: String,
}

/// A payment kind a facilitator's `/supported` listed, with when it was first
/// and last seen. Natural key: (facilitator_id, x402_version, scheme, network).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacilitatorKind {
    pub facilitator_id: String,
    pub x402_version: u16,
    pub scheme: String,
    pub network: String,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// One `accepts` entry of a Bazaar listing, as observed at a time.
/// Natural key: (source, resource, accept_index, snapshot_hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingSnapshot {
    /// The facilitator whose discovery list it came from.
    pub source: String,
    pub resource: String,
    pub accept_index: u32,
    /// A hash of the entry's content: a new hash is a new version.
    pub snapshot_hash: String,
    pub observed_at: i64,
    pub scheme: String,
    pub network: String,
    pub asset: String,
    pub pay_to: String,
    pub amount: Amount,
    /// The whole item as JSON, so nothing is lost.
    pub raw: String,
}

/// A webhook delivery as received, before any verification.
/// Natural key: (source, webhook_id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEnvelope {
    pub source: String,
    pub webhook_id: String,
    pub received_at: i64,
    /// The request headers as a JSON object.
    pub headers: String,
    pub body: Vec<u8>,
    /// `received`, `processed` or `rejected`.
    pub status: String,
    pub error: String,
}

/// A settlement claimed by an off-chain source (a webhook, a paid probe).
/// Natural key: (source, claim_id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub source: String,
    pub claim_id: String,
    pub network: String,
    pub tx_id: String,
    pub payer: String,
    pub pay_to: String,
    pub asset: String,
    pub amount: Amount,
    pub resource_url: String,
    pub facilitator: String,
    pub success: bool,
    pub claimed_at: i64,
    /// A strong reference beyond the transaction: the EVM authorization nonce
    /// (0x hex, lowercase) or the Solana memo. Empty when the source did not say.
    #[serde(default)]
    pub reference: String,
}

/// One probe of one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRun {
    pub id: String,
    pub url: String,
    pub started_at: i64,
    /// 0 when no response arrived.
    pub status_code: u16,
    pub latency_ms: u32,
    pub error: String,
}

/// A compliance finding of a probe run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeFinding {
    pub run_id: String,
    pub rule_id: String,
    /// `must`, `should` or `interop`.
    pub severity: String,
    pub message: String,
    pub evidence: String,
}

/// Which payments a query covers. Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Inclusive lower bound on block time.
    pub from: Option<i64>,
    /// Exclusive upper bound on block time.
    pub to: Option<i64>,
    pub networks: Vec<String>,
    pub facilitator: Option<String>,
    pub asset: Option<String>,
    pub payer: Option<String>,
    pub pay_to: Option<String>,
    /// Only payments the organic filter did not flag.
    pub organic_only: bool,
}

/// Totals for a filter. Distinct counts are exact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub count: u64,
    pub volume: Amount,
    pub buyers: u64,
    pub sellers: u64,
}

/// One time bucket of a series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// The bucket's start, Unix seconds, a multiple of the bucket size.
    pub start: i64,
    pub count: u64,
    pub volume: Amount,
    pub buyers: u64,
    pub sellers: u64,
}

/// What a top list ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TopKind {
    /// pay_to addresses; counterparties = distinct buyers.
    Sellers,
    /// payers; counterparties = distinct sellers.
    Buyers,
    /// facilitator ids; counterparties = distinct buyers.
    Facilitators,
}

/// One entry of a top list; ordered by volume, then count, then key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopEntry {
    pub key: String,
    pub count: u64,
    pub volume: Amount,
    pub counterparties: u64,
}

/// Resources ranked by the claims that name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceEntry {
    pub resource_url: String,
    pub count: u64,
    pub volume: Amount,
}

/// Where a transaction list page ends: the last row's sort key. Lists are
/// ordered newest first by (block_time, chain, tx_id, idx_outer, idx_inner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxCursor {
    pub block_time: i64,
    pub chain: String,
    pub tx_id: String,
    pub idx_outer: u32,
    pub idx_inner: u32,
}

impl TxCursor {
    pub fn after(p: &Payment) -> Self {
        TxCursor {
            block_time: p.block_time,
            chain: p.chain.clone(),
            tx_id: p.tx_id.clone(),
            idx_outer: p.idx_outer,
            idx_inner: p.idx_inner,
        }
    }

    /// An opaque text form for URLs: `time.chain.tx.outer.inner`.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}.{}.{}",
            self.block_time, self.chain, self.tx_id, self.idx_outer, self.idx_inner
        )
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut parts = s.split('.');
        let block_time = parts.next()?.parse().ok()?;
        let chain = parts.next()?.to_owned();
        let tx_id = parts.next()?.to_owned();
        let idx_outer = parts.next()?.parse().ok()?;
        let idx_inner = parts.next()?.parse().ok()?;
        if parts.next().is_some() || chain.is_empty() || tx_id.is_empty() {
            return None;
        }
        Some(TxCursor {
            block_time,
            chain,
            tx_id,
            idx_outer,
            idx_inner,
        })
    }
}

/// A page of a transaction list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxPage {
    pub items: Vec<Payment>,
    /// Present when more rows follow.
    pub next: Option<TxCursor>,
}

/// One side of an address's activity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    pub count: u64,
    pub volume: Amount,
    pub counterparties: u64,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
}

/// An address's activity as a buyer and as a seller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressSummary {
    pub address: String,
    pub as_buyer: Side,
    pub as_seller: Side,
    /// Facilitators that settled its payments, sorted.
    pub facilitators: Vec<String>,
}
