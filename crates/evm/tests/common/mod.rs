//! What the EVM indexer's store tests share: a migrated store on each backend,
//! the generator's facilitators as a lookup, and every stored row.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::Address;
use x402scope_evm::types::FacilitatorLookup;
use x402scope_store::{Filter, Payment, Store, StoreUrl, migrate, open};
use x402scope_testkit::settlements::Generated;

/// A migrated store, and what keeps it alive (its folder or its database).
pub struct Backend {
    pub store: Store,
    _keep: Box<dyn std::any::Any + Send>,
}

pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("x.db"));
    migrate(&url).await.unwrap();
    Backend {
        store: open(&url).await.unwrap(),
        _keep: Box::new(dir),
    }
}

pub async fn clickhouse(name: &str) -> Backend {
    let db = x402scope_testkit::clickhouse::fresh_database(name).unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&url).await.unwrap();
    Backend {
        store: open(&url).await.unwrap(),
        _keep: Box::new(db),
    }
}

/// The generator's known facilitator keys as `facilitator-N`; the rest unknown.
pub fn lookup(generated: &Generated) -> Arc<dyn FacilitatorLookup> {
    let known: HashMap<Address, String> = generated
        .known_facilitators
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, format!("facilitator-{i}")))
        .collect();
    Arc::new(move |_: u64, a: Address| known.get(&a).cloned())
}

/// Every stored payment, newest first, through the paged transaction list.
pub async fn all_rows(store: &Store) -> Vec<Payment> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .transactions(&Filter::default(), cursor.as_ref(), 1000)
            .await
            .unwrap();
        out.extend(page.items);
        match page.next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}
