//! The EVM indexer into the real stores (SQLite and ClickHouse), on a real anvil
//! chain with generated settlements: every settlement exactly once with exact
//! fields, noise excluded, and a depth-3 reorg leaving the store equal to the
//! canonical chain.

#![allow(clippy::unwrap_used)]

mod common;
use common::{Backend, all_rows, clickhouse, lookup, sqlite};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::Filter as LogFilter;
use alloy::rpc::types::anvil::{ReorgOptions, TransactionData};
use tokio_util::sync::CancellationToken;
use x402scope_core::Amount;
use x402scope_evm::indexer::{ChainSettings, EvmIndexer};
use x402scope_evm::pairing::AUTHORIZATION_USED;
use x402scope_evm::rpc::{EvmRpc, RpcConfig};
use x402scope_evm::sink::StoreSink;
use x402scope_store::{Filter, Payment, Store};
use x402scope_testkit::settlements::{
    Authorization, Generated, Plan, derived_key, generate, settlement_tx,
};
use x402scope_testkit::x402::X402Stack;

fn indexer(stack: &X402Stack, store: &Store, generated: &Generated) -> EvmIndexer<StoreSink> {
    let rpc = Arc::new(EvmRpc::new(RpcConfig::new(vec![stack.info.rpc.parse().unwrap()])).unwrap());
    let settings = ChainSettings {
        chain_id: stack.info.chain_id,
        tokens: vec![stack.info.token.parse().unwrap()],
        start_block: 0,
        confirmations: 0,
        max_range: 7,
        concurrency: 4,
        window: 16,
        poll_interval: Duration::from_millis(50),
    };
    EvmIndexer::new(
        rpc,
        Arc::new(StoreSink::new(store.clone())),
        lookup(generated),
        settings,
    )
}

async fn indexes_every_settlement_once(b: Backend) {
    let stack = X402Stack::start_chain_only().unwrap();
    let generated = generate(&stack.info, &Plan::new(500)).await.unwrap();
    let ix = indexer(&stack, &b.store, &generated);
    let cancel = CancellationToken::new();
    ix.backfill_to_window(&cancel).await.unwrap();
    ix.follow_to_head(&cancel).await.unwrap();

    let rows = all_rows(&b.store).await;
    assert_eq!(rows.len(), 500, "each settlement once, and no noise");
    let overview = b.store.overview(&Filter::default()).await.unwrap();
    assert_eq!(overview.count, 500);
    assert_eq!(overview.volume, Amount(generated.total()));
    let by_key: HashMap<(String, String), &Payment> = rows
        .iter()
        .map(|p| ((p.payer.clone(), p.nonce.clone()), p))
        .collect();
    let known: HashMap<Address, usize> = generated
        .known_facilitators
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, i))
        .collect();
    for e in &generated.settlements {
        let p = by_key[&(format!("{:#x}", e.payer), format!("{:#x}", e.nonce))];
        assert_eq!(p.chain, "eip155:84532");
        assert_eq!(p.tx_id, format!("{:#x}", e.tx_hash));
        assert_eq!(p.pay_to, format!("{:#x}", e.pay_to));
        assert_eq!(p.amount, Amount(e.amount));
        assert_eq!(p.tx_from, format!("{:#x}", e.sender));
        assert_eq!(
            p.asset,
            format!("{:#x}", stack.info.token.parse::<Address>().unwrap())
        );
        assert_eq!(p.method, "eip3009");
        match known.get(&e.sender) {
            Some(i) => assert_eq!(p.facilitator, format!("facilitator-{i}")),
            None => assert_eq!(p.facilitator, "unknown"),
        }
    }
    // A multi-settlement transaction gives one row per settlement.
    let batched = generated.settlements.iter().find(|e| e.in_tx == 3).unwrap();
    assert_eq!(
        rows.iter()
            .filter(|p| p.tx_id == format!("{:#x}", batched.tx_hash))
            .count(),
        3
    );

    // Running again from the checkpoint changes nothing.
    ix.backfill_to_window(&cancel).await.unwrap();
    ix.follow_to_head(&cancel).await.unwrap();
    assert_eq!(all_rows(&b.store).await, rows);
}

async fn reorg_leaves_the_store_equal_to_the_chain(b: Backend) {
    let stack = X402Stack::start_chain_only().unwrap();
    let provider = ProviderBuilder::new().connect_http(stack.info.rpc.parse().unwrap());
    let fac_b = derived_key(99, "store-reorg-facilitator", 0);
    provider
        .anvil_set_balance(fac_b.address(), U256::from(10u64).pow(U256::from(20u64)))
        .await
        .unwrap();
    let mut plan = Plan::new(40);
    plan.per_block = 4;
    plan.facilitators.push(fac_b.clone());
    let generated = generate(&stack.info, &plan).await.unwrap();
    let ix = indexer(&stack, &b.store, &generated);
    let cancel = CancellationToken::new();
    ix.backfill_to_window(&cancel).await.unwrap();
    ix.follow_to_head(&cancel).await.unwrap();

    let auth = Authorization {
        payer: derived_key(plan.seed, "payer", 1),
        pay_to: derived_key(plan.seed, "payee", 1).address(),
        amount: U256::from(31337u64),
        nonce: B256::repeat_byte(0x77),
    };
    // The replacement is mined on top of the fork point: its nonce is the one there.
    let head = provider.get_block_number().await.unwrap();
    let nonce = provider
        .get_transaction_count(fac_b.address())
        .block_id(alloy::eips::BlockId::number(head - 3))
        .await
        .unwrap();
    let (raw, new_tx) = settlement_tx(&stack.info, &fac_b, nonce, &auth).unwrap();
    provider
        .anvil_reorg(ReorgOptions {
            depth: 3,
            tx_block_pairs: vec![(TransactionData::Raw(raw), 1)],
        })
        .await
        .unwrap();
    ix.follow_to_head(&cancel).await.unwrap();

    let head = provider.get_block_number().await.unwrap();
    let logs = provider
        .get_logs(
            &LogFilter::new()
                .address(stack.info.token.parse::<Address>().unwrap())
                .event_signature(AUTHORIZATION_USED)
                .from_block(0)
                .to_block(head),
        )
        .await
        .unwrap();
    let mut truth: Vec<(String, u32)> = logs
        .iter()
        .filter(|l| !generated.noise_txs.contains(&l.transaction_hash.unwrap()))
        .map(|l| {
            (
                format!("{:#x}", l.transaction_hash.unwrap()),
                l.log_index.unwrap() as u32,
            )
        })
        .collect();
    truth.sort();
    let mut indexed: Vec<(String, u32)> = all_rows(&b.store)
        .await
        .into_iter()
        .map(|p| (p.tx_id, p.idx_outer))
        .collect();
    indexed.sort();
    assert_eq!(indexed, truth);
    assert!(
        indexed.iter().any(|(t, _)| *t == format!("{new_tx:#x}")),
        "the replacement settlement is in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_indexes_every_settlement_once() {
    indexes_every_settlement_once(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_indexes_every_settlement_once() {
    indexes_every_settlement_once(clickhouse("evm_every_settlement").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reorg_leaves_the_store_equal_to_the_chain() {
    reorg_leaves_the_store_equal_to_the_chain(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_reorg_leaves_the_store_equal_to_the_chain() {
    reorg_leaves_the_store_equal_to_the_chain(clickhouse("evm_reorg").await).await;
}

async fn finalized(provider: &impl Provider) -> u64 {
    provider
        .get_block_by_number(alloy::rpc::types::BlockNumberOrTag::Finalized)
        .await
        .unwrap()
        .map_or(0, |b| b.header.number)
}

/// Rows become final once the chain's finalized block passes them: not before,
/// and in the store, not only in memory.
async fn rows_turn_final_with_the_finalized_block(b: Backend) {
    let stack = X402Stack::start_chain_only().unwrap();
    let generated = generate(&stack.info, &Plan::new(60)).await.unwrap();
    let provider = ProviderBuilder::new().connect_http(stack.info.rpc.parse().unwrap());
    let ix = indexer(&stack, &b.store, &generated);
    let cancel = CancellationToken::new();
    let before = finalized(&provider).await;
    assert!(
        before < generated.first_block,
        "the test needs settlements above the finalized block ({before})"
    );
    ix.backfill_to_window(&cancel).await.unwrap();
    ix.follow_to_head(&cancel).await.unwrap();
    let rows = all_rows(&b.store).await;
    assert_eq!(rows.len(), 60);
    assert!(rows.iter().all(|p| !p.is_final), "nothing final yet");

    // The chain moves on until every settlement is below its finalized block.
    while finalized(&provider).await < generated.last_block {
        provider.anvil_mine(Some(16), None).await.unwrap();
    }
    ix.follow_to_head(&cancel).await.unwrap();
    let rows = all_rows(&b.store).await;
    assert_eq!(rows.len(), 60, "marking final adds and loses nothing");
    assert!(rows.iter().all(|p| p.is_final), "all final now");
    assert_eq!(
        b.store.overview(&Filter::default()).await.unwrap().volume,
        Amount(generated.total())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rows_turn_final_with_the_finalized_block() {
    rows_turn_final_with_the_finalized_block(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_rows_turn_final_with_the_finalized_block() {
    rows_turn_final_with_the_finalized_block(clickhouse("evm_final").await).await;
}
