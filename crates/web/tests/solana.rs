//! Solana-shaped payments (base58 addresses and signatures, `solana:` CAIP-2
//! ids, slots) through every page and endpoint that lists networks, addresses
//! or transactions, via `tower::ServiceExt::oneshot`; and the 400s of
//! Solana-shaped bad input.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use x402scope_core::Amount;
use x402scope_store::*;
use x402scope_web::{AppState, PartState, PartStatus, StatusBoard, WebConfig};

const SOLANA: &str = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp";
const BASE: &str = "eip155:8453";
const USDC_MINT: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

/// A base58 address (32 bytes) and a signature (64 bytes), distinct per `n`.
fn sol_addr(n: u8) -> String {
    let mut b = [7u8; 32];
    b[0] = 200;
    b[31] = n;
    bs58::encode(b).into_string()
}
fn sig(n: u8) -> String {
    let mut b = [9u8; 64];
    b[0] = 250;
    b[63] = n;
    bs58::encode(b).into_string()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sol_pay(n: u8, inner: u32, age: i64, payer: u8, pay_to: u8, amount: u64) -> Payment {
    Payment {
        chain: SOLANA.into(),
        tx_id: sig(n),
        idx_outer: 2,
        idx_inner: inner,
        block_number: 300_000_000 + u64::from(n),
        block_hash: bs58::encode([n; 32]).into_string(),
        block_time: now() - age,
        asset: USDC_MINT.into(),
        payer: sol_addr(payer),
        pay_to: sol_addr(pay_to),
        amount: Amount::from_u64(amount),
        nonce: String::new(),
        facilitator: "payai".into(),
        tx_from: sol_addr(99),
        method: "spl-transfer-checked".into(),
        is_final: true,
        is_organic: true,
    }
}

fn evm_pay() -> Payment {
    Payment {
        chain: BASE.into(),
        tx_id: format!("0x{:064x}", 1),
        idx_outer: 0,
        idx_inner: 0,
        block_number: 10,
        block_hash: format!("0x{:064x}", 10),
        block_time: now() - 60,
        asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
        payer: format!("0x{:040x}", 0xb0b),
        pay_to: format!("0x{:040x}", 0x5e11),
        amount: Amount::from_u64(5_000_000),
        nonce: format!("0x{:064x}", 3),
        facilitator: "cdp".into(),
        tx_from: format!("0x{:040x}", 0xfac),
        method: "eip3009".into(),
        is_final: true,
        is_organic: true,
    }
}

/// Four Solana payments (two in one transaction) to two sellers, one EVM payment.
fn planted() -> Vec<Payment> {
    vec![
        sol_pay(1, 0, 600, 1, 50, 1_000_000),
        sol_pay(2, 0, 1200, 2, 50, 250_000),
        sol_pay(2, 1, 1200, 2, 51, 10_000),
        sol_pay(3, 0, 1800, 1, 51, 3_000),
        evm_pay(),
    ]
}

struct Fixture {
    app: Router,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("x402scope.db"));
    migrate(&url).await.unwrap();
    let store = open(&url).await.unwrap();
    store
        .commit_payments(
            planted(),
            vec![],
            Some(Checkpoint {
                chain: SOLANA.into(),
                block: 300_000_003,
                hash: bs58::encode([3u8; 32]).into_string(),
            }),
        )
        .await
        .unwrap();
    let board = StatusBoard::new();
    let mut p = PartStatus::new("solana:mainnet", "solana-indexer", Some(SOLANA.into()));
    p.state = PartState::Running;
    p.last_block = Some(300_000_003);
    p.head = Some(300_000_010);
    board.register(p);
    let state = AppState::new(
        store,
        board,
        WebConfig {
            networks: vec![BASE.into()],
            cache_ttl: Duration::from_secs(5),
            rate_limit: None,
        },
    );
    Fixture {
        app: x402scope_web::app(state, Router::new()),
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

async fn get(app: &Router, uri: &str) -> Answer {
    let res = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn enc(s: &str) -> String {
    x402scope_web::url_encode(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solana_payments_show_on_every_page_and_endpoint() {
    let f = fixture().await;
    let app = &f.app;

    // Overview: the network filter lists the Solana network (from its
    // indexer), and filtering by it counts only its payments.
    let j = get(
        app,
        &format!("/api/v1/overview?range=24h&network={}", enc(SOLANA)),
    )
    .await
    .json();
    assert_eq!(j["totals"]["count"], 4);
    assert_eq!(j["totals"]["volume"], "1263000");
    assert_eq!(j["totals"]["volume_units"], "1.263");
    assert_eq!(j["totals"]["buyers"], 2);
    assert_eq!(j["totals"]["sellers"], 2);
    assert_eq!(j["network"], SOLANA);
    let page = get(app, "/?range=24h").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(&format!("href=\"/?range=24h&#38;network={}\"", enc(SOLANA))),
        "{}",
        page.body
    );
    let page = get(app, &format!("/?range=24h&network={}", enc(SOLANA))).await;
    assert!(page.body.contains("id=\"card-count\">4</div>"));

    // Transactions: by network and by a base58 payer, kept exactly as given
    // (base58 is case-sensitive, unlike hex).
    let j = get(
        app,
        &format!("/api/v1/transactions?network={}", enc(SOLANA)),
    )
    .await
    .json();
    let items = j["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|i| i["network"] == SOLANA));
    assert_eq!(items[0]["tx_id"], sig(1));
    assert_eq!(items[0]["payer"], sol_addr(1));
    assert_eq!(items[0]["asset"], USDC_MINT);
    assert_eq!(items[0]["block_number"], 300_000_001);
    assert_eq!(items[0]["amount_units"], "1.00");
    let j = get(app, &format!("/api/v1/transactions?payer={}", sol_addr(2)))
        .await
        .json();
    assert_eq!(j["items"].as_array().unwrap().len(), 2);
    let j = get(
        app,
        &format!("/api/v1/transactions?pay_to={}", sol_addr(51)),
    )
    .await
    .json();
    assert_eq!(j["items"].as_array().unwrap().len(), 2);
    // Keyset pages over Solana rows: the cursor carries the signature.
    let mut seen = Vec::new();
    let mut uri = format!("/api/v1/transactions?network={}&limit=1", enc(SOLANA));
    loop {
        let j = get(app, &uri).await.json();
        for i in j["items"].as_array().unwrap() {
            seen.push((
                i["tx_id"].as_str().unwrap().to_owned(),
                i["idx_inner"].as_u64().unwrap(),
            ));
        }
        match j["next"].as_str() {
            Some(n) => {
                assert!(n.contains(SOLANA), "{n}");
                uri = format!(
                    "/api/v1/transactions?network={}&limit=1&cursor={}",
                    enc(SOLANA),
                    enc(n)
                );
            }
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![(sig(1), 0), (sig(2), 1), (sig(2), 0), (sig(3), 0)]
    );
    // The page links the full base58 values.
    let page = get(app, &format!("/transactions?network={}", enc(SOLANA))).await;
    assert_eq!(page.status, StatusCode::OK);
    for v in [sig(1), sol_addr(1), sol_addr(50)] {
        assert!(page.body.contains(&v), "{v} missing\n{}", page.body);
    }
    assert!(page.body.contains(&format!("href=\"/tx/{}\"", sig(1))));
    assert!(
        page.body
            .contains(&format!("href=\"/sellers/{}\"", sol_addr(50)))
    );
    // CSV keeps them too.
    let csv = get(
        app,
        &format!("/api/v1/transactions?network={}&format=csv", enc(SOLANA)),
    )
    .await;
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(
        csv.body
            .lines()
            .nth(1)
            .unwrap()
            .starts_with(&format!("{SOLANA},{},2,0,300000001,", sig(1))),
        "{}",
        csv.body
    );

    // One transaction by its signature: both of its payments.
    let j = get(app, &format!("/api/v1/tx/{}", sig(2))).await.json();
    assert_eq!(j["items"].as_array().unwrap().len(), 2);
    assert_eq!(j["tx_id"], sig(2));
    let page = get(app, &format!("/tx/{}", sig(2))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(SOLANA));

    // Seller and buyer pages of base58 addresses.
    let j = get(app, &format!("/api/v1/sellers/{}", sol_addr(50)))
        .await
        .json();
    assert_eq!(j["address"], sol_addr(50));
    assert_eq!(j["revenue"]["count"], 2);
    assert_eq!(j["revenue"]["volume"], "1250000");
    assert_eq!(j["facilitators"], serde_json::json!(["payai"]));
    let page = get(app, &format!("/sellers/{}", sol_addr(50))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("id=\"card-revenue\">1.25</div>"),
        "{}",
        page.body
    );
    let j = get(app, &format!("/api/v1/buyers/{}", sol_addr(1)))
        .await
        .json();
    assert_eq!(j["spending"]["count"], 2);
    assert_eq!(j["spending"]["volume"], "1003000");
    let page = get(app, &format!("/buyers/{}", sol_addr(1))).await;
    assert!(
        page.body.contains("id=\"card-spent\">1.003</div>"),
        "{}",
        page.body
    );

    // Networks: the Solana network with its totals, slot checkpoint and indexer.
    let j = get(app, "/api/v1/networks").await.json();
    let sol = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["network"] == SOLANA)
        .cloned()
        .unwrap();
    assert_eq!(sol["totals"]["count"], 4);
    assert_eq!(sol["last_block"], 300_000_003);
    assert_eq!(sol["source"]["lag"], 7);
    let page = get(app, "/networks").await;
    assert!(page.body.contains(SOLANA));
    let csv = get(app, "/api/v1/networks?format=csv").await;
    assert!(
        csv.body.contains(&format!("{SOLANA},4,1263000,")),
        "{}",
        csv.body
    );

    // Facilitator pages include its Solana payments.
    let j = get(app, "/api/v1/facilitators/payai").await.json();
    assert_eq!(j["totals"]["count"], 4);
    assert_eq!(j["recent"][0]["network"], SOLANA);

    // Search: a base58 address, a signature.
    let a = get(app, &format!("/search?q={}", sol_addr(51))).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        a.headers[header::LOCATION],
        format!("/sellers/{}", sol_addr(51)).as_str()
    );
    let a = get(app, &format!("/search?q={}", sig(3))).await;
    assert_eq!(
        a.headers[header::LOCATION],
        format!("/tx/{}", sig(3)).as_str()
    );
    let j = get(app, &format!("/api/v1/search?q={}", sol_addr(1)))
        .await
        .json();
    assert_eq!(j["kind"], "address");
    assert_eq!(j["hits"][0]["href"], format!("/buyers/{}", sol_addr(1)));
    let j = get(app, &format!("/api/v1/search?q={}", sig(2)))
        .await
        .json();
    assert_eq!(j["kind"], "transaction");
    assert!(
        j["hits"][0]["label"].as_str().unwrap().contains(SOLANA),
        "{j}"
    );
}

/// Solana-shaped bad input: a 400 naming the parameter and what is wrong,
/// from the API (JSON) and from the page (HTML).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solana_shaped_bad_input_is_a_400_that_says_what_is_wrong() {
    let f = fixture().await;
    let app = &f.app;
    let good = sol_addr(1);
    // `0`, `O`, `I` and `l` are not base58.
    let with_zero = format!("0{}", &good[1..]);
    let with_l = format!("{}l", &good[..good.len() - 1]);
    let short = &good[..20];
    let long_addr = format!("{good}{good}");
    let sig_short = &sig(1)[..40];
    let sig_bad = format!("{}O", &sig(1)[..sig(1).len() - 1]);
    let cases: Vec<(String, String)> = vec![
        (
            format!("/transactions?payer={with_zero}"),
            format!("`payer`: \"{with_zero}\" is not an address"),
        ),
        (
            format!("/transactions?payer={with_zero}"),
            "'0' is not a base58 character".into(),
        ),
        (
            format!("/transactions?pay_to={with_l}"),
            "'l' is not a base58 character".into(),
        ),
        (
            format!("/transactions?pay_to={short}"),
            "as a base58 Solana address it has 20 characters, expected 32 to 44".into(),
        ),
        (
            format!("/sellers/{long_addr}"),
            "as a base58 Solana address it has 88 characters, expected 32 to 44".into(),
        ),
        (
            format!("/buyers/{with_zero}"),
            format!("`address`: \"{with_zero}\" is not an address"),
        ),
        (
            format!("/tx/{sig_short}"),
            "as a base58 Solana signature it has 40 characters, expected 64 to 88".into(),
        ),
        (
            format!("/tx/{sig_bad}"),
            "'O' is not a base58 character".into(),
        ),
        (
            "/tx/0xabc".into(),
            "after 0x it has 3 hex digits, expected 64".into(),
        ),
        (
            format!("/transactions?payer=0x{}", "g".repeat(40)),
            "after 0x it has 'g', which is not a hex digit".into(),
        ),
        (
            "/transactions?network=solana".into(),
            "`network`: \"solana\" is not a CAIP-2 network id".into(),
        ),
        (
            "/transactions?network=solana".into(),
            "there is no `:`".into(),
        ),
        (
            "/transactions?network=solana:".into(),
            "the reference \"\" is not 1 to 32".into(),
        ),
        (
            "/overview?network=Solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp".into(),
            "the namespace \"Solana\" is not 3 to 8 of a-z, 0-9 and -".into(),
        ),
        (
            "/overview?network=solana:5eykt4Us.v8P8".into(),
            "the reference \"5eykt4Us.v8P8\" is not 1 to 32".into(),
        ),
        (
            format!(
                "/transactions?cursor=1.{}.{}.0.0",
                enc(SOLANA),
                &sig(1)[..10]
            ),
            "`cursor`: ".into(),
        ),
    ];
    for (path, message) in &cases {
        let api = get(app, &format!("/api/v1{path}")).await;
        assert_eq!(api.status, StatusCode::BAD_REQUEST, "{path}: {}", api.body);
        let error = api.json()["error"].as_str().unwrap().to_owned();
        assert!(
            error.contains(message.as_str()),
            "{path}: {error:?} lacks {message:?}"
        );
        let page_path = path.replacen("/overview", "/", 1);
        let page = get(app, &page_path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{page_path}");
        let escaped = message
            .replace('&', "&#38;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;");
        assert!(
            page.body.contains(message.as_str()) || page.body.contains(&escaped),
            "{page_path}: page lacks {message:?}\n{}",
            page.body
        );
    }
}
