//! Migration 0008: the Solana indexer's cursors and its finality by
//! signature, on both backends.

#![allow(clippy::unwrap_used)]

use x402scope_core::Amount;
use x402scope_store::{Payment, PendingTx, SolanaCursor, Store, StoreUrl, migrate, open};

const CHAIN: &str = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp";

fn row(sig: &str, inner: u32, slot: u64, is_final: bool) -> Payment {
    Payment {
        chain: CHAIN.into(),
        tx_id: sig.into(),
        idx_outer: 2,
        idx_inner: inner,
        block_number: slot,
        block_hash: String::new(),
        block_time: 1_750_000_000 + slot as i64,
        asset: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v".into(),
        payer: "Client11111111111111111111111111111111111".into(),
        pay_to: "PayTo111111111111111111111111111111111111".into(),
        amount: Amount::from_u64(10_000),
        nonce: "memo".into(),
        facilitator: "fac".into(),
        tx_from: "FacPayer1111111111111111111111111111111111".into(),
        method: "spl_transfer_checked".into(),
        is_final,
        is_organic: true,
    }
}

async fn scenario(store: &Store) {
    // cursors: none, then the newest write wins
    assert_eq!(store.solana_cursor(CHAIN, "A").await.unwrap(), None);
    let c = |until: &str, before: &str| SolanaCursor {
        chain: CHAIN.into(),
        address: "A".into(),
        until: until.into(),
        before: before.into(),
        next_until: String::new(),
        updated_at: 1_750_000_000,
    };
    store.solana_put_cursor(c("", "s9")).await.unwrap();
    store.solana_put_cursor(c("s5", "")).await.unwrap();
    assert_eq!(
        store.solana_cursor(CHAIN, "A").await.unwrap(),
        Some(c("s5", ""))
    );
    assert_eq!(store.solana_cursor(CHAIN, "B").await.unwrap(), None);

    // pending by signature; mark final; remove dropped
    store
        .commit_payments(
            vec![
                row("s1", 0, 10, false),
                row("s1", 1, 10, false),
                row("s2", 0, 11, false),
                row("s3", 0, 12, true),
            ],
            Vec::new(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.solana_pending(CHAIN).await.unwrap(),
        vec![
            PendingTx {
                tx_id: "s1".into(),
                slot: 10
            },
            PendingTx {
                tx_id: "s2".into(),
                slot: 11
            }
        ]
    );
    assert_eq!(
        store
            .solana_mark_final(CHAIN, vec!["s1".into()])
            .await
            .unwrap(),
        2
    );
    assert!(
        store
            .payments_by_tx("s1")
            .await
            .unwrap()
            .iter()
            .all(|p| p.is_final)
    );
    store.solana_remove(CHAIN, vec!["s2".into()]).await.unwrap();
    assert!(store.payments_by_tx("s2").await.unwrap().is_empty());
    assert!(store.solana_pending(CHAIN).await.unwrap().is_empty());
    // a replay of a final row changes nothing
    store
        .commit_payments(vec![row("s3", 0, 12, true)], Vec::new(), None)
        .await
        .unwrap();
    assert_eq!(
        store.payments_by_tx("s3").await.unwrap(),
        vec![row("s3", 0, 12, true)]
    );
    assert_eq!(store.solana_mark_final(CHAIN, Vec::new()).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solana_cursors_and_finality_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("x402scope.db"));
    let report = migrate(&url).await.unwrap();
    assert!(report.applied.iter().any(|m| m == "0008_solana"));
    scenario(&open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solana_cursors_and_finality_on_clickhouse() {
    let db = x402scope_testkit::clickhouse::fresh_database("solana_store").unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&url).await.unwrap();
    scenario(&open(&url).await.unwrap()).await;
}
