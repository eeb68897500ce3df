//! The analysis tables on SQLite (see `analysis.rs` for the contract).

use rusqlite::{OptionalExtension, Row, params};

use crate::analysis::*;
use crate::sqlite::{SqliteStore, parse_amount, payment_from_row, to_i64};
use crate::{ListingSnapshot, Payment, StoreError};

const PAYMENT_COLUMNS: &str = "chain, tx_id, idx_outer, idx_inner, block_number, block_hash, block_time, asset, \
    payer, pay_to, amount, nonce, facilitator, tx_from, method";

const MATCH_COLUMNS: &str = "row_key, claim_source, claim_id, network, tx_id, idx_outer, idx_inner, has_payment, \
    status, rule, payer, pay_to, asset, amount, claimed_amount, block_time, claimed_at, facilitator, resource, \
    price_status, listed_amount, is_final, is_organic, detail, run_at";

fn match_of(r: &Row<'_>) -> Result<MatchRow, StoreError> {
    Ok(MatchRow {
        row_key: r.get(0)?,
        claim_source: r.get(1)?,
        claim_id: r.get(2)?,
        network: r.get(3)?,
        tx_id: r.get(4)?,
        idx_outer: r.get(5)?,
        idx_inner: r.get(6)?,
        has_payment: r.get(7)?,
        status: r.get(8)?,
        rule: r.get(9)?,
        payer: r.get(10)?,
        pay_to: r.get(11)?,
        asset: r.get(12)?,
        amount: parse_amount(&r.get::<_, String>(13)?, "analysis_matches.amount")?,
        claimed_amount: parse_amount(&r.get::<_, String>(14)?, "analysis_matches.claimed_amount")?,
        block_time: r.get(15)?,
        claimed_at: r.get(16)?,
        facilitator: r.get(17)?,
        resource: r.get(18)?,
        price_status: r.get(19)?,
        listed_amount: parse_amount(&r.get::<_, String>(20)?, "analysis_matches.listed_amount")?,
        is_final: r.get(21)?,
        is_organic: r.get(22)?,
        detail: r.get(23)?,
        run_at: r.get(24)?,
    })
}

/// Rows one analysis write job changes at most, so that no one transaction
/// holds the writer long. Each job runs alone in its transaction
/// ([`SqliteStore::write_alone`]): in a savepoint, SQLite would keep the first
/// image of every page the job changes in memory (20,000 scattered rows held
/// 143 MiB, 2,000 rows 32 MiB).
const ROWS_PER_WRITE: usize = 2_000;

/// Run an analysis write with a small page cache: such a write touches pages
/// all over tables of a million rows once each, so the writer's full cache
/// would only fill with pages no later write reuses. The cache is put back
/// after, for the next job's payment inserts.
fn analysis_write<R>(
    conn: &rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    // Lowering cache_size alone did not bound the cache: over a run on 1M
    // payments it grew to 27 MiB. Dropping its unused pages first keeps it
    // under 2 MiB, at no measurable cost (a run's jobs touch pages once).
    conn.execute_batch("PRAGMA cache_size = -8192; PRAGMA shrink_memory")?;
    let out = f(conn);
    conn.execute_batch(crate::sqlite::WRITER_CACHE)?;
    out
}

impl SqliteStore {
    pub async fn analysis_payments(&self) -> Result<Vec<Payment>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {PAYMENT_COLUMNS}, is_final, is_organic FROM payments
                 ORDER BY chain, tx_id, idx_outer, idx_inner"
            ))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(payment_from_row(r)?);
            }
            Ok(out)
        })
        .await
    }

    pub async fn analysis_payments_page(
        &self,
        after: Option<PaymentKey>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        self.key_page(
            format!("SELECT {PAYMENT_COLUMNS}, is_final, is_organic FROM payments"),
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
            format!("SELECT {PAYMENT_COLUMNS}, 0, 1 FROM analysis_observed"),
            after,
            limit,
        )
        .await
    }

    /// Up to `limit` rows of `select` after `after`, in key order.
    async fn key_page(
        &self,
        select: String,
        after: Option<PaymentKey>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let order = "ORDER BY chain, tx_id, idx_outer, idx_inner LIMIT";
            let mut out = Vec::new();
            let mut push = |mut rows: rusqlite::Rows<'_>| -> Result<(), StoreError> {
                while let Some(r) = rows.next()? {
                    out.push(payment_from_row(r)?);
                }
                Ok(())
            };
            match &after {
                None => {
                    let mut stmt = conn.prepare_cached(&format!("{select} {order} ?1"))?;
                    push(stmt.query(params![limit])?)?;
                }
                Some(k) => {
                    let mut stmt = conn.prepare_cached(&format!(
                        "{select} WHERE (chain, tx_id, idx_outer, idx_inner) > (?1, ?2, ?3, ?4) {order} ?5"
                    ))?;
                    push(stmt.query(params![k.chain, k.tx_id, k.idx_outer, k.idx_inner, limit])?)?;
                }
            }
            Ok(out)
        })
        .await
    }

    pub async fn analysis_listings(&self) -> Result<Vec<ListingSnapshot>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT source, resource, accept_index, snapshot_hash, observed_at, scheme, network, asset, pay_to, amount
                 FROM listing_snapshots ORDER BY source, resource, accept_index, observed_at, snapshot_hash",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(ListingSnapshot {
                    source: r.get(0)?,
                    resource: r.get(1)?,
                    accept_index: r.get(2)?,
                    snapshot_hash: r.get(3)?,
                    observed_at: r.get(4)?,
                    scheme: r.get(5)?,
                    network: r.get(6)?,
                    asset: r.get(7)?,
                    pay_to: r.get(8)?,
                    amount: parse_amount(&r.get::<_, String>(9)?, "listing_snapshots.amount")?,
                    raw: String::new(),
                });
            }
            Ok(out)
        })
        .await
    }

    pub async fn analysis_observe(&self, payments: Vec<Payment>) -> Result<(), StoreError> {
        self.write_alone(move |conn| {
            analysis_write(conn, |conn| {
                let mut stmt = conn.prepare_cached(&format!(
                    "INSERT OR REPLACE INTO analysis_observed ({PAYMENT_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ))?;
                for p in &payments {
                    stmt.execute(params![
                        p.chain,
                        p.tx_id,
                        p.idx_outer,
                        p.idx_inner,
                        to_i64(p.block_number, "block_number")?,
                        p.block_hash,
                        p.block_time,
                        p.asset,
                        p.payer,
                        p.pay_to,
                        p.amount.to_string(),
                        p.nonce,
                        p.facilitator,
                        p.tx_from,
                        p.method
                    ])?;
                }
                Ok(())
            })
        })
        .await
    }

    pub async fn analysis_observed(&self) -> Result<Vec<Payment>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {PAYMENT_COLUMNS}, 0, 1 FROM analysis_observed
                 ORDER BY chain, tx_id, idx_outer, idx_inner"
            ))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(payment_from_row(r)?);
            }
            Ok(out)
        })
        .await
    }

    pub async fn analysis_set_organic(
        &self,
        flags: Vec<(PaymentKey, bool)>,
    ) -> Result<u64, StoreError> {
        let mut n = 0u64;
        let mut flags = flags.into_iter().peekable();
        while flags.peek().is_some() {
            let chunk: Vec<(PaymentKey, bool)> = flags.by_ref().take(ROWS_PER_WRITE).collect();
            n += self
                .write_alone(move |conn| {
                    analysis_write(conn, |conn| {
                        let mut stmt = conn.prepare_cached(
                            "UPDATE payments SET is_organic = ?1
                             WHERE chain = ?2 AND tx_id = ?3 AND idx_outer = ?4 AND idx_inner = ?5",
                        )?;
                        let mut n = 0u64;
                        for (k, organic) in &chunk {
                            n += stmt.execute(params![
                                organic,
                                k.chain,
                                k.tx_id,
                                k.idx_outer,
                                k.idx_inner
                            ])? as u64;
                        }
                        Ok(n)
                    })
                })
                .await?;
        }
        Ok(n)
    }

    pub async fn analysis_stage(&self, run: u64, rows: Vec<MatchRow>) -> Result<(), StoreError> {
        self.write_alone(move |conn| analysis_write(conn, |conn| {
            let run = to_i64(run, "run_id")?;
            let mut stmt = conn.prepare_cached(&format!(
                "INSERT OR REPLACE INTO analysis_matches (run_id, {MATCH_COLUMNS}) VALUES
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)"
            ))?;
            for m in &rows {
                stmt.execute(params![
                    run,
                    m.row_key,
                    m.claim_source,
                    m.claim_id,
                    m.network,
                    m.tx_id,
                    m.idx_outer,
                    m.idx_inner,
                    m.has_payment,
                    m.status,
                    m.rule,
                    m.payer,
                    m.pay_to,
                    m.asset,
                    m.amount.to_string(),
                    m.claimed_amount.to_string(),
                    m.block_time,
                    m.claimed_at,
                    m.facilitator,
                    m.resource,
                    m.price_status,
                    m.listed_amount.to_string(),
                    m.is_final,
                    m.is_organic,
                    m.detail,
                    m.run_at
                ])?;
            }
            Ok(())
        }))
        .await
    }

    pub async fn analysis_commit(
        &self,
        run: u64,
        flags: Vec<AddressFlag>,
        run_at: i64,
    ) -> Result<(), StoreError> {
        let run = to_i64(run, "run_id")?;
        self.write(move |conn| {
            conn.execute("DELETE FROM analysis_address_flags", [])?;
            let mut stmt = conn.prepare_cached(
                "INSERT OR REPLACE INTO analysis_address_flags (address, flag, detail, run_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for f in &flags {
                stmt.execute(params![f.address, f.flag, f.detail, f.run_at])?;
            }
            conn.execute(
                "INSERT OR REPLACE INTO analysis_runs (id, finished_at, run_id) VALUES (1, ?1, ?2)",
                params![run_at, run],
            )?;
            Ok(())
        })
        .await?;
        // Earlier runs' rows (and those of a run that never committed) are no
        // longer read: delete them a key range at a time, so that no one
        // transaction holds the writer long.
        loop {
            let deleted = self
                .write_alone(move |conn| analysis_write(conn, |conn| {
                    let old: Option<i64> = conn
                        .prepare_cached(
                            "SELECT run_id FROM analysis_matches WHERE run_id < ?1 ORDER BY run_id LIMIT 1",
                        )?
                        .query_row(params![run], |r| r.get(0))
                        .optional()?;
                    let Some(old) = old else {
                        return Ok(0);
                    };
                    let last: Option<String> = conn
                        .prepare_cached(
                            "SELECT row_key FROM analysis_matches WHERE run_id = ?1
                             ORDER BY row_key LIMIT 1 OFFSET ?2",
                        )?
                        .query_row(params![old, ROWS_PER_WRITE as i64 - 1], |r| r.get(0))
                        .optional()?;
                    Ok(match last {
                        Some(last) => conn.execute(
                            "DELETE FROM analysis_matches WHERE run_id = ?1 AND row_key <= ?2",
                            params![old, last],
                        )?,
                        None => conn.execute(
                            "DELETE FROM analysis_matches WHERE run_id = ?1",
                            params![old],
                        )?,
                    })
                }))
                .await?;
            if deleted == 0 {
                break;
            }
        }
        // A run wrote hundreds of MiB through the writer's cache; give back
        // what it holds now rather than keep it until the next long write.
        self.write(|conn| {
            conn.execute_batch("PRAGMA shrink_memory")?;
            Ok(())
        })
        .await
    }

    pub async fn analysis_matches(
        &self,
        pay_to: Option<&str>,
    ) -> Result<Vec<MatchRow>, StoreError> {
        let pay_to = pay_to.map(str::to_owned);
        self.read(move |conn| {
            let mut out = Vec::new();
            let run = "(SELECT run_id FROM analysis_runs WHERE id = 1)";
            let sql = match &pay_to {
                Some(_) => format!(
                    "SELECT {MATCH_COLUMNS} FROM analysis_matches WHERE run_id = {run} AND pay_to = ?1 ORDER BY row_key"
                ),
                None => format!(
                    "SELECT {MATCH_COLUMNS} FROM analysis_matches WHERE run_id = {run} ORDER BY row_key"
                ),
            };
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = match &pay_to {
                Some(p) => stmt.query(params![p])?,
                None => stmt.query([])?,
            };
            while let Some(r) = rows.next()? {
                out.push(match_of(r)?);
            }
            Ok(out)
        })
        .await
    }

    pub async fn analysis_address_flags(&self) -> Result<Vec<AddressFlag>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT address, flag, detail, run_at FROM analysis_address_flags ORDER BY address, flag",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(AddressFlag {
                    address: r.get(0)?,
                    flag: r.get(1)?,
                    detail: r.get(2)?,
                    run_at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn analysis_last_run(&self) -> Result<Option<i64>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT finished_at FROM analysis_runs WHERE id = 1")?;
            let mut rows = stmt.query([])?;
            Ok(match rows.next()? {
                Some(r) => Some(r.get(0)?),
                None => None,
            })
        })
        .await
    }
}
