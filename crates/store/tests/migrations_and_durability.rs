//! Migrations on both backends, and durability: no accepted row is lost when
//! the ClickHouse server goes away in the middle of inserts.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use x402scope_core::Amount;
use x402scope_store::*;
use x402scope_testkit::clickhouse::{ClickHouseServer, execute, fresh_database};

async fn check_migrations(url: &StoreUrl, add_newer: impl Fn()) {
    // An unmigrated database is refused with the command to run.
    match open(url).await {
        Err(StoreError::NotMigrated(1)) => {}
        other => panic!("expected NotMigrated, got {other:?}"),
    }
    // Every known migration, in order (the list grows as features add theirs).
    let backend = match url {
        StoreUrl::Sqlite(_) => "sqlite",
        StoreUrl::ClickHouse { .. } => "clickhouse",
    };
    let known: Vec<&str> = migrations(backend).iter().map(|m| m.name).collect();
    assert_eq!(known.first(), Some(&"0001_initial"));
    let first = migrate(url).await.unwrap();
    assert_eq!(first.applied, known);
    assert!(first.present.is_empty());
    let again = migrate(url).await.unwrap();
    assert!(again.applied.is_empty(), "nothing to apply twice");
    assert_eq!(again.present, known);
    open(url).await.unwrap();

    // A database migrated by a newer x402scope is refused, clearly.
    add_newer();
    for result in [open(url).await.map(|_| ()), migrate(url).await.map(|_| ())] {
        match result {
            Err(e @ StoreError::NewerSchema { found: 999, .. }) => {
                assert!(e.to_string().contains("upgrade x402scope"), "{e}");
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_apply_once_and_refuse_a_newer_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let url = StoreUrl::Sqlite(path.clone());
    check_migrations(&url, || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations VALUES (999, '0999_future', 0)",
            [],
        )
        .unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_migrations_apply_once_and_refuse_a_newer_database() {
    let db = fresh_database("migrations").unwrap();
    // The runner creates the database itself: drop the one made for us.
    execute(&db.url, &format!("DROP DATABASE {}", db.name)).unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    check_migrations(&url, || {
        execute(
            &db.url,
            &format!(
                "INSERT INTO {}.schema_migrations VALUES (999, '0999_future', now())",
                db.name
            ),
        )
        .unwrap();
    })
    .await;
}

fn payment(i: u64) -> Payment {
    Payment {
        chain: "eip155:8453".into(),
        tx_id: format!("0x{i:064x}"),
        idx_outer: 0,
        idx_inner: 0,
        block_number: i,
        block_hash: format!("0x{i:064x}"),
        block_time: 1_760_000_000 + i as i64,
        asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
        payer: format!("0x{:040x}", i % 97),
        pay_to: format!("0x{:040x}", i % 13),
        amount: Amount::from_u64(1000 + i),
        nonce: format!("0x{i:064x}"),
        facilitator: "cdp".into(),
        tx_from: "0xfac".into(),
        method: "eip3009".into(),
        is_final: true,
        is_organic: true,
    }
}

/// Stop the server while batches are being committed, bring it back, and find
/// every row that any commit reported as accepted (here: all of them, since the
/// store retries from the rows it still holds until the server is back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_accepted_row_is_lost_when_clickhouse_goes_away_mid_batch() {
    let mut server = ClickHouseServer::start().unwrap();
    let url = StoreUrl::parse(&format!(
        "clickhouse://default@{}/durability",
        server.http_url().trim_start_matches("http://")
    ))
    .unwrap();
    migrate(&url).await.unwrap();
    let store = open(&url).await.unwrap();

    const BATCHES: u64 = 40;
    const ROWS: u64 = 5_000;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut accepted = 0u64;
            for b in 0..BATCHES {
                let rows: Vec<Payment> = (b * ROWS..(b + 1) * ROWS).map(payment).collect();
                let cp = Checkpoint {
                    chain: "eip155:8453".into(),
                    block: (b + 1) * ROWS - 1,
                    hash: "0x".into(),
                };
                store.commit_payments(rows, vec![], Some(cp)).await.unwrap();
                accepted += ROWS;
            }
            accepted
        })
    };
    // Let some batches land, then pull the server out from under the writer.
    tokio::time::sleep(Duration::from_millis(600)).await;
    server.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart().unwrap();
    let accepted = tokio::time::timeout(Duration::from_secs(180), writer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(accepted, BATCHES * ROWS);

    let store = open(&url).await.unwrap();
    let overview = store.overview(&Filter::default()).await.unwrap();
    assert_eq!(
        overview.count,
        BATCHES * ROWS,
        "every accepted row is there, once"
    );
    let expected: u64 = (0..BATCHES * ROWS).map(|i| 1000 + i).sum();
    assert_eq!(overview.volume, Amount::from_u64(expected));
    assert_eq!(
        store
            .checkpoint("eip155:8453")
            .await
            .unwrap()
            .unwrap()
            .block,
        BATCHES * ROWS - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_stay_exact_and_out_of_range_values_are_errors() {
    let big = Amount::parse_decimal("99999999999999999999999999999999999999").unwrap(); // 10^38 - 1
    let too_big = Amount::parse_decimal("100000000000000000000000000000000000000").unwrap(); // 10^38
    let huge = Amount(alloy_primitives::U256::MAX);

    let dir = tempfile::tempdir().unwrap();
    let sqlite = StoreUrl::Sqlite(dir.path().join("a.db"));
    migrate(&sqlite).await.unwrap();
    let db = fresh_database("amounts").unwrap();
    let ch = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&ch).await.unwrap();

    for url in [&sqlite, &ch] {
        let store = open(url).await.unwrap();
        let mut p = payment(1);
        p.amount = big;
        store.commit_payments(vec![p], vec![], None).await.unwrap();
        let page = store
            .transactions(&Filter::default(), None, 10)
            .await
            .unwrap();
        assert_eq!(page.items[0].amount, big, "{}", store.backend());
        assert_eq!(
            store.overview(&Filter::default()).await.unwrap().volume,
            big
        );
    }
    // SQLite keeps any uint256; ClickHouse's Decimal(38,0) refuses what it cannot hold.
    let store = open(&sqlite).await.unwrap();
    let mut p = payment(2);
    p.amount = huge;
    store.commit_payments(vec![p], vec![], None).await.unwrap();
    assert!(
        matches!(
            store.overview(&Filter::default()).await,
            Err(StoreError::Corrupt { .. })
        ),
        "the sum exceeds 2^256"
    );
    let page = store
        .transactions(
            &Filter {
                payer: Some(format!("0x{:040x}", 2)),
                ..Default::default()
            },
            None,
            1,
        )
        .await
        .unwrap();
    assert_eq!(page.items[0].amount, huge);
    let store = open(&ch).await.unwrap();
    let mut p = payment(3);
    p.amount = too_big;
    match store.commit_payments(vec![p], vec![], None).await {
        Err(StoreError::Invalid(m)) => assert!(m.contains("Decimal(38,0)"), "{m}"),
        other => panic!("expected a clear refusal, got {other:?}"),
    }
}
