//! Counts for monitoring (the web server's `/metrics`), read at scrape time:
//! probe runs by outcome, findings by severity, and the webhook inbox by
//! source and status. Each is one aggregate query per backend.

use clickhouse::Row;
use serde::Deserialize;

use crate::ch::ClickHouseStore;
use crate::sqlite::SqliteStore;
use crate::{Store, StoreError};

/// A count under some labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelCount {
    pub labels: Vec<String>,
    pub count: u64,
}

/// What the probe runs and findings say, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeStats {
    /// Runs by outcome: `unreachable` (no HTTP answer), `noncompliant` (at
    /// least one `must` finding), `compliant`; sorted by outcome.
    pub runs: Vec<LabelCount>,
    /// Findings by severity (`must`, `should`, `interop`), sorted.
    pub findings: Vec<LabelCount>,
}

/// The outcome of one run, as [`ProbeStats::runs`] names it.
const OUTCOME_SQL: &str = "CASE WHEN r.status_code = 0 THEN 'unreachable' \
     WHEN r.id IN (SELECT run_id FROM probe_findings WHERE severity = 'must') THEN 'noncompliant' \
     ELSE 'compliant' END";

impl Store {
    /// Probe runs by outcome and findings by severity.
    pub async fn probe_stats(&self) -> Result<ProbeStats, StoreError> {
        match self {
            Store::Sqlite(s) => s.probe_stats().await,
            Store::ClickHouse(c) => c.probe_stats().await,
        }
    }

    /// Webhook inbox envelopes by (source, status): `received` (waiting for
    /// the processor), `processed`, `rejected`; sorted.
    pub async fn inbox_counts(&self) -> Result<Vec<LabelCount>, StoreError> {
        match self {
            Store::Sqlite(s) => s.inbox_counts().await,
            Store::ClickHouse(c) => c.inbox_counts().await,
        }
    }
}

fn one(labels: Vec<String>, count: i64) -> LabelCount {
    LabelCount {
        labels,
        count: u64::try_from(count).unwrap_or(0),
    }
}

impl SqliteStore {
    async fn probe_stats(&self) -> Result<ProbeStats, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {OUTCOME_SQL} AS outcome, count(*) FROM probe_runs r GROUP BY outcome ORDER BY outcome"
            ))?;
            let runs = stmt
                .query_map([], |r| Ok(one(vec![r.get(0)?], r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut stmt = conn.prepare(
                "SELECT severity, count(*) FROM probe_findings GROUP BY severity ORDER BY severity",
            )?;
            let findings = stmt
                .query_map([], |r| Ok(one(vec![r.get(0)?], r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ProbeStats { runs, findings })
        })
        .await
    }

    async fn inbox_counts(&self) -> Result<Vec<LabelCount>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT source, status, count(*) FROM webhook_inbox GROUP BY source, status ORDER BY source, status",
            )?;
            let rows = stmt
                .query_map([], |r| Ok(one(vec![r.get(0)?, r.get(1)?], r.get(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}

#[derive(Debug, Row, Deserialize)]
struct KeyCount {
    key: String,
    n: u64,
}

#[derive(Debug, Row, Deserialize)]
struct PairCount {
    a: String,
    b: String,
    n: u64,
}

impl ClickHouseStore {
    async fn probe_stats(&self) -> Result<ProbeStats, StoreError> {
        // FINAL: a re-inserted run or finding counts once.
        let runs: Vec<KeyCount> = self
            .client
            .query(
                "SELECT multiIf(status_code = 0, 'unreachable', \
                 id IN (SELECT run_id FROM probe_findings FINAL WHERE severity = 'must'), 'noncompliant', \
                 'compliant') AS key, count() AS n FROM probe_runs FINAL GROUP BY key ORDER BY key",
            )
            .fetch_all()
            .await?;
        let findings: Vec<KeyCount> = self
            .client
            .query(
                "SELECT toString(severity) AS key, count() AS n FROM probe_findings FINAL \
                 GROUP BY key ORDER BY key",
            )
            .fetch_all()
            .await?;
        let conv = |v: Vec<KeyCount>| {
            v.into_iter()
                .map(|k| LabelCount {
                    labels: vec![k.key],
                    count: k.n,
                })
                .collect()
        };
        Ok(ProbeStats {
            runs: conv(runs),
            findings: conv(findings),
        })
    }

    async fn inbox_counts(&self) -> Result<Vec<LabelCount>, StoreError> {
        let rows: Vec<PairCount> = self
            .client
            .query(
                "SELECT source AS a, toString(status) AS b, count() AS n FROM webhook_inbox FINAL \
                 GROUP BY a, b ORDER BY a, b",
            )
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| LabelCount {
                labels: vec![r.a, r.b],
                count: r.n,
            })
            .collect())
    }
}
