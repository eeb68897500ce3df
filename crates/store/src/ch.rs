//! The ClickHouse backend.
//!
//! Every fact table is a `ReplacingMergeTree(version)` read with `FINAL`, so a
//! replayed insert collapses into the row it repeats. Every write carries a
//! fresh, increasing version. Reorg rollbacks are `ALTER TABLE … DELETE`
//! mutations, awaited through `system.mutations` before the call returns; the
//! rows that follow are new blocks with new versions, so a re-insert of the same
//! keys is never taken for a duplicate insert.
//!
//! Inserts keep their rows until the server has acknowledged them: a failed
//! attempt (a dropped connection, a restarting server) is retried with backoff
//! from the same rows, so nothing accepted by a caller is lost.
//!
//! Only SQL that runs on 18.16 and on current ClickHouse is used; see
//! `docs/clickhouse-compat.md`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};
use x402scope_core::Amount;

use crate::migrate::{MigrationReport, clickhouse_statements, migrations};
use crate::model::*;
use crate::sqlite::{now, refuse_newer, sort_top};
use crate::{StoreError, StoreUrl};

/// `Decimal(38,0)` arrives as i128; amounts are never negative.
pub(crate) fn u256_from_i128(v: i128, column: &'static str) -> Result<Amount, StoreError> {
    u128::try_from(v)
        .map(|u| Amount(alloy_primitives::U256::from(u)))
        .map_err(|_| StoreError::Corrupt {
            column,
            detail: format!("negative amount {v}"),
        })
}

/// How long an insert keeps retrying before it reports failure.
const INSERT_DEADLINE: Duration = Duration::from_secs(120);

/// The ClickHouse store; cheap to clone.
#[derive(Clone)]
pub struct ClickHouseStore {
    pub(crate) client: Client,
    /// A client without a default database, for CREATE DATABASE.
    root: Client,
    database: String,
}

impl std::fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseStore")
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// A fresh version for a write: increasing within the process, and across
/// restarts as long as the clock does not go back.
pub(crate) fn next_version() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct PaymentRow {
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
    is_final: u8,
    is_organic: u8,
    version: u64,
}

pub(crate) const PAYMENT_COLUMNS: &str = "chain, tx_id, idx_outer, idx_inner, block_number, block_hash, toUInt32(block_time), \
    asset, payer, pay_to, amount, nonce, facilitator, tx_from, method, is_final, is_organic, version";

pub(crate) fn amount_i128(a: &Amount, column: &'static str) -> Result<i128, StoreError> {
    u128::try_from(a.0)
        .ok()
        .and_then(|v| i128::try_from(v).ok())
        .filter(|v| *v < 10i128.pow(38))
        .ok_or_else(|| StoreError::Invalid(format!("{column} {a} exceeds Decimal(38,0)")))
}

pub(crate) fn time_u32(t: i64, column: &'static str) -> Result<u32, StoreError> {
    u32::try_from(t)
        .map_err(|_| StoreError::Invalid(format!("{column} {t} is outside DateTime's range")))
}

impl PaymentRow {
    /// Takes the payment's strings over (no copies: inserts are hot).
    fn from_payment(p: Payment, version: u64) -> Result<Self, StoreError> {
        Ok(PaymentRow {
            block_time: time_u32(p.block_time, "block_time")?,
            amount: amount_i128(&p.amount, "amount")?,
            chain: p.chain,
            tx_id: p.tx_id,
            idx_outer: p.idx_outer,
            idx_inner: p.idx_inner,
            block_number: p.block_number,
            block_hash: p.block_hash,
            asset: p.asset,
            payer: p.payer,
            pay_to: p.pay_to,
            nonce: p.nonce,
            facilitator: p.facilitator,
            tx_from: p.tx_from,
            method: p.method,
            is_final: p.is_final.into(),
            is_organic: p.is_organic.into(),
            version,
        })
    }

    pub(crate) fn into_payment(self) -> Result<Payment, StoreError> {
        Ok(Payment {
            chain: self.chain,
            tx_id: self.tx_id,
            idx_outer: self.idx_outer,
            idx_inner: self.idx_inner,
            block_number: self.block_number,
            block_hash: self.block_hash,
            block_time: self.block_time.into(),
            asset: self.asset,
            payer: self.payer,
            pay_to: self.pay_to,
            amount: u256_from_i128(self.amount, "payments.amount")?,
            nonce: self.nonce,
            facilitator: self.facilitator,
            tx_from: self.tx_from,
            method: self.method,
            is_final: self.is_final != 0,
            is_organic: self.is_organic != 0,
        })
    }
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct CheckpointRow {
    chain: String,
    block: u64,
    hash: String,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct WindowRow {
    chain: String,
    number: u64,
    hash: String,
    parent_hash: String,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct FacilitatorRow {
    id: String,
    name: String,
    url: String,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct SignerRow {
    facilitator_id: String,
    network: String,
    address: String,
    first_seen: u32,
    last_seen: u32,
    source: String,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct KindRow {
    facilitator_id: String,
    x402_version: u16,
    scheme: String,
    network: String,
    first_seen: u32,
    last_seen: u32,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
pub(crate) struct ListingRow {
    pub(crate) source: String,
    pub(crate) resource: String,
    pub(crate) accept_index: u32,
    pub(crate) snapshot_hash: String,
    pub(crate) observed_at: u32,
    pub(crate) scheme: String,
    pub(crate) network: String,
    pub(crate) asset: String,
    pub(crate) pay_to: String,
    pub(crate) amount: i128,
    pub(crate) raw: String,
    pub(crate) version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct InboxRow {
    source: String,
    webhook_id: String,
    received_at: u32,
    headers: String,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    status: String,
    error: String,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct ClaimRow {
    source: String,
    claim_id: String,
    network: String,
    tx_id: String,
    payer: String,
    pay_to: String,
    asset: String,
    amount: i128,
    resource_url: String,
    facilitator: String,
    success: u8,
    claimed_at: u32,
    reference: String,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct ProbeRunRow {
    id: String,
    url: String,
    started_at: u32,
    status_code: u16,
    latency_ms: u32,
    error: String,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct FindingRow {
    run_id: String,
    rule_id: String,
    severity: String,
    message: String,
    evidence: String,
    version: u64,
}

#[derive(Debug, Row, Deserialize)]
struct Totals {
    count: u64,
    volume: i128,
    a: u64,
    b: u64,
}

#[derive(Debug, Row, Deserialize)]
struct KeyedTotals {
    key: String,
    count: u64,
    volume: i128,
    a: u64,
    b: u64,
}

#[derive(Debug, Row, Deserialize)]
struct SideRow {
    count: u64,
    volume: i128,
    counterparties: u64,
    first: u32,
    last: u32,
}

/// A filter as SQL with `?` placeholders and the values to bind, in order.
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

enum Bind {
    Str(String),
    Int(i64),
    U32(u32),
}

impl Sql {
    fn filter(f: &Filter) -> Self {
        let mut parts: Vec<String> = Vec::new();
        let mut binds = Vec::new();
        if let Some(from) = f.from {
            parts.push("block_time >= toDateTime(?)".into());
            binds.push(Bind::Int(from.max(0)));
        }
        if let Some(to) = f.to {
            parts.push("block_time < toDateTime(?)".into());
            binds.push(Bind::Int(to.max(0)));
        }
        if !f.networks.is_empty() {
            parts.push(format!(
                "chain IN ({})",
                vec!["?"; f.networks.len()].join(", ")
            ));
            binds.extend(f.networks.iter().map(|n| Bind::Str(n.clone())));
        }
        for (column, value) in [
            ("facilitator", &f.facilitator),
            ("asset", &f.asset),
            ("payer", &f.payer),
            ("pay_to", &f.pay_to),
        ] {
            if let Some(v) = value {
                parts.push(format!("{column} = ?"));
                binds.push(Bind::Str(v.clone()));
            }
        }
        if f.organic_only {
            parts.push("is_organic = 1".into());
        }
        let text = if parts.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", parts.join(" AND "))
        };
        Sql { text, binds }
    }

    fn and(&mut self, condition: &str, binds: Vec<Bind>) {
        self.text.push_str(if self.text.is_empty() {
            "WHERE "
        } else {
            " AND "
        });
        self.text.push_str(condition);
        self.binds.extend(binds);
    }
}

fn bind_all(mut q: clickhouse::query::Query, binds: &[Bind]) -> clickhouse::query::Query {
    for b in binds {
        q = match b {
            Bind::Str(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
            Bind::U32(u) => q.bind(*u),
        };
    }
    q
}

impl ClickHouseStore {
    pub fn connect(url: &StoreUrl) -> Result<Self, StoreError> {
        let StoreUrl::ClickHouse {
            endpoint,
            database,
            user,
            password,
            compress,
        } = url
        else {
            return Err(StoreError::Invalid("not a ClickHouse URL".into()));
        };
        let compression = if *compress {
            clickhouse::Compression::Lz4
        } else {
            clickhouse::Compression::None
        };
        let mut root = Client::default()
            .with_url(endpoint)
            .with_user(user)
            .with_validation(false)
            .with_compression(compression);
        if let Some(p) = password {
            root = root.with_password(p);
        }
        let client = root.clone().with_database(database);
        Ok(ClickHouseStore {
            client,
            root,
            database: database.clone(),
        })
    }

    /// Insert `rows`, retrying from the same rows until the server acknowledges
    /// them or the deadline passes.
    pub(crate) async fn insert_all<T>(&self, table: &str, rows: &[T]) -> Result<(), StoreError>
    where
        T: Row + Serialize + for<'a> Row<Value<'a> = T>,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            let attempt = async {
                let mut insert = self.client.insert::<T>(table).await?;
                for row in rows {
                    insert.write(row).await?;
                }
                insert.end().await
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(e) if started.elapsed() < INSERT_DEADLINE && is_transient(&e) => {
                    tracing::warn!(table, rows = rows.len(), error = %e, "ClickHouse insert failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Run a statement, retrying transient failures like inserts do.
    async fn execute(&self, sql: &str, binds: Vec<Bind>) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            match bind_all(self.client.query(sql), &binds).execute().await {
                Ok(()) => return Ok(()),
                Err(e) if started.elapsed() < INSERT_DEADLINE && is_transient(&e) => {
                    tracing::warn!(error = %e, "ClickHouse statement failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Wait until no mutation of `table` is pending.
    async fn await_mutations(&self, table: &str) -> Result<(), StoreError> {
        for _ in 0..6000 {
            let pending: u64 = self
                .client
                .query("SELECT count() FROM system.mutations WHERE database = ? AND table = ? AND is_done = 0")
                .bind(self.database.as_str())
                .bind(table)
                .fetch_one()
                .await?;
            if pending == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(StoreError::ClickHouse(format!(
            "mutations on {table} did not finish within 120 s"
        )))
    }

    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        self.root
            .query(&format!("CREATE DATABASE IF NOT EXISTS {}", self.database))
            .execute()
            .await?;
        self.client
            .query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, applied_at DateTime('UTC'))
                 ENGINE = MergeTree ORDER BY version",
            )
            .execute()
            .await?;
        let applied = self.applied().await?;
        let known = migrations("clickhouse");
        refuse_newer(&applied, known)?;
        let mut report = MigrationReport {
            backend: "clickhouse".into(),
            ..Default::default()
        };
        for m in known {
            if applied.iter().any(|(v, _)| *v == m.version) {
                report.present.push(m.name.to_owned());
                continue;
            }
            for statement in clickhouse_statements(m.sql) {
                self.client.query(&statement).execute().await?;
            }
            self.client
                .query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, toDateTime(?))")
                .bind(m.version)
                .bind(m.name)
                .bind(now())
                .execute()
                .await?;
            report.applied.push(m.name.to_owned());
        }
        Ok(report)
    }

    async fn applied(&self) -> Result<Vec<(u32, String)>, StoreError> {
        #[derive(Row, Deserialize)]
        struct Applied {
            version: u32,
            name: String,
        }
        let rows: Vec<Applied> = self
            .client
            .query("SELECT version, name FROM schema_migrations ORDER BY version")
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(|r| (r.version, r.name)).collect())
    }

    pub async fn check_schema(&self) -> Result<(), StoreError> {
        // Through the database-less client: the database itself may not exist yet.
        let exists: u64 = self
            .root
            .query("SELECT count() FROM system.tables WHERE database = ? AND name = 'schema_migrations'")
            .bind(self.database.as_str())
            .fetch_one()
            .await?;
        let applied = if exists > 0 {
            self.applied().await?
        } else {
            Vec::new()
        };
        let known = migrations("clickhouse");
        refuse_newer(&applied, known)?;
        if let Some(m) = known
            .iter()
            .find(|m| !applied.iter().any(|(v, _)| *v == m.version))
        {
            return Err(StoreError::NotMigrated(m.version));
        }
        Ok(())
    }

    // ---- payments ----

    pub async fn commit_payments(
        &self,
        payments: Vec<Payment>,
        blocks: Vec<WindowBlock>,
        checkpoint: Option<Checkpoint>,
    ) -> Result<(), StoreError> {
        let version = next_version();
        let rows = payments
            .into_iter()
            .map(|p| PaymentRow::from_payment(p, version))
            .collect::<Result<Vec<_>, _>>()?;
        self.insert_all("payments", &rows).await?;
        let blocks: Vec<WindowRow> = blocks
            .into_iter()
            .map(|b| WindowRow {
                chain: b.chain,
                number: b.number,
                hash: b.hash,
                parent_hash: b.parent_hash,
                version,
            })
            .collect();
        self.insert_all("block_window", &blocks).await?;
        if let Some(cp) = checkpoint {
            let row = CheckpointRow {
                chain: cp.chain,
                block: cp.block,
                hash: cp.hash,
                version: next_version(),
            };
            self.insert_all("checkpoints", &[row]).await?;
        }
        Ok(())
    }

    pub async fn rollback_above(
        &self,
        chain: &str,
        block: u64,
        hash: &str,
    ) -> Result<(), StoreError> {
        for table in ["payments", "block_window"] {
            let column = if table == "payments" {
                "block_number"
            } else {
                "number"
            };
            self.execute(
                &format!("ALTER TABLE {table} DELETE WHERE chain = ? AND {column} > ?"),
                vec![
                    Bind::Str(chain.to_owned()),
                    Bind::Int(i64::try_from(block).unwrap_or(i64::MAX)),
                ],
            )
            .await?;
            self.await_mutations(table).await?;
        }
        let row = CheckpointRow {
            chain: chain.into(),
            block,
            hash: hash.into(),
            version: next_version(),
        };
        self.insert_all("checkpoints", &[row]).await
    }

    /// Final rows replace the non-final ones by a newer version (no mutation).
    pub async fn mark_final(&self, chain: &str, up_to: u64) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments FINAL WHERE chain = ? AND block_number <= ? AND is_final = 0"
        );
        let rows: Vec<PaymentRow> = self
            .client
            .query(&sql)
            .bind(chain)
            .bind(up_to)
            .fetch_all()
            .await?;
        let version = next_version();
        let rows: Vec<PaymentRow> = rows
            .into_iter()
            .map(|mut r| {
                r.is_final = 1;
                r.version = version;
                r
            })
            .collect();
        self.insert_all("payments", &rows).await?;
        Ok(rows.len() as u64)
    }

    pub async fn checkpoint(&self, chain: &str) -> Result<Option<Checkpoint>, StoreError> {
        let rows: Vec<CheckpointRow> = self
            .client
            .query("SELECT chain, block, hash, version FROM checkpoints FINAL WHERE chain = ?")
            .bind(chain)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .max_by_key(|r| r.version)
            .map(|r| Checkpoint {
                chain: r.chain,
                block: r.block,
                hash: r.hash,
            }))
    }

    pub async fn window(&self, chain: &str, limit: usize) -> Result<Vec<WindowBlock>, StoreError> {
        let rows: Vec<WindowRow> = self
            .client
            .query("SELECT chain, number, hash, parent_hash, version FROM block_window FINAL WHERE chain = ? ORDER BY number DESC LIMIT ?")
            .bind(chain)
            .bind(limit as u64)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| WindowBlock {
                chain: r.chain,
                number: r.number,
                hash: r.hash,
                parent_hash: r.parent_hash,
            })
            .collect())
    }

    // ---- facilitators ----

    pub async fn upsert_facilitators(&self, items: Vec<Facilitator>) -> Result<(), StoreError> {
        let version = next_version();
        let rows: Vec<FacilitatorRow> = items
            .into_iter()
            .map(|f| FacilitatorRow {
                id: f.id,
                name: f.name,
                url: f.url,
                version,
            })
            .collect();
        self.insert_all("facilitators", &rows).await
    }

    pub async fn facilitators(&self) -> Result<Vec<Facilitator>, StoreError> {
        let rows: Vec<FacilitatorRow> = self
            .client
            .query("SELECT id, name, url, version FROM facilitators FINAL ORDER BY id")
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Facilitator {
                id: r.id,
                name: r.name,
                url: r.url,
            })
            .collect())
    }

    pub async fn record_signers(&self, items: Vec<Signer>) -> Result<(), StoreError> {
        let existing = self.signers().await?;
        let version = next_version();
        let mut rows = Vec::with_capacity(items.len());
        for s in items {
            let (mut first, mut last) = (s.first_seen, s.last_seen);
            if let Some(e) = existing.iter().find(|e| {
                e.network == s.network
                    && e.address == s.address
                    && e.facilitator_id == s.facilitator_id
            }) {
                first = first.min(e.first_seen);
                last = last.max(e.last_seen);
            }
            rows.push(SignerRow {
                facilitator_id: s.facilitator_id,
                network: s.network,
                address: s.address,
                first_seen: time_u32(first, "first_seen")?,
                last_seen: time_u32(last, "last_seen")?,
                source: s.source,
                version,
            });
        }
        self.insert_all("facilitator_signers", &rows).await
    }

    pub async fn record_kinds(&self, items: Vec<FacilitatorKind>) -> Result<(), StoreError> {
        let existing = self.kinds().await?;
        let version = next_version();
        let mut rows = Vec::with_capacity(items.len());
        for k in items {
            let (mut first, mut last) = (k.first_seen, k.last_seen);
            if let Some(e) = existing.iter().find(|e| {
                e.facilitator_id == k.facilitator_id
                    && e.x402_version == k.x402_version
                    && e.scheme == k.scheme
                    && e.network == k.network
            }) {
                first = first.min(e.first_seen);
                last = last.max(e.last_seen);
            }
            rows.push(KindRow {
                facilitator_id: k.facilitator_id,
                x402_version: k.x402_version,
                scheme: k.scheme,
                network: k.network,
                first_seen: time_u32(first, "first_seen")?,
                last_seen: time_u32(last, "last_seen")?,
                version,
            });
        }
        self.insert_all("facilitator_kinds", &rows).await
    }

    pub async fn kinds(&self) -> Result<Vec<FacilitatorKind>, StoreError> {
        let rows: Vec<KindRow> = self
            .client
            .query(
                "SELECT facilitator_id, x402_version, scheme, network, toUInt32(first_seen), toUInt32(last_seen), version
                 FROM facilitator_kinds FINAL ORDER BY facilitator_id, x402_version, scheme, network",
            )
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| FacilitatorKind {
                facilitator_id: r.facilitator_id,
                x402_version: r.x402_version,
                scheme: r.scheme,
                network: r.network,
                first_seen: i64::from(r.first_seen),
                last_seen: i64::from(r.last_seen),
            })
            .collect())
    }

    pub async fn signers(&self) -> Result<Vec<Signer>, StoreError> {
        let rows: Vec<SignerRow> = self
            .client
            .query(
                "SELECT facilitator_id, network, address, toUInt32(first_seen), toUInt32(last_seen), source, version
                 FROM facilitator_signers FINAL ORDER BY network, address, facilitator_id",
            )
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Signer {
                facilitator_id: r.facilitator_id,
                network: r.network,
                address: r.address,
                first_seen: r.first_seen.into(),
                last_seen: r.last_seen.into(),
                source: r.source,
            })
            .collect())
    }

    // ---- listings ----

    pub async fn insert_listings(&self, items: Vec<ListingSnapshot>) -> Result<(), StoreError> {
        // Snapshots are immutable: the first observation of a version is kept, so
        // it carries the lowest version and loses nothing to a replay.
        let mut rows = Vec::with_capacity(items.len());
        for l in items {
            rows.push(ListingRow {
                source: l.source,
                resource: l.resource,
                accept_index: l.accept_index,
                snapshot_hash: l.snapshot_hash,
                observed_at: time_u32(l.observed_at, "observed_at")?,
                scheme: l.scheme,
                network: l.network,
                asset: l.asset,
                pay_to: l.pay_to,
                amount: amount_i128(&l.amount, "amount")?,
                raw: l.raw,
                version: u64::MAX - next_version(),
            });
        }
        self.insert_all("listing_snapshots", &rows).await
    }

    pub async fn listing_history(
        &self,
        resource: &str,
    ) -> Result<Vec<ListingSnapshot>, StoreError> {
        let rows: Vec<ListingRow> = self
            .client
            .query(
                "SELECT source, resource, accept_index, snapshot_hash, toUInt32(observed_at), scheme, network, asset,
                    pay_to, amount, raw, version
                 FROM listing_snapshots FINAL WHERE resource = ?
                 ORDER BY observed_at, source, accept_index, snapshot_hash",
            )
            .bind(resource)
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
                    raw: r.raw,
                })
            })
            .collect()
    }

    // ---- webhooks and claims ----

    async fn inbox_row(
        &self,
        source: &str,
        webhook_id: &str,
    ) -> Result<Option<InboxRow>, StoreError> {
        let rows: Vec<InboxRow> = self
            .client
            .query(
                "SELECT source, webhook_id, toUInt32(received_at), headers, body, status, error, version
                 FROM webhook_inbox FINAL WHERE source = ? AND webhook_id = ?",
            )
            .bind(source)
            .bind(webhook_id)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().next())
    }

    pub async fn inbox_put(&self, e: WebhookEnvelope) -> Result<bool, StoreError> {
        if self.inbox_row(&e.source, &e.webhook_id).await?.is_some() {
            return Ok(false);
        }
        let row = InboxRow {
            source: e.source,
            webhook_id: e.webhook_id,
            received_at: time_u32(e.received_at, "received_at")?,
            headers: e.headers,
            body: e.body,
            status: e.status,
            error: e.error,
            version: next_version(),
        };
        self.insert_all("webhook_inbox", &[row]).await?;
        Ok(true)
    }

    pub async fn inbox_set_status(
        &self,
        source: &str,
        webhook_id: &str,
        status: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let Some(mut row) = self.inbox_row(source, webhook_id).await? else {
            return Ok(());
        };
        row.status = status.into();
        row.error = error.into();
        row.version = next_version();
        self.insert_all("webhook_inbox", &[row]).await
    }

    pub async fn inbox_pending(&self, limit: usize) -> Result<Vec<WebhookEnvelope>, StoreError> {
        let rows: Vec<InboxRow> = self
            .client
            .query(
                "SELECT source, webhook_id, toUInt32(received_at), headers, body, status, error, version
                 FROM webhook_inbox FINAL WHERE status = 'received'
                 ORDER BY received_at, source, webhook_id LIMIT ?",
            )
            .bind(limit as u64)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| WebhookEnvelope {
                source: r.source,
                webhook_id: r.webhook_id,
                received_at: r.received_at.into(),
                headers: r.headers,
                body: r.body,
                status: r.status,
                error: r.error,
            })
            .collect())
    }

    pub async fn insert_claims(&self, items: Vec<Claim>) -> Result<(), StoreError> {
        let version = next_version();
        let mut rows = Vec::with_capacity(items.len());
        for c in items {
            rows.push(ClaimRow {
                source: c.source,
                claim_id: c.claim_id,
                network: c.network,
                tx_id: c.tx_id,
                payer: c.payer,
                pay_to: c.pay_to,
                asset: c.asset,
                amount: amount_i128(&c.amount, "amount")?,
                resource_url: c.resource_url,
                facilitator: c.facilitator,
                success: c.success.into(),
                claimed_at: time_u32(c.claimed_at, "claimed_at")?,
                reference: c.reference,
                version,
            });
        }
        self.insert_all("claims", &rows).await
    }

    pub async fn claims(&self) -> Result<Vec<Claim>, StoreError> {
        let rows: Vec<ClaimRow> = self
            .client
            .query(
                "SELECT source, claim_id, network, tx_id, payer, pay_to, asset, amount, resource_url, facilitator,
                    success, toUInt32(claimed_at), reference, version
                 FROM claims FINAL ORDER BY claimed_at, source, claim_id",
            )
            .fetch_all()
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Claim {
                    source: r.source,
                    claim_id: r.claim_id,
                    network: r.network,
                    tx_id: r.tx_id,
                    payer: r.payer,
                    pay_to: r.pay_to,
                    asset: r.asset,
                    amount: u256_from_i128(r.amount, "claims.amount")?,
                    resource_url: r.resource_url,
                    facilitator: r.facilitator,
                    success: r.success != 0,
                    claimed_at: r.claimed_at.into(),
                    reference: r.reference,
                })
            })
            .collect()
    }

    // ---- probes ----

    pub async fn insert_probe_run(
        &self,
        run: ProbeRun,
        findings: Vec<ProbeFinding>,
    ) -> Result<(), StoreError> {
        let version = next_version();
        let row = ProbeRunRow {
            id: run.id,
            url: run.url,
            started_at: time_u32(run.started_at, "started_at")?,
            status_code: run.status_code,
            latency_ms: run.latency_ms,
            error: run.error,
            version,
        };
        let findings: Vec<FindingRow> = findings
            .into_iter()
            .map(|f| FindingRow {
                run_id: f.run_id,
                rule_id: f.rule_id,
                severity: f.severity,
                message: f.message,
                evidence: f.evidence,
                version,
            })
            .collect();
        self.insert_all("probe_findings", &findings).await?;
        self.insert_all("probe_runs", &[row]).await
    }

    pub async fn probe_runs(&self, url: &str, limit: usize) -> Result<Vec<ProbeRun>, StoreError> {
        let rows: Vec<ProbeRunRow> = self
            .client
            .query(
                "SELECT id, url, toUInt32(started_at), status_code, latency_ms, error, version
                 FROM probe_runs FINAL WHERE url = ? ORDER BY started_at DESC, id DESC LIMIT ?",
            )
            .bind(url)
            .bind(limit as u64)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ProbeRun {
                id: r.id,
                url: r.url,
                started_at: r.started_at.into(),
                status_code: r.status_code,
                latency_ms: r.latency_ms,
                error: r.error,
            })
            .collect())
    }

    pub async fn probe_findings(&self, run_id: &str) -> Result<Vec<ProbeFinding>, StoreError> {
        let rows: Vec<FindingRow> = self
            .client
            .query(
                "SELECT run_id, rule_id, severity, message, evidence, version FROM probe_findings FINAL
                 WHERE run_id = ? ORDER BY rule_id, message",
            )
            .bind(run_id)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ProbeFinding {
                run_id: r.run_id,
                rule_id: r.rule_id,
                severity: r.severity,
                message: r.message,
                evidence: r.evidence,
            })
            .collect())
    }

    // ---- queries ----

    pub async fn overview(&self, filter: &Filter) -> Result<Overview, StoreError> {
        let w = Sql::filter(filter);
        let sql = format!(
            "SELECT count() AS count, sum(amount) AS volume, uniqExact(payer) AS a, uniqExact(pay_to) AS b
             FROM payments FINAL {}",
            w.text
        );
        let t: Totals = bind_all(self.client.query(&sql), &w.binds)
            .fetch_one()
            .await?;
        Ok(Overview {
            count: t.count,
            volume: u256_from_i128(t.volume, "sum(amount)")?,
            buyers: t.a,
            sellers: t.b,
        })
    }

    pub async fn timeseries(
        &self,
        filter: &Filter,
        bucket: u32,
    ) -> Result<Vec<Bucket>, StoreError> {
        let w = Sql::filter(filter);
        let sql = format!(
            "SELECT toString(intDiv(toUInt32(block_time), {bucket}) * {bucket}) AS key, count() AS count,
                sum(amount) AS volume, uniqExact(payer) AS a, uniqExact(pay_to) AS b
             FROM payments FINAL {} GROUP BY key",
            w.text
        );
        let rows: Vec<KeyedTotals> = bind_all(self.client.query(&sql), &w.binds)
            .fetch_all()
            .await?;
        let mut out = rows
            .into_iter()
            .map(|r| {
                Ok(Bucket {
                    start: r.key.parse().unwrap_or_default(),
                    count: r.count,
                    volume: u256_from_i128(r.volume, "sum(amount)")?,
                    buyers: r.a,
                    sellers: r.b,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|b| b.start);
        Ok(out)
    }

    pub async fn top(
        &self,
        filter: &Filter,
        kind: TopKind,
        limit: usize,
    ) -> Result<Vec<TopEntry>, StoreError> {
        let (key, counterparty) = match kind {
            TopKind::Sellers => ("pay_to", "payer"),
            TopKind::Buyers => ("payer", "pay_to"),
            TopKind::Facilitators => ("toString(facilitator)", "payer"),
        };
        let w = Sql::filter(filter);
        let sql = format!(
            "SELECT {key} AS key, count() AS count, sum(amount) AS volume, uniqExact({counterparty}) AS a, toUInt64(0) AS b
             FROM payments FINAL {} GROUP BY key ORDER BY volume DESC, count DESC, key ASC LIMIT {limit}",
            w.text
        );
        let rows: Vec<KeyedTotals> = bind_all(self.client.query(&sql), &w.binds)
            .fetch_all()
            .await?;
        let mut out = rows
            .into_iter()
            .map(|r| {
                Ok(TopEntry {
                    key: r.key,
                    count: r.count,
                    volume: u256_from_i128(r.volume, "sum(amount)")?,
                    counterparties: r.a,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        sort_top(&mut out);
        Ok(out)
    }

    pub async fn top_resources(&self, limit: usize) -> Result<Vec<ResourceEntry>, StoreError> {
        #[derive(Row, Deserialize)]
        struct R {
            key: String,
            count: u64,
            volume: i128,
        }
        let rows: Vec<R> = self
            .client
            .query(&format!(
                "SELECT resource_url AS key, count() AS count, sum(amount) AS volume FROM claims FINAL
                 WHERE success = 1 AND resource_url != '' GROUP BY key
                 ORDER BY volume DESC, count DESC, key ASC LIMIT {limit}"
            ))
            .fetch_all()
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ResourceEntry {
                    resource_url: r.key,
                    count: r.count,
                    volume: u256_from_i128(r.volume, "sum(amount)")?,
                })
            })
            .collect()
    }

    pub async fn payments_by_tx(&self, tx_id: &str) -> Result<Vec<Payment>, StoreError> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments FINAL WHERE tx_id = ?
             ORDER BY chain, idx_outer, idx_inner LIMIT 10000"
        );
        let rows: Vec<PaymentRow> = self.client.query(&sql).bind(tx_id).fetch_all().await?;
        rows.into_iter().map(PaymentRow::into_payment).collect()
    }

    pub async fn transactions(
        &self,
        filter: &Filter,
        after: Option<&TxCursor>,
        limit: usize,
    ) -> Result<TxPage, StoreError> {
        let mut w = Sql::filter(filter);
        if let Some(c) = after {
            // Tuple comparison spelled out: older servers lack it.
            let t = c.block_time.max(0);
            w.and(
                "(block_time < toDateTime(?) OR (block_time = toDateTime(?) AND (chain < ? OR (chain = ? AND \
                 (tx_id < ? OR (tx_id = ? AND (idx_outer < ? OR (idx_outer = ? AND idx_inner < ?))))))))",
                vec![
                    Bind::Int(t),
                    Bind::Int(t),
                    Bind::Str(c.chain.clone()),
                    Bind::Str(c.chain.clone()),
                    Bind::Str(c.tx_id.clone()),
                    Bind::Str(c.tx_id.clone()),
                    Bind::U32(c.idx_outer),
                    Bind::U32(c.idx_outer),
                    Bind::U32(c.idx_inner),
                ],
            );
        }
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments FINAL {}
             ORDER BY block_time DESC, chain DESC, tx_id DESC, idx_outer DESC, idx_inner DESC LIMIT {}",
            w.text,
            limit + 1
        );
        let rows: Vec<PaymentRow> = bind_all(self.client.query(&sql), &w.binds)
            .fetch_all()
            .await?;
        let mut items = rows
            .into_iter()
            .map(PaymentRow::into_payment)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(TxCursor::after)
        } else {
            None
        };
        Ok(TxPage { items, next })
    }

    pub async fn address_summary(&self, address: &str) -> Result<AddressSummary, StoreError> {
        let mut summary = AddressSummary {
            address: address.to_owned(),
            ..Default::default()
        };
        for (own, other, is_buyer) in [("payer", "pay_to", true), ("pay_to", "payer", false)] {
            let sql = format!(
                "SELECT count() AS count, sum(amount) AS volume, uniqExact({other}) AS counterparties,
                    toUInt32(min(block_time)) AS first, toUInt32(max(block_time)) AS last
                 FROM payments FINAL WHERE {own} = ?"
            );
            let r: SideRow = self.client.query(&sql).bind(address).fetch_one().await?;
            let side = Side {
                count: r.count,
                volume: u256_from_i128(r.volume, "sum(amount)")?,
                counterparties: r.counterparties,
                first_seen: (r.count > 0).then_some(r.first.into()),
                last_seen: (r.count > 0).then_some(r.last.into()),
            };
            if is_buyer {
                summary.as_buyer = side;
            } else {
                summary.as_seller = side;
            }
        }
        summary.facilitators = self
            .client
            .query(
                "SELECT DISTINCT toString(facilitator) AS f FROM payments FINAL WHERE payer = ? OR pay_to = ? ORDER BY f",
            )
            .bind(address)
            .bind(address)
            .fetch_all::<String>()
            .await?;
        Ok(summary)
    }
}

fn is_transient(e: &clickhouse::error::Error) -> bool {
    matches!(
        e,
        clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut
    )
}
