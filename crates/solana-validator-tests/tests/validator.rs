//! The Solana indexer against a real in-process `solana-test-validator`, on
//! both stores: every x402 transfer indexed exactly once with exact fields,
//! the others excluded, and stops and restarts giving the same rows.

#![allow(clippy::unwrap_used)]

mod common;

use tokio_util::sync::CancellationToken;
use x402scope_solana::indexer::{IndexError, Progress};
use x402scope_solana::rpc::RpcError;
use x402scope_store::Store;

use common::{Backend, all_rows, chain::chain, indexer};

async fn indexes_exactly(backend: Backend) {
    let chain = chain();
    let store = &backend.store;
    let cancel = CancellationToken::new();
    let stats = indexer(store, 1000, &cancel)
        .run_once(&cancel)
        .await
        .unwrap();
    assert!(stats.payments >= chain.expected.len(), "{stats:?}");
    let rows = all_rows(store).await;
    assert_eq!(rows, chain.expected);
    for sig in &chain.excluded {
        assert!(
            store.payments_by_tx(sig).await.unwrap().is_empty(),
            "{sig} must not be stored"
        );
    }
    // A second round finds nothing new and changes nothing.
    indexer(store, 1000, &cancel)
        .run_once(&cancel)
        .await
        .unwrap();
    assert_eq!(all_rows(store).await, chain.expected);
    let cursor = store
        .solana_cursor(&chain.network, &chain.facilitator)
        .await
        .unwrap()
        .unwrap();
    assert!(!cursor.until.is_empty() && cursor.before.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x402_transfers_are_indexed_exactly_once_on_sqlite() {
    indexes_exactly(common::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x402_transfers_are_indexed_exactly_once_on_clickhouse() {
    indexes_exactly(common::clickhouse("solana_exact").await).await;
}

/// Stop the indexer after every page it commits, and start it again, until a
/// round completes: the rows are those of a clean run.
async fn restarts_change_nothing(store: Store) {
    let chain = chain();
    let mut restarts = 0;
    loop {
        let cancel = CancellationToken::new();
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let ix = indexer(&store, 2, &cancel).with_progress(tx);
        let run = tokio::spawn({
            let cancel = cancel.clone();
            async move { ix.run_once(&cancel).await }
        });
        // Stop as soon as the first page is committed.
        while let Some(p) = rx.recv().await {
            if matches!(p, Progress::Page { .. }) {
                cancel.cancel();
                break;
            }
        }
        drop(rx);
        match run.await.unwrap() {
            Ok(_) => break,
            Err(IndexError::Cancelled | IndexError::Rpc(RpcError::Cancelled)) => restarts += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(restarts >= 5, "only {restarts} restarts");
    assert_eq!(
        all_rows(&store).await,
        chain.expected,
        "after {restarts} restarts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_and_restarting_gives_the_rows_of_a_clean_run_on_sqlite() {
    let backend = common::sqlite().await;
    restarts_change_nothing(backend.store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_and_restarting_gives_the_rows_of_a_clean_run_on_clickhouse() {
    let backend = common::clickhouse("solana_restart").await;
    restarts_change_nothing(backend.store.clone()).await;
}

/// The Solana half of the analysis scenario (see `common/analysis.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_correlates_solana_claims_on_sqlite() {
    let backend = common::sqlite().await;
    common::analysis::scenario(chain(), &backend.store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_correlates_solana_claims_on_clickhouse() {
    let backend = common::clickhouse("solana_analysis").await;
    common::analysis::scenario(chain(), &backend.store).await;
}
