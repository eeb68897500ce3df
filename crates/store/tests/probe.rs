//! Migration 0003 (the paid probe's spending ledger) and the scheduler's listing
//! read, on SQLite and on a real ClickHouse server.

#![allow(clippy::unwrap_used)]

use x402scope_core::Amount;
use x402scope_store::*;

struct Fixture {
    store: Store,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("x402scope.db"));
    migrate(&url).await.unwrap();
    Fixture {
        store: open(&url).await.unwrap(),
        _keep: Box::new(dir),
    }
}

async fn clickhouse(test: &str) -> Fixture {
    let db = x402scope_testkit::clickhouse::fresh_database(test).unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&url).await.unwrap();
    Fixture {
        store: open(&url).await.unwrap(),
        _keep: Box::new(db),
    }
}

fn spend(id: &str, at: i64, amount: &str) -> ProbeSpend {
    ProbeSpend {
        id: id.into(),
        url: "https://a.example/x".into(),
        network: "eip155:84532".into(),
        asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e".into(),
        amount: Amount::parse_decimal(amount).unwrap(),
        spent_at: at,
        tx: format!("0x{id}"),
    }
}

async fn spend_ledger(store: &Store) {
    store
        .record_probe_spend(spend("a", 1_700_000_000, "1000"))
        .await
        .unwrap();
    store
        .record_probe_spend(spend("b", 1_700_050_000, "2000"))
        .await
        .unwrap();
    // A replay of the same id changes nothing.
    store
        .record_probe_spend(spend("b", 1_700_050_000, "2000"))
        .await
        .unwrap();
    // uint256-sized amounts survive exactly.
    let huge = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    store
        .record_probe_spend(spend("c", 1_700_090_000, huge))
        .await
        .unwrap();
    let all = store.probe_spend_since(0).await.unwrap();
    assert_eq!(
        all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(all[2].amount.to_string(), huge);
    assert_eq!(all[0], spend("a", 1_700_000_000, "1000"));
    let recent = store.probe_spend_since(1_700_050_000).await.unwrap();
    assert_eq!(
        recent.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["b", "c"]
    );
}

fn snapshot(resource: &str, at: i64, hash: &str, pay_to: &str) -> ListingSnapshot {
    ListingSnapshot {
        source: "cdp".into(),
        resource: resource.into(),
        accept_index: 0,
        snapshot_hash: hash.into(),
        observed_at: at,
        scheme: "exact".into(),
        network: "eip155:8453".into(),
        asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913".into(),
        pay_to: pay_to.into(),
        amount: Amount::from_u64(10),
        raw: "{}".into(),
    }
}

async fn latest_listings(store: &Store) {
    store
        .insert_listings(vec![
            snapshot("https://a.example/x", 100, "h1", "0xold"),
            snapshot("https://a.example/x", 200, "h2", "0xnew"),
            snapshot("https://b.example/y", 150, "h3", "0xb"),
        ])
        .await
        .unwrap();
    let latest = store.latest_listings().await.unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!(latest[0].resource, "https://a.example/x");
    assert_eq!(latest[0].pay_to, "0xnew");
    assert_eq!(latest[1].resource, "https://b.example/y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_ledger_on_sqlite() {
    spend_ledger(&sqlite().await.store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spend_ledger_on_clickhouse() {
    spend_ledger(&clickhouse("spend_ledger").await.store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_listings_on_sqlite() {
    latest_listings(&sqlite().await.store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_listings_on_clickhouse() {
    latest_listings(&clickhouse("latest_listings").await.store).await;
}
