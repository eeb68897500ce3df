//! End to end on real components: settlements made on anvil (the EIP-3009
//! token) are indexed by the EVM indexer into the store (SQLite and a real
//! ClickHouse); claims arrive as signed webhooks through the ingest receiver;
//! listings come through the crawler's item parser. The analysis then derives a
//! table that must equal the expected one exactly: every correlation status and
//! every price status. A reorg after matching turns the affected row into
//! `orphaned_by_reorg`; settling the same authorization again re-matches it.
//! The seller report's CSV totals equal the API's and the store's.
//!
//! The Solana half (R1 by signature, R3 by memo plus payTo, R4, on the
//! validator's payments) runs where the validator is built:
//! `crates/solana-validator-tests/tests/common/analysis.rs`.

#![allow(clippy::unwrap_used, clippy::too_many_arguments)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::rpc::types::anvil::ReorgOptions;
use alloy::signers::local::PrivateKeySigner;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use x402scope_analysis::correlate::CorrelateConfig;
use x402scope_analysis::organic::OrganicConfig;
use x402scope_analysis::reconcile::SellerReport;
use x402scope_analysis::{AnalysisConfig, run};
use x402scope_evm::indexer::{ChainSettings, EvmIndexer};
use x402scope_evm::rpc::{EvmRpc, RpcConfig};
use x402scope_evm::sink::StoreSink;
use x402scope_evm::types::FacilitatorLookup;
use x402scope_ingest::events::SourceKind;
use x402scope_ingest::signature::{Secret, sign_standard};
use x402scope_ingest::webhooks::{
    self, SourceConfig, Sources, WebhookState, WebhooksConfig, process_pending,
};
use x402scope_store::{Filter, MatchRow, Store, StoreUrl, migrate, open};
use x402scope_testkit::settlements::{Authorization, Plan, derived_key, generate, settlement_tx};
use x402scope_testkit::x402::X402Stack;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SEED: u64 = 91;

struct Backend {
    store: Store,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("x.db"));
    migrate(&url).await.unwrap();
    Backend {
        store: open(&url).await.unwrap(),
        _keep: Box::new(dir),
    }
}

async fn clickhouse(name: &str) -> Backend {
    let db = x402scope_testkit::clickhouse::fresh_database(name).unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&url).await.unwrap();
    Backend {
        store: open(&url).await.unwrap(),
        _keep: Box::new(db),
    }
}

fn lower(a: Address) -> String {
    format!("{a:#x}")
}

/// The chain, its indexer and the webhook receiver of one scenario.
struct World {
    stack: X402Stack,
    store: Store,
    hooks: WebhookState,
    indexer: EvmIndexer<StoreSink>,
    fac_a: PrivateKeySigner,
    fac_b: PrivateKeySigner,
    network: String,
    token: String,
    webhook_seq: u64,
}

impl World {
    async fn new(store: Store) -> World {
        let stack = X402Stack::start_chain_only().unwrap();
        let fac_a = derived_key(SEED, "facilitator", 0);
        let fac_b = derived_key(SEED, "facilitator", 1);
        // Fund payers (ETH and tokens) and the facilitators through the generator,
        // with no settlements and no noise of its own.
        let mut plan = Plan::new(0);
        plan.seed = SEED;
        plan.payers = 6;
        plan.payees = 4;
        plan.facilitators = vec![fac_a.clone(), fac_b.clone()];
        plan.unknown_facilitators = 0;
        plan.noise_transfers = 0;
        plan.noise_receives = 0;
        plan.batch_every = 0;
        generate(&stack.info, &plan).await.unwrap();

        let known: HashMap<Address, String> = [
            (fac_a.address(), "fac-a".to_owned()),
            (fac_b.address(), "fac-b".to_owned()),
        ]
        .into();
        let lookup: Arc<dyn FacilitatorLookup> =
            Arc::new(move |_: u64, a: Address| known.get(&a).cloned());
        let rpc =
            Arc::new(EvmRpc::new(RpcConfig::new(vec![stack.info.rpc.parse().unwrap()])).unwrap());
        let settings = ChainSettings {
            chain_id: stack.info.chain_id,
            tokens: vec![stack.info.token.parse().unwrap()],
            start_block: 0,
            confirmations: 0,
            max_range: 50,
            concurrency: 2,
            window: 16,
            poll_interval: Duration::from_millis(50),
        };
        let indexer = EvmIndexer::new(
            rpc,
            Arc::new(StoreSink::new(store.clone())),
            lookup,
            settings,
        );
        let mut sources = BTreeMap::new();
        sources.insert(
            "shop".to_owned(),
            SourceConfig {
                kind: SourceKind::X402,
                secrets: vec![SECRET.to_owned()],
            },
        );
        let config = WebhooksConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            sources,
        };
        let hooks = WebhookState::new(store.clone(), Sources::from_config(&config).unwrap());
        World {
            network: format!("eip155:{}", stack.info.chain_id),
            token: stack.info.token.to_ascii_lowercase(),
            stack,
            store,
            hooks,
            indexer,
            fac_a,
            fac_b,
            webhook_seq: 0,
        }
    }

    fn provider(&self) -> impl Provider {
        ProviderBuilder::new().connect_http(self.stack.info.rpc.parse().unwrap())
    }

    fn payer(i: usize) -> PrivateKeySigner {
        derived_key(SEED, "payer", i)
    }

    fn seller(i: usize) -> Address {
        derived_key(SEED, "payee", i).address()
    }

    /// Settle one authorization through `fac` in its own block; its tx hash.
    async fn settle(&self, fac: &PrivateKeySigner, auth: &Authorization) -> String {
        let provider = self.provider();
        let nonce = provider.get_transaction_count(fac.address()).await.unwrap();
        let (raw, hash) = settlement_tx(&self.stack.info, fac, nonce, auth).unwrap();
        let receipt = provider
            .send_raw_transaction(&raw)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status(), "settlement reverted");
        format!("{hash:#x}")
    }

    async fn index(&self) {
        let cancel = CancellationToken::new();
        self.indexer.backfill_to_window(&cancel).await.unwrap();
        self.indexer.follow_to_head(&cancel).await.unwrap();
    }

    /// Deliver one of our settlement events through the receiver, signed.
    async fn webhook(&mut self, body: Value) {
        self.webhook_seq += 1;
        let id = format!("msg_{}", self.webhook_seq);
        let bytes = serde_json::to_vec(&body).unwrap();
        let ts = webhooks::unix_now();
        let sig = sign_standard(&Secret::whsec(SECRET).unwrap(), &id, ts, &bytes);
        let req = Request::post("/webhooks/shop")
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(Body::from(bytes))
            .unwrap();
        let resp = webhooks::router(self.hooks.clone())
            .oneshot(req)
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "webhook refused: {}",
            resp.status()
        );
    }

    async fn process(&self) {
        process_pending(&self.hooks).await.unwrap();
    }

    async fn block_time(&self, tx: &str) -> i64 {
        self.store.payments_by_tx(tx).await.unwrap()[0].block_time
    }
}

/// A claim as our settlement event carries it.
#[derive(Clone)]
struct ClaimSpec {
    success: bool,
    tx: String,
    network: String,
    asset: String,
    pay_to: Address,
    amount: u64,
    payer: Address,
    resource: String,
    payment_identifier: Option<String>,
    /// The EIP-3009 authorization nonce, when the event carries it.
    nonce: Option<B256>,
    timestamp: i64,
}

fn event(c: &ClaimSpec) -> Value {
    let mut data = json!({
        "resource": {"url": c.resource, "mimeType": "application/json"},
        "facilitator": "fac-a",
        "accepted": {
            "scheme": "exact",
            "network": c.network,
            "asset": c.asset,
            "amount": c.amount.to_string(),
            "payTo": c.pay_to.to_checksum(None),
            "maxTimeoutSeconds": 300
        },
        "settleResponse": {
            "success": c.success,
            "transaction": c.tx,
            "network": c.network,
            "payer": c.payer.to_checksum(None)
        }
    });
    if let Some(pid) = &c.payment_identifier {
        data["paymentIdentifier"] = json!(pid);
    }
    if let Some(nonce) = &c.nonce {
        data["authorization"] = json!({"nonce": format!("{nonce:#x}")});
    }
    json!({
        "type": if c.success { "x402.settlement.succeeded" } else { "x402.settlement.failed" },
        "timestamp": c.timestamp,
        "data": data
    })
}

fn listing_item(resource: &str, network: &str, asset: &str, pay_to: Address, amount: u64) -> Value {
    json!({"resource": resource, "type": "http", "x402Version": 2,
        "accepts": [{"scheme": "exact", "network": network, "asset": asset,
            "amount": amount.to_string(), "payTo": pay_to.to_checksum(None), "maxTimeoutSeconds": 60}]})
}

/// One expected derived row: (status, rule, price status, organic).
type Expect = (&'static str, &'static str, &'static str, bool);

/// The derived table, each row named by its case label.
fn table(rows: &[MatchRow], labels: &HashMap<String, String>) -> BTreeMap<String, Expect> {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    rows.iter()
        .map(|r| {
            let key = if r.claim_source.is_empty() {
                format!("payment:{}", r.tx_id)
            } else {
                format!("claim:{}", r.claim_id)
            };
            let label = labels
                .get(&key)
                .cloned()
                .unwrap_or_else(|| format!("UNEXPECTED {key}"));
            (
                label,
                (
                    leak(&r.status),
                    leak(&r.rule),
                    leak(&r.price_status),
                    r.is_organic,
                ),
            )
        })
        .collect()
}

async fn scenario(b: Backend) {
    let store = b.store.clone();
    let mut w = World::new(store.clone()).await;
    let (net, token) = (w.network.clone(), w.token.clone());
    let (s1, s2, s3, s4) = (
        World::seller(0),
        World::seller(1),
        World::seller(2),
        World::seller(3),
    );
    let fac_a = w.fac_a.clone();
    let mut nonce_seq = 0u8;
    let mut auth = |payer: usize, pay_to: Address, amount: u64| {
        nonce_seq += 1;
        Authorization {
            payer: World::payer(payer),
            pay_to,
            amount: U256::from(amount),
            nonce: B256::repeat_byte(nonce_seq),
        }
    };

    // Phase 1: settlements that will be final.
    let self_payer = World::payer(4).address();
    let plan: Vec<(&str, Authorization)> = vec![
        ("p_match", auth(0, s1, 2000)),
        ("p_prior", auth(1, s1, 1000)),
        ("p_amount", auth(2, s1, 2000)),
        ("p_recipient", auth(3, s1, 2000)),
        ("p_asset", auth(0, s3, 500)),
        ("p_network", auth(1, s3, 600)),
        ("p_under", auth(2, s1, 1500)),
        ("p_over", auth(3, s1, 2500)),
        ("p_shared", auth(0, s2, 3000)),
        ("p_dup", auth(4, s1, 2000)),
        ("p_fuzzy", auth(5, s3, 700)),
        ("p_amb1", auth(5, s4, 800)),
        ("p_amb2", auth(5, s4, 800)),
        ("p_self", auth(4, self_payer, 100)),
        ("p_nonce", auth(2, s3, 800)),
    ];
    let mut tx: HashMap<&str, String> = HashMap::new();
    for (label, a) in &plan {
        tx.insert(label, w.settle(&fac_a, a).await);
    }
    // Past anvil's finalized depth, then the not-yet-final ones.
    w.provider().anvil_mine(Some(70), None).await.unwrap();
    let pending_auth = auth(0, s1, 2000);
    tx.insert("p_pending", w.settle(&fac_a, &pending_auth).await);
    w.provider().anvil_mine(Some(3), None).await.unwrap();
    let orphan_auth = auth(1, s1, 2000);
    tx.insert("p_orph", w.settle(&fac_a, &orphan_auth).await);
    w.provider().anvil_mine(Some(2), None).await.unwrap();
    w.index().await;
    assert_eq!(
        store.analysis_payments().await.unwrap().len(),
        plan.len() + 2
    );

    // Listings: /a's price went from 1000 to 2000 before the payments; /c and
    // /d share a payTo at equal prices; S3 and S4 list nothing.
    let t0 = w.block_time(&tx["p_match"]).await;
    let mut snapshots = Vec::new();
    for (resource, pay_to, amount, at) in [
        ("https://shop.test/a", s1, 1000, t0 - 1000),
        ("https://shop.test/a", s1, 2000, t0 - 500),
        ("https://shop.test/c", s2, 3000, t0 - 1000),
        ("https://shop.test/d", s2, 3000, t0 - 1000),
    ] {
        let item = listing_item(resource, &net, &token, pay_to, amount);
        snapshots
            .extend(x402scope_ingest::crawler::listing_snapshots("bazaar", &item, at).unwrap());
    }
    store.insert_listings(snapshots).await.unwrap();

    // Claims, as signed webhooks.
    let chain_now = w.block_time(&tx["p_orph"]).await;
    let claim = |label: &str, payer: usize, pay_to: Address, amount: u64, ts: i64| ClaimSpec {
        success: true,
        tx: tx.get(label).cloned().unwrap_or_default(),
        network: net.clone(),
        asset: token.clone(),
        pay_to,
        amount,
        payer: World::payer(payer).address(),
        resource: String::new(),
        payment_identifier: None,
        nonce: None,
        timestamp: ts,
    };
    let a = "https://shop.test/a".to_owned();
    let plan_nonce = |label: &str| {
        plan.iter()
            .find(|(l, _)| *l == label)
            .map(|(_, a)| a.nonce)
            .unwrap()
    };
    let bt = |l: &str| {
        let store = store.clone();
        let t = tx[l].clone();
        async move { store.payments_by_tx(&t).await.unwrap()[0].block_time }
    };
    let claims: Vec<(&str, ClaimSpec)> = vec![
        (
            "c_match",
            ClaimSpec {
                resource: a.clone(),
                ..claim("p_match", 0, s1, 2000, bt("p_match").await)
            },
        ),
        (
            "c_prior",
            ClaimSpec {
                resource: a.clone(),
                ..claim("p_prior", 1, s1, 1000, bt("p_prior").await)
            },
        ),
        (
            "c_amount",
            ClaimSpec {
                resource: a.clone(),
                ..claim("p_amount", 2, s1, 1999, bt("p_amount").await)
            },
        ),
        (
            "c_recipient",
            ClaimSpec {
                resource: a.clone(),
                ..claim("p_recipient", 3, s4, 2000, bt("p_recipient").await)
            },
        ),
        (
            "c_asset",
            ClaimSpec {
                asset: "0x00000000000000000000000000000000000000a5".into(),
                ..claim("p_asset", 0, s3, 500, bt("p_asset").await)
            },
        ),
        (
            "c_network",
            ClaimSpec {
                network: "eip155:1".into(),
                ..claim("p_network", 1, s3, 600, bt("p_network").await)
            },
        ),
        (
            "c_dup_first",
            ClaimSpec {
                resource: a.clone(),
                payment_identifier: Some("dup-1".into()),
                ..claim("p_dup", 4, s1, 2000, bt("p_dup").await)
            },
        ),
        (
            "c_dup_second",
            ClaimSpec {
                resource: a.clone(),
                payment_identifier: Some("dup-2".into()),
                ..claim("p_dup", 4, s1, 2000, bt("p_dup").await + 5)
            },
        ),
        // A transaction hash nobody knows: R1 finds nothing, R4 finds one payment.
        (
            "c_fuzzy",
            ClaimSpec {
                tx: format!("{:#x}", B256::repeat_byte(0xf1)),
                ..claim("p_fuzzy", 5, s3, 700, bt("p_fuzzy").await)
            },
        ),
        // An unknown transaction hash, but the authorization's nonce: R2.
        (
            "c_nonce",
            ClaimSpec {
                tx: format!("{:#x}", B256::repeat_byte(0xf5)),
                nonce: Some(plan_nonce("p_nonce")),
                ..claim("p_nonce", 2, s3, 800, bt("p_nonce").await)
            },
        ),
        // R4 finds two payments: never auto-matched.
        (
            "c_ambiguous",
            ClaimSpec {
                tx: format!("{:#x}", B256::repeat_byte(0xf2)),
                ..claim("p_amb1", 5, s4, 800, bt("p_amb1").await)
            },
        ),
        (
            "c_without",
            ClaimSpec {
                tx: format!("{:#x}", B256::repeat_byte(0xf3)),
                ..claim("none", 0, s3, 900, chain_now - 3600)
            },
        ),
        (
            "c_pending_claim",
            ClaimSpec {
                tx: format!("{:#x}", B256::repeat_byte(0xf4)),
                ..claim("none", 0, s3, 901, chain_now)
            },
        ),
        (
            "c_failed",
            ClaimSpec {
                success: false,
                resource: a.clone(),
                payment_identifier: Some("failed-1".into()),
                ..claim("none", 2, s1, 2000, t0)
            },
        ),
        (
            "c_finality",
            ClaimSpec {
                resource: a.clone(),
                ..claim("p_pending", 0, s1, 2000, bt("p_pending").await)
            },
        ),
        (
            "c_orph",
            ClaimSpec {
                resource: a.clone(),
                ..claim("p_orph", 1, s1, 2000, bt("p_orph").await)
            },
        ),
    ];
    for (_, c) in &claims {
        w.webhook(event(c)).await;
    }
    w.process().await;
    assert_eq!(store.claims().await.unwrap().len(), claims.len());

    // Claim ids are the receiver's: pid:… when the event has one, else tx:NETWORK:TX.
    let mut labels: HashMap<String, String> = HashMap::new();
    for (label, c) in &claims {
        let id = match &c.payment_identifier {
            Some(pid) => format!("pid:{pid}"),
            None => format!("tx:{}:{}", c.network, c.tx),
        };
        labels.insert(format!("claim:{id}"), (*label).to_owned());
    }
    for (label, t) in &tx {
        labels.insert(format!("payment:{t}"), (*label).to_owned());
    }

    let config = AnalysisConfig {
        interval_secs: 60,
        correlate: CorrelateConfig {
            grace_secs: 600,
            fuzzy_window_secs: 600,
        },
        organic: OrganicConfig {
            min_seller_revenue_micros: 5_000,
            min_buyers: 3,
            min_average_payment_micros: 1,
            ..OrganicConfig::default()
        },
    };
    let now = chain_now + 5;

    // The expected table after the reorg (the final state of phase 1).
    let want: BTreeMap<String, Expect> = [
        ("c_match", ("matched", "r1_tx", "price_match", true)),
        ("c_prior", ("matched", "r1_tx", "matched_prior_price", true)),
        (
            "c_amount",
            ("amount_mismatch", "r1_tx", "price_match", true),
        ),
        (
            "c_recipient",
            ("recipient_mismatch", "r1_tx", "price_match", true),
        ),
        ("c_asset", ("asset_mismatch", "r1_tx", "no_listing", false)),
        (
            "c_network",
            ("network_mismatch", "r1_tx", "no_listing", false),
        ),
        ("c_dup_first", ("matched", "r1_tx", "price_match", true)),
        (
            "c_dup_second",
            ("duplicate_claim", "r1_tx", "price_match", true),
        ),
        ("c_fuzzy", ("matched", "r4_fuzzy", "no_listing", false)),
        ("c_nonce", ("matched", "r2_evm_nonce", "no_listing", false)),
        ("c_ambiguous", ("ambiguous", "", "no_listing", false)),
        (
            "c_without",
            ("claim_without_transfer", "", "no_listing", false),
        ),
        (
            "c_pending_claim",
            ("claim_pending", "", "no_listing", false),
        ),
        (
            "c_failed",
            ("claim_failed_onchain", "", "price_match", false),
        ),
        (
            "c_finality",
            ("matched_pending_finality", "r1_tx", "price_match", true),
        ),
        (
            "c_orph",
            ("orphaned_by_reorg", "r1_tx", "price_match", false),
        ),
        ("p_under", ("transfer_without_claim", "", "underpaid", true)),
        ("p_over", ("transfer_without_claim", "", "overpaid", true)),
        (
            "p_shared",
            ("transfer_without_claim", "", "ambiguous", false),
        ),
        (
            "p_amb1",
            ("transfer_without_claim", "", "no_listing", false),
        ),
        (
            "p_amb2",
            ("transfer_without_claim", "", "no_listing", false),
        ),
        (
            "p_self",
            ("transfer_without_claim", "", "no_listing", false),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    // Before the reorg the claimed tip payment is matched, pending finality.
    run(&store, &config, now).await.unwrap();
    let before = table(&store.analysis_matches(None).await.unwrap(), &labels);
    let mut want_before = want.clone();
    want_before.insert(
        "c_orph".into(),
        ("matched_pending_finality", "r1_tx", "price_match", true),
    );
    assert_eq!(before, want_before, "{} before the reorg", store.backend());
    // Running again on the same facts changes nothing.
    run(&store, &config, now).await.unwrap();
    assert_eq!(
        table(&store.analysis_matches(None).await.unwrap(), &labels),
        want_before
    );

    // The reorg drops the tip blocks, the orphan's settlement with them.
    w.provider()
        .anvil_reorg(ReorgOptions {
            depth: 3,
            tx_block_pairs: vec![],
        })
        .await
        .unwrap();
    w.index().await;
    assert!(
        store
            .payments_by_tx(&tx["p_orph"])
            .await
            .unwrap()
            .is_empty()
    );
    let report = run(&store, &config, now).await.unwrap();
    assert_eq!(report.removed_payments, 1);
    let after = table(&store.analysis_matches(None).await.unwrap(), &labels);
    assert_eq!(after, want, "{} after the reorg", store.backend());
    // Every status and every price status is planted.
    let statuses: std::collections::BTreeSet<&str> = after.values().map(|v| v.0).collect();
    for s in x402scope_analysis::correlate::Status::ALL {
        assert!(
            statuses.contains(s.as_str()),
            "status {} is planted",
            s.as_str()
        );
    }
    let prices: std::collections::BTreeSet<&str> = after.values().map(|v| v.2).collect();
    for p in x402scope_analysis::attribute::PriceStatus::ALL {
        assert!(
            prices.contains(p.as_str()),
            "price status {} is planted",
            p.as_str()
        );
    }

    // The organic flag is on the payments: every aggregate answers with and without it.
    let all = store.overview(&Filter::default()).await.unwrap();
    let organic = store
        .overview(&Filter {
            organic_only: true,
            ..Filter::default()
        })
        .await
        .unwrap();
    let to_s1 = plan.iter().filter(|(_, a)| a.pay_to == s1).count() as u64 + 1;
    assert_eq!((all.count, organic.count), (plan.len() as u64 + 1, to_s1));
    let flags = store.analysis_address_flags().await.unwrap();
    assert!(
        flags
            .iter()
            .any(|f| f.address == lower(self_payer) && f.flag == "self_payment")
    );
    assert!(
        flags
            .iter()
            .any(|f| f.address == lower(s2) && f.flag == "inorganic_seller")
    );

    // The same authorization settled again, by another facilitator: re-matched.
    let fac_b = w.fac_b.clone();
    let again = w.settle(&fac_b, &orphan_auth).await;
    w.index().await;
    labels.insert(format!("payment:{again}"), "p_orph_again".into());
    run(&store, &config, now).await.unwrap();
    let resettled = table(&store.analysis_matches(None).await.unwrap(), &labels);
    let mut want_again = want.clone();
    want_again.insert(
        "c_orph".into(),
        (
            "matched_pending_finality",
            "r2_evm_nonce",
            "price_match",
            true,
        ),
    );
    assert_eq!(
        resettled,
        want_again,
        "{} after the re-settlement",
        store.backend()
    );

    // Reconciliation: the CSV's counted amounts, the API's totals and the store agree.
    let api = x402scope_analysis::http::router(store.clone());
    let get = |uri: String, accept: &'static str| {
        let api = api.clone();
        async move {
            let resp = api
                .oneshot(
                    Request::get(uri)
                        .header("accept", accept)
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = resp.status();
            let ct = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (
                status.as_u16(),
                ct,
                String::from_utf8(body.to_vec()).unwrap(),
            )
        }
    };
    for seller in [s1, s2, s3, s4] {
        let pay_to = seller.to_checksum(None);
        let (status, _, json_text) = get(
            format!("/api/v1/sellers/{pay_to}/report"),
            "application/json",
        )
        .await;
        assert_eq!(status, 200, "{json_text}");
        let report: SellerReport = serde_json::from_str(&json_text).unwrap();
        let (status, ct, csv) =
            get(format!("/api/v1/sellers/{pay_to}/report?format=csv"), "*/*").await;
        assert_eq!((status, ct.as_str()), (200, "text/csv; charset=utf-8"));
        let (_, _, csv_by_accept) =
            get(format!("/api/v1/sellers/{pay_to}/report"), "text/csv").await;
        assert_eq!(csv, csv_by_accept);
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let (amount_col, counted_col) = (col("amount"), col("counted"));
        let mut counted = U256::ZERO;
        let mut lines = 0;
        for line in csv.lines().skip(1) {
            let cells: Vec<&str> = line.split(',').collect();
            lines += 1;
            if cells[counted_col] == "1" {
                counted += cells[amount_col].parse::<U256>().unwrap();
            }
        }
        let store_side = store
            .overview(&Filter {
                pay_to: Some(lower(seller)),
                ..Filter::default()
            })
            .await
            .unwrap();
        assert_eq!(counted, report.totals.received.0, "CSV = API for {pay_to}");
        assert_eq!(
            report.totals.received, store_side.volume,
            "API = store for {pay_to}"
        );
        assert_eq!(report.totals.payments, store_side.count);
        let rows: usize = report.by_status.values().map(Vec::len).sum();
        assert_eq!(
            lines, rows,
            "one CSV row per claim and per unclaimed payment"
        );
    }
    let (status, _, _) = get(
        format!("/api/v1/sellers/{}/report?from=x", lower(s1)),
        "*/*",
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = get(
        format!("/api/v1/sellers/{}/report?from=9&to=1", lower(s1)),
        "*/*",
    )
    .await;
    assert_eq!(status, 400);
    // A time range narrows the report to the payments and claims inside it.
    let t_match = bt("p_match").await;
    let narrow =
        x402scope_analysis::seller_report(&store, &lower(s1), Some(t_match), Some(t_match + 1))
            .await
            .unwrap();
    let narrow_store = store
        .overview(&Filter {
            pay_to: Some(lower(s1)),
            from: Some(t_match),
            to: Some(t_match + 1),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(narrow.totals.received, narrow_store.volume);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_on_sqlite() {
    scenario(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_on_clickhouse() {
    scenario(clickhouse("analysis_scenario").await).await;
}
