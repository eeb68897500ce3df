//! The analysis tables on ClickHouse (see `analysis.rs` for the contract).
//!
//! Derived rows and address flags carry their run's id; a run becomes visible
//! when its row in `analysis_runs` is written (readers take the newest), and the
//! rows of older runs are then deleted by an asynchronous mutation. The organic
//! flag of `payments` is written by an `ALTER TABLE … UPDATE` of the changed keys
//! only: rewriting whole rows could resurrect a row a concurrent reorg rollback
//! just deleted.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::analysis::*;
use crate::ch::{
    ClickHouseStore, PAYMENT_COLUMNS, PaymentRow, amount_i128, next_version, time_u32,
    u256_from_i128,
};
use crate::{ListingSnapshot, Payment, StoreError};

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct ObservedRow {
    chain: String,
    tx_id: String,
    idx_outer: u32,
    idx_inner: u32,
    block_number: u64,
    block_hash: String,
    block_time: u32,
    asset: String,
    payer: String,
    pay_to: String,
    amount: i128,
    nonce: String,
    facilitator: String,
    tx_from: String,
    method: String,
    version: u64,
}

const OBSERVED_COLUMNS: &str = "chain, tx_id, idx_outer, idx_inner, block_number, block_hash, toUInt32(block_time), \
    asset, payer, pay_to, amount, nonce, facilitator, tx_from, method";

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct MatchDbRow {
    run_id: u64,
    row_key: String,
    claim_source: String,
    claim_id: String,
    network: String,
    tx_id: String,
    idx_outer: u32,
    idx_inner: u32,
    has_payment: u8,
    status: String,
    rule: String,
    payer: String,
    pay_to: String,
    asset: String,
    amount: i128,
    claimed_amount: i128,
    block_time: i64,
    claimed_at: i64,
    facilitator: String,
    resource: String,
    price_status: String,
    listed_amount: i128,
    is_final: u8,
    is_organic: u8,
    detail: String,
    run_at: i64,
    version: u64,
}

const MATCH_COLUMNS: &str = "run_id, row_key, claim_source, claim_id, network, tx_id, idx_outer, idx_inner, has_payment, \
    status, rule, payer, pay_to, asset, amount, claimed_amount, block_time, claimed_at, facilitator, resource, \
    price_status, listed_amount, is_final, is_organic, detail, run_at, version";

impl MatchDbRow {
    fn of(m: &MatchRow, run_id: u64, version: u64) -> Result<Self, StoreError> {
        Ok(MatchDbRow {
            run_id,
            row_key: m.row_key.clone(),
            claim_source: m.claim_source.clone(),
            claim_id: m.claim_id.clone(),
            network: m.network.clone(),
            tx_id: m.tx_id.clone(),
            idx_outer: m.idx_outer,
            idx_inner: m.idx_inner,
            has_payment: m.has_payment.into(),
            status: m.status.clone(),
            rule: m.rule.clone(),
            payer: m.payer.clone(),
            pay_to: m.pay_to.clone(),
            asset: m.asset.clone(),
            amount: amount_i128(&m.amount, "amount")?,
            claimed_amount: amount_i128(&m.claimed_amount, "claimed_amount")?,
            block_time: m.block_time,
            claimed_at: m.claimed_at,
            facilitator: m.facilitator.clone(),
            resource: m.resource.clone(),
            price_status: m.price_status.clone(),
            listed_amount: amount_i128(&m.listed_amount, "listed_amount")?,
            is_final: m.is_final.into(),
            is_organic: m.is_organic.into(),
            detail: m.detail.clone(),
            run_at: m.run_at,
            version,
        })
    }

    fn into_row(self) -> Result<MatchRow, StoreError> {
        Ok(MatchRow {
            row_key: self.row_key,
            claim_source: self.claim_source,
            claim_id: self.claim_id,
            network: self.network,
            tx_id: self.tx_id,
            idx_outer: self.idx_outer,
            idx_inner: self.idx_inner,
            has_payment: self.has_payment != 0,
            status: self.status,
            rule: self.rule,
            payer: self.payer,
            pay_to: self.pay_to,
            asset: self.asset,
            amount: u256_from_i128(self.amount, "analysis_matches.amount")?,
            claimed_amount: u256_from_i128(self.claimed_amount, "analysis_matches.claimed_amount")?,
            block_time: self.block_time,
            claimed_at: self.claimed_at,
            facilitator: self.facilitator,
            resource: self.resource,
            price_status: self.price_status,
            listed_amount: u256_from_i128(self.listed_amount, "analysis_matches.listed_amount")?,
            is_final: self.is_final != 0,
            is_organic: self.is_organic != 0,
            detail: self.detail,
            run_at: self.run_at,
        })
    }
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct FlagRow {
    run_id: u64,
    address: String,
    flag: String,
    detail: String,
    run_at: i64,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct ListingRow {
    source: String,
    resource: String,
    accept_index: u32,
    snapshot_hash: String,
    observed_at: u32,
    scheme: String,
    network: String,
    asset: String,
    pay_to: String,
    amount: i128,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct RunRow {
    run_id: u64,
    finished_at: i64,
    version: u64,
}

/// How many keys one `ALTER TABLE … UPDATE` names: at most ~140 bytes each (a
/// Solana chain id and signature), so
/// a statement stays well under the server's default 256 KiB `max_query_size`,
/// while a first run over many payments takes few mutations (each rewrites parts).
const KEYS_PER_MUTATION: usize = 1500;

impl ClickHouseStore {
    pub async fn analysis_payments(&self) -> Result<Vec<Payment>, StoreError> {
        let rows: Vec<PaymentRow> = self
            .client
            .query(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments FINAL
                 ORDER BY chain, tx_id, idx_outer, idx_inner"
            ))
            .fetch_all()
            .await?;
        rows.into_iter().map(PaymentRow::into_payment).collect()
    }

    pub async fn analysis_payments_page(
        &self,
        after: Option<PaymentKey>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        self.key_page(
            &format!("SELECT {PAYMENT_COLUMNS} FROM payments FINAL"),
            after,
            limit,
        )
        .await
    }

    pub async fn analysis_observed_page(
        &self,
        after: Option<PaymentKey>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        self.key_page(
            &format!("SELECT {OBSERVED_COLUMNS}, 0, 1, version FROM analysis_observed FINAL"),
            after,
            limit,
        )
        .await
    }

    /// Up to `limit` rows of `select` after `after`, in key order. The key
    /// comparison is spelled out (no tuple comparison), which every server
    /// version reads as a range of the sorting key.
    async fn key_page(
        &self,
        select: &str,
        after: Option<PaymentKey>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        let order = "ORDER BY chain, tx_id, idx_outer, idx_inner LIMIT";
        let q = match &after {
            None => self.client.query(&format!("{select} {order} {limit}")),
            Some(k) => self
                .client
                .query(&format!(
                    "{select} WHERE chain > ? OR (chain = ? AND (tx_id > ? OR (tx_id = ? AND \
                     (idx_outer > ? OR (idx_outer = ? AND idx_inner > ?))))) {order} {limit}"
                ))
                .bind(k.chain.as_str())
                .bind(k.chain.as_str())
                .bind(k.tx_id.as_str())
                .bind(k.tx_id.as_str())
                .bind(k.idx_outer)
                .bind(k.idx_outer)
                .bind(k.idx_inner),
        };
        let rows: Vec<PaymentRow> = q.fetch_all().await?;
        rows.into_iter().map(PaymentRow::into_payment).collect()
    }

    pub async fn analysis_listings(&self) -> Result<Vec<ListingSnapshot>, StoreError> {
        let rows: Vec<ListingRow> = self
            .client
            .query(
                "SELECT source, resource, accept_index, snapshot_hash, toUInt32(observed_at), scheme, network, asset, pay_to, amount
                 FROM listing_snapshots FINAL ORDER BY source, resource, accept_index, observed_at, snapshot_hash",
            )
            .fetch_all()
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ListingSnapshot {
                    source: r.source,
                    resource: r.resource,
                    accept_index: r.accept_index,
                    snapshot_hash: r.snapshot_hash,
                    observed_at: r.observed_at.into(),
                    scheme: r.scheme,
                    network: r.network,
                    asset: r.asset,
                    pay_to: r.pay_to,
                    amount: u256_from_i128(r.amount, "listing_snapshots.amount")?,
                    raw: String::new(),
                })
            })
            .collect()
    }

    pub async fn analysis_observe(&self, payments: Vec<Payment>) -> Result<(), StoreError> {
        let version = next_version();
        let rows = payments
            .iter()
            .map(|p| {
                Ok(ObservedRow {
                    chain: p.chain.clone(),
                    tx_id: p.tx_id.clone(),
                    idx_outer: p.idx_outer,
                    idx_inner: p.idx_inner,
                    block_number: p.block_number,
                    block_hash: p.block_hash.clone(),
                    block_time: time_u32(p.block_time, "block_time")?,
                    asset: p.asset.clone(),
                    payer: p.payer.clone(),
                    pay_to: p.pay_to.clone(),
                    amount: amount_i128(&p.amount, "amount")?,
                    nonce: p.nonce.clone(),
                    facilitator: p.facilitator.clone(),
                    tx_from: p.tx_from.clone(),
                    method: p.method.clone(),
                    version,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.insert_all("analysis_observed", &rows).await
    }

    pub async fn analysis_observed(&self) -> Result<Vec<Payment>, StoreError> {
        let rows: Vec<PaymentRow> = self
            .client
            .query(&format!(
                "SELECT {OBSERVED_COLUMNS}, 0, 1, version FROM analysis_observed FINAL
                 ORDER BY chain, tx_id, idx_outer, idx_inner"
            ))
            .fetch_all()
            .await?;
        rows.into_iter().map(PaymentRow::into_payment).collect()
    }

    pub async fn analysis_set_organic(
        &self,
        flags: Vec<(PaymentKey, bool)>,
    ) -> Result<u64, StoreError> {
        let n = flags.len() as u64;
        for organic in [true, false] {
            let keys: Vec<&PaymentKey> = flags
                .iter()
                .filter(|(_, o)| *o == organic)
                .map(|(k, _)| k)
                .collect();
            for chunk in keys.chunks(KEYS_PER_MUTATION) {
                let tuples = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
                let mut q = self.client.query(&format!(
                    "ALTER TABLE payments UPDATE is_organic = {} WHERE (chain, tx_id, idx_outer, idx_inner) IN ({tuples})",
                    u8::from(organic)
                ));
                for k in chunk {
                    q = q
                        .bind(k.chain.as_str())
                        .bind(k.tx_id.as_str())
                        .bind(k.idx_outer)
                        .bind(k.idx_inner);
                }
                q.execute().await?;
            }
        }
        if n > 0 {
            self.await_payment_mutations().await?;
        }
        Ok(n)
    }

    async fn await_payment_mutations(&self) -> Result<(), StoreError> {
        for _ in 0..6000 {
            let pending: u64 = self
                .client
                .query("SELECT count() FROM system.mutations WHERE database = currentDatabase() AND table = 'payments' AND is_done = 0")
                .fetch_one()
                .await?;
            if pending == 0 {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Err(StoreError::ClickHouse(
            "the organic-flag mutations on payments did not finish within 120 s".into(),
        ))
    }

    pub async fn analysis_stage(&self, run: u64, rows: Vec<MatchRow>) -> Result<(), StoreError> {
        let version = next_version();
        let rows = rows
            .iter()
            .map(|m| MatchDbRow::of(m, run, version))
            .collect::<Result<Vec<_>, _>>()?;
        self.insert_all("analysis_matches", &rows).await
    }

    pub async fn analysis_commit(
        &self,
        run: u64,
        flags: Vec<AddressFlag>,
        run_at: i64,
    ) -> Result<(), StoreError> {
        let version = next_version();
        let flags: Vec<FlagRow> = flags
            .into_iter()
            .map(|f| FlagRow {
                run_id: run,
                address: f.address,
                flag: f.flag,
                detail: f.detail,
                run_at: f.run_at,
                version,
            })
            .collect();
        self.insert_all("analysis_address_flags", &flags).await?;
        self.insert_all(
            "analysis_runs",
            &[RunRow {
                run_id: run,
                finished_at: run_at,
                version,
            }],
        )
        .await?;
        // Older runs are no longer read; drop them in the background.
        for table in [
            "analysis_matches",
            "analysis_address_flags",
            "analysis_runs",
        ] {
            self.client
                .query(&format!("ALTER TABLE {table} DELETE WHERE run_id < ?"))
                .bind(run)
                .execute()
                .await?;
        }
        Ok(())
    }

    async fn latest_run(&self) -> Result<Option<RunRow>, StoreError> {
        let rows: Vec<RunRow> = self
            .client
            .query("SELECT run_id, finished_at, version FROM analysis_runs FINAL ORDER BY run_id DESC LIMIT 1")
            .fetch_all()
            .await?;
        Ok(rows.into_iter().next())
    }

    pub async fn analysis_matches(
        &self,
        pay_to: Option<&str>,
    ) -> Result<Vec<MatchRow>, StoreError> {
        let Some(run) = self.latest_run().await? else {
            return Ok(Vec::new());
        };
        let rows: Vec<MatchDbRow> = match pay_to {
            Some(p) => {
                self.client
                    .query(&format!(
                        "SELECT {MATCH_COLUMNS} FROM analysis_matches FINAL WHERE run_id = ? AND pay_to = ? ORDER BY row_key"
                    ))
                    .bind(run.run_id)
                    .bind(p)
                    .fetch_all()
                    .await?
            }
            None => {
                self.client
                    .query(&format!(
                        "SELECT {MATCH_COLUMNS} FROM analysis_matches FINAL WHERE run_id = ? ORDER BY row_key"
                    ))
                    .bind(run.run_id)
                    .fetch_all()
                    .await?
            }
        };
        rows.into_iter().map(MatchDbRow::into_row).collect()
    }

    pub async fn analysis_address_flags(&self) -> Result<Vec<AddressFlag>, StoreError> {
        let Some(run) = self.latest_run().await? else {
            return Ok(Vec::new());
        };
        let rows: Vec<FlagRow> = self
            .client
            .query("SELECT run_id, address, flag, detail, run_at, version FROM analysis_address_flags FINAL WHERE run_id = ? ORDER BY address, flag")
            .bind(run.run_id)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| AddressFlag {
                address: r.address,
                flag: r.flag,
                detail: r.detail,
                run_at: r.run_at,
            })
            .collect())
    }

    pub async fn analysis_last_run(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.latest_run().await?.map(|r| r.finished_at))
    }
}
