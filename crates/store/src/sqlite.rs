//! The embedded backend: one SQLite file in WAL mode.
//!
//! One writer thread owns the write connection. Writes are jobs sent to it over
//! a bounded channel; it runs the jobs that are waiting as one transaction (each
//! in its own savepoint, so one failing job does not fail the others; a job
//! alone in its transaction needs none) and answers each job only after
//! COMMIT, so an `Ok` means durable. A large job can ask to run alone (see
//! [`SqliteStore::write_alone`]). Reads run on a
//! small pool of connections in blocking tasks; short reads (a page of a list)
//! first try the calling thread's own connection under a work budget, and go to
//! the pool only when they exceed it (see [`SqliteStore::read_short`]).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};
use tokio::sync::{mpsc, oneshot};
use x402scope_core::Amount;

use crate::StoreError;
use crate::migrate::{MigrationReport, migrations};
use crate::model::*;

type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A write job: run on the writer's connection, told whether other jobs
/// share its transaction (then it runs in a savepoint). It says whether it
/// succeeded, and gives what to do once the transaction ends.
struct Job {
    alone: bool,
    run: JobRun,
}

/// A job's work: given whether its transaction is shared, it says whether it
/// succeeded and what to do once the transaction ends.
type JobRun = Box<dyn FnOnce(&Connection, bool) -> (bool, Completion) + Send>;

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("alone", &self.alone)
            .finish_non_exhaustive()
    }
}

/// Jobs that wait for the writer; senders wait when it is full.
const WRITER_QUEUE: usize = 256;
/// Jobs per transaction at most.
const BATCH: usize = 512;

/// The SQLite store; cheap to clone.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: mpsc::Sender<Job>,
    readers: Mutex<Vec<Connection>>,
    /// Committed entries of the `addresses` dictionary. The dictionary is
    /// append-only (an id always names the same address), so an entry, once
    /// committed, stays true; entries of a transaction that did not commit are
    /// never added.
    address_ids: Mutex<HashMap<String, i64>>,
}

/// SQLite virtual-machine steps between two checks of a short read's budget.
const SHORT_READ_CHECK_EVERY: i32 = 1_000;
/// Checks a short read may pass before it is interrupted and moved to the
/// blocking pool: 200k steps, about a millisecond of work.
const SHORT_READ_CHECKS: i64 = 200;

/// A read connection owned by one thread, with the budget its progress
/// handler counts down. `store` names its store (a live weak reference keeps
/// the address from being reused) and, once dead, says to close it.
struct LocalReader {
    store: Weak<Inner>,
    conn: Connection,
    budget: Arc<AtomicI64>,
}

thread_local! {
    static LOCAL_READERS: RefCell<Vec<LocalReader>> = const { RefCell::new(Vec::new()) };
}

fn open_read_only(path: &Path, pragmas: &str, statements: usize) -> Result<Connection, StoreError> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.execute_batch(pragmas)?;
    c.set_prepared_statement_cache_capacity(statements);
    Ok(c)
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    // No memory map: every page a query read through one stays in the
    // process's resident set (the overview's scans took a serving process
    // to 1.9 GB, 1.8 GB of it mapped file), and each connection maps the
    // file again. Reads go through a small cache to the kernel's page cache.
    open_read_only(
        path,
        "PRAGMA cache_size = -4096;
         PRAGMA mmap_size = 0;
         PRAGMA temp_store = FILE;",
        64,
    )
}

fn is_interrupt(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::OperationInterrupted
    )
}

/// Read connections kept open for reuse.
const READERS: usize = 8;
/// Dictionary entries kept in memory at most (about 100 bytes each).
const ADDRESS_CACHE: usize = 500_000;

/// The writer's page cache (64 MiB).
pub(crate) const WRITER_CACHE: &str = "PRAGMA cache_size = -65536";

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(WRITER_CACHE)?;
    conn.execute_batch(
        // 16 KiB pages for a new file (an existing one keeps its size): fewer,
        // larger pages for the random index inserts of each commit. The writer
        // reads through its 64 MiB cache, not a memory map: a map keeps every
        // page a long write touched (an analysis run's flags, say) resident.
        // All of SQLite's caches together yield pages beyond 128 MiB of heap.
        "PRAGMA page_size = 16384;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA mmap_size = 0;
         PRAGMA soft_heap_limit = 33554432;
         PRAGMA wal_autocheckpoint = 16384;",
    )
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            let conn = Connection::open(&p)?;
            configure(&conn)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("SQLite open task failed: {e}")))??;
        let (tx, rx) = mpsc::channel::<Job>(WRITER_QUEUE);
        std::thread::Builder::new()
            .name("x402scope-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: tx,
                readers: Mutex::new(Vec::new()),
                address_ids: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Run `f` on the writer, inside the next transaction; resolves after COMMIT.
    pub(crate) async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.submit(false, f).await
    }

    /// [`Self::write`], in a transaction of its own. A job that shares its
    /// transaction runs in a savepoint, and SQLite keeps the first image of
    /// every page the job changes in memory until the savepoint ends: for a
    /// job that touches thousands of scattered pages (the analysis rewrites
    /// its tables), tens of MiB. Alone, it needs no savepoint, and its dirty
    /// pages beyond the cache go to the WAL.
    pub(crate) async fn write_alone<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.submit(true, f).await
    }

    async fn submit<R: Send + 'static>(
        &self,
        alone: bool,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (job, rx) = job(alone, f);
        self.inner
            .writer
            .send(job)
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Run `f` on a read connection in a blocking task: a pooled one, or a
    /// new one when all are busy (at most [`READERS`] are kept).
    pub(crate) async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().ok().and_then(|mut p| p.pop());
            let conn = match pooled {
                Some(c) => c,
                None => open_reader(&inner.path)?,
            };
            let result = f(&conn);
            if let Ok(mut p) = inner.readers.lock()
                && p.len() < READERS
            {
                p.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("SQLite read task failed: {e}")))?
    }

    /// Run a short read (a bounded page) on this thread's own read connection,
    /// without a hand-off to the blocking pool; a read that does more than
    /// about a millisecond of SQLite work is interrupted there and run again
    /// on the pool, so a worker thread is never held longer than that.
    pub(crate) async fn read_short<R: Send + 'static>(
        &self,
        f: impl Fn(&Connection) -> Result<R, StoreError> + Send + Sync + 'static,
    ) -> Result<R, StoreError> {
        match self.try_local(&f) {
            Some(result) if !result.as_ref().is_err_and(is_interrupt) => result,
            _ => self.read(move |conn| f(conn)).await,
        }
    }

    /// `None` when this thread cannot have a connection of its own (it could
    /// not be opened, or the thread-local is being torn down).
    fn try_local<R>(
        &self,
        f: &impl Fn(&Connection) -> Result<R, StoreError>,
    ) -> Option<Result<R, StoreError>> {
        LOCAL_READERS
            .try_with(|cell| {
                let mut readers = cell.try_borrow_mut().ok()?;
                readers.retain(|r| r.store.strong_count() > 0);
                let here = Arc::as_ptr(&self.inner);
                let at = match readers.iter().position(|r| r.store.as_ptr() == here) {
                    Some(at) => at,
                    None => {
                        let conn = open_reader(&self.inner.path).ok()?;
                        let budget = Arc::new(AtomicI64::new(0));
                        let b = budget.clone();
                        conn.progress_handler(
                            SHORT_READ_CHECK_EVERY,
                            Some(move || b.fetch_sub(1, Ordering::Relaxed) <= 0),
                        );
                        readers.push(LocalReader {
                            store: Arc::downgrade(&self.inner),
                            conn,
                            budget,
                        });
                        readers.len() - 1
                    }
                };
                let r = &readers[at];
                r.budget.store(SHORT_READ_CHECKS, Ordering::Relaxed);
                Some(f(&r.conn))
            })
            .ok()
            .flatten()
    }

    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        self.write(|conn| {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
            )?;
            let applied = applied_versions(conn)?;
            let known = migrations("sqlite");
            refuse_newer(&applied, known)?;
            let mut report = MigrationReport {
                backend: "sqlite".into(),
                ..Default::default()
            };
            for m in known {
                if applied.iter().any(|(v, _)| *v == m.version) {
                    report.present.push(m.name.to_owned());
                    continue;
                }
                conn.execute_batch(m.sql)?;
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                    params![m.version, m.name, now()],
                )?;
                report.applied.push(m.name.to_owned());
            }
            Ok(report)
        })
        .await
    }

    pub async fn check_schema(&self) -> Result<(), StoreError> {
        self.read(|conn| {
            let exists: bool = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n > 0)?;
            let applied = if exists { applied_versions(conn)? } else { Vec::new() };
            let known = migrations("sqlite");
            refuse_newer(&applied, known)?;
            if let Some(m) = known.iter().find(|m| !applied.iter().any(|(v, _)| *v == m.version)) {
                return Err(StoreError::NotMigrated(m.version));
            }
            Ok(())
        })
        .await
    }

    // ---- payments ----

    pub async fn commit_payments(
        &self,
        payments: Vec<Payment>,
        blocks: Vec<WindowBlock>,
        checkpoint: Option<Checkpoint>,
    ) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        let learned = self.write(move |conn| {
            let mut learned: HashMap<String, i64> = HashMap::new();
            {
                let cache = inner.address_ids.lock().map_err(|_| StoreError::WriterGone)?;
                let mut ids = AddressIds::new(conn, &cache, &mut learned)?;
                let mut insert = conn.prepare_cached(
                    // A natural key already present is the same fact replayed: keep it.
                    // (After a reorg the old rows are deleted first, so new rows land.)
                    "INSERT OR IGNORE INTO payments (chain, tx_id, idx_outer, idx_inner, block_number,
                        block_hash, block_time, asset, payer, pay_to, amount, amount_i64, nonce,
                        facilitator, tx_from, method, is_final, is_organic, payer_id, pay_to_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                )?;
                for p in &payments {
                    let payer_id = ids.get(&p.payer)?;
                    let pay_to_id = ids.get(&p.pay_to)?;
                    insert.execute(params![
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
                        amount_i64(&p.amount),
                        p.nonce,
                        p.facilitator,
                        p.tx_from,
                        p.method,
                        p.is_final,
                        p.is_organic,
                        payer_id,
                        pay_to_id,
                    ])?;
                }
                let mut window = conn.prepare_cached(
                    "INSERT OR REPLACE INTO block_window (chain, number, hash, parent_hash) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for b in &blocks {
                    window.execute(params![b.chain, to_i64(b.number, "number")?, b.hash, b.parent_hash])?;
                }
            }
            if let Some(cp) = checkpoint {
                conn.execute(
                    "INSERT OR REPLACE INTO checkpoints (chain, block, hash, updated_at) VALUES (?1, ?2, ?3, ?4)",
                    params![cp.chain, to_i64(cp.block, "block")?, cp.hash, now()],
                )?;
                // Keep the window bounded: the newest 10,000 blocks per chain.
                conn.execute(
                    "DELETE FROM block_window WHERE chain = ?1 AND number < ?2",
                    params![cp.chain, to_i64(cp.block, "block")?.saturating_sub(10_000)],
                )?;
            }
            Ok(learned)
        })
        .await?;
        // Committed: the new dictionary entries are now true for good.
        if !learned.is_empty()
            && let Ok(mut cache) = self.inner.address_ids.lock()
        {
            if cache.len() + learned.len() > ADDRESS_CACHE {
                cache.clear();
            }
            cache.extend(learned);
        }
        Ok(())
    }

    pub async fn rollback_above(
        &self,
        chain: &str,
        block: u64,
        hash: &str,
    ) -> Result<(), StoreError> {
        let (chain, hash) = (chain.to_owned(), hash.to_owned());
        self.write(move |conn| {
            let b = to_i64(block, "block")?;
            conn.execute("DELETE FROM payments WHERE chain = ?1 AND block_number > ?2", params![chain, b])?;
            conn.execute("DELETE FROM block_window WHERE chain = ?1 AND number > ?2", params![chain, b])?;
            conn.execute(
                "INSERT OR REPLACE INTO checkpoints (chain, block, hash, updated_at) VALUES (?1, ?2, ?3, ?4)",
                params![chain, b, hash, now()],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn mark_final(&self, chain: &str, up_to: u64) -> Result<u64, StoreError> {
        let chain = chain.to_owned();
        self.write(move |conn| {
            let b = to_i64(up_to, "block")?;
            let changed = conn.execute(
                "UPDATE payments SET is_final = 1 WHERE chain = ?1 AND block_number <= ?2 AND is_final = 0",
                params![chain, b],
            )?;
            Ok(changed as u64)
        })
        .await
    }

    pub async fn checkpoint(&self, chain: &str) -> Result<Option<Checkpoint>, StoreError> {
        let chain = chain.to_owned();
        self.read(move |conn| {
            conn.query_row(
                "SELECT chain, block, hash FROM checkpoints WHERE chain = ?1",
                params![chain],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()?
            .map(|(chain, block, hash)| {
                Ok(Checkpoint {
                    chain,
                    block: to_u64(block, "block")?,
                    hash,
                })
            })
            .transpose()
        })
        .await
    }

    pub async fn window(&self, chain: &str, limit: usize) -> Result<Vec<WindowBlock>, StoreError> {
        let chain = chain.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT chain, number, hash, parent_hash FROM block_window WHERE chain = ?1
                 ORDER BY number DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![chain, limit as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })?;
            rows.map(|row| {
                let (chain, number, hash, parent_hash) = row?;
                Ok(WindowBlock {
                    chain,
                    number: to_u64(number, "number")?,
                    hash,
                    parent_hash,
                })
            })
            .collect()
        })
        .await
    }

    // ---- facilitators ----

    pub async fn upsert_facilitators(&self, items: Vec<Facilitator>) -> Result<(), StoreError> {
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT OR REPLACE INTO facilitators (id, name, url) VALUES (?1, ?2, ?3)",
            )?;
            for f in &items {
                stmt.execute(params![f.id, f.name, f.url])?;
            }
            Ok(())
        })
        .await
    }

    pub async fn facilitators(&self) -> Result<Vec<Facilitator>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT id, name, url FROM facilitators ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok(Facilitator {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    url: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn record_signers(&self, items: Vec<Signer>) -> Result<(), StoreError> {
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO facilitator_signers (facilitator_id, network, address, first_seen, last_seen, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (network, address, facilitator_id) DO UPDATE SET
                    first_seen = min(first_seen, excluded.first_seen),
                    last_seen = max(last_seen, excluded.last_seen)",
            )?;
            for s in &items {
                stmt.execute(params![s.facilitator_id, s.network, s.address, s.first_seen, s.last_seen, s.source])?;
            }
            Ok(())
        })
        .await
    }

    pub async fn signers(&self) -> Result<Vec<Signer>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT facilitator_id, network, address, first_seen, last_seen, source FROM facilitator_signers
                 ORDER BY network, address, facilitator_id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Signer {
                    facilitator_id: r.get(0)?,
                    network: r.get(1)?,
                    address: r.get(2)?,
                    first_seen: r.get(3)?,
                    last_seen: r.get(4)?,
                    source: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn record_kinds(&self, items: Vec<FacilitatorKind>) -> Result<(), StoreError> {
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO facilitator_kinds (facilitator_id, x402_version, scheme, network, first_seen, last_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (facilitator_id, x402_version, scheme, network) DO UPDATE SET
                    first_seen = min(first_seen, excluded.first_seen),
                    last_seen = max(last_seen, excluded.last_seen)",
            )?;
            for k in &items {
                stmt.execute(params![
                    k.facilitator_id,
                    k.x402_version,
                    k.scheme,
                    k.network,
                    k.first_seen,
                    k.last_seen
                ])?;
            }
            Ok(())
        })
        .await
    }

    pub async fn kinds(&self) -> Result<Vec<FacilitatorKind>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT facilitator_id, x402_version, scheme, network, first_seen, last_seen
                 FROM facilitator_kinds ORDER BY facilitator_id, x402_version, scheme, network",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(FacilitatorKind {
                    facilitator_id: r.get(0)?,
                    x402_version: r.get(1)?,
                    scheme: r.get(2)?,
                    network: r.get(3)?,
                    first_seen: r.get(4)?,
                    last_seen: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    // ---- listings ----

    pub async fn insert_listings(&self, items: Vec<ListingSnapshot>) -> Result<(), StoreError> {
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT OR IGNORE INTO listing_snapshots (source, resource, accept_index, snapshot_hash,
                    observed_at, scheme, network, asset, pay_to, amount, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for l in &items {
                stmt.execute(params![
                    l.source,
                    l.resource,
                    l.accept_index,
                    l.snapshot_hash,
                    l.observed_at,
                    l.scheme,
                    l.network,
                    l.asset,
                    l.pay_to,
                    l.amount.to_string(),
                    l.raw
                ])?;
            }
            Ok(())
        })
        .await
    }

    pub async fn listing_history(
        &self,
        resource: &str,
    ) -> Result<Vec<ListingSnapshot>, StoreError> {
        let resource = resource.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT source, resource, accept_index, snapshot_hash, observed_at, scheme, network, asset,
                    pay_to, amount, raw FROM listing_snapshots WHERE resource = ?1
                 ORDER BY observed_at, source, accept_index, snapshot_hash",
            )?;
            let rows = stmt.query_map(params![resource], |r| {
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
            .collect()
        })
        .await
    }

    // ---- webhooks and claims ----

    pub async fn inbox_put(&self, e: WebhookEnvelope) -> Result<bool, StoreError> {
        self.write(move |conn| {
            let n = conn.execute(
                "INSERT OR IGNORE INTO webhook_inbox (source, webhook_id, received_at, headers, body, status, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![e.source, e.webhook_id, e.received_at, e.headers, e.body, e.status, e.error],
            )?;
            Ok(n == 1)
        })
        .await
    }

    pub async fn inbox_set_status(
        &self,
        source: &str,
        webhook_id: &str,
        status: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        let (source, id, status, error) = (
            source.to_owned(),
            webhook_id.to_owned(),
            status.to_owned(),
            error.to_owned(),
        );
        self.write(move |conn| {
            conn.execute(
                "UPDATE webhook_inbox SET status = ?3, error = ?4 WHERE source = ?1 AND webhook_id = ?2",
                params![source, id, status, error],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn inbox_pending(&self, limit: usize) -> Result<Vec<WebhookEnvelope>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT source, webhook_id, received_at, headers, body, status, error FROM webhook_inbox
                 WHERE status = 'received' ORDER BY received_at, source, webhook_id LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit as i64], |r| {
                Ok(WebhookEnvelope {
                    source: r.get(0)?,
                    webhook_id: r.get(1)?,
                    received_at: r.get(2)?,
                    headers: r.get(3)?,
                    body: r.get(4)?,
                    status: r.get(5)?,
                    error: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn insert_claims(&self, items: Vec<Claim>) -> Result<(), StoreError> {
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "INSERT OR REPLACE INTO claims (source, claim_id, network, tx_id, payer, pay_to, asset, amount,
                    resource_url, facilitator, success, claimed_at, reference)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for c in &items {
                stmt.execute(params![
                    c.source,
                    c.claim_id,
                    c.network,
                    c.tx_id,
                    c.payer,
                    c.pay_to,
                    c.asset,
                    c.amount.to_string(),
                    c.resource_url,
                    c.facilitator,
                    c.success,
                    c.claimed_at,
                    c.reference
                ])?;
            }
            Ok(())
        })
        .await
    }

    pub async fn claims(&self) -> Result<Vec<Claim>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT source, claim_id, network, tx_id, payer, pay_to, asset, amount, resource_url,
                    facilitator, success, claimed_at, reference FROM claims
                 ORDER BY claimed_at, source, claim_id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    Claim {
                        source: r.get(0)?,
                        claim_id: r.get(1)?,
                        network: r.get(2)?,
                        tx_id: r.get(3)?,
                        payer: r.get(4)?,
                        pay_to: r.get(5)?,
                        asset: r.get(6)?,
                        amount: Amount::ZERO,
                        resource_url: r.get(8)?,
                        facilitator: r.get(9)?,
                        success: r.get(10)?,
                        claimed_at: r.get(11)?,
                        reference: r.get(12)?,
                    },
                    r.get::<_, String>(7)?,
                ))
            })?;
            rows.map(|row| {
                let (mut c, amount) = row?;
                c.amount = parse_amount(&amount, "claims.amount")?;
                Ok(c)
            })
            .collect()
        })
        .await
    }

    // ---- probes ----

    pub async fn insert_probe_run(
        &self,
        run: ProbeRun,
        findings: Vec<ProbeFinding>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO probe_runs (id, url, started_at, status_code, latency_ms, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run.id, run.url, run.started_at, run.status_code, run.latency_ms, run.error],
            )?;
            let mut stmt = conn.prepare_cached(
                "INSERT OR REPLACE INTO probe_findings (run_id, rule_id, severity, message, evidence)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for f in &findings {
                stmt.execute(params![f.run_id, f.rule_id, f.severity, f.message, f.evidence])?;
            }
            Ok(())
        })
        .await
    }

    pub async fn probe_runs(&self, url: &str, limit: usize) -> Result<Vec<ProbeRun>, StoreError> {
        let url = url.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, url, started_at, status_code, latency_ms, error FROM probe_runs WHERE url = ?1
                 ORDER BY started_at DESC, id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![url, limit as i64], |r| {
                Ok(ProbeRun {
                    id: r.get(0)?,
                    url: r.get(1)?,
                    started_at: r.get(2)?,
                    status_code: r.get(3)?,
                    latency_ms: r.get(4)?,
                    error: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn probe_findings(&self, run_id: &str) -> Result<Vec<ProbeFinding>, StoreError> {
        let run_id = run_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT run_id, rule_id, severity, message, evidence FROM probe_findings WHERE run_id = ?1
                 ORDER BY rule_id, message",
            )?;
            let rows = stmt.query_map(params![run_id], |r| {
                Ok(ProbeFinding {
                    run_id: r.get(0)?,
                    rule_id: r.get(1)?,
                    severity: r.get(2)?,
                    message: r.get(3)?,
                    evidence: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    // ---- queries ----

    pub async fn overview(&self, filter: &Filter) -> Result<Overview, StoreError> {
        let (clause, args) = where_clause(filter);
        if (filter.from.is_some() || filter.to.is_some())
            && filter.payer.is_none()
            && filter.pay_to.is_none()
        {
            // A time range: one pass over its part of the time index, the
            // distinct counts in two bitmaps over the dictionary ids.
            return self
                .read(move |conn| overview_by_time(conn, &clause, &args))
                .await;
        }
        // Three narrow queries on three read connections, in parallel: each
        // distinct count walks its own address index in order.
        let distinct = |column: &'static str| {
            let (clause, args) = (clause.clone(), args.clone());
            self.read(move |conn| {
                let sql = format!(
                    "SELECT count(*) FROM (SELECT {column} FROM payments {clause} GROUP BY {column})"
                );
                let n: i64 = conn
                    .prepare_cached(&sql)?
                    .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
                Ok(n as u64)
            })
        };
        let totals = {
            let (clause, args) = (clause.clone(), args.clone());
            self.read(move |conn| count_and_sum(conn, &clause, &args))
        };
        let ((count, volume), buyers, sellers) =
            tokio::try_join!(totals, distinct("payer_id"), distinct("pay_to_id"))?;
        Ok(Overview {
            count,
            volume,
            buyers,
            sellers,
        })
    }

    pub async fn timeseries(
        &self,
        filter: &Filter,
        bucket: u32,
    ) -> Result<Vec<Bucket>, StoreError> {
        // One pass over the time index in time order: one bucket is open at a
        // time, so its exact distinct counts need only its own two sets.
        let (clause, args) = where_clause(filter);
        self.read(move |conn| {
            let size = i64::from(bucket);
            let sql = format!(
                "SELECT block_time, payer_id, pay_to_id, amount_i64 FROM payments {clause} ORDER BY block_time"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(args.iter()))?;
            let mut out: Vec<Bucket> = Vec::new();
            let mut open: Option<(i64, u64, u128)> = None;
            let (mut buyers, mut sellers) = (HashSet::<i64>::new(), HashSet::<i64>::new());
            let mut big = false;
            let close = |open: (i64, u64, u128), buyers: &mut HashSet<i64>, sellers: &mut HashSet<i64>| {
                let (start, count, sum) = open;
                let b = Bucket {
                    start,
                    count,
                    volume: Amount(alloy_primitives::U256::from(sum)),
                    buyers: buyers.len() as u64,
                    sellers: sellers.len() as u64,
                };
                buyers.clear();
                sellers.clear();
                b
            };
            while let Some(r) = rows.next()? {
                let t: i64 = r.get(0)?;
                let start = (t / size) * size;
                match open {
                    Some((s, ..)) if s == start => {}
                    _ => {
                        if let Some(o) = open.take() {
                            out.push(close(o, &mut buyers, &mut sellers));
                        }
                        open = Some((start, 0, 0));
                    }
                }
                buyers.insert(r.get(1)?);
                sellers.insert(r.get(2)?);
                if let Some(o) = open.as_mut() {
                    o.1 += 1;
                    match r.get::<_, Option<i64>>(3)? {
                        Some(a) => o.2 += u128::from(a.max(0) as u64),
                        None => big = true,
                    }
                }
            }
            if let Some(o) = open.take() {
                out.push(close(o, &mut buyers, &mut sellers));
            }
            if big {
                // Amounts beyond 64 bits: add them exactly, bucket by bucket.
                let extra = if clause.is_empty() { "WHERE" } else { " AND" };
                let mut stmt = conn.prepare(&format!(
                    "SELECT block_time, amount FROM payments {clause}{extra} amount_i64 IS NULL"
                ))?;
                let mut rows = stmt.query(params_from_iter(args.iter()))?;
                while let Some(r) = rows.next()? {
                    let start = (r.get::<_, i64>(0)? / size) * size;
                    let a = parse_amount(&r.get::<_, String>(1)?, "payments.amount")?;
                    if let Ok(i) = out.binary_search_by_key(&start, |b| b.start) {
                        out[i].volume = add(out[i].volume, a)?;
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    pub async fn top(
        &self,
        filter: &Filter,
        kind: TopKind,
        limit: usize,
    ) -> Result<Vec<TopEntry>, StoreError> {
        let (clause, args) = where_clause(filter);
        let (key, id, counterparty) = match kind {
            TopKind::Sellers => ("pay_to_id", "pay_to_id", "payer_id"),
            TopKind::Buyers => ("payer_id", "payer_id", "pay_to_id"),
            TopKind::Facilitators => ("facilitator", "", "payer_id"),
        };
        self.read(move |conn| {
            let label = if id.is_empty() {
                key.to_owned()
            } else {
                format!("(SELECT address FROM addresses WHERE id = {id})")
            };
            let groups = grouped(conn, key, &label, &clause, &args, counterparty)?;
            let mut entries: Vec<TopEntry> = groups
                .into_iter()
                .map(|g| TopEntry {
                    key: g.key,
                    count: g.count,
                    volume: g.volume,
                    counterparties: g.distinct_a,
                })
                .collect();
            sort_top(&mut entries);
            entries.truncate(limit);
            Ok(entries)
        })
        .await
    }

    pub async fn top_resources(&self, limit: usize) -> Result<Vec<ResourceEntry>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT resource_url, amount FROM claims WHERE success = 1 AND resource_url != ''",
            )?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut by: std::collections::BTreeMap<String, (u64, Amount)> = Default::default();
            for row in rows {
                let (url, amount) = row?;
                let amount = parse_amount(&amount, "claims.amount")?;
                let e = by.entry(url).or_insert((0, Amount::ZERO));
                e.0 += 1;
                e.1 = add(e.1, amount)?;
            }
            let mut out: Vec<ResourceEntry> = by
                .into_iter()
                .map(|(resource_url, (count, volume))| ResourceEntry {
                    resource_url,
                    count,
                    volume,
                })
                .collect();
            out.sort_by(|a, b| {
                b.volume
                    .cmp(&a.volume)
                    .then(b.count.cmp(&a.count))
                    .then(a.resource_url.cmp(&b.resource_url))
            });
            out.truncate(limit);
            Ok(out)
        })
        .await
    }

    pub async fn payments_by_tx(&self, tx_id: &str) -> Result<Vec<Payment>, StoreError> {
        let tx_id = tx_id.to_owned();
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE tx_id = ?1
             ORDER BY chain, idx_outer, idx_inner LIMIT 10000"
        );
        self.read_short(move |conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params![tx_id])?;
            let mut items = Vec::new();
            while let Some(r) = rows.next()? {
                items.push(payment_from_row(r)?);
            }
            Ok(items)
        })
        .await
    }

    pub async fn transactions(
        &self,
        filter: &Filter,
        after: Option<&TxCursor>,
        limit: usize,
    ) -> Result<TxPage, StoreError> {
        let (mut clause, mut args) = where_clause(filter);
        if let Some(c) = after {
            clause.push_str(if clause.is_empty() { "WHERE " } else { " AND " });
            clause.push_str(
                "block_time <= ? AND (block_time, chain, tx_id, idx_outer, idx_inner) < (?, ?, ?, ?, ?)",
            );
            args.extend([
                Value::Integer(c.block_time),
                Value::Integer(c.block_time),
                Value::Text(c.chain.clone()),
                Value::Text(c.tx_id.clone()),
                Value::Integer(c.idx_outer.into()),
                Value::Integer(c.idx_inner.into()),
            ]);
        }
        // Without statistics the planner may sort the whole table: name the index.
        let index = if filter.payer.is_some() {
            "payments_by_payer"
        } else if filter.pay_to.is_some() {
            "payments_by_pay_to"
        } else {
            "payments_by_time"
        };
        // The index orders by time only; rows of one second are put in key
        // order here (see `NewestFirst`), which spares SQLite a sorter that
        // copied every column of every row once more.
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments INDEXED BY {index} {clause} ORDER BY block_time DESC"
        );
        self.read_short(move |conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut page = NewestFirst::new(limit);
            let mut rows = stmt.query(params_from_iter(args.iter()))?;
            while let Some(r) = rows.next()? {
                if !page.offer(r.get(6)?) {
                    break;
                }
                page.push(payment_from_row(r)?);
            }
            Ok(page.finish())
        })
        .await
    }

    pub async fn address_summary(&self, address: &str) -> Result<AddressSummary, StoreError> {
        let address = address.to_owned();
        self.read(move |conn| {
            let side = |own: &str, other: &str| -> Result<Side, StoreError> {
                let clause =
                    format!("WHERE {own} = (SELECT id FROM addresses WHERE address = ?)");
                let args = vec![Value::Text(address.clone())];
                let sql = format!(
                    "SELECT count(*), count(DISTINCT {other}), min(block_time), max(block_time) FROM payments {clause}"
                );
                let (count, cp, first, last) = conn.query_row(&sql, params_from_iter(args.iter()), |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<i64>>(2)?, r.get::<_, Option<i64>>(3)?))
                })?;
                Ok(Side {
                    count: count as u64,
                    volume: count_and_sum(conn, &clause, &args)?.1,
                    counterparties: cp as u64,
                    first_seen: first,
                    last_seen: last,
                })
            };
            let as_buyer = side("payer_id", "pay_to_id")?;
            let as_seller = side("pay_to_id", "payer_id")?;
            let mut stmt = conn.prepare(
                "SELECT DISTINCT facilitator FROM payments
                 WHERE payer_id = (SELECT id FROM addresses WHERE address = ?1)
                    OR pay_to_id = (SELECT id FROM addresses WHERE address = ?1)
                 ORDER BY facilitator",
            )?;
            let facilitators = stmt
                .query_map(params![address], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(AddressSummary { address: address.clone(), as_buyer, as_seller, facilitators })
        })
        .await
    }
}

/// The newest `limit` payments (and whether more follow) from rows that come
/// newest second first but in any order within a second: it takes whole
/// seconds until it holds `limit` rows, then puts them in key order (newest
/// first: time, chain, tx, outer, inner, all descending). The first row of a
/// later second only says that more follow; it is not decoded.
#[derive(Debug)]
struct NewestFirst {
    limit: usize,
    rows: Vec<Payment>,
    more: bool,
}

impl NewestFirst {
    fn new(limit: usize) -> Self {
        NewestFirst {
            limit,
            rows: Vec::with_capacity(limit + 1),
            more: false,
        }
    }

    /// Whether a row of this time is wanted; once one is not, no later row
    /// is (they are no newer), and more rows follow the page.
    fn offer(&mut self, block_time: i64) -> bool {
        let wanted = self.rows.len() < self.limit
            || self.rows.last().is_some_and(|p| p.block_time == block_time);
        self.more |= !wanted;
        wanted
    }

    fn push(&mut self, p: Payment) {
        self.rows.push(p);
    }

    fn finish(mut self) -> TxPage {
        self.rows.sort_unstable_by(|a, b| {
            (b.block_time, &b.chain, &b.tx_id, b.idx_outer, b.idx_inner).cmp(&(
                a.block_time,
                &a.chain,
                &a.tx_id,
                a.idx_outer,
                a.idx_inner,
            ))
        });
        let more = self.more || self.rows.len() > self.limit;
        self.rows.truncate(self.limit);
        let next = if more {
            self.rows.last().map(TxCursor::after)
        } else {
            None
        };
        TxPage {
            items: self.rows,
            next,
        }
    }
}

const PAYMENT_COLUMNS: &str = "chain, tx_id, idx_outer, idx_inner, block_number, block_hash, block_time, asset, \
    payer, pay_to, amount, nonce, facilitator, tx_from, method, is_final, is_organic";

pub(crate) fn payment_from_row(r: &rusqlite::Row<'_>) -> Result<Payment, StoreError> {
    Ok(Payment {
        chain: r.get(0)?,
        tx_id: r.get(1)?,
        idx_outer: r.get(2)?,
        idx_inner: r.get(3)?,
        block_number: to_u64(r.get(4)?, "block_number")?,
        block_hash: r.get(5)?,
        block_time: r.get(6)?,
        asset: r.get(7)?,
        payer: r.get(8)?,
        pay_to: r.get(9)?,
        amount: parse_amount(&r.get::<_, String>(10)?, "payments.amount")?,
        nonce: r.get(11)?,
        facilitator: r.get(12)?,
        tx_from: r.get(13)?,
        method: r.get(14)?,
        is_final: r.get(15)?,
        is_organic: r.get(16)?,
    })
}

fn overview_by_time(
    conn: &Connection,
    clause: &str,
    args: &[Value],
) -> Result<Overview, StoreError> {
    let max_id: i64 = conn
        .prepare_cached("SELECT coalesce(max(id), 0) FROM addresses")?
        .query_row([], |r| r.get(0))?;
    let words = usize::try_from(max_id).unwrap_or(0) / 64 + 1;
    let (mut buyers, mut sellers) = (vec![0u64; words], vec![0u64; words]);
    let (mut count, mut sum, mut big) = (0u64, 0u128, false);
    let sql = format!(
        "SELECT payer_id, pay_to_id, amount_i64 FROM payments INDEXED BY payments_by_time {clause}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    let mark = |set: &mut Vec<u64>, id: i64| {
        let id = usize::try_from(id).unwrap_or(0);
        if id / 64 >= set.len() {
            set.resize(id / 64 + 1, 0);
        }
        set[id / 64] |= 1 << (id % 64);
    };
    while let Some(r) = rows.next()? {
        mark(&mut buyers, r.get(0)?);
        mark(&mut sellers, r.get(1)?);
        count += 1;
        match r.get::<_, Option<i64>>(2)? {
            Some(a) => sum += u128::from(a.max(0) as u64),
            None => big = true,
        }
    }
    let ones = |set: &[u64]| set.iter().map(|w| u64::from(w.count_ones())).sum::<u64>();
    let volume = if big {
        count_and_sum(conn, clause, args)?.1
    } else {
        Amount(alloy_primitives::U256::from(sum))
    };
    Ok(Overview {
        count,
        volume,
        buyers: ones(&buyers),
        sellers: ones(&sellers),
    })
}

/// A filter as a WHERE clause with positional parameters.
fn where_clause(f: &Filter) -> (String, Vec<Value>) {
    let mut parts: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(from) = f.from {
        parts.push("block_time >= ?".into());
        args.push(Value::Integer(from));
    }
    if let Some(to) = f.to {
        parts.push("block_time < ?".into());
        args.push(Value::Integer(to));
    }
    if !f.networks.is_empty() {
        parts.push(format!(
            "chain IN ({})",
            vec!["?"; f.networks.len()].join(", ")
        ));
        args.extend(f.networks.iter().map(|n| Value::Text(n.clone())));
    }
    for (column, value) in [("facilitator", &f.facilitator), ("asset", &f.asset)] {
        if let Some(v) = value {
            parts.push(format!("{column} = ?"));
            args.push(Value::Text(v.clone()));
        }
    }
    // Addresses through their dictionary ids (indexed); an unknown address has
    // no id, and the comparison with NULL matches nothing.
    for (column, value) in [("payer_id", &f.payer), ("pay_to_id", &f.pay_to)] {
        if let Some(v) = value {
            parts.push(format!(
                "{column} = (SELECT id FROM addresses WHERE address = ?)"
            ));
            args.push(Value::Text(v.clone()));
        }
    }
    if f.organic_only {
        parts.push("is_organic = 1".into());
    }
    if parts.is_empty() {
        (String::new(), args)
    } else {
        (format!("WHERE {}", parts.join(" AND ")), args)
    }
}

/// The row count and exact sum of `amount` over the rows of `clause`: a fast
/// integer sum when every amount fits 64 bits and the total does not overflow,
/// else exact in Rust.
fn count_and_sum(
    conn: &Connection,
    clause: &str,
    args: &[Value],
) -> Result<(u64, Amount), StoreError> {
    let sql = format!(
        "SELECT count(*), count(*) - count(amount_i64), sum(amount_i64) FROM payments {clause}"
    );
    let fast = conn.query_row(&sql, params_from_iter(args.iter()), |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<i64>>(2)?,
        ))
    });
    match fast {
        Ok((count, 0, sum)) => Ok((
            count as u64,
            Amount::from_u64(sum.unwrap_or(0).max(0) as u64),
        )),
        // Big amounts, or SQLite's "integer overflow" on the sum.
        Ok(_) | Err(rusqlite::Error::SqliteFailure(..)) => {
            let mut stmt = conn.prepare(&format!("SELECT amount FROM payments {clause}"))?;
            let mut rows = stmt.query(params_from_iter(args.iter()))?;
            let (mut count, mut total) = (0u64, Amount::ZERO);
            while let Some(r) = rows.next()? {
                count += 1;
                total = add(
                    total,
                    parse_amount(&r.get::<_, String>(0)?, "payments.amount")?,
                )?;
            }
            Ok((count, total))
        }
        Err(e) => Err(e.into()),
    }
}

/// (key, count, distinct a, distinct b, amounts that do not fit i64, i64 sum)
type GroupRow = (String, i64, i64, i64, i64, Option<i64>);

struct Group {
    key: String,
    count: u64,
    volume: Amount,
    distinct_a: u64,
}

/// count, exact volume and an exact distinct count per `key` expression.
/// `key` is what rows are grouped by; `label` (an expression over `key`) names
/// each group in the answer.
fn grouped(
    conn: &Connection,
    key: &str,
    label: &str,
    clause: &str,
    args: &[Value],
    distinct_a: &str,
) -> Result<Vec<Group>, StoreError> {
    let sql = format!(
        "SELECT CAST({label} AS TEXT), count(*), count(DISTINCT {distinct_a}), 0,
            count(*) - count(amount_i64), sum(amount_i64)
         FROM payments {clause} GROUP BY {key}"
    );
    let run = || -> Result<Vec<GroupRow>, rusqlite::Error> {
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?;
        rows.collect()
    };
    let (rows, overflow) = match run() {
        Ok(rows) => (rows, false),
        Err(rusqlite::Error::SqliteFailure(..)) => {
            // The integer sum overflowed: count without it, sum exactly below.
            let sql = format!(
                "SELECT CAST({label} AS TEXT), count(*), count(DISTINCT {distinct_a}), 0, 1, NULL
                 FROM payments {clause} GROUP BY {key}"
            );
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?;
            (rows.collect::<Result<Vec<_>, _>>()?, true)
        }
        Err(e) => return Err(e.into()),
    };
    let needs_exact = overflow || rows.iter().any(|r| r.4 != 0);
    let exact: std::collections::HashMap<String, Amount> = if needs_exact {
        let mut stmt = conn.prepare(&format!(
            "SELECT CAST({label} AS TEXT), amount FROM payments {clause}"
        ))?;
        let mut rs = stmt.query(params_from_iter(args.iter()))?;
        let mut sums = std::collections::HashMap::new();
        while let Some(r) = rs.next()? {
            let k: String = r.get(0)?;
            let a = parse_amount(&r.get::<_, String>(1)?, "payments.amount")?;
            let e = sums.entry(k).or_insert(Amount::ZERO);
            *e = add(*e, a)?;
        }
        sums
    } else {
        Default::default()
    };
    rows.into_iter()
        .map(|(key, count, da, _, _, sum)| {
            let volume = match exact.get(&key) {
                Some(v) => *v,
                None => Amount::from_u64(sum.unwrap_or(0).max(0) as u64),
            };
            Ok(Group {
                key,
                count: count as u64,
                volume,
                distinct_a: da as u64,
            })
        })
        .collect()
}

pub(crate) fn sort_top(entries: &mut [TopEntry]) {
    entries.sort_by(|a, b| {
        b.volume
            .cmp(&a.volume)
            .then(b.count.cmp(&a.count))
            .then(a.key.cmp(&b.key))
    });
}

/// Ids of the `addresses` dictionary for one write job: from the committed
/// cache, else from the table (inserting an address it lacks). What the job
/// learned goes to `learned`, for the cache once the transaction commits.
struct AddressIds<'c, 'm> {
    conn: &'c Connection,
    cache: &'m HashMap<String, i64>,
    learned: &'m mut HashMap<String, i64>,
    select: rusqlite::CachedStatement<'c>,
    insert: rusqlite::CachedStatement<'c>,
}

impl<'c, 'm> AddressIds<'c, 'm> {
    fn new(
        conn: &'c Connection,
        cache: &'m HashMap<String, i64>,
        learned: &'m mut HashMap<String, i64>,
    ) -> Result<Self, StoreError> {
        Ok(AddressIds {
            conn,
            cache,
            learned,
            select: conn.prepare_cached("SELECT id FROM addresses WHERE address = ?1")?,
            insert: conn.prepare_cached("INSERT INTO addresses (address) VALUES (?1)")?,
        })
    }

    fn get(&mut self, address: &str) -> Result<i64, StoreError> {
        if let Some(id) = self
            .cache
            .get(address)
            .or_else(|| self.learned.get(address))
        {
            return Ok(*id);
        }
        let id = match self
            .select
            .query_row([address], |r| r.get::<_, i64>(0))
            .optional()?
        {
            Some(id) => id,
            None => {
                self.insert.execute([address])?;
                self.conn.last_insert_rowid()
            }
        };
        self.learned.insert(address.to_owned(), id);
        Ok(id)
    }
}

fn run_in_savepoint<R>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    conn.execute_batch("SAVEPOINT job")?;
    match f(conn) {
        Ok(r) => {
            conn.execute_batch("RELEASE job")?;
            Ok(r)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            Err(e)
        }
    }
}

/// A job that runs `f`, and the channel its answer comes back on.
fn job<R: Send + 'static>(
    alone: bool,
    f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
) -> (Job, oneshot::Receiver<Result<R, StoreError>>) {
    let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
    let run = Box::new(move |conn: &Connection, shared: bool| {
        let result = if shared {
            run_in_savepoint(conn, f)
        } else {
            f(conn)
        };
        let ok = result.is_ok();
        let completion: Completion = Box::new(move |commit: Result<(), String>| {
            let out = match (result, commit) {
                (Ok(r), Ok(())) => Ok(r),
                (Err(e), _) => Err(e),
                (Ok(_), Err(m)) => Err(StoreError::Invalid(format!("commit failed: {m}"))),
            };
            let _ = tx.send(out);
        });
        (ok, completion)
    });
    (Job { alone, run }, rx)
}

/// The jobs of the next transaction: those waiting, up to [`BATCH`]; a job
/// that asks to run alone is never joined with others (met while collecting,
/// it waits in `held` for the next transaction).
fn next_batch(rx: &mut mpsc::Receiver<Job>, held: &mut Option<Job>) -> Option<Vec<Job>> {
    let first = match held.take() {
        Some(job) => job,
        None => rx.blocking_recv()?,
    };
    let mut jobs = vec![first];
    if jobs[0].alone {
        return Some(jobs);
    }
    while jobs.len() < BATCH {
        match rx.try_recv() {
            Ok(job) if job.alone => {
                *held = Some(job);
                break;
            }
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    Some(jobs)
}

#[allow(clippy::needless_pass_by_value)] // the thread owns its connection
fn writer_loop(conn: Connection, mut rx: mpsc::Receiver<Job>) {
    let mut held = None;
    while let Some(jobs) = next_batch(&mut rx, &mut held) {
        let shared = jobs.len() > 1;
        let begin = conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| e.to_string());
        if let Err(e) = begin {
            // Nothing ran: answer every job with the error.
            for job in jobs {
                let (_, completion) = (job.run)(&conn, shared);
                completion(Err(e.clone()));
            }
            continue;
        }
        let mut all_ok = true;
        let completions: Vec<Completion> = jobs
            .into_iter()
            .map(|job| {
                let (ok, completion) = (job.run)(&conn, shared);
                all_ok &= ok;
                completion
            })
            .collect();
        // A job alone in its transaction ran without a savepoint: when it
        // failed, what it did is undone with the transaction (it hears its
        // own error, not the rollback's).
        let end = if all_ok || shared {
            conn.execute_batch("COMMIT").map_err(|e| e.to_string())
        } else {
            Err("the transaction's only job failed".to_owned())
        };
        if end.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for completion in completions {
            completion(end.clone());
        }
    }
}

fn applied_versions(conn: &Connection) -> Result<Vec<(u32, String)>, StoreError> {
    let mut stmt = conn.prepare("SELECT version, name FROM schema_migrations ORDER BY version")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn refuse_newer(
    applied: &[(u32, String)],
    known: &[crate::migrate::Migration],
) -> Result<(), StoreError> {
    let max_known = known.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some((found, name)) = applied.iter().find(|(v, _)| *v > max_known) {
        return Err(StoreError::NewerSchema {
            found: *found,
            name: name.clone(),
            known: max_known,
        });
    }
    Ok(())
}

fn amount_i64(a: &Amount) -> Option<i64> {
    u64::try_from(a.0).ok().and_then(|v| i64::try_from(v).ok())
}

pub(crate) fn parse_amount(s: &str, column: &'static str) -> Result<Amount, StoreError> {
    Amount::parse_decimal(s).map_err(|e| StoreError::Corrupt {
        column,
        detail: e.to_string(),
    })
}

pub(crate) fn add(a: Amount, b: Amount) -> Result<Amount, StoreError> {
    a.checked_add(b).ok_or(StoreError::Corrupt {
        column: "amount",
        detail: "sum exceeds 2^256".into(),
    })
}

pub(crate) fn to_i64(v: u64, column: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::Invalid(format!("{column} {v} is too large for SQLite")))
}

fn to_u64(v: i64, column: &'static str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        column,
        detail: format!("negative value {v}"),
    })
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(block_time: i64, tx_id: &str, idx_outer: u32) -> Payment {
        Payment {
            chain: "eip155:8453".into(),
            tx_id: tx_id.into(),
            idx_outer,
            idx_inner: 0,
            block_number: 1,
            block_hash: String::new(),
            block_time,
            asset: String::new(),
            payer: String::new(),
            pay_to: String::new(),
            amount: Amount::from_u64(1),
            nonce: String::new(),
            facilitator: String::new(),
            tx_from: String::new(),
            method: String::new(),
            is_final: true,
            is_organic: true,
        }
    }

    /// What a test job does: insert its value, then fail or not.
    #[derive(Clone, Copy)]
    struct TestJob {
        value: i64,
        alone: bool,
        fails: bool,
    }

    fn test_job(
        t: TestJob,
        order: Arc<Mutex<Vec<(i64, bool)>>>,
    ) -> (Job, oneshot::Receiver<Result<(), StoreError>>) {
        job(t.alone, move |conn| {
            // Whether the job runs in its savepoint: rolling back to it, before
            // the job has done anything, changes nothing.
            let in_savepoint = conn.execute_batch("ROLLBACK TO job").is_ok();
            if let Ok(mut o) = order.lock() {
                o.push((t.value, in_savepoint));
            }
            conn.execute("INSERT INTO t (v) VALUES (?1)", [t.value])?;
            if t.fails {
                return Err(StoreError::Invalid(format!("job {} fails", t.value)));
            }
            Ok(())
        })
    }

    /// The writer joins waiting jobs into one transaction, each in a
    /// savepoint; a job alone in its transaction runs without one, and a job
    /// that asks to run alone is never joined. Whatever a failing job did is
    /// undone, and nothing else is.
    #[test]
    fn the_writer_joins_jobs_isolates_failures_and_runs_alone_jobs_alone() {
        let ok = |value| TestJob {
            value,
            alone: false,
            fails: false,
        };
        let fail = |value| TestJob {
            value,
            alone: false,
            fails: true,
        };
        let alone = |t: TestJob| TestJob { alone: true, ..t };
        // (jobs, the rows left, each job's answer, the transactions as the
        // values of their jobs)
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, Vec<TestJob>, Vec<i64>, Vec<bool>, Vec<Vec<i64>>)> = vec![
            (
                "joined, one fails",
                vec![ok(1), fail(2), ok(3)],
                vec![1, 3],
                vec![true, false, true],
                vec![vec![1, 2, 3]],
            ),
            (
                "one job that fails",
                vec![fail(1)],
                vec![],
                vec![false],
                vec![vec![1]],
            ),
            ("one job", vec![ok(1)], vec![1], vec![true], vec![vec![1]]),
            (
                "an alone job splits the batch",
                vec![ok(1), ok(2), alone(ok(3)), ok(4), ok(5)],
                vec![1, 2, 3, 4, 5],
                vec![true; 5],
                vec![vec![1, 2], vec![3], vec![4, 5]],
            ),
            (
                "an alone job that fails",
                vec![ok(1), alone(fail(2)), alone(ok(3)), fail(4), ok(5)],
                vec![1, 3, 5],
                vec![true, false, true, false, true],
                vec![vec![1], vec![2], vec![3], vec![4, 5]],
            ),
        ];
        for (name, jobs, rows, answers, batches) in cases {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("w.db");
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL)")
                .expect("table");
            let order = Arc::new(Mutex::new(Vec::new()));
            let (tx, rx) = mpsc::channel::<Job>(64);
            let mut receivers = Vec::new();
            for t in &jobs {
                let (j, r) = test_job(*t, order.clone());
                tx.try_send(j).expect("queue");
                receivers.push(r);
            }
            drop(tx);
            writer_loop(conn, rx);
            let got: Vec<bool> = receivers
                .into_iter()
                .map(|mut r| matches!(r.try_recv(), Ok(Ok(()))))
                .collect();
            assert_eq!(got, answers, "{name}: answers");
            let conn = Connection::open(&path).expect("reopen");
            let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").expect("select");
            let left: Vec<i64> = stmt
                .query_map([], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert_eq!(left, rows, "{name}: rows");
            // A job in a savepoint shares its transaction; a batch of one has none.
            let order = order.lock().expect("order").clone();
            let mut seen: Vec<Vec<i64>> = Vec::new();
            let mut i = 0;
            for b in &batches {
                let part = &order[i..i + b.len()];
                let shared = b.len() > 1;
                assert!(
                    part.iter().all(|(_, s)| *s == shared),
                    "{name}: savepoints in {b:?}: {part:?}"
                );
                seen.push(part.iter().map(|(v, _)| *v).collect());
                i += b.len();
            }
            assert_eq!(seen, batches, "{name}: transactions");
        }
    }

    /// A short read runs once on the calling thread; one that does more than
    /// its budget of SQLite work is interrupted there and run again, whole,
    /// on the blocking pool, with the same answer.
    #[tokio::test]
    async fn short_reads_run_in_place_and_long_ones_move_to_the_pool() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("s.db"))
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        let here = std::thread::current().id();
        for (name, n, runs, moved) in [("short", 1_000_i64, 1, false), ("long", 3_000_000, 2, true)]
        {
            let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let threads = Arc::new(Mutex::new(Vec::new()));
            let (c, t) = (calls.clone(), threads.clone());
            let sum: i64 = store
                .read_short(move |conn| {
                    c.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut t) = t.lock() {
                        t.push(std::thread::current().id());
                    }
                    Ok(conn.query_row(
                        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1)
                         SELECT sum(i) FROM k",
                        params![n],
                        |r| r.get(0),
                    )?)
                })
                .await
                .expect("read");
            assert_eq!(sum, n * (n + 1) / 2, "{name}");
            assert_eq!(calls.load(Ordering::Relaxed), runs, "{name}: runs");
            let threads = threads.lock().expect("lock").clone();
            assert_eq!(threads[0], here, "{name}: first run in place");
            assert_eq!(
                threads.last().is_some_and(|t| *t != here),
                moved,
                "{name}: moved"
            );
        }
        // The budget is per read: the next short read runs in place again.
        let one: i64 = store
            .read_short(|conn| Ok(conn.query_row("SELECT 1", [], |r| r.get(0))?))
            .await
            .expect("read");
        assert_eq!(one, 1);
    }

    fn key(p: &Payment) -> String {
        format!("{}/{}/{}", p.block_time, p.tx_id, p.idx_outer)
    }

    /// Rows in the order the time index gives them (newest second first, any
    /// order within a second), the limit, and the page and the cursor's row.
    #[test]
    fn newest_first_takes_whole_seconds_and_orders_them_by_key() {
        type Case = (
            &'static str,
            Vec<(i64, &'static str, u32)>,
            usize,
            Vec<&'static str>,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            ("empty", vec![], 3, vec![], None),
            (
                "fewer than the limit",
                vec![(9, "a", 0), (8, "a", 0)],
                3,
                vec!["9/a/0", "8/a/0"],
                None,
            ),
            (
                "exactly the limit",
                vec![(9, "a", 0), (8, "a", 0)],
                2,
                vec!["9/a/0", "8/a/0"],
                None,
            ),
            (
                "one more than the limit: a cursor",
                vec![(9, "a", 0), (8, "a", 0), (7, "a", 0)],
                2,
                vec!["9/a/0", "8/a/0"],
                Some("8/a/0"),
            ),
            (
                "ties within a second come in any order and leave in key order",
                vec![
                    (9, "a", 0),
                    (9, "c", 0),
                    (9, "b", 1),
                    (9, "b", 0),
                    (8, "z", 0),
                ],
                3,
                vec!["9/c/0", "9/b/1", "9/b/0"],
                Some("9/b/0"),
            ),
            (
                "the second at the page's edge is read whole: its newest key wins",
                vec![
                    (9, "a", 0),
                    (8, "a", 0),
                    (8, "b", 0),
                    (8, "c", 0),
                    (7, "a", 0),
                ],
                2,
                vec!["9/a/0", "8/c/0"],
                Some("8/c/0"),
            ),
            (
                "a whole page of one second",
                vec![(5, "a", 0), (5, "d", 0), (5, "b", 0), (5, "c", 0)],
                3,
                vec!["5/d/0", "5/c/0", "5/b/0"],
                Some("5/b/0"),
            ),
        ];
        for (name, input, limit, want, cursor) in cases {
            let mut page = NewestFirst::new(limit);
            let mut read = 0;
            for (t, tx, o) in input.iter().copied() {
                if !page.offer(t) {
                    break;
                }
                read += 1;
                page.push(row(t, tx, o));
            }
            let got = page.finish();
            let keys: Vec<String> = got.items.iter().map(key).collect();
            assert_eq!(keys, want, "{name}");
            let c = got
                .next
                .map(|c| format!("{}/{}/{}", c.block_time, c.tx_id, c.idx_outer));
            assert_eq!(c.as_deref(), cursor, "{name}");
            // It stops at the first row of a second it does not need.
            let needed = input
                .iter()
                .enumerate()
                .position(|(i, r)| i >= limit && (i == 0 || r.0 != input[i - 1].0))
                .unwrap_or(input.len());
            assert_eq!(read, needed, "{name}: rows read");
        }
    }
}
