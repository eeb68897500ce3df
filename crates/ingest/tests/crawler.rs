//! The Bazaar crawler against a discovery server run by the test (paginated,
//! mixed v1/v2 items, malformed items, one 429 with Retry-After), and the
//! `/supported` refresh against the reference facilitator.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use x402scope_ingest::crawler::{CrawlConfig, Crawler, Target};
use x402scope_store::{Store, StoreUrl};

const TOTAL: usize = 230;

#[derive(Default)]
struct Discovery {
    items: Vec<Value>,
    /// (offset, when) of every request.
    log: Vec<(u64, Instant)>,
    sent_429: bool,
}

fn item(n: usize, price: u64) -> Value {
    if n.is_multiple_of(3) {
        // v1 shape
        json!({"resource": format!("https://seller.test/r/{n}"), "type": "http", "x402Version": 1,
               "lastUpdated": 1_700_000_000,
               "accepts": [{"scheme": "exact", "network": "base-sepolia", "maxAmountRequired": price.to_string(),
                            "resource": format!("https://seller.test/r/{n}"), "payTo": format!("0x{n:040x}"),
                            "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "maxTimeoutSeconds": 60}]})
    } else {
        json!({"resource": format!("https://seller.test/r/{n}"), "type": "http", "x402Version": 2,
               "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": price.to_string(),
                            "payTo": format!("0x{n:040x}"), "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                            "maxTimeoutSeconds": 60, "extra": {"name": "USDC", "version": "2"}}],
               "metadata": {"category": "test"}})
    }
}

fn malformed(n: usize) -> Option<Value> {
    match n % 23 {
        7 => Some(json!({"type": "http", "accepts": []})),
        11 => Some(
            json!({"resource": format!("https://seller.test/r/{n}"), "accepts": [{"scheme": "exact", "network": "base", "amount": "1.5", "payTo": "0x1", "asset": "0x2"}]}),
        ),
        19 => Some(json!("not an object")),
        _ => None,
    }
}

async fn resources(State(state): State<Arc<Mutex<Discovery>>>, uri: Uri) -> Response {
    let q = uri.query().unwrap_or("");
    let param = |name: &str| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let (limit, offset) = (param("limit").unwrap_or(10), param("offset").unwrap_or(0));
    let Ok(mut s) = state.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    s.log.push((offset, Instant::now()));
    if offset == 100 && !s.sent_429 {
        s.sent_429 = true;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response();
    }
    let page: Vec<Value> = s
        .items
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .cloned()
        .collect();
    axum::Json(json!({"x402Version": 2, "items": page,
                      "pagination": {"limit": limit, "offset": offset, "total": s.items.len()}}))
    .into_response()
}

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url =
        StoreUrl::parse(&format!("sqlite://{}", dir.path().join("x.db").display())).expect("url");
    x402scope_store::migrate(&url).await.expect("migrate");
    (x402scope_store::open(&url).await.expect("open"), dir)
}

#[tokio::test]
async fn crawl_stores_every_valid_item_once_and_records_a_price_change() {
    let mut discovery = Discovery::default();
    let mut valid = Vec::new();
    let mut bad = 0;
    for n in 0..TOTAL {
        match malformed(n) {
            Some(m) => {
                discovery.items.push(m);
                bad += 1;
            }
            None => {
                discovery.items.push(item(n, 1000 + n as u64));
                valid.push(n);
            }
        }
    }
    let state = Arc::new(Mutex::new(discovery));
    let app = Router::new()
        .route("/discovery/resources", get(resources))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (store, _dir) = store().await;
    let config = CrawlConfig {
        per_host_rps: std::num::NonZeroU32::new(20).expect("non-zero"),
        ..CrawlConfig::default()
    };
    let crawler = Crawler::new(store.clone(), config).expect("crawler");
    let target = Target {
        id: "local".into(),
        url: format!("http://{addr}/"),
    };
    let cancel = CancellationToken::new();
    let report = crawler.crawl(&target, 1_000, &cancel).await.expect("crawl");

    assert_eq!(report.items, TOTAL as u64);
    assert_eq!(report.pages, 3, "230 items in pages of 100");
    assert_eq!(report.rate_limited, 1);
    assert_eq!(report.skipped.len(), bad, "{:?}", report.skipped);
    assert!(report.skipped.iter().all(|s| !s.reason.is_empty()));
    assert_eq!(report.new_versions, valid.len() as u64);
    {
        let s = state.lock().expect("lock");
        let offsets: Vec<u64> = s.log.iter().map(|(o, _)| *o).collect();
        assert_eq!(offsets, [0, 100, 100, 200], "the 429'd page is asked again");
        let waited = s.log[2].1.duration_since(s.log[1].1);
        assert!(
            waited >= Duration::from_millis(950),
            "Retry-After honoured: waited {waited:?}"
        );
    }
    for n in &valid {
        let h = store
            .listing_history(&format!("https://seller.test/r/{n}"))
            .await
            .expect("history");
        assert_eq!(h.len(), 1, "item {n} stored once");
        assert_eq!(h[0].amount.to_string(), (1000 + n).to_string());
        assert_eq!(h[0].network, "eip155:84532", "v1 names normalised");
        assert_eq!(h[0].pay_to, format!("0x{n:040x}"));
        assert_eq!(h[0].source, "local");
    }

    // Second crawl: one price changed.
    let changed = valid[5];
    state.lock().expect("lock").items[changed] = item(changed, 777);
    let again = crawler
        .crawl(&target, 2_000, &cancel)
        .await
        .expect("crawl again");
    assert_eq!(
        again.new_versions, 1,
        "only the changed entry is a new version"
    );
    let h = store
        .listing_history(&format!("https://seller.test/r/{changed}"))
        .await
        .expect("history");
    let versions: Vec<(i64, String)> = h
        .iter()
        .map(|s| (s.observed_at, s.amount.to_string()))
        .collect();
    assert_eq!(
        versions,
        [
            (1_000, (1000 + changed).to_string()),
            (2_000, "777".to_owned())
        ]
    );
    for n in valid.iter().filter(|n| **n != changed) {
        let h = store
            .listing_history(&format!("https://seller.test/r/{n}"))
            .await
            .expect("history");
        assert_eq!(h.len(), 1, "unchanged item {n} has one version");
    }
}

#[tokio::test]
async fn a_facilitator_without_a_list_is_reported_not_failed() {
    let app = Router::new().route("/other", get(|| async { "x" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (store, _dir) = store().await;
    let crawler = Crawler::new(store, CrawlConfig::default()).expect("crawler");
    let target = Target {
        id: "none".into(),
        url: format!("http://{addr}"),
    };
    let report = crawler
        .crawl(&target, 1, &CancellationToken::new())
        .await
        .expect("crawl");
    assert!(report.no_list);
    assert_eq!(report.items, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supported_refresh_records_the_reference_facilitators_signer_with_dates() {
    let stack = tokio::task::block_in_place(x402scope_testkit::x402::X402Stack::start)
        .expect("reference stack");
    let (store, _dir) = store().await;
    let crawler = Crawler::new(store.clone(), CrawlConfig::default()).expect("crawler");
    let target = Target {
        id: "reference".into(),
        url: stack.info.facilitator.clone().expect("facilitator"),
    };
    let cancel = CancellationToken::new();
    let report = crawler
        .refresh_supported(&target, 1_000, &cancel)
        .await
        .expect("refresh");
    assert!(
        report
            .kinds
            .iter()
            .any(|k| k.scheme == "exact" && k.network == "eip155:84532"),
        "{report:?}"
    );
    let facilitator = stack.info.accounts.facilitator.address.to_ascii_lowercase();
    assert!(
        report.signers.iter().any(|(_, a)| *a == facilitator),
        "{report:?}"
    );
    crawler
        .refresh_supported(&target, 5_000, &cancel)
        .await
        .expect("refresh again");
    let signers = store.signers().await.expect("signers");
    let s = signers
        .iter()
        .find(|s| s.address == facilitator && s.facilitator_id == "reference")
        .expect("the signer is in the registry");
    assert_eq!((s.first_seen, s.last_seen), (1_000, 5_000));
    assert_eq!(s.source, "supported");
    assert!(s.network.starts_with("eip155:"));
    let kinds = store.kinds().await.expect("kinds");
    let k = kinds
        .iter()
        .find(|k| {
            k.facilitator_id == "reference" && k.scheme == "exact" && k.network == "eip155:84532"
        })
        .expect("the exact kind is recorded");
    assert_eq!((k.first_seen, k.last_seen), (1_000, 5_000), "dated history");
}
