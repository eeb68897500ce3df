//! The x402scope store: one contract, two backends.
//!
//! Every source (indexers, ingest, probe) writes facts here, and everything that
//! reads (analysis, web, CLI) reads through the query API below. [`Store`] is
//! that contract; it is backed by SQLite (one file, the embedded default) or by
//! ClickHouse (for scale). The same conformance suite runs against both.
//!
//! Guarantees both backends keep:
//! - writes are idempotent by natural key: a replay changes nothing;
//! - [`Store::commit_payments`] writes the payments, then the window blocks, then
//!   the checkpoint, so the checkpoint never covers data that is not committed;
//! - [`Store::rollback_above`] removes rows above a fork so that a re-insert of
//!   the same keys shows the new rows;
//! - amounts are exact (uint256 in, uint256 out); a stored value that does not
//!   fit is an error, never a wrap.
//!
//! It does not read the environment or any config file: it is handed a [`StoreUrl`].

pub mod analysis;
mod ch;
mod ch_analysis;
mod ch_kyt;
mod ch_solana;
pub mod kyt;
mod migrate;
pub mod model;
mod probe;
pub mod solana;
mod sqlite;
mod sqlite_analysis;
mod sqlite_kyt;
mod sqlite_solana;
mod stats;
mod url;

pub use analysis::{AddressFlag, AnalysisRun, MatchRow, PaymentKey};
pub use kyt::*;
pub use migrate::{MigrationReport, migrations};
pub use model::*;
pub use probe::ProbeSpend;
pub use solana::{PendingTx, SolanaCursor};
pub use stats::{LabelCount, ProbeStats};
pub use url::{StoreUrl, StoreUrlError};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Url(#[from] StoreUrlError),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("ClickHouse: {0}")]
    ClickHouse(String),
    #[error(
        "the database has migration {found} ({name}), which this x402scope does not know (it knows up to {known}); upgrade x402scope instead of running an older one on it"
    )]
    NewerSchema {
        found: u32,
        name: String,
        known: u32,
    },
    #[error("the database is not migrated (missing migration {0}): run `x402scope migrate`")]
    NotMigrated(u32),
    #[error("stored value in {column} is not valid: {detail}")]
    Corrupt {
        column: &'static str,
        detail: String,
    },
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("the store's writer has stopped")]
    WriterGone,
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("conflict: {0}")]
    Conflict(String),
}

impl From<clickhouse::error::Error> for StoreError {
    fn from(e: clickhouse::error::Error) -> Self {
        StoreError::ClickHouse(e.to_string())
    }
}

/// A store, of either backend.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    ClickHouse(Box<ch::ClickHouseStore>),
}

/// Open the store at `url`, refusing an unmigrated or newer database.
pub async fn open(url: &StoreUrl) -> Result<Store, StoreError> {
    let store = connect(url).await?;
    store.check_schema().await?;
    Ok(store)
}

/// Apply the migrations `url` lacks; report what was applied.
pub async fn migrate(url: &StoreUrl) -> Result<MigrationReport, StoreError> {
    match connect(url).await? {
        Store::Sqlite(s) => s.migrate().await,
        Store::ClickHouse(c) => c.migrate().await,
    }
}

async fn connect(url: &StoreUrl) -> Result<Store, StoreError> {
    Ok(match url {
        StoreUrl::Sqlite(path) => Store::Sqlite(sqlite::SqliteStore::open(path).await?),
        StoreUrl::ClickHouse { .. } => {
            Store::ClickHouse(Box::new(ch::ClickHouseStore::connect(url)?))
        }
    })
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e,
            Store::ClickHouse($s) => $e,
        }
    };
}

impl Store {
    /// The backend's name, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::ClickHouse(_) => "clickhouse",
        }
    }

    async fn check_schema(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.check_schema().await)
    }

    // ---- payments, checkpoints, reorgs ----

    /// Write payments, then window blocks, then the checkpoint (if any).
    pub async fn commit_payments(
        &self,
        payments: Vec<Payment>,
        blocks: Vec<WindowBlock>,
        checkpoint: Option<Checkpoint>,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.commit_payments(payments, blocks, checkpoint).await)
    }

    /// Remove payments and window blocks of `chain` above `block`, and move its
    /// checkpoint back to (`block`, `hash`).
    pub async fn rollback_above(
        &self,
        chain: &str,
        block: u64,
        hash: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.rollback_above(chain, block, hash).await)
    }

    /// Mark the payments of `chain` up to block `up_to` final (below the chain's
    /// finality: no reorg can remove them). Returns how many rows changed.
    pub async fn mark_final(&self, chain: &str, up_to: u64) -> Result<u64, StoreError> {
        dispatch!(self, s => s.mark_final(chain, up_to).await)
    }

    pub async fn checkpoint(&self, chain: &str) -> Result<Option<Checkpoint>, StoreError> {
        dispatch!(self, s => s.checkpoint(chain).await)
    }

    /// The newest `limit` window blocks of `chain`, newest first.
    pub async fn window(&self, chain: &str, limit: usize) -> Result<Vec<WindowBlock>, StoreError> {
        dispatch!(self, s => s.window(chain, limit).await)
    }

    // ---- facilitators ----

    pub async fn upsert_facilitators(&self, items: Vec<Facilitator>) -> Result<(), StoreError> {
        dispatch!(self, s => s.upsert_facilitators(items).await)
    }

    pub async fn facilitators(&self) -> Result<Vec<Facilitator>, StoreError> {
        dispatch!(self, s => s.facilitators().await)
    }

    /// Record signers; a known (network, address, facilitator) keeps its
    /// first_seen and gets the later last_seen.
    pub async fn record_signers(&self, items: Vec<Signer>) -> Result<(), StoreError> {
        dispatch!(self, s => s.record_signers(items).await)
    }

    pub async fn signers(&self) -> Result<Vec<Signer>, StoreError> {
        dispatch!(self, s => s.signers().await)
    }

    /// Record /supported kinds; a known kind keeps its first_seen and gets the
    /// later last_seen.
    pub async fn record_kinds(&self, items: Vec<FacilitatorKind>) -> Result<(), StoreError> {
        dispatch!(self, s => s.record_kinds(items).await)
    }

    /// Every kind ever seen, by (facilitator_id, x402_version, scheme, network).
    pub async fn kinds(&self) -> Result<Vec<FacilitatorKind>, StoreError> {
        dispatch!(self, s => s.kinds().await)
    }

    // ---- listings ----

    pub async fn insert_listings(&self, items: Vec<ListingSnapshot>) -> Result<(), StoreError> {
        dispatch!(self, s => s.insert_listings(items).await)
    }

    /// Every snapshot of `resource`, oldest first.
    pub async fn listing_history(
        &self,
        resource: &str,
    ) -> Result<Vec<ListingSnapshot>, StoreError> {
        dispatch!(self, s => s.listing_history(resource).await)
    }

    // ---- webhooks and claims ----

    /// Store a delivery durably. Returns false if (source, webhook_id) was
    /// already there (the stored one is kept).
    pub async fn inbox_put(&self, envelope: WebhookEnvelope) -> Result<bool, StoreError> {
        dispatch!(self, s => s.inbox_put(envelope).await)
    }

    pub async fn inbox_set_status(
        &self,
        source: &str,
        webhook_id: &str,
        status: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.inbox_set_status(source, webhook_id, status, error).await)
    }

    /// Deliveries with status `received`, oldest first.
    pub async fn inbox_pending(&self, limit: usize) -> Result<Vec<WebhookEnvelope>, StoreError> {
        dispatch!(self, s => s.inbox_pending(limit).await)
    }

    pub async fn insert_claims(&self, items: Vec<Claim>) -> Result<(), StoreError> {
        dispatch!(self, s => s.insert_claims(items).await)
    }

    /// Claims, ordered by (claimed_at, source, claim_id).
    pub async fn claims(&self) -> Result<Vec<Claim>, StoreError> {
        dispatch!(self, s => s.claims().await)
    }

    // ---- probes ----

    pub async fn insert_probe_run(
        &self,
        run: ProbeRun,
        findings: Vec<ProbeFinding>,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.insert_probe_run(run, findings).await)
    }

    /// The newest `limit` runs for `url`, newest first.
    pub async fn probe_runs(&self, url: &str, limit: usize) -> Result<Vec<ProbeRun>, StoreError> {
        dispatch!(self, s => s.probe_runs(url, limit).await)
    }

    pub async fn probe_findings(&self, run_id: &str) -> Result<Vec<ProbeFinding>, StoreError> {
        dispatch!(self, s => s.probe_findings(run_id).await)
    }

    // ---- queries ----

    pub async fn overview(&self, filter: &Filter) -> Result<Overview, StoreError> {
        dispatch!(self, s => s.overview(filter).await)
    }

    /// Buckets of `bucket_secs` seconds that hold payments, oldest first.
    pub async fn timeseries(
        &self,
        filter: &Filter,
        bucket_secs: u32,
    ) -> Result<Vec<Bucket>, StoreError> {
        if bucket_secs == 0 {
            return Err(StoreError::Invalid(
                "bucket size must be at least one second".into(),
            ));
        }
        dispatch!(self, s => s.timeseries(filter, bucket_secs).await)
    }

    pub async fn top(
        &self,
        filter: &Filter,
        kind: TopKind,
        limit: usize,
    ) -> Result<Vec<TopEntry>, StoreError> {
        dispatch!(self, s => s.top(filter, kind, limit).await)
    }

    /// Resources by the volume of successful claims naming them.
    pub async fn top_resources(&self, limit: usize) -> Result<Vec<ResourceEntry>, StoreError> {
        dispatch!(self, s => s.top_resources(limit).await)
    }

    /// Newest first; pass the previous page's `next` to continue.
    pub async fn transactions(
        &self,
        filter: &Filter,
        after: Option<&TxCursor>,
        limit: usize,
    ) -> Result<TxPage, StoreError> {
        let limit = limit.clamp(1, 1000);
        dispatch!(self, s => s.transactions(filter, after, limit).await)
    }

    /// The payments of one transaction (EVM hash or Solana signature), on any
    /// network, in (chain, idx_outer, idx_inner) order.
    pub async fn payments_by_tx(&self, tx_id: &str) -> Result<Vec<Payment>, StoreError> {
        dispatch!(self, s => s.payments_by_tx(tx_id).await)
    }

    pub async fn address_summary(&self, address: &str) -> Result<AddressSummary, StoreError> {
        dispatch!(self, s => s.address_summary(address).await)
    }
}
