//! What the probe keeps beyond runs and findings (migration 0003): the paid
//! probe's spending ledger, and the newest listing snapshot of every resource
//! for the scheduler.

use std::collections::BTreeMap;

use clickhouse::Row;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use x402scope_core::Amount;

use crate::ch::{ClickHouseStore, ListingRow, next_version, time_u32, u256_from_i128};
use crate::model::ListingSnapshot;
use crate::sqlite::{SqliteStore, parse_amount};
use crate::{Store, StoreError};

/// One payment the paid probe made. Natural key: `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSpend {
    pub id: String,
    pub url: String,
    pub network: String,
    pub asset: String,
    /// Atomic units.
    pub amount: Amount,
    pub spent_at: i64,
    /// The settlement transaction, when known.
    pub tx: String,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct SpendRow {
    id: String,
    url: String,
    network: String,
    asset: String,
    amount: String,
    spent_at: u32,
    tx: String,
    version: u64,
}

/// Keep the newest snapshot per (source, resource, accept_index); input sorted
/// by observed_at ascending.
fn newest(rows: Vec<ListingSnapshot>) -> Vec<ListingSnapshot> {
    let mut by_key: BTreeMap<(String, String, u32), ListingSnapshot> = BTreeMap::new();
    for l in rows {
        by_key.insert((l.resource.clone(), l.source.clone(), l.accept_index), l);
    }
    by_key.into_values().collect()
}

impl Store {
    /// Record a payment of the paid probe (idempotent by id).
    pub async fn record_probe_spend(&self, spend: ProbeSpend) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.record_probe_spend(spend).await,
            Store::ClickHouse(c) => c.record_probe_spend(spend).await,
        }
    }

    /// The paid probe's payments at or after `since` (unix seconds), oldest first.
    pub async fn probe_spend_since(&self, since: i64) -> Result<Vec<ProbeSpend>, StoreError> {
        match self {
            Store::Sqlite(s) => s.probe_spend_since(since).await,
            Store::ClickHouse(c) => c.probe_spend_since(since).await,
        }
    }

    /// The newest snapshot of each (resource, source, accept_index), by resource.
    pub async fn latest_listings(&self) -> Result<Vec<ListingSnapshot>, StoreError> {
        match self {
            Store::Sqlite(s) => s.latest_listings().await,
            Store::ClickHouse(c) => c.latest_listings().await,
        }
    }
}

impl SqliteStore {
    async fn record_probe_spend(&self, s: ProbeSpend) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO probe_spend (id, url, network, asset, amount, spent_at, tx)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    s.id,
                    s.url,
                    s.network,
                    s.asset,
                    s.amount.to_string(),
                    s.spent_at,
                    s.tx
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn probe_spend_since(&self, since: i64) -> Result<Vec<ProbeSpend>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, url, network, asset, amount, spent_at, tx FROM probe_spend
                 WHERE spent_at >= ?1 ORDER BY spent_at, id",
            )?;
            let rows = stmt.query_map(params![since], |r| {
                Ok((
                    ProbeSpend {
                        id: r.get(0)?,
                        url: r.get(1)?,
                        network: r.get(2)?,
                        asset: r.get(3)?,
                        amount: Amount::ZERO,
                        spent_at: r.get(5)?,
                        tx: r.get(6)?,
                    },
                    r.get::<_, String>(4)?,
                ))
            })?;
            rows.map(|row| {
                let (mut s, amount) = row?;
                s.amount = parse_amount(&amount, "probe_spend.amount")?;
                Ok(s)
            })
            .collect()
        })
        .await
    }

    async fn latest_listings(&self) -> Result<Vec<ListingSnapshot>, StoreError> {
        let rows = self
            .read(move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT source, resource, accept_index, snapshot_hash, observed_at, scheme, network,
                        asset, pay_to, amount, raw FROM listing_snapshots
                     ORDER BY observed_at, snapshot_hash",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok((
                        ListingSnapshot {
                            source: r.get(0)?,
                            resource: r.get(1)?,
                            accept_index: r.get(2)?,
                            snapshot_hash: r.get(3)?,
                            observed_at: r.get(4)?,
                            scheme: r.get(5)?,
                            network: r.get(6)?,
                            asset: r.get(7)?,
                            pay_to: r.get(8)?,
                            amount: Amount::ZERO,
                            raw: r.get(10)?,
                        },
                        r.get::<_, String>(9)?,
                    ))
                })?;
                rows.map(|row| {
                    let (mut l, amount) = row?;
                    l.amount = parse_amount(&amount, "listing_snapshots.amount")?;
                    Ok(l)
                })
                .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        Ok(newest(rows))
    }
}

impl ClickHouseStore {
    async fn record_probe_spend(&self, s: ProbeSpend) -> Result<(), StoreError> {
        let row = SpendRow {
            id: s.id,
            url: s.url,
            network: s.network,
            asset: s.asset,
            amount: s.amount.to_string(),
            spent_at: time_u32(s.spent_at, "spent_at")?,
            tx: s.tx,
            version: next_version(),
        };
        self.insert_all("probe_spend", &[row]).await
    }

    async fn probe_spend_since(&self, since: i64) -> Result<Vec<ProbeSpend>, StoreError> {
        let since = time_u32(since.max(0), "since")?;
        let rows: Vec<SpendRow> = self
            .client
            .query(
                "SELECT id, url, network, asset, amount, toUInt32(spent_at), tx, version
                 FROM probe_spend FINAL WHERE spent_at >= toDateTime(?, 'UTC') ORDER BY spent_at, id",
            )
            .bind(since)
            .fetch_all()
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ProbeSpend {
                    amount: crate::sqlite::parse_amount(&r.amount, "probe_spend.amount")?,
                    id: r.id,
                    url: r.url,
                    network: r.network,
                    asset: r.asset,
                    spent_at: r.spent_at.into(),
                    tx: r.tx,
                })
            })
            .collect()
    }

    async fn latest_listings(&self) -> Result<Vec<ListingSnapshot>, StoreError> {
        let rows: Vec<ListingRow> = self
            .client
            .query(
                "SELECT source, resource, accept_index, snapshot_hash, toUInt32(observed_at), scheme, network, asset,
                    pay_to, amount, raw, version
                 FROM listing_snapshots FINAL ORDER BY observed_at, snapshot_hash",
            )
            .fetch_all()
            .await?;
        let rows = rows
            .into_iter()
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
                    raw: r.raw,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(newest(rows))
    }
}
