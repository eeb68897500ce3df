//! The indexer's [`PaymentSink`] on the x402scope store: EVM payments become
//! store rows keyed (chain, tx hash, log index), with addresses and hashes as
//! lowercase 0x hex.

use alloy_primitives::{Address, B256};
use x402scope_core::Amount;
use x402scope_store::{
    Checkpoint as StoredCheckpoint, Payment, Store, StoreError, UNKNOWN_FACILITATOR, WindowBlock,
};

use crate::reorg::BlockRef;
use crate::types::{Checkpoint, EvmPayment, PaymentSink};

/// Writes EVM payments to a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreSink {
    store: Store,
}

impl StoreSink {
    pub fn new(store: Store) -> Self {
        StoreSink { store }
    }
}

/// The CAIP-2 id of an EVM chain.
pub fn caip2(chain_id: u64) -> String {
    format!("eip155:{chain_id}")
}

fn hex_b256(h: &B256) -> String {
    format!("{h:#x}")
}

fn hex_addr(a: &Address) -> String {
    format!("{a:#x}")
}

fn parse_b256(s: &str, column: &'static str) -> Result<B256, StoreError> {
    s.parse().map_err(|e| StoreError::Corrupt {
        column,
        detail: format!("{s:?}: {e}"),
    })
}

/// The store row of an EVM payment.
pub fn to_row(p: &EvmPayment) -> Result<Payment, StoreError> {
    Ok(Payment {
        chain: caip2(p.chain_id),
        tx_id: hex_b256(&p.tx_hash),
        idx_outer: u32::try_from(p.log_index)
            .map_err(|_| StoreError::Invalid(format!("log index {} is too large", p.log_index)))?,
        idx_inner: 0,
        block_number: p.block_number,
        block_hash: hex_b256(&p.block_hash),
        block_time: i64::try_from(p.block_time).map_err(|_| {
            StoreError::Invalid(format!("block time {} is too large", p.block_time))
        })?,
        asset: hex_addr(&p.asset),
        payer: hex_addr(&p.payer),
        pay_to: hex_addr(&p.pay_to),
        amount: Amount(p.amount),
        nonce: hex_b256(&p.nonce),
        facilitator: p
            .facilitator
            .clone()
            .unwrap_or_else(|| UNKNOWN_FACILITATOR.to_owned()),
        tx_from: hex_addr(&p.tx_from),
        method: "eip3009".into(),
        is_final: p.is_final,
        is_organic: true,
    })
}

fn to_window(chain_id: u64, b: &BlockRef) -> WindowBlock {
    WindowBlock {
        chain: caip2(chain_id),
        number: b.number,
        hash: hex_b256(&b.hash),
        parent_hash: hex_b256(&b.parent_hash),
    }
}

impl PaymentSink for StoreSink {
    type Error = StoreError;

    async fn checkpoint(&self, chain_id: u64) -> Result<Option<Checkpoint>, StoreError> {
        match self.store.checkpoint(&caip2(chain_id)).await? {
            Some(cp) => Ok(Some(Checkpoint {
                block: cp.block,
                hash: parse_b256(&cp.hash, "checkpoints.hash")?,
            })),
            None => Ok(None),
        }
    }

    async fn window(&self, chain_id: u64, limit: usize) -> Result<Vec<BlockRef>, StoreError> {
        self.store
            .window(&caip2(chain_id), limit)
            .await?
            .into_iter()
            .map(|b| {
                Ok(BlockRef {
                    number: b.number,
                    hash: parse_b256(&b.hash, "block_window.hash")?,
                    parent_hash: parse_b256(&b.parent_hash, "block_window.parent_hash")?,
                })
            })
            .collect()
    }

    async fn commit(
        &self,
        chain_id: u64,
        payments: Vec<EvmPayment>,
        blocks: Vec<BlockRef>,
        checkpoint: Checkpoint,
    ) -> Result<(), StoreError> {
        let rows = payments.iter().map(to_row).collect::<Result<Vec<_>, _>>()?;
        let blocks = blocks.iter().map(|b| to_window(chain_id, b)).collect();
        let cp = StoredCheckpoint {
            chain: caip2(chain_id),
            block: checkpoint.block,
            hash: hex_b256(&checkpoint.hash),
        };
        self.store.commit_payments(rows, blocks, Some(cp)).await
    }

    async fn mark_final(&self, chain_id: u64, up_to: u64) -> Result<u64, StoreError> {
        self.store.mark_final(&caip2(chain_id), up_to).await
    }

    async fn rollback_above(
        &self,
        chain_id: u64,
        block: u64,
        hash: B256,
    ) -> Result<(), StoreError> {
        self.store
            .rollback_above(&caip2(chain_id), block, &hex_b256(&hash))
            .await
    }
}
