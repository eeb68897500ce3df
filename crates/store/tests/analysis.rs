//! Migration 0007: the analysis tables, on both backends, with identical
//! answers. The observed ledger keeps a payment a rollback removed; the organic
//! flag written by the analysis is what `Filter.organic_only` filters on; a
//! replace shows only the new run's rows; amounts stay exact.

#![allow(clippy::unwrap_used)]

use alloy_primitives::U256;
use x402scope_core::Amount;
use x402scope_store::{
    AddressFlag, Filter, MatchRow, Payment, PaymentKey, Store, StoreUrl, migrate, open,
};

const NET: &str = "eip155:8453";

fn payment(n: u64, pay_to: &str, amount: Amount) -> Payment {
    Payment {
        chain: NET.into(),
        tx_id: format!("0x{n:064x}"),
        idx_outer: 1,
        idx_inner: 0,
        block_number: n,
        block_hash: format!("0x{:064x}", n + 77),
        block_time: 1_750_000_000 + n as i64,
        asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
        payer: "0x00000000000000000000000000000000000000b1".into(),
        pay_to: pay_to.into(),
        amount,
        nonce: format!("0x{:064x}", n + 5),
        facilitator: "fac".into(),
        tx_from: "0x00000000000000000000000000000000000000fa".into(),
        method: "eip3009".into(),
        is_final: false,
        is_organic: true,
    }
}

fn row(key: &str, pay_to: &str, status: &str, amount: Amount) -> MatchRow {
    MatchRow {
        row_key: key.into(),
        claim_source: "hook".into(),
        claim_id: key.into(),
        network: NET.into(),
        tx_id: "0xabc".into(),
        idx_outer: 2,
        idx_inner: 3,
        has_payment: true,
        status: status.into(),
        rule: "r1_tx".into(),
        payer: "0xb1".into(),
        pay_to: pay_to.into(),
        asset: "0xusdc".into(),
        amount,
        claimed_amount: Amount::from_u64(7),
        block_time: 1_750_000_000,
        claimed_at: 1_750_000_001,
        facilitator: "fac".into(),
        resource: "https://r.test/x".into(),
        price_status: "price_match".into(),
        listed_amount: Amount::from_u64(9),
        is_final: true,
        is_organic: false,
        detail: "why, \"quoted\"".into(),
        run_at: 1_750_000_100,
    }
}

async fn scenario(store: &Store) {
    // Close to Decimal(38,0)'s limit: exact both ways.
    let big = Amount(U256::from(10u128.pow(37)) + U256::from(123u64));
    let p = vec![
        payment(1, "0xs1", Amount::from_u64(1000)),
        payment(2, "0xs1", big),
        payment(3, "0xs2", Amount::from_u64(5)),
    ];
    store
        .commit_payments(p.clone(), vec![], None)
        .await
        .unwrap();
    assert_eq!(store.analysis_payments().await.unwrap(), p);
    assert!(store.analysis_observed().await.unwrap().is_empty());
    store.analysis_observe(p.clone()).await.unwrap();
    // A re-included payment replaces its observed row.
    let mut moved = p[2].clone();
    moved.block_hash = "0xnew".into();
    store.analysis_observe(vec![moved.clone()]).await.unwrap();
    let observed = store.analysis_observed().await.unwrap();
    assert_eq!(observed.len(), 3);
    assert_eq!(observed[2].block_hash, "0xnew");
    assert_eq!(observed[1].amount, big);
    // A rollback removes the payment; the ledger keeps it.
    store.rollback_above(NET, 2, "0xh").await.unwrap();
    assert_eq!(store.analysis_payments().await.unwrap().len(), 2);
    assert_eq!(store.analysis_observed().await.unwrap().len(), 3);

    // The organic flag is the filter's.
    let n = store
        .analysis_set_organic(vec![
            (PaymentKey::of(&p[0]), false),
            (PaymentKey::of(&p[2]), false), // gone: left alone
        ])
        .await
        .unwrap();
    assert!(n >= 1);
    let organic = store
        .overview(&Filter {
            organic_only: true,
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!((organic.count, organic.volume), (1, big));
    let now = store.analysis_payments().await.unwrap();
    assert_eq!(now.len(), 2, "the flag write resurrected no row");
    assert!(!now[0].is_organic && now[1].is_organic);

    // Replace: only the newest run is visible.
    assert_eq!(store.analysis_last_run().await.unwrap(), None);
    assert!(store.analysis_matches(None).await.unwrap().is_empty());
    let flag = |a: &str, f: &str| AddressFlag {
        address: a.into(),
        flag: f.into(),
        detail: "d".into(),
        run_at: 1,
    };
    store
        .analysis_replace(
            vec![
                row("a", "0xs1", "matched", Amount::from_u64(1)),
                row("b", "0xs2", "ambiguous", big),
            ],
            vec![flag("0xs2", "inorganic_seller")],
            100,
        )
        .await
        .unwrap();
    let second = vec![
        row("c", "0xs1", "matched", big),
        row("d", "0xs1", "duplicate_claim", Amount::from_u64(2)),
    ];
    store
        .analysis_replace(
            second.clone(),
            vec![flag("0xs1", "self_payment"), flag("0xb1", "circular_flow")],
            200,
        )
        .await
        .unwrap();
    assert_eq!(store.analysis_last_run().await.unwrap(), Some(200));
    assert_eq!(store.analysis_matches(None).await.unwrap(), second);
    assert_eq!(store.analysis_matches(Some("0xs1")).await.unwrap(), second);
    assert!(
        store
            .analysis_matches(Some("0xs2"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.analysis_address_flags().await.unwrap(),
        vec![flag("0xb1", "circular_flow"), flag("0xs1", "self_payment")]
    );

    // A run staged in pages: nothing shows until it commits, then exactly its rows.
    let run = store.analysis_begin().await.unwrap();
    let third: Vec<MatchRow> = (0..7)
        .map(|i| row(&format!("r{i}"), "0xs2", "transfer_without_claim", big))
        .collect();
    for page in third.chunks(3) {
        store.analysis_stage(run, page.to_vec()).await.unwrap();
        assert_eq!(store.analysis_matches(None).await.unwrap(), second);
    }
    assert_eq!(store.analysis_last_run().await.unwrap(), Some(200));
    store
        .analysis_commit(run, vec![flag("0xs2", "inorganic_seller")], 300)
        .await
        .unwrap();
    assert_eq!(store.analysis_last_run().await.unwrap(), Some(300));
    assert_eq!(store.analysis_matches(None).await.unwrap(), third);
    assert!(
        store
            .analysis_matches(Some("0xs1"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.analysis_address_flags().await.unwrap(),
        vec![flag("0xs2", "inorganic_seller")]
    );
}

/// Pages of payments and of the ledger, in key order, meet end to end at every
/// page size: the keys share prefixes (one transaction with several log
/// indexes, two chains), so each part of the key decides some boundary.
async fn pages(store: &Store) {
    let mut p = Vec::new();
    for (chain, tx, outer, inner) in [
        ("eip155:8453", 1, 1, 0),
        ("eip155:8453", 1, 2, 0),
        ("eip155:8453", 1, 10, 0),
        ("eip155:8453", 2, 0, 0),
        ("eip155:84532", 1, 0, 0),
        ("solana:x", 3, 0, 0),
        ("solana:x", 3, 0, 1),
        ("solana:x", 3, 0, 12),
        ("solana:x", 3, 1, 0),
    ] {
        let mut x = payment(tx, "0xs1", Amount::from_u64(tx));
        x.chain = chain.into();
        x.idx_outer = outer;
        x.idx_inner = inner;
        p.push(x);
    }
    store
        .commit_payments(p.clone(), vec![], None)
        .await
        .unwrap();
    store.analysis_observe(p.clone()).await.unwrap();
    let all = store.analysis_payments().await.unwrap();
    assert_eq!(all.len(), p.len());
    let observed = store.analysis_observed().await.unwrap();
    for limit in [1, 2, 3, 4, 9, 10] {
        for (name, want) in [("payments", &all), ("observed", &observed)] {
            let mut got = Vec::new();
            let mut after: Option<PaymentKey> = None;
            loop {
                let page = if name == "payments" {
                    store.analysis_payments_page(after.clone(), limit).await
                } else {
                    store.analysis_observed_page(after.clone(), limit).await
                }
                .unwrap();
                assert!(page.len() <= limit);
                let short = page.len() < limit;
                after = page.last().map(PaymentKey::of);
                got.extend(page);
                if short {
                    break;
                }
            }
            assert_eq!(&got, want, "{name}, pages of {limit}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_tables_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("x402scope.db"));
    let report = migrate(&url).await.unwrap();
    assert!(report.applied.iter().any(|m| m == "0007_analysis"));
    scenario(&open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_tables_on_clickhouse() {
    let db = x402scope_testkit::clickhouse::fresh_database("analysis_tables").unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&url).await.unwrap();
    scenario(&open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_pages_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("x402scope.db"));
    migrate(&url).await.unwrap();
    pages(&open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysis_pages_on_clickhouse() {
    let db = x402scope_testkit::clickhouse::fresh_database("analysis_pages").unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&url).await.unwrap();
    pages(&open(&url).await.unwrap()).await;
}
