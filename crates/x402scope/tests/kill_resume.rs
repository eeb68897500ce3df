//! Kill and resume: the real `x402scope index evm` binary backfills 20,000
//! generated settlements from anvil, is SIGKILLed at random points at least ten
//! times and restarted each time, then finishes. The store ends with the same
//! rows, count and sum as a clean run and as the chain: the checkpoint only moves
//! with committed data, so a restart leaves no gap and no duplicate. Both stores.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use x402scope_core::Amount;
use x402scope_store::{Filter, Store, StoreUrl};
use x402scope_testkit::settlements::{Generated, Plan, generate};
use x402scope_testkit::x402::X402Stack;

const SETTLEMENTS: usize = 20_000;
const KILLS: usize = 10;

fn config(dir: &Path, name: &str, store_url: &str, rpc: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    // A small range and a modest rate limit, so that a run takes some seconds
    // and the kills land inside it.
    std::fs::write(
        &path,
        format!(
            "[store]\nurl = \"{store_url}\"\n\n[chains.dev]\nchain_id = 84532\nrpc_urls = [\"{rpc}\"]\nconfirmations = 0\nmax_range = 2\nconcurrency = 4\nrate_limit = 100\n"
        ),
    )
    .unwrap();
    path
}

fn index(cfg: &Path, to: u64) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_x402scope"));
    cmd.args(["--config", cfg.to_str().unwrap(), "index", "evm", "--to"])
        .arg(to.to_string())
        .env("NO_COLOR", "1");
    cmd
}

/// A small deterministic generator for kill delays (the seed is printed).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

async fn open(url: &str) -> Store {
    x402scope_store::open(&StoreUrl::parse(url).unwrap())
        .await
        .unwrap()
}

async fn checkpoint(url: &str) -> Option<u64> {
    // Before the first commit the store may not even be migrated yet.
    let store = x402scope_store::open(&StoreUrl::parse(url).unwrap())
        .await
        .ok()?;
    store
        .checkpoint("eip155:84532")
        .await
        .ok()
        .flatten()
        .map(|c| c.block)
}

/// Count, sum and every natural key in the store.
async fn contents(url: &str) -> (u64, Amount, BTreeSet<(String, u32)>) {
    let store = open(url).await;
    let overview = store.overview(&Filter::default()).await.unwrap();
    let mut keys = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = store
            .transactions(&Filter::default(), cursor.as_ref(), 1000)
            .await
            .unwrap();
        for p in page.items {
            assert!(
                keys.insert((p.tx_id.clone(), p.idx_outer)),
                "a duplicate row {p:?}"
            );
        }
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    (overview.count, overview.volume, keys)
}

fn run_to_the_end(cfg: &Path, to: u64) -> String {
    let out = index(cfg, to).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Run the indexer, SIGKILL it at random points `KILLS` times, then let it finish.
async fn killed_and_resumed(cfg: &Path, url: &str, last: u64, rng: &mut XorShift) {
    let mut kills = 0;
    let mut checkpoints = Vec::new();
    let started = Instant::now();
    while kills < KILLS {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "kills did not land within the runs: {checkpoints:?}"
        );
        let mut child = index(cfg, last)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Between 0.3 s and 1.3 s after the start (each start migrates and opens
        // the store first).
        let delay = Duration::from_millis(300 + rng.next() % 1000);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_some() {
            // It finished before the kill: nothing left to kill.
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        checkpoints.push(checkpoint(url).await);
    }
    eprintln!("{url}: checkpoints after each of {kills} kills: {checkpoints:?}");
    assert!(kills >= KILLS, "only {kills} kills landed: {checkpoints:?}");
    // The kills landed at different points of the backfill, not all before its
    // first commit or after its end.
    let distinct: BTreeSet<_> = checkpoints.iter().flatten().collect();
    assert!(distinct.len() >= 3, "{checkpoints:?}");
    assert!(
        checkpoints.iter().all(|c| c.is_none_or(|b| b < last)),
        "{checkpoints:?}"
    );
    run_to_the_end(cfg, last);
    assert_eq!(checkpoint(url).await, Some(last));
}

/// Rows per transaction, by the chain and by a store.
fn per_tx_truth(generated: &Generated) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in &generated.settlements {
        *out.entry(format!("{:#x}", e.tx_hash)).or_default() += 1;
    }
    out
}

fn per_tx(keys: &BTreeSet<(String, u32)>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (tx, _) in keys {
        *out.entry(tx.clone()).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_then_resumed_equals_a_clean_run() {
    let stack = X402Stack::start_chain_only().unwrap();
    // Batches of 20 settlements per transaction make 20,000 quick to generate.
    let mut plan = Plan::new(SETTLEMENTS);
    plan.batch_every = 1;
    plan.batch_size = 20;
    plan.noise_transfers = 200;
    plan.noise_receives = 50;
    // Two transactions per block: some 600 blocks to backfill.
    plan.per_block = 2;
    let generated = generate(&stack.info, &plan).await.unwrap();
    let last = generated.last_block;
    let (count, sum) = (
        generated.settlements.len() as u64,
        Amount(generated.total()),
    );

    let dir = tempfile::tempdir().unwrap();
    let clean_url = format!("sqlite://{}", dir.path().join("clean.db").display());
    let clean_cfg = config(dir.path(), "clean", &clean_url, &stack.info.rpc);
    let stdout = run_to_the_end(&clean_cfg, last);
    assert!(
        stdout.contains(&format!("{SETTLEMENTS} settlements")),
        "{stdout}"
    );
    let clean = contents(&clean_url).await;
    assert_eq!(
        (clean.0, clean.1),
        (count, sum),
        "the clean run equals the chain"
    );
    assert_eq!(per_tx(&clean.2), per_tx_truth(&generated));

    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill delays seed: {seed}");
    let mut rng = XorShift(seed);

    // SQLite.
    let url = format!("sqlite://{}", dir.path().join("killed.db").display());
    let cfg = config(dir.path(), "killed", &url, &stack.info.rpc);
    killed_and_resumed(&cfg, &url, last, &mut rng).await;
    assert_eq!(
        contents(&url).await,
        clean,
        "SQLite: same rows as the clean run"
    );

    // ClickHouse.
    let db = x402scope_testkit::clickhouse::fresh_database("kill_resume").unwrap();
    let url = db.store_url();
    let cfg = config(dir.path(), "killed-ch", &url, &stack.info.rpc);
    killed_and_resumed(&cfg, &url, last, &mut rng).await;
    assert_eq!(
        contents(&url).await,
        clean,
        "ClickHouse: same rows as the clean run"
    );
}
