//! The indexer against a real anvil chain with generated settlements.
//! The sink here is an in-memory map keyed like the store (natural keys,
//! idempotent writes), so that these tests exercise the indexer's own logic.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address, B256};
use tokio_util::sync::CancellationToken;
use x402scope_evm::indexer::{ChainSettings, EvmIndexer};
use x402scope_evm::reorg::BlockRef;
use x402scope_evm::rpc::{EvmRpc, RpcConfig};
use x402scope_evm::types::{Checkpoint, EvmPayment, FacilitatorLookup, PaymentSink};
use x402scope_testkit::settlements::{Generated, Plan, generate};
use x402scope_testkit::x402::X402Stack;

#[derive(Default)]
struct State {
    payments: BTreeMap<(B256, u64), EvmPayment>,
    blocks: BTreeMap<u64, BlockRef>,
    checkpoint: Option<Checkpoint>,
}

#[derive(Default)]
struct MemorySink(Mutex<State>);

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl PaymentSink for MemorySink {
    type Error = Never;
    async fn checkpoint(&self, _: u64) -> Result<Option<Checkpoint>, Never> {
        Ok(self.0.lock().unwrap().checkpoint)
    }
    async fn window(&self, _: u64, limit: usize) -> Result<Vec<BlockRef>, Never> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .blocks
            .values()
            .rev()
            .take(limit)
            .copied()
            .collect())
    }
    async fn commit(
        &self,
        _: u64,
        payments: Vec<EvmPayment>,
        blocks: Vec<BlockRef>,
        cp: Checkpoint,
    ) -> Result<(), Never> {
        let mut s = self.0.lock().unwrap();
        for p in payments {
            s.payments.insert((p.tx_hash, p.log_index), p);
        }
        for b in blocks {
            s.blocks.insert(b.number, b);
        }
        s.checkpoint = Some(cp);
        Ok(())
    }
    async fn mark_final(&self, _: u64, up_to: u64) -> Result<u64, Never> {
        let mut s = self.0.lock().unwrap();
        let mut changed = 0;
        for p in s.payments.values_mut() {
            if p.block_number <= up_to && !p.is_final {
                p.is_final = true;
                changed += 1;
            }
        }
        Ok(changed)
    }
    async fn rollback_above(&self, _: u64, block: u64, hash: B256) -> Result<(), Never> {
        let mut s = self.0.lock().unwrap();
        s.payments.retain(|_, p| p.block_number <= block);
        s.blocks.retain(|n, _| *n <= block);
        s.checkpoint = Some(Checkpoint { block, hash });
        Ok(())
    }
}

fn settings(stack: &X402Stack, confirmations: u64, max_range: u64) -> ChainSettings {
    ChainSettings {
        chain_id: stack.info.chain_id,
        tokens: vec![stack.info.token.parse().unwrap()],
        start_block: 0,
        confirmations,
        max_range,
        concurrency: 4,
        window: 64,
        poll_interval: Duration::from_millis(50),
    }
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

fn assert_matches_ground_truth(sink: &MemorySink, generated: &Generated) {
    let s = sink.0.lock().unwrap();
    assert_eq!(
        s.payments.len(),
        generated.settlements.len(),
        "exactly once each, no noise"
    );
    let by_key: HashMap<(Address, B256), &EvmPayment> = s
        .payments
        .values()
        .map(|p| ((p.payer, p.nonce), p))
        .collect();
    for e in &generated.settlements {
        let p = by_key
            .get(&(e.payer, e.nonce))
            .unwrap_or_else(|| panic!("missing {e:?}"));
        assert_eq!(p.tx_hash, e.tx_hash);
        assert_eq!(p.pay_to, e.pay_to);
        assert_eq!(p.amount, e.amount);
        assert_eq!(p.tx_from, e.sender);
        assert_eq!(p.facilitator.is_some(), e.known_facilitator, "{e:?}");
    }
    // A batched transaction gives one row per settlement, each its own log index.
    let batched = generated.settlements.iter().find(|e| e.in_tx > 1).unwrap();
    let rows: Vec<_> = s
        .payments
        .values()
        .filter(|p| p.tx_hash == batched.tx_hash)
        .collect();
    assert_eq!(rows.len(), batched.in_tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_indexes_every_settlement_once_and_no_noise() {
    let stack = X402Stack::start_chain_only().unwrap();
    let generated = generate(&stack.info, &Plan::new(200)).await.unwrap();
    let rpc = Arc::new(EvmRpc::new(RpcConfig::new(vec![stack.info.rpc.parse().unwrap()])).unwrap());
    let sink = Arc::new(MemorySink::default());
    // A small max range, so that the backfill runs many ordered parallel chunks.
    let indexer = EvmIndexer::new(
        rpc,
        sink.clone(),
        lookup(&generated),
        settings(&stack, 0, 2),
    );
    let cancel = CancellationToken::new();
    let head = indexer.safe_head(&cancel).await.unwrap().1;
    let stats = indexer.backfill(0, head, &cancel).await.unwrap();
    assert_eq!(stats.settlements, 200);
    assert_matches_ground_truth(&sink, &generated);
    assert_eq!(sink.0.lock().unwrap().checkpoint.unwrap().block, head);

    // Replaying the same range changes nothing.
    indexer.backfill(0, head, &cancel).await.unwrap();
    assert_matches_ground_truth(&sink, &generated);
}

mod reorgs {
    use super::*;
    use alloy::primitives::U256;
    use alloy::providers::ext::AnvilApi;
    use alloy::providers::{Provider, ProviderBuilder};
    use alloy::rpc::types::Filter;
    use alloy::rpc::types::anvil::{ReorgOptions, TransactionData};
    use x402scope_evm::indexer::IndexError;
    use x402scope_evm::pairing::AUTHORIZATION_USED;
    use x402scope_testkit::settlements::{Authorization, derived_key, settlement_tx};

    /// Every (tx, log index) of `AuthorizationUsed` on the canonical chain now,
    /// less the generator's noise transactions.
    async fn chain_truth(stack: &X402Stack, generated: &Generated) -> Vec<(B256, u64)> {
        let provider = ProviderBuilder::new().connect_http(stack.info.rpc.parse().unwrap());
        let head = provider.get_block_number().await.unwrap();
        let logs = provider
            .get_logs(
                &Filter::new()
                    .address(stack.info.token.parse::<Address>().unwrap())
                    .event_signature(AUTHORIZATION_USED)
                    .from_block(0)
                    .to_block(head),
            )
            .await
            .unwrap();
        let mut out: Vec<_> = logs
            .iter()
            .filter(|l| !generated.noise_txs.contains(&l.transaction_hash.unwrap()))
            .map(|l| (l.transaction_hash.unwrap(), l.log_index.unwrap()))
            .collect();
        out.sort();
        out
    }

    fn indexed(sink: &MemorySink) -> Vec<(B256, u64)> {
        sink.0.lock().unwrap().payments.keys().copied().collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_depth_three_reorg_rolls_back_and_rekeys_a_replaced_settlement() {
        let stack = X402Stack::start_chain_only().unwrap();
        let provider = ProviderBuilder::new().connect_http(stack.info.rpc.parse().unwrap());
        let fac_a = derived_key(99, "reorg-facilitator", 0);
        let fac_b = derived_key(99, "reorg-facilitator", 1);
        for k in [&fac_a, &fac_b] {
            provider
                .anvil_set_balance(k.address(), U256::from(10u64).pow(U256::from(20u64)))
                .await
                .unwrap();
        }
        let mut plan = Plan::new(30);
        plan.per_block = 4;
        plan.facilitators.push(fac_a.clone());
        plan.facilitators.push(fac_b.clone());
        let generated = generate(&stack.info, &plan).await.unwrap();

        // One more settlement by A, then two empty blocks: it sits 3 deep.
        let auth = Authorization {
            payer: derived_key(plan.seed, "payer", 0),
            pay_to: derived_key(plan.seed, "payee", 0).address(),
            amount: U256::from(4242u64),
            nonce: B256::repeat_byte(0x42),
        };
        let nonce_a = provider
            .get_transaction_count(fac_a.address())
            .await
            .unwrap();
        let (raw, old_tx) = settlement_tx(&stack.info, &fac_a, nonce_a, &auth).unwrap();
        provider
            .send_raw_transaction(&raw)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        provider.anvil_mine(Some(2), None).await.unwrap();

        let rpc =
            Arc::new(EvmRpc::new(RpcConfig::new(vec![stack.info.rpc.parse().unwrap()])).unwrap());
        let sink = Arc::new(MemorySink::default());
        let mut s = settings(&stack, 0, 5);
        s.window = 8;
        let indexer = EvmIndexer::new(rpc, sink.clone(), lookup(&generated), s);
        let cancel = CancellationToken::new();
        indexer.backfill_to_window(&cancel).await.unwrap();
        indexer.follow_to_head(&cancel).await.unwrap();
        assert_eq!(indexed(&sink), chain_truth(&stack, &generated).await);
        assert!(indexed(&sink).iter().any(|(t, _)| *t == old_tx));

        // Reorg 3 blocks deep; the new chain settles the same authorization
        // through B, in another transaction.
        let nonce_b = provider
            .get_transaction_count(fac_b.address())
            .await
            .unwrap();
        let (raw_b, new_tx) = settlement_tx(&stack.info, &fac_b, nonce_b, &auth).unwrap();
        provider
            .anvil_reorg(ReorgOptions {
                depth: 3,
                tx_block_pairs: vec![(TransactionData::Raw(raw_b), 1)],
            })
            .await
            .unwrap();
        indexer.follow_to_head(&cancel).await.unwrap();

        let truth = chain_truth(&stack, &generated).await;
        assert_eq!(
            indexed(&sink),
            truth,
            "indexed rows equal the canonical chain's"
        );
        let state = sink.0.lock().unwrap();
        assert!(
            state.payments.keys().all(|(t, _)| *t != old_tx),
            "the orphaned row is gone"
        );
        let row = state
            .payments
            .values()
            .find(|p| p.tx_hash == new_tx)
            .expect("re-keyed row");
        assert_eq!(row.tx_from, fac_b.address());
        assert_eq!(
            (row.payer, row.nonce, row.amount),
            (auth.payer.address(), auth.nonce, auth.amount)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reorg_deeper_than_the_window_halts() {
        let stack = X402Stack::start_chain_only().unwrap();
        let provider = ProviderBuilder::new().connect_http(stack.info.rpc.parse().unwrap());
        let mut plan = Plan::new(20);
        plan.per_block = 2;
        let generated = generate(&stack.info, &plan).await.unwrap();
        let rpc =
            Arc::new(EvmRpc::new(RpcConfig::new(vec![stack.info.rpc.parse().unwrap()])).unwrap());
        let sink = Arc::new(MemorySink::default());
        let mut s = settings(&stack, 0, 5);
        s.window = 4;
        let indexer = EvmIndexer::new(rpc, sink.clone(), lookup(&generated), s);
        let cancel = CancellationToken::new();
        indexer.backfill_to_window(&cancel).await.unwrap();
        indexer.follow_to_head(&cancel).await.unwrap();
        let before = indexed(&sink);

        let filler = derived_key(99, "filler", 0);
        provider
            .anvil_set_balance(filler.address(), U256::from(10u64).pow(U256::from(20u64)))
            .await
            .unwrap();
        let request = alloy::rpc::types::TransactionRequest::default()
            .from(stack.info.accounts.deployer.address.parse().unwrap())
            .to(filler.address())
            .value(U256::from(1u64));
        provider
            .anvil_reorg(ReorgOptions {
                depth: 6,
                tx_block_pairs: vec![(TransactionData::JSON(request), 0)],
            })
            .await
            .unwrap();
        match indexer.follow_to_head(&cancel).await {
            Err(IndexError::ReorgTooDeep { window: 4, .. }) => {}
            other => panic!("expected a halt, got {other:?}"),
        }
        assert_eq!(
            indexed(&sink),
            before,
            "nothing was rolled back or added past the halt"
        );
    }
}
