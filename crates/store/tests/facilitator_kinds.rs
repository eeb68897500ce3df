//! Migration 0006: the dated history of facilitator /supported kinds, on both
//! backends. A kind seen again keeps its first_seen and gets the later
//! last_seen; distinct kinds are distinct rows.

#![allow(clippy::unwrap_used)]

use x402scope_store::{FacilitatorKind, Store, StoreUrl, migrate, open};

const T0: i64 = 1_750_000_000;

fn kind(facilitator: &str, version: u16, network: &str, first: i64, last: i64) -> FacilitatorKind {
    FacilitatorKind {
        facilitator_id: facilitator.into(),
        x402_version: version,
        scheme: "exact".into(),
        network: network.into(),
        first_seen: first,
        last_seen: last,
    }
}

async fn scenario(store: &Store) {
    assert!(store.kinds().await.unwrap().is_empty());
    store
        .record_kinds(vec![
            kind("cdp", 2, "eip155:8453", T0 + 100, T0 + 100),
            kind("cdp", 1, "eip155:8453", T0 + 100, T0 + 100),
        ])
        .await
        .unwrap();
    store
        .record_kinds(vec![kind("cdp", 2, "eip155:8453", T0 + 500, T0 + 500)])
        .await
        .unwrap();
    store
        .record_kinds(vec![
            kind("cdp", 2, "eip155:8453", T0 + 50, T0 + 60),
            kind(
                "payai",
                2,
                "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
                T0 + 10,
                T0 + 10,
            ),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.kinds().await.unwrap(),
        vec![
            kind("cdp", 1, "eip155:8453", T0 + 100, T0 + 100),
            kind("cdp", 2, "eip155:8453", T0 + 50, T0 + 500),
            kind(
                "payai",
                2,
                "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
                T0 + 10,
                T0 + 10
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_history_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("x402scope.db"));
    let report = migrate(&url).await.unwrap();
    assert!(report.applied.iter().any(|m| m == "0006_facilitator_kinds"));
    scenario(&open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_history_on_clickhouse() {
    let db = x402scope_testkit::clickhouse::fresh_database("kinds_history").unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&url).await.unwrap();
    scenario(&open(&url).await.unwrap()).await;
}
