//! The Solana indexer's tables on ClickHouse (see `solana.rs` for the contract).
//! Cursors are `ReplacingMergeTree(version)` rows read with `FINAL`. Marking
//! rows final writes them again with a newer version (no mutation); removing a
//! dropped transaction is a mutation, awaited before returning.

use std::time::Duration;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::ch::{ClickHouseStore, next_version, time_u32};
use crate::solana::{PendingTx, SolanaCursor};

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct CursorRow {
    chain: String,
    address: String,
    until_sig: String,
    before_sig: String,
    next_until: String,
    updated_at: u32,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct PendingRow {
    tx_id: String,
    slot: u64,
}

impl ClickHouseStore {
    pub async fn solana_cursor(
        &self,
        chain: &str,
        address: &str,
    ) -> Result<Option<SolanaCursor>, StoreError> {
        let rows: Vec<CursorRow> = self
            .client
            .query(
                "SELECT chain, address, until_sig, before_sig, next_until, toUInt32(updated_at), version
                 FROM solana_cursors FINAL WHERE chain = ? AND address = ?",
            )
            .bind(chain)
            .bind(address)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .max_by_key(|r| r.version)
            .map(|r| SolanaCursor {
                chain: r.chain,
                address: r.address,
                until: r.until_sig,
                before: r.before_sig,
                next_until: r.next_until,
                updated_at: i64::from(r.updated_at),
            }))
    }

    pub async fn solana_put_cursor(&self, c: SolanaCursor) -> Result<(), StoreError> {
        let row = CursorRow {
            updated_at: time_u32(c.updated_at, "updated_at")?,
            chain: c.chain,
            address: c.address,
            until_sig: c.until,
            before_sig: c.before,
            next_until: c.next_until,
            version: next_version(),
        };
        self.insert_all("solana_cursors", &[row]).await
    }

    pub async fn solana_pending(&self, chain: &str) -> Result<Vec<PendingTx>, StoreError> {
        let rows: Vec<PendingRow> = self
            .client
            .query(
                "SELECT tx_id, min(block_number) FROM payments FINAL
                 WHERE chain = ? AND is_final = 0 GROUP BY tx_id ORDER BY tx_id",
            )
            .bind(chain)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| PendingTx {
                tx_id: r.tx_id,
                slot: r.slot,
            })
            .collect())
    }

    pub async fn solana_mark_final(
        &self,
        chain: &str,
        tx_ids: Vec<String>,
    ) -> Result<u64, StoreError> {
        let mut rows = Vec::new();
        for tx in &tx_ids {
            rows.extend(
                self.payments_by_tx(tx)
                    .await?
                    .into_iter()
                    .filter(|p| p.chain == chain && !p.is_final)
                    .map(|mut p| {
                        p.is_final = true;
                        p
                    }),
            );
        }
        let changed = rows.len() as u64;
        self.commit_payments(rows, Vec::new(), None).await?;
        Ok(changed)
    }

    pub async fn solana_remove(&self, chain: &str, tx_ids: Vec<String>) -> Result<(), StoreError> {
        for tx in &tx_ids {
            self.client
                .query("ALTER TABLE payments DELETE WHERE chain = ? AND tx_id = ?")
                .bind(chain)
                .bind(tx.as_str())
                .execute()
                .await?;
        }
        for _ in 0..6000 {
            let pending: u64 = self
                .client
                .query(
                    "SELECT count() FROM system.mutations
                     WHERE database = currentDatabase() AND table = 'payments' AND is_done = 0",
                )
                .fetch_one()
                .await?;
            if pending == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(StoreError::ClickHouse(
            "mutations on payments did not finish within 120 s".into(),
        ))
    }
}
