//! EVM backfill benchmark: settlements per second from a local anvil chain into
//! each store, through the real indexer (RPC client, range fetches, pairing,
//! sender and block-time lookups, `StoreSink` commits with checkpoints).
//!
//!     cargo bench -p x402scope-evm --bench backfill
//!
//! Size: X402SCOPE_BENCH_EVM_SETTLEMENTS (default 100,000), generated on a fresh
//! anvil with X402SCOPE_BENCH_EVM_BATCH settlements per transaction (default 10;
//! 1 is one transaction per settlement, the common case on Base, and makes the
//! indexer look up one sender per settlement). ClickHouse is a private server
//! started for the run (or X402SCOPE_TEST_CLICKHOUSE_URL). Prints one line per
//! figure; BENCHMARKS.md records them.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use tokio_util::sync::CancellationToken;
use x402scope_core::Amount;
use x402scope_evm::indexer::{ChainSettings, EvmIndexer};
use x402scope_evm::rpc::{EvmRpc, RpcConfig};
use x402scope_evm::sink::StoreSink;
use x402scope_evm::types::FacilitatorLookup;
use x402scope_store::{Filter, Store, StoreUrl, migrate, open};
use x402scope_testkit::settlements::{Generated, Plan, generate};
use x402scope_testkit::x402::X402Stack;

fn from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn lookup(generated: &Generated) -> Arc<dyn FacilitatorLookup> {
    let known: HashMap<Address, String> = generated
        .known_facilitators
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, format!("facilitator-{i}")))
        .collect();
    Arc::new(move |_: u64, a: Address| known.get(&a).cloned())
}

async fn backfill(name: &str, store: Store, stack: &X402Stack, generated: &Generated) {
    let mut rpc = RpcConfig::new(vec![stack.info.rpc.parse().unwrap()]);
    rpc.requests_per_second = 1_000_000;
    let settings = ChainSettings {
        chain_id: stack.info.chain_id,
        tokens: vec![stack.info.token.parse().unwrap()],
        start_block: 0,
        confirmations: 0,
        max_range: 20,
        concurrency: 4,
        window: 128,
        poll_interval: Duration::from_millis(100),
    };
    let ix = EvmIndexer::new(
        Arc::new(EvmRpc::new(rpc).unwrap()),
        Arc::new(StoreSink::new(store.clone())),
        lookup(generated),
        settings,
    );
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let stats = ix
        .backfill(generated.first_block, generated.last_block, &cancel)
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(stats.settlements, generated.settlements.len());
    let overview = store.overview(&Filter::default()).await.unwrap();
    assert_eq!(overview.count, generated.settlements.len() as u64);
    assert_eq!(overview.volume, Amount(generated.total()));
    println!(
        "{name}: backfill of {} settlements in {} blocks: {secs:.1} s, {:.0} settlements/s, {:.1} blocks/s",
        stats.settlements,
        stats.blocks,
        stats.settlements as f64 / secs,
        stats.blocks as f64 / secs,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = from_env("X402SCOPE_BENCH_EVM_SETTLEMENTS", 100_000);
    let batch = from_env("X402SCOPE_BENCH_EVM_BATCH", 10);
    let stack = X402Stack::start_chain_only().unwrap();
    let mut plan = Plan::new(n);
    plan.batch_every = usize::from(batch > 1);
    plan.batch_size = batch;
    plan.noise_transfers = n / 100;
    plan.noise_receives = n / 500;
    let started = Instant::now();
    let generated = generate(&stack.info, &plan).await.unwrap();
    println!(
        "generated {n} settlements ({batch} per transaction) in blocks {}..={} in {:.1} s",
        generated.first_block,
        generated.last_block,
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("bench.db"));
    migrate(&url).await.unwrap();
    backfill("SQLite", open(&url).await.unwrap(), &stack, &generated).await;

    let db = x402scope_testkit::clickhouse::fresh_database("evm_bench").unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&url).await.unwrap();
    backfill("ClickHouse", open(&url).await.unwrap(), &stack, &generated).await;
}
