//! The KYT tables on ClickHouse (see `kyt.rs` for the contract). Mutable facts
//! are `ReplacingMergeTree(version)` rows read with `FINAL`; case events are a
//! plain `MergeTree`, only ever appended.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::ch::{ClickHouseStore, next_version};
use crate::kyt::*;

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct VersionRow {
    id: String,
    source: String,
    format: String,
    published_at: i64,
    loaded_at: i64,
    sha256: String,
    entry_count: u64,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct EntryRow {
    version_id: String,
    address: String,
    kind: String,
    ticker: String,
    label: String,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct ChangeRow {
    version_id: String,
    source: String,
    address: String,
    change: String,
    label: String,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct EdgeRow {
    chain: String,
    payer: String,
    pay_to: String,
    tx_from: String,
    payments: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct AlertRow {
    id: String,
    address: String,
    kind: String,
    role: String,
    listed_address: String,
    source: String,
    list_version: String,
    label: String,
    status: String,
    created_at: i64,
    updated_at: i64,
    removed_by: String,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct ScreeningRow {
    address: String,
    status: String,
    list_versions: String,
    screened_at: i64,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct CaseRow {
    id: String,
    alert_id: String,
    opened_at: i64,
    opened_by: String,
    version: u64,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct EventRow {
    case_id: String,
    seq: u64,
    at: i64,
    actor: String,
    action: String,
    payload: String,
    prev_hash: String,
    hash: String,
}

#[derive(Debug, Clone, Row, Serialize, Deserialize)]
struct KeyRow {
    key_id: String,
    reviewer: String,
    scopes: String,
    key_hash: String,
    created_at: i64,
    version: u64,
}

const ALERT_COLUMNS: &str = "id, address, kind, role, listed_address, source, list_version, label, status, created_at, updated_at, removed_by, version";

impl From<AlertRow> for Alert {
    fn from(r: AlertRow) -> Self {
        Alert {
            id: r.id,
            address: r.address,
            kind: r.kind,
            role: r.role,
            listed_address: r.listed_address,
            source: r.source,
            list_version: r.list_version,
            label: r.label,
            status: r.status,
            created_at: r.created_at,
            updated_at: r.updated_at,
            removed_by: r.removed_by,
        }
    }
}

impl From<ScreeningRow> for Screening {
    fn from(r: ScreeningRow) -> Self {
        Screening {
            address: r.address,
            status: r.status,
            list_versions: r.list_versions,
            screened_at: r.screened_at,
        }
    }
}

impl From<EventRow> for CaseEvent {
    fn from(r: EventRow) -> Self {
        CaseEvent {
            case_id: r.case_id,
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            action: r.action,
            payload: r.payload,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

fn event_row(e: CaseEvent) -> EventRow {
    EventRow {
        case_id: e.case_id,
        seq: e.seq,
        at: e.at,
        actor: e.actor,
        action: e.action,
        payload: e.payload,
        prev_hash: e.prev_hash,
        hash: e.hash,
    }
}

impl ClickHouseStore {
    pub async fn kyt_insert_list_version(
        &self,
        v: ListVersion,
        entries: Vec<ListEntry>,
        changes: Vec<ListChange>,
    ) -> Result<(), StoreError> {
        let version = next_version();
        // Entries and changes first: a version row is only visible once what it lists is.
        let rows: Vec<EntryRow> = entries
            .into_iter()
            .map(|e| EntryRow {
                version_id: e.version_id,
                address: e.address,
                kind: e.kind,
                ticker: e.ticker,
                label: e.label,
                version,
            })
            .collect();
        self.insert_all("kyt_list_entries", &rows).await?;
        let rows: Vec<ChangeRow> = changes
            .into_iter()
            .map(|c| ChangeRow {
                version_id: c.version_id,
                source: c.source,
                address: c.address,
                change: c.change,
                label: c.label,
                version,
            })
            .collect();
        self.insert_all("kyt_list_changes", &rows).await?;
        let row = VersionRow {
            id: v.id,
            source: v.source,
            format: v.format,
            published_at: v.published_at,
            loaded_at: v.loaded_at,
            sha256: v.sha256,
            entry_count: v.entry_count,
            version,
        };
        self.insert_all("kyt_list_versions", &[row]).await
    }

    pub async fn kyt_list_versions(&self) -> Result<Vec<ListVersion>, StoreError> {
        let rows: Vec<VersionRow> = self
            .client
            .query("SELECT id, source, format, published_at, loaded_at, sha256, entry_count, version FROM kyt_list_versions FINAL ORDER BY loaded_at, version")
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ListVersion {
                id: r.id,
                source: r.source,
                format: r.format,
                published_at: r.published_at,
                loaded_at: r.loaded_at,
                sha256: r.sha256,
                entry_count: r.entry_count,
            })
            .collect())
    }

    pub async fn kyt_list_entries(&self, version_id: &str) -> Result<Vec<ListEntry>, StoreError> {
        let rows: Vec<EntryRow> = self
            .client
            .query("SELECT version_id, address, kind, ticker, label, version FROM kyt_list_entries FINAL WHERE version_id = ? ORDER BY address, ticker")
            .bind(version_id)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ListEntry {
                version_id: r.version_id,
                address: r.address,
                kind: r.kind,
                ticker: r.ticker,
                label: r.label,
            })
            .collect())
    }

    pub async fn kyt_list_changes(&self) -> Result<Vec<ListChange>, StoreError> {
        let rows: Vec<ChangeRow> = self
            .client
            .query("SELECT version_id, source, address, change, label, version FROM kyt_list_changes FINAL ORDER BY version_id, change, address")
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| ListChange {
                version_id: r.version_id,
                source: r.source,
                address: r.address,
                change: r.change,
                label: r.label,
            })
            .collect())
    }

    pub async fn kyt_payment_edges(&self) -> Result<Vec<PaymentEdge>, StoreError> {
        let rows: Vec<EdgeRow> = self
            .client
            .query("SELECT chain, payer, pay_to, tx_from, count() AS payments FROM payments FINAL GROUP BY chain, payer, pay_to, tx_from")
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| PaymentEdge {
                chain: r.chain,
                payer: r.payer,
                pay_to: r.pay_to,
                tx_from: r.tx_from,
                payments: r.payments,
            })
            .collect())
    }

    pub async fn kyt_put_alerts(&self, alerts: Vec<Alert>) -> Result<(), StoreError> {
        let version = next_version();
        let rows: Vec<AlertRow> = alerts
            .into_iter()
            .map(|a| AlertRow {
                id: a.id,
                address: a.address,
                kind: a.kind,
                role: a.role,
                listed_address: a.listed_address,
                source: a.source,
                list_version: a.list_version,
                label: a.label,
                status: a.status,
                created_at: a.created_at,
                updated_at: a.updated_at,
                removed_by: a.removed_by,
                version,
            })
            .collect();
        self.insert_all("kyt_alerts", &rows).await
    }

    pub async fn kyt_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<AlertRow> = self
            .client
            .query(&format!(
                "SELECT {ALERT_COLUMNS} FROM kyt_alerts FINAL ORDER BY id"
            ))
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(Alert::from).collect())
    }

    pub async fn kyt_put_screenings(&self, items: Vec<Screening>) -> Result<(), StoreError> {
        let version = next_version();
        let rows: Vec<ScreeningRow> = items
            .into_iter()
            .map(|s| ScreeningRow {
                address: s.address,
                status: s.status,
                list_versions: s.list_versions,
                screened_at: s.screened_at,
                version,
            })
            .collect();
        self.insert_all("kyt_screenings", &rows).await
    }

    pub async fn kyt_screening(&self, address: &str) -> Result<Option<Screening>, StoreError> {
        let rows: Vec<ScreeningRow> = self
            .client
            .query("SELECT address, status, list_versions, screened_at, version FROM kyt_screenings FINAL WHERE address = ?")
            .bind(address)
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .max_by_key(|r| r.version)
            .map(Screening::from))
    }

    pub async fn kyt_screenings(&self) -> Result<Vec<Screening>, StoreError> {
        let rows: Vec<ScreeningRow> = self
            .client
            .query("SELECT address, status, list_versions, screened_at, version FROM kyt_screenings FINAL ORDER BY address")
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(Screening::from).collect())
    }

    pub async fn kyt_create_case(&self, case: Case, first: CaseEvent) -> Result<(), StoreError> {
        let exists: u64 = self
            .client
            .query("SELECT count() FROM kyt_cases WHERE id = ?")
            .bind(case.id.as_str())
            .fetch_one()
            .await?;
        if exists > 0 {
            return Err(StoreError::Conflict(format!("case {} exists", case.id)));
        }
        // The event first: a case row is only visible once its opening event is.
        self.kyt_append_event(first).await?;
        let row = CaseRow {
            id: case.id,
            alert_id: case.alert_id,
            opened_at: case.opened_at,
            opened_by: case.opened_by,
            version: next_version(),
        };
        self.insert_all("kyt_cases", &[row]).await
    }

    pub async fn kyt_cases(&self) -> Result<Vec<Case>, StoreError> {
        let rows: Vec<CaseRow> = self
            .client
            .query("SELECT id, alert_id, opened_at, opened_by, version FROM kyt_cases FINAL ORDER BY opened_at, id")
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Case {
                id: r.id,
                alert_id: r.alert_id,
                opened_at: r.opened_at,
                opened_by: r.opened_by,
            })
            .collect())
    }

    /// ClickHouse has no transactions: the seq check and the insert are two
    /// steps, so two writers racing on one case could both pass the check.
    /// `x402scope screen verify` reports a duplicated seq as a broken chain.
    pub async fn kyt_append_event(&self, event: CaseEvent) -> Result<(), StoreError> {
        let next: u64 = self
            .client
            .query("SELECT count() FROM kyt_case_events WHERE case_id = ?")
            .bind(event.case_id.as_str())
            .fetch_one()
            .await?;
        if next != event.seq {
            return Err(StoreError::Conflict(format!(
                "case {} has {next} events; event {} cannot be appended",
                event.case_id, event.seq
            )));
        }
        self.insert_all("kyt_case_events", &[event_row(event)])
            .await
    }

    pub async fn kyt_events(&self, case_id: Option<&str>) -> Result<Vec<CaseEvent>, StoreError> {
        let sql =
            "SELECT case_id, seq, at, actor, action, payload, prev_hash, hash FROM kyt_case_events";
        let rows: Vec<EventRow> = match case_id {
            Some(id) => {
                self.client
                    .query(&format!("{sql} WHERE case_id = ? ORDER BY case_id, seq"))
                    .bind(id)
                    .fetch_all()
                    .await?
            }
            None => {
                self.client
                    .query(&format!("{sql} ORDER BY case_id, seq"))
                    .fetch_all()
                    .await?
            }
        };
        Ok(rows.into_iter().map(CaseEvent::from).collect())
    }

    pub async fn kyt_put_key(&self, key: ApiKey) -> Result<(), StoreError> {
        let row = KeyRow {
            key_id: key.key_id,
            reviewer: key.reviewer,
            scopes: key.scopes,
            key_hash: key.key_hash,
            created_at: key.created_at,
            version: next_version(),
        };
        self.insert_all("kyt_api_keys", &[row]).await
    }

    pub async fn kyt_key(&self, key_id: &str) -> Result<Option<ApiKey>, StoreError> {
        let rows: Vec<KeyRow> = self
            .client
            .query("SELECT key_id, reviewer, scopes, key_hash, created_at, version FROM kyt_api_keys FINAL WHERE key_id = ?")
            .bind(key_id)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().max_by_key(|r| r.version).map(|r| ApiKey {
            key_id: r.key_id,
            reviewer: r.reviewer,
            scopes: r.scopes,
            key_hash: r.key_hash,
            created_at: r.created_at,
        }))
    }
}
