//! The Solana half of the analysis scenario: the validator's payments, indexed
//! by the Solana indexer, correlated with signed webhooks (through the ingest
//! receiver) and a listing (through the crawler's item parser). R1 by
//! signature (also narrowed inside a two-transfer transaction), R3 by memo plus
//! payTo, R4 by shape, an amount mismatch, and the unclaimed transfers; the
//! derived table must equal the expected one exactly, on both stores.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use x402scope_analysis::AnalysisConfig;
use x402scope_ingest::events::SourceKind;
use x402scope_ingest::signature::{Secret, sign_standard};
use x402scope_ingest::webhooks::{
    self, SourceConfig, Sources, WebhookState, WebhooksConfig, process_pending,
};
use x402scope_store::{Filter, Payment, Store};

use super::chain::Chain;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const RESOURCE: &str = "https://sol.shop.test/report";
/// The listed price of [`RESOURCE`]: the first plain payment pays it exactly.
const PRICE: u64 = 10_000;

/// One expected derived row: (status, rule, price status).
type Expect = (&'static str, &'static str, &'static str);

/// A claim as the settlement event carries it.
struct ClaimSpec<'a> {
    label: &'static str,
    /// The payment it is about (its times, its payer), if any.
    of: &'a Payment,
    /// The claimed signature: the payment's, or one the chain never saw.
    tx: String,
    pay_to: String,
    asset: String,
    amount: u64,
    memo: Option<String>,
    resource: &'static str,
}

fn event(network: &str, c: &ClaimSpec<'_>) -> Value {
    let mut data = json!({
        "resource": {"url": c.resource, "mimeType": "application/json"},
        "facilitator": super::chain::FACILITATOR_ID,
        "accepted": {
            "scheme": "exact",
            "network": network,
            "asset": c.asset,
            "amount": c.amount.to_string(),
            "payTo": c.pay_to,
            "maxTimeoutSeconds": 60,
            "extra": {"feePayer": c.of.tx_from}
        },
        "settleResponse": {
            "success": true,
            "transaction": c.tx,
            "network": network,
            "payer": c.of.payer
        }
    });
    if let Some(memo) = &c.memo {
        data["memo"] = json!(memo);
    }
    json!({"type": "x402.settlement.succeeded", "timestamp": c.of.block_time, "data": data})
}

async fn deliver(hooks: &WebhookState, seq: usize, body: &Value) {
    let id = format!("msg_sol_{seq}");
    let bytes = serde_json::to_vec(body).unwrap();
    let ts = webhooks::unix_now();
    let sig = sign_standard(&Secret::whsec(SECRET).unwrap(), &id, ts, &bytes);
    let req = Request::post("/webhooks/sol-shop")
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(Body::from(bytes))
        .unwrap();
    let resp = webhooks::router(hooks.clone()).oneshot(req).await.unwrap();
    assert!(
        resp.status().is_success(),
        "webhook refused: {}",
        resp.status()
    );
}

/// A well-formed signature no transaction of the chain has.
fn unknown_signature(byte: u8) -> String {
    bs58::encode([byte; 64]).into_string()
}

fn by_memo(chain: &'static Chain, memo: &str, amount: u64) -> &'static Payment {
    chain
        .expected
        .iter()
        .find(|p| p.nonce == memo && p.amount.to_string() == amount.to_string())
        .unwrap_or_else(|| panic!("no payment with memo {memo} and amount {amount}"))
}

fn plain_memo(i: u64) -> String {
    format!("{:032x}", 0xfeed_0000 + i)
}

/// Index the chain into `store`, deliver the claims and a listing, analyse,
/// and compare the derived table with the expected one.
pub async fn scenario(chain: &'static Chain, store: &Store) {
    let cancel = CancellationToken::new();
    super::indexer(store, 1000, &cancel)
        .run_once(&cancel)
        .await
        .unwrap();
    assert_eq!(super::all_rows(store).await, chain.expected);

    let plain = |i: u64| by_memo(chain, &plain_memo(i), PRICE + i);
    let two_a = by_memo(chain, "two transfers", 111);
    let two_b = by_memo(chain, "two transfers", 222);
    let t22 = by_memo(chain, "token-2022", 333);
    let inner = by_memo(chain, "inner", 444);
    let usdc = plain(0).asset.clone();
    let payee = plain(0).pay_to.clone();

    // The listing: the payee sells RESOURCE for PRICE in the USDC-like mint.
    let listed_at = plain(0).block_time - 1000;
    let item = json!({"resource": RESOURCE, "type": "http", "x402Version": 2,
        "accepts": [{"scheme": "exact", "network": chain.network, "asset": usdc,
            "amount": PRICE.to_string(), "payTo": payee, "maxTimeoutSeconds": 60,
            "extra": {"feePayer": chain.facilitator}}]});
    let snapshots =
        x402scope_ingest::crawler::listing_snapshots("bazaar", &item, listed_at).unwrap();
    assert_eq!(snapshots.len(), 1);
    store.insert_listings(snapshots).await.unwrap();

    let spec = |label, of: &'static Payment| ClaimSpec {
        label,
        of,
        tx: of.tx_id.clone(),
        pay_to: of.pay_to.clone(),
        asset: of.asset.clone(),
        amount: of.amount.to_string().parse().unwrap(),
        memo: None,
        resource: RESOURCE,
    };
    let claims = vec![
        // R1: the signature.
        spec("s_signature", plain(0)),
        // R3: a signature the chain never saw, but the memo and the payTo.
        ClaimSpec {
            tx: unknown_signature(0x31),
            memo: Some(plain_memo(1)),
            ..spec("s_memo", plain(1))
        },
        // R1, but the claimed amount differs from the transfer.
        ClaimSpec {
            amount: PRICE - 1,
            ..spec("s_amount", plain(2))
        },
        // R1 inside a two-transfer transaction: narrowed to the transfer that agrees.
        ClaimSpec {
            resource: "",
            ..spec("s_two", two_b)
        },
        // R4: an unknown signature and no memo; one transfer has this shape.
        ClaimSpec {
            tx: unknown_signature(0x32),
            resource: "",
            ..spec("s_fuzzy", t22)
        },
    ];
    let mut sources = BTreeMap::new();
    sources.insert(
        "sol-shop".to_owned(),
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
    for (i, c) in claims.iter().enumerate() {
        deliver(&hooks, i, &event(&chain.network, c)).await;
    }
    process_pending(&hooks).await.unwrap();
    let stored = store.claims().await.unwrap();
    assert_eq!(stored.len(), claims.len());
    let memo_claim = stored
        .iter()
        .find(|c| c.tx_id == unknown_signature(0x31))
        .unwrap();
    assert_eq!(
        memo_claim.reference,
        plain_memo(1),
        "the memo is kept as sent"
    );
    assert_eq!(memo_claim.pay_to, payee, "base58 keeps its case");

    // Label every derived row: claims by their signature, payments by their key.
    let mut labels: BTreeMap<String, &'static str> = BTreeMap::new();
    for c in &claims {
        labels.insert(format!("claim:{}", c.tx), c.label);
    }
    for (label, p) in [
        ("p_plain3", plain(3)),
        ("p_plain4", plain(4)),
        ("p_plain5", plain(5)),
        ("p_two_a", two_a),
        ("p_inner", inner),
    ] {
        labels.insert(
            format!("payment:{}:{}:{}", p.tx_id, p.idx_outer, p.idx_inner),
            label,
        );
    }

    let now = chain.expected.iter().map(|p| p.block_time).max().unwrap() + 5;
    x402scope_analysis::run(store, &AnalysisConfig::default(), now)
        .await
        .unwrap();
    let rows = store.analysis_matches(None).await.unwrap();
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let got: BTreeMap<&'static str, Expect> = rows
        .iter()
        .map(|r| {
            let key = if r.claim_source.is_empty() {
                format!("payment:{}:{}:{}", r.tx_id, r.idx_outer, r.idx_inner)
            } else {
                let tx = stored
                    .iter()
                    .find(|c| c.claim_id == r.claim_id)
                    .map(|c| c.tx_id.clone())
                    .unwrap_or_default();
                format!("claim:{tx}")
            };
            let label = labels
                .get(&key)
                .copied()
                .unwrap_or_else(|| leak(&format!("UNEXPECTED {key}")));
            (
                label,
                (leak(&r.status), leak(&r.rule), leak(&r.price_status)),
            )
        })
        .collect();
    let want: BTreeMap<&'static str, Expect> = [
        ("s_signature", ("matched", "r1_tx", "price_match")),
        ("s_memo", ("matched", "r3_solana_memo", "overpaid")),
        ("s_amount", ("amount_mismatch", "r1_tx", "overpaid")),
        ("s_two", ("matched", "r1_tx", "no_listing")),
        ("s_fuzzy", ("matched", "r4_fuzzy", "no_listing")),
        ("p_plain3", ("transfer_without_claim", "", "overpaid")),
        ("p_plain4", ("transfer_without_claim", "", "overpaid")),
        ("p_plain5", ("transfer_without_claim", "", "overpaid")),
        ("p_two_a", ("transfer_without_claim", "", "underpaid")),
        ("p_inner", ("transfer_without_claim", "", "no_listing")),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "{}", store.backend());

    // The seller's report agrees with the store, in JSON and in CSV.
    let report = x402scope_analysis::seller_report(store, &payee, None, None)
        .await
        .unwrap();
    let store_side = store
        .overview(&Filter {
            pay_to: Some(payee.clone()),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(report.totals.received, store_side.volume);
    assert_eq!(report.totals.payments, store_side.count);
}
