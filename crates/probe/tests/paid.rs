//! The paid probe against the reference stack on anvil: a real payment, its
//! settlement seen by the EVM indexer in the store, the replay refused, and the
//! caps enforced from the persisted ledger.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use tokio_util::sync::CancellationToken;
use x402scope_evm::indexer::{ChainSettings, EvmIndexer};
use x402scope_evm::rpc::{EvmRpc, RpcConfig};
use x402scope_evm::sink::StoreSink;
use x402scope_evm::types::FacilitatorLookup;
use x402scope_probe::fetch::{FetchPolicy, Fetcher};
use x402scope_probe::paid::{PaidError, PaidProbe, SpendCaps, wait_for_settlement};
use x402scope_store::{StoreUrl, migrate, open};
use x402scope_testkit::x402::X402Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_probe_settles_is_indexed_refuses_the_replay_and_respects_the_caps() {
    let stack = tokio::task::spawn_blocking(X402Stack::start)
        .await
        .unwrap()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("x.db"));
    migrate(&url).await.unwrap();
    let store = open(&url).await.unwrap();

    // The EVM indexer follows the chain into the same store.
    let facilitator: Address = stack.info.accounts.facilitator.address.parse().unwrap();
    let lookup: Arc<dyn FacilitatorLookup> =
        Arc::new(move |_: u64, a: Address| (a == facilitator).then(|| "reference".to_owned()));
    let rpc = Arc::new(EvmRpc::new(RpcConfig::new(vec![stack.info.rpc.parse().unwrap()])).unwrap());
    let indexer = EvmIndexer::new(
        rpc,
        Arc::new(StoreSink::new(store.clone())),
        lookup,
        ChainSettings {
            chain_id: stack.info.chain_id,
            tokens: vec![stack.info.token.parse().unwrap()],
            start_block: 0,
            confirmations: 0,
            max_range: 100,
            concurrency: 2,
            window: 16,
            poll_interval: Duration::from_millis(50),
        },
    );
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let indexing = tokio::spawn(async move { indexer.run(&c).await });

    let fetcher = Fetcher::new(FetchPolicy {
        allow_loopback: true,
        total_timeout: Duration::from_secs(30),
        ..FetchPolicy::default()
    })
    .unwrap();
    let signer: PrivateKeySigner = stack.info.accounts.payer.key.parse().unwrap();
    let price: U256 = stack.info.price_atomic.as_deref().unwrap().parse().unwrap();
    let caps = SpendCaps {
        per_day: price * U256::from(3) / U256::from(2), // room for one payment, not two
        total: price * U256::from(10),
    };
    let paid = PaidProbe::new(signer, caps, store.clone());
    let resource = stack.paid_url().unwrap().parse().unwrap();
    let report = paid.pay(&fetcher, &resource).await.unwrap();
    let statuses: Vec<u16> = report.exchanges.iter().map(|e| e.status()).collect();
    assert_eq!(statuses[0], 402);
    assert_eq!(statuses[1], 200, "{:#?}", report.exchanges[1].response);
    assert_ne!(statuses[2], 200, "the replay must be refused");
    // Rules 20 and 21 hold; the reference server sets no CORS headers (rule 24,
    // a SHOULD), which is all it is flagged for.
    let rules: std::collections::BTreeSet<&str> =
        report.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["X402-R24"].into_iter().collect(),
        "{:#?}",
        report.findings
    );
    let tx = report
        .transaction
        .clone()
        .expect("PAYMENT-RESPONSE transaction");

    // The settlement reaches the store through the indexer.
    let payment = wait_for_settlement(&store, &tx, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the indexer records the settlement");
    assert_eq!(payment.chain, "eip155:84532");
    assert_eq!(payment.amount.0, price);
    assert_eq!(
        payment.payer.to_ascii_lowercase(),
        paid.payer().to_string().to_ascii_lowercase()
    );
    assert_eq!(
        payment.pay_to.to_ascii_lowercase(),
        stack.info.accounts.payee.address.to_ascii_lowercase()
    );

    // The ledger holds the payment with its transaction.
    let ledger = store.probe_spend_since(0).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].tx, tx);
    assert_eq!(ledger[0].amount.0, price);

    // A second payment would pass the daily cap: refused before any payment is signed.
    match paid.pay(&fetcher, &resource).await {
        Err(PaidError::CapExceeded(c)) if c.which == "daily" => {}
        other => panic!("expected the daily cap, got {other:?}"),
    }
    // The cap is read from the store: a fresh probe with the same store agrees.
    let again = PaidProbe::new(
        stack.info.accounts.payer.key.parse().unwrap(),
        caps,
        store.clone(),
    );
    assert!(matches!(
        again.pay(&fetcher, &resource).await,
        Err(PaidError::CapExceeded(_))
    ));
    // And the total cap too.
    let tight = PaidProbe::new(
        stack.info.accounts.payer.key.parse().unwrap(),
        SpendCaps {
            per_day: price * U256::from(100),
            total: price,
        },
        store.clone(),
    );
    assert!(matches!(
        tight.pay(&fetcher, &resource).await,
        Err(PaidError::CapExceeded(c)) if c.which == "total"
    ));
    assert_eq!(
        store.probe_spend_since(0).await.unwrap().len(),
        1,
        "nothing more was paid"
    );

    cancel.cancel();
    let _ = indexing.await;
}
