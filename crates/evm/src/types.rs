//! What the EVM indexer produces, and the narrow interface it writes through.

use alloy_primitives::{Address, B256, U256};

use crate::reorg::BlockRef;

/// One x402 settlement: an `AuthorizationUsed` log paired with its `Transfer`.
/// Natural key: (chain id, tx hash, log index of `AuthorizationUsed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvmPayment {
    pub chain_id: u64,
    pub tx_hash: B256,
    pub log_index: u64,
    pub block_number: u64,
    pub block_hash: B256,
    /// Unix seconds (UTC).
    pub block_time: u64,
    /// The token contract.
    pub asset: Address,
    /// The authorizer (EIP-3009 `from`).
    pub payer: Address,
    pub pay_to: Address,
    pub amount: U256,
    pub nonce: B256,
    /// The transaction sender, which identifies the facilitator.
    pub tx_from: Address,
    /// The facilitator id from the registry, or `None` for an unknown sender
    /// (kept as a registry candidate).
    pub facilitator: Option<String>,
    /// At or below the chain's finalized block when fetched: no reorg can remove it.
    pub is_final: bool,
}

/// Who sent a transaction and what it called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxInfo {
    pub from: Address,
    pub to: Option<Address>,
    /// The first four bytes of the input, if any.
    pub selector: Option<[u8; 4]>,
}

/// The indexer's progress on one chain: every block up to `block` is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub block: u64,
    pub hash: B256,
}

/// Maps a transaction sender to a facilitator id.
pub trait FacilitatorLookup: Send + Sync {
    fn facilitator_for(&self, chain_id: u64, sender: Address) -> Option<String>;
}

impl<F> FacilitatorLookup for F
where
    F: Fn(u64, Address) -> Option<String> + Send + Sync,
{
    fn facilitator_for(&self, chain_id: u64, sender: Address) -> Option<String> {
        self(chain_id, sender)
    }
}

/// Where the indexer writes. Implementations commit each call atomically: the
/// payments, the blocks for the reorg window and the checkpoint together, so
/// the checkpoint never runs ahead of the data.
pub trait PaymentSink: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The last committed checkpoint for `chain_id`, if any.
    fn checkpoint(
        &self,
        chain_id: u64,
    ) -> impl Future<Output = Result<Option<Checkpoint>, Self::Error>> + Send;

    /// The committed block window (newest blocks), for reorg checks after a restart.
    fn window(
        &self,
        chain_id: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<BlockRef>, Self::Error>> + Send;

    /// Commit payments, the blocks they cover (for the window) and the new
    /// checkpoint, atomically. Replaying the same commit changes nothing.
    fn commit(
        &self,
        chain_id: u64,
        payments: Vec<EvmPayment>,
        blocks: Vec<BlockRef>,
        checkpoint: Checkpoint,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Mark every payment up to block `up_to` final; returns how many changed.
    fn mark_final(
        &self,
        chain_id: u64,
        up_to: u64,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// Remove every payment and window block above `block`, and move the
    /// checkpoint back to it.
    fn rollback_above(
        &self,
        chain_id: u64,
        block: u64,
        hash: B256,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
