//! The indexer behind a fault-injecting RPC proxy (429s with Retry-After,
//! timeouts, "range too large", empty log answers that contradict the bloom, a
//! lagging head), into the real stores: the store ends exactly equal to the
//! chain's settlements, with no gap and no duplicate, and every fault was met.

#![allow(clippy::unwrap_used)]

mod common;
use common::{Backend, all_rows, clickhouse, lookup, sqlite};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use alloy::providers::ProviderBuilder;
use alloy::providers::ext::AnvilApi;
use tokio_util::sync::CancellationToken;
use x402scope_core::Amount;
use x402scope_evm::indexer::{ChainSettings, EvmIndexer};
use x402scope_evm::rpc::{EvmRpc, RpcConfig};
use x402scope_evm::sink::StoreSink;
use x402scope_evm::types::PaymentSink;
use x402scope_store::{Filter, Payment};
use x402scope_testkit::rpc_proxy::{Faults, RpcProxy};
use x402scope_testkit::settlements::{Plan, generate};
use x402scope_testkit::x402::X402Stack;

const CONFIRMATIONS: u64 = 2;

async fn indexes_exactly_the_chain_behind_faults(b: Backend) {
    let stack = X402Stack::start_chain_only().unwrap();
    // Few transactions per block: many blocks, so that every fault is met often.
    let mut plan = Plan::new(240);
    plan.per_block = 6;
    let generated = generate(&stack.info, &plan).await.unwrap();
    // Blocks on top, so that the last settlement is below the confirmation depth.
    let anvil = ProviderBuilder::new().connect_http(stack.info.rpc.parse().unwrap());
    anvil.anvil_mine(Some(CONFIRMATIONS), None).await.unwrap();

    let proxy = RpcProxy::start(&stack.info.rpc, Faults::all())
        .await
        .unwrap();
    let mut rpc = RpcConfig::new(vec![proxy.url.parse().unwrap()]);
    rpc.requests_per_second = 5_000;
    rpc.request_timeout = Duration::from_millis(500);
    rpc.base_backoff = Duration::from_millis(20);
    rpc.max_attempts = 12;
    let settings = ChainSettings {
        chain_id: stack.info.chain_id,
        tokens: vec![stack.info.token.parse().unwrap()],
        start_block: 0,
        confirmations: CONFIRMATIONS,
        max_range: 8,
        concurrency: 4,
        window: 16,
        poll_interval: Duration::from_millis(20),
    };
    let sink = Arc::new(StoreSink::new(b.store.clone()));
    let ix = EvmIndexer::new(
        Arc::new(EvmRpc::new(rpc).unwrap()),
        sink.clone(),
        lookup(&generated),
        settings,
    );
    let cancel = CancellationToken::new();

    // The first half by parallel backfill (ranges), the rest by following the
    // head (blocks by hash), which sees the lagging head too.
    let middle = generated.first_block + (generated.last_block - generated.first_block) / 2;
    ix.backfill(0, middle, &cancel).await.unwrap();
    for _ in 0..200 {
        ix.follow_to_head(&cancel).await.unwrap();
        let cp = sink.checkpoint(stack.info.chain_id).await.unwrap().unwrap();
        if cp.block >= generated.last_block {
            break;
        }
    }
    let cp = sink.checkpoint(stack.info.chain_id).await.unwrap().unwrap();
    assert_eq!(cp.block, generated.last_block, "followed to the safe head");

    // Exactly the chain's settlements: none missing, none twice, exact fields.
    let rows = all_rows(&b.store).await;
    let keys: HashSet<(String, u32)> = rows
        .iter()
        .map(|p| (p.tx_id.clone(), p.idx_outer))
        .collect();
    assert_eq!(keys.len(), rows.len(), "no duplicate rows");
    assert_eq!(rows.len(), generated.settlements.len(), "no gap, no noise");
    let by_key: HashMap<(String, String), &Payment> = rows
        .iter()
        .map(|p| ((p.payer.clone(), p.nonce.clone()), p))
        .collect();
    for e in &generated.settlements {
        let p = by_key
            .get(&(format!("{:#x}", e.payer), format!("{:#x}", e.nonce)))
            .unwrap_or_else(|| panic!("missing {e:?}"));
        assert_eq!(p.tx_id, format!("{:#x}", e.tx_hash));
        assert_eq!(p.pay_to, format!("{:#x}", e.pay_to));
        assert_eq!(p.amount, Amount(e.amount));
        assert_eq!(p.tx_from, format!("{:#x}", e.sender));
    }
    let overview = b.store.overview(&Filter::default()).await.unwrap();
    assert_eq!(overview.count, generated.settlements.len() as u64);
    assert_eq!(overview.volume, Amount(generated.total()));

    // Every fault was injected, and the client honoured every Retry-After.
    let c = proxy.counts();
    eprintln!("faults injected: {c:?}");
    assert!(c.rate_limited > 0, "{c:?}");
    assert_eq!(
        c.retried_too_early, 0,
        "a 429's Retry-After was ignored: {c:?}"
    );
    assert!(c.timeouts > 0, "{c:?}");
    assert!(c.too_large > 0, "{c:?}");
    assert!(c.emptied_logs > 1, "{c:?}");
    assert!(c.lagging_heads > 0, "{c:?}");
    assert!(c.blocks_not_found > 0, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_equals_the_chain_behind_a_faulty_rpc() {
    indexes_exactly_the_chain_behind_faults(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_store_equals_the_chain_behind_a_faulty_rpc() {
    indexes_exactly_the_chain_behind_faults(clickhouse("evm_faults").await).await;
}
