//! The KYT tables on SQLite (see `kyt.rs` for the contract).

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::StoreError;
use crate::kyt::*;
use crate::sqlite::SqliteStore;

fn u64_of(v: i64, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        column,
        detail: format!("negative value {v}"),
    })
}

fn i64_of(v: u64, column: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{column} {v} exceeds i64")))
}

fn alert_of(r: &Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: r.get(0)?,
        address: r.get(1)?,
        kind: r.get(2)?,
        role: r.get(3)?,
        listed_address: r.get(4)?,
        source: r.get(5)?,
        list_version: r.get(6)?,
        label: r.get(7)?,
        status: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        removed_by: r.get(11)?,
    })
}

const ALERT_COLUMNS: &str = "id, address, kind, role, listed_address, source, list_version, label, status, created_at, updated_at, removed_by";

fn screening_of(r: &Row<'_>) -> rusqlite::Result<Screening> {
    Ok(Screening {
        address: r.get(0)?,
        status: r.get(1)?,
        list_versions: r.get(2)?,
        screened_at: r.get(3)?,
    })
}

fn insert_event(conn: &Connection, e: &CaseEvent) -> Result<(), StoreError> {
    let next: i64 = conn.query_row(
        "SELECT count(*) FROM kyt_case_events WHERE case_id = ?1",
        params![e.case_id],
        |r| r.get(0),
    )?;
    if u64_of(next, "kyt_case_events.seq")? != e.seq {
        return Err(StoreError::Conflict(format!(
            "case {} has {next} events; event {} cannot be appended",
            e.case_id, e.seq
        )));
    }
    conn.execute(
        "INSERT INTO kyt_case_events (case_id, seq, at, actor, action, payload, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            e.case_id,
            i64_of(e.seq, "seq")?,
            e.at,
            e.actor,
            e.action,
            e.payload,
            e.prev_hash,
            e.hash
        ],
    )?;
    Ok(())
}

impl SqliteStore {
    pub async fn kyt_insert_list_version(
        &self,
        version: ListVersion,
        entries: Vec<ListEntry>,
        changes: Vec<ListChange>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO kyt_list_versions (id, source, format, published_at, loaded_at, sha256, entry_count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    version.id,
                    version.source,
                    version.format,
                    version.published_at,
                    version.loaded_at,
                    version.sha256,
                    i64_of(version.entry_count, "entry_count")?
                ],
            )?;
            let mut stmt = conn.prepare_cached(
                "INSERT OR IGNORE INTO kyt_list_entries (version_id, address, kind, ticker, label) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for e in &entries {
                stmt.execute(params![e.version_id, e.address, e.kind, e.ticker, e.label])?;
            }
            let mut stmt = conn.prepare_cached(
                "INSERT OR IGNORE INTO kyt_list_changes (version_id, source, address, change, label) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for c in &changes {
                stmt.execute(params![c.version_id, c.source, c.address, c.change, c.label])?;
            }
            Ok(())
        })
        .await
    }

    pub async fn kyt_list_versions(&self) -> Result<Vec<ListVersion>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, source, format, published_at, loaded_at, sha256, entry_count
                 FROM kyt_list_versions ORDER BY loaded_at, rowid",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })?;
            rows.map(|row| {
                let (id, source, format, published_at, loaded_at, sha256, n) = row?;
                Ok(ListVersion {
                    id,
                    source,
                    format,
                    published_at,
                    loaded_at,
                    sha256,
                    entry_count: u64_of(n, "entry_count")?,
                })
            })
            .collect()
        })
        .await
    }

    pub async fn kyt_list_entries(&self, version_id: &str) -> Result<Vec<ListEntry>, StoreError> {
        let version_id = version_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT version_id, address, kind, ticker, label FROM kyt_list_entries
                 WHERE version_id = ?1 ORDER BY address, ticker",
            )?;
            let rows = stmt.query_map(params![version_id], |r| {
                Ok(ListEntry {
                    version_id: r.get(0)?,
                    address: r.get(1)?,
                    kind: r.get(2)?,
                    ticker: r.get(3)?,
                    label: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn kyt_list_changes(&self) -> Result<Vec<ListChange>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT version_id, source, address, change, label FROM kyt_list_changes
                 ORDER BY version_id, change, address",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(ListChange {
                    version_id: r.get(0)?,
                    source: r.get(1)?,
                    address: r.get(2)?,
                    change: r.get(3)?,
                    label: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn kyt_payment_edges(&self) -> Result<Vec<PaymentEdge>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT chain, payer, pay_to, tx_from, count(*) FROM payments
                 GROUP BY chain, payer, pay_to, tx_from",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            rows.map(|row| {
                let (chain, payer, pay_to, tx_from, n) = row?;
                Ok(PaymentEdge {
                    chain,
                    payer,
                    pay_to,
                    tx_from,
                    payments: u64_of(n, "count")?,
                })
            })
            .collect()
        })
        .await
    }

    pub async fn kyt_put_alerts(&self, alerts: Vec<Alert>) -> Result<(), StoreError> {
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "INSERT OR REPLACE INTO kyt_alerts ({ALERT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))?;
            for a in &alerts {
                stmt.execute(params![
                    a.id,
                    a.address,
                    a.kind,
                    a.role,
                    a.listed_address,
                    a.source,
                    a.list_version,
                    a.label,
                    a.status,
                    a.created_at,
                    a.updated_at,
                    a.removed_by
                ])?;
            }
            Ok(())
        })
        .await
    }

    pub async fn kyt_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {ALERT_COLUMNS} FROM kyt_alerts ORDER BY id"
            ))?;
            let rows = stmt.query_map([], alert_of)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn kyt_put_screenings(&self, items: Vec<Screening>) -> Result<(), StoreError> {
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT OR REPLACE INTO kyt_screenings (address, status, list_versions, screened_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for s in &items {
                stmt.execute(params![s.address, s.status, s.list_versions, s.screened_at])?;
            }
            Ok(())
        })
        .await
    }

    pub async fn kyt_screening(&self, address: &str) -> Result<Option<Screening>, StoreError> {
        let address = address.to_owned();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT address, status, list_versions, screened_at FROM kyt_screenings WHERE address = ?1",
                    params![address],
                    screening_of,
                )
                .optional()?)
        })
        .await
    }

    pub async fn kyt_screenings(&self) -> Result<Vec<Screening>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT address, status, list_versions, screened_at FROM kyt_screenings ORDER BY address",
            )?;
            let rows = stmt.query_map([], screening_of)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn kyt_create_case(&self, case: Case, first: CaseEvent) -> Result<(), StoreError> {
        self.write(move |conn| {
            let exists: i64 = conn.query_row(
                "SELECT count(*) FROM kyt_cases WHERE id = ?1",
                params![case.id],
                |r| r.get(0),
            )?;
            if exists > 0 {
                return Err(StoreError::Conflict(format!("case {} exists", case.id)));
            }
            conn.execute(
                "INSERT INTO kyt_cases (id, alert_id, opened_at, opened_by) VALUES (?1, ?2, ?3, ?4)",
                params![case.id, case.alert_id, case.opened_at, case.opened_by],
            )?;
            insert_event(conn, &first)
        })
        .await
    }

    pub async fn kyt_cases(&self) -> Result<Vec<Case>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, alert_id, opened_at, opened_by FROM kyt_cases ORDER BY opened_at, id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Case {
                    id: r.get(0)?,
                    alert_id: r.get(1)?,
                    opened_at: r.get(2)?,
                    opened_by: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn kyt_append_event(&self, event: CaseEvent) -> Result<(), StoreError> {
        self.write(move |conn| insert_event(conn, &event)).await
    }

    pub async fn kyt_events(&self, case_id: Option<&str>) -> Result<Vec<CaseEvent>, StoreError> {
        let case_id = case_id.map(str::to_owned);
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT case_id, seq, at, actor, action, payload, prev_hash, hash FROM kyt_case_events
                 WHERE ?1 IS NULL OR case_id = ?1 ORDER BY case_id, seq",
            )?;
            let rows = stmt.query_map(params![case_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })?;
            rows.map(|row| {
                let (case_id, seq, at, actor, action, payload, prev_hash, hash) = row?;
                Ok(CaseEvent {
                    case_id,
                    seq: u64_of(seq, "kyt_case_events.seq")?,
                    at,
                    actor,
                    action,
                    payload,
                    prev_hash,
                    hash,
                })
            })
            .collect()
        })
        .await
    }

    pub async fn kyt_put_key(&self, key: ApiKey) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO kyt_api_keys (key_id, reviewer, scopes, key_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.key_id, key.reviewer, key.scopes, key.key_hash, key.created_at],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn kyt_key(&self, key_id: &str) -> Result<Option<ApiKey>, StoreError> {
        let key_id = key_id.to_owned();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT key_id, reviewer, scopes, key_hash, created_at FROM kyt_api_keys WHERE key_id = ?1",
                    params![key_id],
                    |r| {
                        Ok(ApiKey {
                            key_id: r.get(0)?,
                            reviewer: r.get(1)?,
                            scopes: r.get(2)?,
                            key_hash: r.get(3)?,
                            created_at: r.get(4)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }
}
