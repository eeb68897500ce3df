//! Test support shared by the KYT integration tests: a migrated store of
//! either backend, and payments made by hand.

#![allow(dead_code, clippy::unwrap_used)]

use x402scope_core::Amount;
use x402scope_store::{Payment, Store, StoreUrl, migrate, open};

pub struct Backend {
    pub store: Store,
    pub sqlite_path: Option<std::path::PathBuf>,
    _keep: Box<dyn std::any::Any + Send>,
}

pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let url = StoreUrl::Sqlite(path.clone());
    migrate(&url).await.unwrap();
    Backend {
        store: open(&url).await.unwrap(),
        sqlite_path: Some(path),
        _keep: Box::new(dir),
    }
}

pub async fn clickhouse(name: &str) -> Backend {
    let db = x402scope_testkit::clickhouse::fresh_database(name).unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&url).await.unwrap();
    Backend {
        store: open(&url).await.unwrap(),
        sqlite_path: None,
        _keep: Box::new(db),
    }
}

/// A payment from `payer` to `pay_to` submitted by `tx_from`, on Base.
pub fn payment(n: u32, payer: &str, pay_to: &str, tx_from: &str) -> Payment {
    Payment {
        chain: "eip155:8453".into(),
        tx_id: format!("0x{n:064x}"),
        idx_outer: 0,
        idx_inner: 0,
        block_number: u64::from(n) + 1,
        block_hash: format!("0x{:064x}", n + 1_000_000),
        block_time: 1_780_000_000 + i64::from(n),
        asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
        payer: payer.into(),
        pay_to: pay_to.into(),
        amount: Amount(alloy::primitives::U256::from(1000u64)),
        nonce: format!("0x{n:064x}"),
        facilitator: "f".into(),
        tx_from: tx_from.into(),
        method: "eip3009".into(),
        is_final: true,
        is_organic: true,
    }
}

pub fn addr(n: u32) -> String {
    format!("0x{n:040x}")
}
