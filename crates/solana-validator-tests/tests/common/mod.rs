//! What the validator tests share: the chain, a migrated store on each
//! backend, the indexer over the chain, and every stored row.

#![allow(clippy::unwrap_used, dead_code)]

pub mod analysis;
pub mod chain;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use x402scope_solana::indexer::{IndexerSettings, SolanaIndexer};
use x402scope_solana::rpc::{RpcConfig, SolanaRpc};
use x402scope_store::{Filter, Payment, Store, StoreUrl, migrate, open};

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

/// The indexer over the shared chain into `store`, `page_size` signatures a page.
pub fn indexer(store: &Store, page_size: usize, cancel: &CancellationToken) -> SolanaIndexer {
    let chain = chain::chain();
    let mut config = RpcConfig::new(chain.rpc_url.clone());
    config.requests_per_second = 200;
    let lookup: HashMap<String, String> =
        HashMap::from([(chain.facilitator.clone(), chain::FACILITATOR_ID.to_owned())]);
    SolanaIndexer::new(
        SolanaRpc::new(config, cancel.clone()),
        store.clone(),
        Arc::new(lookup),
        IndexerSettings {
            chain: chain.network.clone(),
            addresses: chain.watched.clone(),
            page_size,
            concurrency: 2,
            poll_interval: Duration::from_millis(200),
        },
    )
}

/// Every stored payment, sorted by its key.
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
            None => break,
        }
    }
    out.sort_by(|a, b| {
        (&a.tx_id, a.idx_outer, a.idx_inner).cmp(&(&b.tx_id, b.idx_outer, b.idx_inner))
    });
    out
}
