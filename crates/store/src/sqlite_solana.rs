//! The Solana indexer's tables on SQLite (see `solana.rs` for the contract).

use rusqlite::{OptionalExtension, params};

use crate::StoreError;
use crate::solana::{PendingTx, SolanaCursor};
use crate::sqlite::SqliteStore;

impl SqliteStore {
    pub async fn solana_cursor(
        &self,
        chain: &str,
        address: &str,
    ) -> Result<Option<SolanaCursor>, StoreError> {
        let (chain, address) = (chain.to_owned(), address.to_owned());
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT chain, address, until_sig, before_sig, next_until, updated_at
                     FROM solana_cursors WHERE chain = ?1 AND address = ?2",
                    params![chain, address],
                    |r| {
                        Ok(SolanaCursor {
                            chain: r.get(0)?,
                            address: r.get(1)?,
                            until: r.get(2)?,
                            before: r.get(3)?,
                            next_until: r.get(4)?,
                            updated_at: r.get(5)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    pub async fn solana_put_cursor(&self, c: SolanaCursor) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO solana_cursors (chain, address, until_sig, before_sig, next_until, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![c.chain, c.address, c.until, c.before, c.next_until, c.updated_at],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn solana_pending(&self, chain: &str) -> Result<Vec<PendingTx>, StoreError> {
        let chain = chain.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT tx_id, min(block_number) FROM payments
                 WHERE chain = ?1 AND is_final = 0 GROUP BY tx_id ORDER BY tx_id",
            )?;
            let rows = stmt.query_map(params![chain], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            rows.map(|row| {
                let (tx_id, slot) = row?;
                Ok(PendingTx {
                    tx_id,
                    slot: u64::try_from(slot).map_err(|_| StoreError::Corrupt {
                        column: "payments.block_number",
                        detail: format!("negative value {slot}"),
                    })?,
                })
            })
            .collect()
        })
        .await
    }

    pub async fn solana_mark_final(
        &self,
        chain: &str,
        tx_ids: Vec<String>,
    ) -> Result<u64, StoreError> {
        let chain = chain.to_owned();
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE payments SET is_final = 1 WHERE chain = ?1 AND tx_id = ?2 AND is_final = 0",
            )?;
            let mut changed = 0u64;
            for tx in &tx_ids {
                changed += stmt.execute(params![chain, tx])? as u64;
            }
            Ok(changed)
        })
        .await
    }

    pub async fn solana_remove(&self, chain: &str, tx_ids: Vec<String>) -> Result<(), StoreError> {
        let chain = chain.to_owned();
        self.write(move |conn| {
            let mut stmt =
                conn.prepare_cached("DELETE FROM payments WHERE chain = ?1 AND tx_id = ?2")?;
            for tx in &tx_ids {
                stmt.execute(params![chain, tx])?;
            }
            Ok(())
        })
        .await
    }
}
