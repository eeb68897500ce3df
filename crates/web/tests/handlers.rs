//! Every page and endpoint through `tower::ServiceExt::oneshot`, on data
//! planted in a temporary SQLite store: the answers, every 400 case, the
//! headers, CSV, pagination, search, health, metrics and the rate limit.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use x402scope_core::Amount;
use x402scope_store::*;
use x402scope_web::{AppState, PartState, PartStatus, RateLimit, StatusBoard, WebConfig};

const BASE: &str = "eip155:8453";
const SEPOLIA: &str = "eip155:84532";
const RESOURCE: &str = "https://api.example/weather";

fn addr(n: u64) -> String {
    format!("0x{n:040x}")
}
fn seller1() -> String {
    addr(0x5e11e1)
}
fn seller2() -> String {
    addr(0x5e11e2)
}
fn buyer(n: u64) -> String {
    addr(0xb0b000 + n)
}
fn tx(n: u64) -> String {
    format!("0x{n:064x}")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[allow(clippy::too_many_arguments)]
fn pay(
    chain: &str,
    t: u64,
    idx: u32,
    age_secs: i64,
    payer: String,
    pay_to: String,
    amount: u64,
    fac: &str,
    organic: bool,
) -> Payment {
    Payment {
        chain: chain.into(),
        tx_id: tx(t),
        idx_outer: idx,
        idx_inner: 0,
        block_number: 1000 + t,
        block_hash: format!("0x{:064x}", 1000 + t),
        block_time: now() - age_secs,
        asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
        payer,
        pay_to,
        amount: Amount::from_u64(amount),
        nonce: format!("0x{:064x}", t * 10 + u64::from(idx)),
        facilitator: fac.into(),
        tx_from: addr(0xfac),
        method: "eip3009".into(),
        is_final: true,
        is_organic: organic,
    }
}

/// The planted payments: 10 on Base in the last day (one batch of two, one not
/// organic), 2 on Base Sepolia, 1 forty days old.
fn planted() -> Vec<Payment> {
    let h = 3600;
    vec![
        pay(BASE, 1, 0, h, buyer(1), seller1(), 1_000_000, "cdp", true),
        pay(
            BASE,
            2,
            0,
            2 * h,
            buyer(2),
            seller1(),
            2_000_000,
            "cdp",
            true,
        ),
        pay(
            BASE,
            3,
            0,
            3 * h,
            buyer(3),
            seller1(),
            500_000,
            "payai",
            true,
        ),
        pay(
            BASE,
            4,
            0,
            4 * h,
            buyer(1),
            seller2(),
            250_000,
            "payai",
            true,
        ),
        pay(
            BASE,
            4,
            1,
            4 * h,
            buyer(2),
            seller2(),
            250_000,
            "payai",
            true,
        ),
        pay(
            BASE,
            5,
            0,
            5 * h,
            buyer(4),
            seller2(),
            1_000,
            "unknown",
            true,
        ),
        pay(
            BASE,
            6,
            0,
            6 * h,
            buyer(1),
            seller1(),
            3_000_000,
            "cdp",
            false,
        ),
        pay(BASE, 7, 0, 7 * h, buyer(5), seller1(), 10_000, "cdp", true),
        pay(BASE, 8, 0, 8 * h, buyer(5), seller2(), 20_000, "cdp", true),
        pay(
            BASE,
            9,
            0,
            9 * h,
            buyer(6),
            seller1(),
            30_000,
            "payai",
            true,
        ),
        pay(
            SEPOLIA,
            10,
            0,
            10 * h,
            buyer(1),
            seller1(),
            40_000,
            "cdp",
            true,
        ),
        pay(
            SEPOLIA,
            11,
            0,
            11 * h,
            buyer(7),
            seller2(),
            50_000,
            "cdp",
            true,
        ),
        pay(
            BASE,
            12,
            0,
            40 * 86_400,
            buyer(8),
            seller1(),
            7_000_000,
            "cdp",
            true,
        ),
    ]
}

struct Fixture {
    state: AppState,
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
                chain: BASE.into(),
                block: 1012,
                hash: format!("0x{:064x}", 1012),
            }),
        )
        .await
        .unwrap();
    store
        .upsert_facilitators(vec![
            Facilitator {
                id: "cdp".into(),
                name: "Coinbase CDP".into(),
                url: "https://cdp.example".into(),
            },
            Facilitator {
                id: "payai".into(),
                name: "PayAI".into(),
                url: String::new(),
            },
            Facilitator {
                id: "idle".into(),
                name: "Idle One".into(),
                url: String::new(),
            },
        ])
        .await
        .unwrap();
    store
        .insert_claims(vec![
            Claim {
                source: "cdp".into(),
                claim_id: "c1".into(),
                network: BASE.into(),
                tx_id: tx(1),
                payer: buyer(1),
                pay_to: seller1(),
                asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
                amount: Amount::from_u64(1_000_000),
                resource_url: RESOURCE.into(),
                facilitator: "cdp".into(),
                success: true,
                claimed_at: now() - 3600,
                reference: String::new(),
            },
            Claim {
                source: "cdp".into(),
                claim_id: "c2".into(),
                network: BASE.into(),
                tx_id: tx(3),
                payer: buyer(3),
                pay_to: seller1(),
                asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
                amount: Amount::from_u64(500_000),
                resource_url: RESOURCE.into(),
                facilitator: "payai".into(),
                success: true,
                claimed_at: now() - 3 * 3600,
                reference: String::new(),
            },
        ])
        .await
        .unwrap();
    store
        .insert_listings(vec![ListingSnapshot {
            source: "cdp".into(),
            resource: RESOURCE.into(),
            accept_index: 0,
            snapshot_hash: "h1".into(),
            observed_at: now() - 7200,
            scheme: "exact".into(),
            network: BASE.into(),
            asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
            pay_to: seller1(),
            amount: Amount::from_u64(1_000),
            raw: "{}".into(),
        }])
        .await
        .unwrap();
    store
        .insert_probe_run(
            ProbeRun {
                id: "run1".into(),
                url: RESOURCE.into(),
                started_at: now() - 600,
                status_code: 402,
                latency_ms: 42,
                error: String::new(),
            },
            vec![ProbeFinding {
                run_id: "run1".into(),
                rule_id: "X402-001".into(),
                severity: "must".into(),
                message: "accepts[0].maxTimeoutSeconds is missing".into(),
                evidence: "{\"accepts\":[{}]}".into(),
            }],
        )
        .await
        .unwrap();
    let status = StatusBoard::new();
    let mut ok = PartStatus::new("evm:base", "evm-indexer", Some(BASE.into()));
    ok.state = PartState::Running;
    ok.last_block = Some(1012);
    ok.head = Some(1020);
    ok.rows_written = 11;
    status.register(ok);
    let config = WebConfig {
        networks: vec![BASE.into(), SEPOLIA.into()],
        cache_ttl: Duration::from_secs(5),
        rate_limit: None,
    };
    Fixture {
        state: AppState::new(store, status, config),
        _dir: dir,
    }
}

fn app(state: &AppState) -> Router {
    x402scope_web::app(state.clone(), Router::new())
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
        .oneshot(
            Request::get(uri)
                .header(header::ORIGIN, "https://elsewhere.example")
                .body(Body::empty())
                .unwrap(),
        )
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

fn day(rows: &[Payment]) -> Vec<&Payment> {
    rows.iter()
        .filter(|p| p.block_time > now() - 86_400)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_page_and_api_agree_with_the_planted_data() {
    let f = fixture().await;
    let app = app(&f.state);
    let data = planted();
    let in_day = day(&data);
    let a = get(&app, "/api/v1/overview?range=24h").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let j = a.json();
    assert_eq!(j["totals"]["count"], in_day.len() as u64);
    let sum: u64 = in_day
        .iter()
        .map(|p| p.amount.to_string().parse::<u64>().unwrap())
        .sum();
    assert_eq!(j["totals"]["volume"], sum.to_string());
    assert_eq!(j["totals"]["volume_units"], "7.151");
    assert_eq!(j["totals"]["buyers"], 7);
    assert_eq!(j["totals"]["sellers"], 2);
    assert_eq!(j["bucket_secs"], 3600);
    let series_count: u64 = j["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(series_count, in_day.len() as u64);
    assert_eq!(j["top_sellers"][0]["key"], seller1());
    assert_eq!(j["top_facilitators"][0]["key"], "cdp");

    // Range, network and organic filters.
    let all = get(&app, "/api/v1/overview?range=all").await.json();
    assert_eq!(all["totals"]["count"], 13);
    assert!(all["from"].is_null());
    let sep = get(&app, "/api/v1/overview?range=30d&network=eip155:84532")
        .await
        .json();
    assert_eq!(sep["totals"]["count"], 2);
    let organic = get(&app, "/api/v1/overview?range=24h&organic=true")
        .await
        .json();
    assert_eq!(organic["totals"]["count"], in_day.len() as u64 - 1);
    assert_eq!(
        get(&app, "/api/v1/overview?range=7d").await.json()["bucket_secs"],
        6 * 3600
    );

    // The page shows the same figures, and the charts.
    let page = get(&app, "/?range=24h").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    for (id, v) in [
        ("card-count", j["totals"]["count"].to_string()),
        (
            "card-volume",
            j["totals"]["volume_units"].as_str().unwrap().to_owned(),
        ),
        ("card-buyers", j["totals"]["buyers"].to_string()),
        ("card-sellers", j["totals"]["sellers"].to_string()),
    ] {
        assert!(
            page.body.contains(&format!("id=\"{id}\">{v}</div>")),
            "{id} = {v}\n{}",
            page.body
        );
    }
    assert_eq!(page.body.matches("<svg").count(), 4);
    assert!(page.body.contains("<rect"));
    assert!(page.body.contains("<polyline"));
    assert!(
        page.body.contains("href=\"/?range=24h&#38;organic=true\""),
        "organic toggle\n{}",
        page.body
    );
    assert!(
        page.body.contains("eip155:84532"),
        "network filter lists the configured networks"
    );
    // An empty range renders an empty chart, not an error.
    let empty = get(
        &app,
        "/?range=24h&network=solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
    )
    .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("no payments in this range"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_filter_and_page_by_keyset() {
    let f = fixture().await;
    let app = app(&f.state);
    let mut data = planted();
    data.sort_by(|a, b| {
        (b.block_time, &b.chain, &b.tx_id, b.idx_outer).cmp(&(
            a.block_time,
            &a.chain,
            &a.tx_id,
            a.idx_outer,
        ))
    });

    // Walk every page of 3.
    let mut seen = Vec::new();
    let mut uri = "/api/v1/transactions?limit=3".to_owned();
    loop {
        let j = get(&app, &uri).await.json();
        let items = j["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|i| {
            (
                i["tx_id"].as_str().unwrap().to_owned(),
                i["idx_outer"].as_u64().unwrap(),
            )
        }));
        match j["next"].as_str() {
            Some(n) => uri = format!("/api/v1/transactions?limit=3&cursor={n}"),
            None => break,
        }
    }
    let expected: Vec<(String, u64)> = data
        .iter()
        .map(|p| (p.tx_id.clone(), u64::from(p.idx_outer)))
        .collect();
    assert_eq!(seen, expected, "every payment once, newest first");

    let count = |j: &Value| j["items"].as_array().unwrap().len();
    let j = get(&app, &format!("/api/v1/transactions?network={SEPOLIA}"))
        .await
        .json();
    assert_eq!(count(&j), 2);
    let j = get(&app, "/api/v1/transactions?facilitator=payai")
        .await
        .json();
    assert_eq!(count(&j), 4);
    let j = get(
        &app,
        &format!(
            "/api/v1/transactions?payer={}",
            buyer(1).to_uppercase().replace("0X", "0x")
        ),
    )
    .await
    .json();
    assert_eq!(count(&j), 4, "addresses are matched case-insensitively");
    let j = get(&app, &format!("/api/v1/transactions?pay_to={}", seller2()))
        .await
        .json();
    assert_eq!(count(&j), 5);
    let j = get(
        &app,
        "/api/v1/transactions?min_amount=500000&max_amount=2000000",
    )
    .await
    .json();
    assert_eq!(count(&j), 3);
    assert!(j["items"].as_array().unwrap().iter().all(|i| {
        let a: u64 = i["amount"].as_str().unwrap().parse().unwrap();
        (500_000..=2_000_000).contains(&a)
    }));
    let j = get(
        &app,
        &format!(
            "/api/v1/transactions?resource={}",
            x402scope_web::url_encode(RESOURCE)
        ),
    )
    .await
    .json();
    let txs: Vec<&str> = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["tx_id"].as_str().unwrap())
        .collect();
    assert_eq!(txs, vec![tx(1), tx(3)]);
    let j = get(
        &app,
        "/api/v1/transactions?resource=https://nobody.example/x",
    )
    .await
    .json();
    assert_eq!(count(&j), 0);
    // Post-filtered lists page too: amounts ≥ 1 USDC, one at a time.
    let mut uri = "/api/v1/transactions?min_amount=1000000&limit=1".to_owned();
    let mut n = 0;
    loop {
        let j = get(&app, &uri).await.json();
        n += count(&j);
        match j["next"].as_str() {
            Some(c) => uri = format!("/api/v1/transactions?min_amount=1000000&limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(n, 4);
    let now = now();
    let j = get(
        &app,
        &format!(
            "/api/v1/transactions?from={}&to={}",
            now - 5 * 3600 - 60,
            now - 3 * 3600 + 60
        ),
    )
    .await
    .json();
    assert_eq!(count(&j), 4, "hours 3, 4 (two) and 5");

    // The page: the table, the filters kept in the form, the next link and CSV.
    let page = get(&app, "/transactions?limit=2&facilitator=cdp").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("id=\"row-count\">2 payments on this page")
    );
    assert!(page.body.contains("name=\"facilitator\" value=\"cdp\""));
    assert!(
        page.body.contains(
            "id=\"next-page\" href=\"/transactions?facilitator=cdp&#38;limit=2&#38;cursor="
        )
    );
    assert!(
        page.body
            .contains("href=\"/api/v1/transactions?facilitator=cdp&#38;limit=2&#38;format=csv\"")
    );
    // Blank form fields are ignored.
    let blank = get(
        &app,
        "/transactions?network=&facilitator=&payer=&pay_to=&resource=&min_amount=&max_amount=",
    )
    .await;
    assert_eq!(blank.status, StatusCode::OK);

    let csv = get(
        &app,
        "/api/v1/transactions?facilitator=cdp&limit=2&format=csv",
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("transactions.csv")
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("network,tx_id,idx_outer"));
    assert!(lines[1].starts_with(&format!("{BASE},{},0,0,", tx(1))));

    // One transaction (a batch of two).
    let j = get(&app, &format!("/api/v1/tx/{}", tx(4))).await.json();
    assert_eq!(count(&j), 2);
    let page = get(&app, &format!("/tx/{}", tx(4))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("<tr>").count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facilitators_networks_sellers_buyers_resources_and_probes() {
    let f = fixture().await;
    let app = app(&f.state);

    let j = get(&app, "/api/v1/facilitators").await.json();
    let ids: Vec<&str> = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["cdp", "payai", "unknown", "idle"]);
    assert_eq!(j["items"][0]["count"], 8);
    assert_eq!(j["items"][0]["name"], "Coinbase CDP");
    assert_eq!(
        j["items"][3]["count"], 0,
        "a registry facilitator without payments is listed"
    );
    let page = get(&app, "/facilitators").await;
    assert!(
        page.body.contains("Coinbase CDP") && page.body.contains("href=\"/facilitators/payai\"")
    );
    let csv = get(&app, "/api/v1/facilitators?format=csv").await;
    assert_eq!(csv.body.lines().count(), 5);

    let j = get(&app, "/api/v1/facilitators/payai").await.json();
    assert_eq!(j["totals"]["count"], 4);
    assert_eq!(j["recent"].as_array().unwrap().len(), 4);
    let page = get(&app, "/facilitators/payai").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"card-count\">4</div>"));
    let idle = get(&app, "/api/v1/facilitators/idle").await;
    assert_eq!(idle.status, StatusCode::OK);
    let none = get(&app, "/api/v1/facilitators/nobody").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert!(
        none.json()["error"]
            .as_str()
            .unwrap()
            .contains("no facilitator \"nobody\"")
    );
    assert_eq!(
        get(&app, "/facilitators/nobody").await.status,
        StatusCode::NOT_FOUND
    );

    let j = get(&app, "/api/v1/networks").await.json();
    let items = j["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["network"], BASE);
    assert_eq!(items[0]["totals"]["count"], 11);
    assert_eq!(items[0]["last_block"], 1012);
    assert_eq!(items[0]["source"]["lag"], 8);
    assert_eq!(items[1]["totals"]["count"], 2);
    assert!(items[1]["source"].is_null());
    let page = get(&app, "/networks").await;
    assert!(page.body.contains("running") && page.body.contains("not indexed here"));
    assert_eq!(
        get(&app, "/api/v1/networks?format=csv")
            .await
            .body
            .lines()
            .count(),
        3
    );

    let j = get(&app, &format!("/api/v1/sellers/{}", seller1()))
        .await
        .json();
    assert_eq!(j["revenue"]["count"], 8);
    assert_eq!(j["revenue"]["volume"], "13580000");
    assert_eq!(j["revenue"]["counterparties"], 6);
    assert_eq!(j["reconciliation"]["claims"], 2);
    assert_eq!(j["reconciliation"]["claimed_volume"], "1500000");
    assert_eq!(j["reconciliation"]["matched_claims"], 2);
    assert_eq!(j["resources"][0]["resource_url"], RESOURCE);
    assert_eq!(j["facilitators"], serde_json::json!(["cdp", "payai"]));
    let page = get(&app, &format!("/sellers/{}", seller1())).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("id=\"card-revenue\">13.58</div>"),
        "{}",
        page.body
    );
    assert!(page.body.contains(RESOURCE));
    // An address with no payments is an empty page, not an error.
    let j = get(&app, &format!("/api/v1/sellers/{}", addr(1)))
        .await
        .json();
    assert_eq!(j["revenue"]["count"], 0);

    let j = get(&app, &format!("/api/v1/buyers/{}", buyer(1)))
        .await
        .json();
    assert_eq!(j["spending"]["count"], 4);
    assert_eq!(j["spending"]["volume"], "4290000");
    assert_eq!(j["top_sellers"][0]["key"], seller1());
    let page = get(&app, &format!("/buyers/{}", buyer(1))).await;
    assert!(page.body.contains("id=\"card-spent\">4.29</div>"));

    let j = get(&app, "/api/v1/resources").await.json();
    let r = &j["items"][0];
    assert_eq!(r["resource_url"], RESOURCE);
    assert_eq!(r["count"], 2);
    assert_eq!(r["compliance"], "fail");
    assert_eq!(r["uptime_percent"], 100.0);
    assert_eq!(r["last_probe"]["status_code"], 402);
    assert_eq!(r["price_history"][0]["amount"], "1000");
    let page = get(&app, "/resources").await;
    assert!(page.body.contains("status-fail") && page.body.contains("0.001 (eip155:8453)"));
    assert_eq!(
        get(&app, "/api/v1/resources?format=csv")
            .await
            .body
            .lines()
            .count(),
        2
    );

    let q = x402scope_web::url_encode(RESOURCE);
    let j = get(&app, &format!("/api/v1/probe?url={q}")).await.json();
    assert_eq!(j["compliance"], "fail");
    assert_eq!(j["findings"][0]["rule_id"], "X402-001");
    assert_eq!(j["runs"].as_array().unwrap().len(), 1);
    let page = get(&app, &format!("/probe?url={q}")).await;
    assert!(
        page.body
            .contains("accepts[0].maxTimeoutSeconds is missing")
    );
    let j = get(&app, "/api/v1/probe?url=https://never.example/")
        .await
        .json();
    assert_eq!(j["compliance"], "unknown");
    assert!(
        get(&app, "/probe?url=https://never.example/")
            .await
            .body
            .contains("has not been probed yet")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_addresses_transactions_resources_and_facilitators() {
    let f = fixture().await;
    let app = app(&f.state);
    let redirect = |a: &Answer| a.headers[header::LOCATION].to_str().unwrap().to_owned();

    let a = get(&app, &format!("/search?q={}", seller2())).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(redirect(&a), format!("/sellers/{}", seller2()));
    let a = get(&app, &format!("/search?q={}", buyer(3))).await;
    assert_eq!(redirect(&a), format!("/buyers/{}", buyer(3)));
    let a = get(&app, &format!("/search?q={}", tx(4))).await;
    assert_eq!(redirect(&a), format!("/tx/{}", tx(4)));
    let a = get(&app, "/search?q=PayAI").await;
    assert_eq!(redirect(&a), "/facilitators/payai");
    // A resource has two pages: the list shows both.
    let a = get(
        &app,
        &format!("/search?q={}", x402scope_web::url_encode(RESOURCE)),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("/probe?url=") && a.body.contains("/transactions?resource="));
    let a = get(&app, "/search?q=nothing-like-this").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.body.contains("Nothing found"));

    let j = get(&app, &format!("/api/v1/search?q={}", tx(4)))
        .await
        .json();
    assert_eq!(j["kind"], "transaction");
    assert_eq!(j["hits"][0]["href"], format!("/tx/{}", tx(4)));
    let j = get(&app, &format!("/api/v1/search?q={}", seller1()))
        .await
        .json();
    assert_eq!(j["kind"], "address");
    assert_eq!(j["hits"].as_array().unwrap().len(), 1);
    let j = get(&app, "/api/v1/search?q=c").await.json();
    assert_eq!(j["hits"].as_array().unwrap().len(), 1, "cdp only: {j}");
}

/// Every validation failure: a 400 with a message naming what is wrong, from
/// the API as JSON and from the page as HTML.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_a_400_that_says_what_is_wrong() {
    let f = fixture().await;
    let app = app(&f.state);
    let long = "a".repeat(300);
    let cases: Vec<(String, &str)> = vec![
        (
            "/overview?range=1y".into(),
            "`range`: \"1y\" is not a range",
        ),
        (
            "/overview?network=base".into(),
            "`network`: \"base\" is not a CAIP-2 network id",
        ),
        ("/overview?organic=maybe".into(), "bad query string"),
        ("/overview?colour=red".into(), "unknown field `colour`"),
        (
            "/transactions?network=eip155".into(),
            "`network`: \"eip155\" is not a CAIP-2",
        ),
        (
            "/transactions?facilitator=a%20b".into(),
            "`facilitator`: \"a b\" is not a facilitator id",
        ),
        (
            "/transactions?payer=0x1234".into(),
            "`payer`: \"0x1234\" is not an address",
        ),
        (
            "/transactions?pay_to=hello".into(),
            "`pay_to`: \"hello\" is not an address",
        ),
        (
            "/transactions?resource=ftp://x".into(),
            "`resource`: \"ftp://x\" is not a resource URL",
        ),
        (
            "/transactions?min_amount=-1".into(),
            "`min_amount`: amount \"-1\" is not a decimal integer",
        ),
        (
            "/transactions?max_amount=1.5".into(),
            "`max_amount`: amount \"1.5\" is not a decimal integer",
        ),
        (
            format!("/transactions?max_amount={}", "9".repeat(78)),
            "does not fit in 256 bits",
        ),
        (
            "/transactions?limit=0".into(),
            "`limit`: 0 is out of range (1 to 500)",
        ),
        (
            "/transactions?limit=501".into(),
            "`limit`: 501 is out of range (1 to 500)",
        ),
        ("/transactions?limit=ten".into(), "bad query string"),
        ("/transactions?from=-5".into(), "`from`: -5 is out of range"),
        (
            "/transactions?to=99999999999".into(),
            "`to`: 99999999999 is out of range",
        ),
        (
            "/transactions?cursor=garbage".into(),
            "`cursor`: \"garbage\" is not a cursor",
        ),
        (
            "/transactions?format=xml".into(),
            "`format`: \"xml\" is not a format (json or csv)",
        ),
        ("/transactions?sort=asc".into(), "unknown field `sort`"),
        (
            "/tx/0x12".into(),
            "`tx_id`: \"0x12\" is not a transaction id",
        ),
        (
            "/facilitators?format=pdf".into(),
            "`format`: \"pdf\" is not a format",
        ),
        (
            "/facilitators/bad%20id".into(),
            "`id`: \"bad id\" is not a facilitator id",
        ),
        (
            "/networks?format=x".into(),
            "`format`: \"x\" is not a format",
        ),
        (
            "/sellers/0xnothex".into(),
            "`address`: \"0xnothex\" is not an address",
        ),
        ("/buyers/12".into(), "`address`: \"12\" is not an address"),
        (
            "/resources?format=x".into(),
            "`format`: \"x\" is not a format",
        ),
        ("/probe".into(), "`url`: missing"),
        (
            "/probe?url=notaurl".into(),
            "`url`: \"notaurl\" is not a resource URL",
        ),
        ("/search".into(), "`q`: the search text is empty"),
        ("/search?q=%20%20".into(), "`q`: the search text is empty"),
        (
            format!("/search?q={long}"),
            "`q`: the search text is longer than 256 characters",
        ),
    ];
    for (path, message) in &cases {
        let api = get(&app, &format!("/api/v1{path}")).await;
        assert_eq!(api.status, StatusCode::BAD_REQUEST, "{path}: {}", api.body);
        let j = api.json();
        assert_eq!(j["status"], 400);
        let error = j["error"].as_str().unwrap();
        assert!(
            error.contains(message),
            "{path}: {error:?} lacks {message:?}"
        );
        // The page of the same name answers the same 400, as HTML.
        let page_path = path.replacen("/overview", "/", 1);
        let page = get(&app, &page_path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{page_path}");
        assert!(
            page.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let escaped = message.replace('"', "&#34;");
        assert!(
            page.body.contains(message)
                || page.body.contains(&escaped)
                || page.body.contains(&message.replace('"', "&quot;")),
            "{page_path}: page lacks {message:?}\n{}",
            page.body
        );
    }
    // The API refuses empty values (pages take blank form fields as absent).
    for (path, name) in [
        ("/api/v1/transactions?network=", "network"),
        ("/api/v1/overview?range=&organic=true", "range"),
        ("/api/v1/facilitators?format", "format"),
    ] {
        let a = get(&app, path).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(
            a.json()["error"]
                .as_str()
                .unwrap()
                .contains(&format!("`{name}`: empty value")),
            "{path}: {}",
            a.body
        );
    }
    // An empty amount or time range is no error: it selects nothing.
    for path in [
        "/api/v1/transactions?min_amount=10&max_amount=5",
        "/api/v1/transactions?from=20&to=10",
        "/api/v1/transactions?from=20&to=20",
    ] {
        let a = get(&app, path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.json()["items"].as_array().unwrap().len(), 0, "{path}");
    }
    // Unknown paths are 404s in the matching format.
    let a = get(&app, "/api/v1/nothing").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(
        a.json()["error"]
            .as_str()
            .unwrap()
            .contains("/api/v1/nothing")
    );
    let a = get(&app, "/nothing").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.body.contains("no page or endpoint at /nothing"));
    let a = get(&app, &format!("/api/v1/tx/{}", tx(999))).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_cors_static_openapi_health_metrics_and_banner() {
    let f = fixture().await;
    let app = app(&f.state);
    for path in ["/", "/api/v1/overview", "/healthz", "/api/v1/nothing"] {
        let a = get(&app, path).await;
        let csp = a.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
            "{path}"
        );
        assert_eq!(a.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(a.headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(
            a.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "*",
            "{path}"
        );
    }
    let css = get(&app, "/static/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(css.body.contains(".card"));

    let doc = get(&app, "/api/v1/openapi.json").await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/overview",
        "/api/v1/transactions",
        "/api/v1/tx/{tx_id}",
        "/api/v1/facilitators",
        "/api/v1/facilitators/{id}",
        "/api/v1/networks",
        "/api/v1/sellers/{address}",
        "/api/v1/buyers/{address}",
        "/api/v1/resources",
        "/api/v1/probe",
        "/api/v1/search",
        "/healthz",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    // The documented patterns are the ones the validators use.
    let text = serde_json::to_string(&doc).unwrap();
    for pattern in [
        x402scope_web::validate::ADDRESS_PATTERN,
        x402scope_web::validate::TX_PATTERN,
        x402scope_web::validate::CAIP2_PATTERN,
        x402scope_web::validate::FACILITATOR_PATTERN,
        x402scope_web::validate::AMOUNT_PATTERN,
        x402scope_web::validate::RESOURCE_PATTERN,
        x402scope_web::validate::CURSOR_PATTERN,
    ] {
        assert!(
            text.contains(&serde_json::to_string(pattern).unwrap()),
            "{pattern} not documented"
        );
    }

    let h = get(&app, "/healthz").await.json();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["store"], "sqlite");
    assert_eq!(h["parts"][0]["name"], "evm:base");
    assert_eq!(h["parts"][0]["last_block"], 1012);
    assert_eq!(h["parts"][0]["lag"], 8);
    let m = get(&app, "/metrics").await;
    assert!(
        m.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(
        m.body
            .contains("x402scope_indexer_lag_blocks{part=\"evm:base\",kind=\"evm-indexer\"} 8")
    );
    assert!(
        m.body
            .contains("x402scope_rows_written_total{part=\"evm:base\",kind=\"evm-indexer\"} 11")
    );
    assert!(
        m.body
            .contains("x402scope_http_responses_total{class=\"2xx\"}")
    );
    assert!(!get(&app, "/").await.body.contains("class=\"banner\""));

    // A failing source shows in the banner of every page and in /healthz.
    f.state.status().update("evm:base", |p| {
        p.state = PartState::Unreachable;
        p.last_error = Some("eth_blockNumber: connection refused".into());
        p.retry_in_secs = Some(4);
        p.errors = 3;
    });
    for path in ["/", "/transactions", "/networks", "/nothing"] {
        let page = get(&app, path).await;
        if path == "/nothing" {
            continue;
        }
        assert!(
            page.body.contains(
                "evm:base is unreachable: eth_blockNumber: connection refused; retrying in 4 s"
            ),
            "{path}"
        );
    }
    let h = get(&app, "/healthz").await.json();
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["parts"][0]["state"], "unreachable");
    assert_eq!(
        h["parts"][0]["last_error"],
        "eth_blockNumber: connection refused"
    );
    assert!(
        get(&app, "/metrics")
            .await
            .body
            .contains("x402scope_source_errors_total{part=\"evm:base\",kind=\"evm-indexer\"} 3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_answers_429_past_the_burst_and_extra_routes_merge() {
    let f = fixture().await;
    let state = AppState::new(
        f.state.store().clone(),
        StatusBoard::new(),
        WebConfig {
            networks: vec![],
            cache_ttl: Duration::ZERO,
            rate_limit: Some(RateLimit {
                per_second: 1,
                burst: 3,
            }),
        },
    );
    let extra = Router::new().route("/extra", axum::routing::get(|| async { "extra" }));
    let app = x402scope_web::app(state, extra).layer(axum::Extension(ConnectInfo(
        SocketAddr::from(([127, 0, 0, 1], 9)),
    )));
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(get(&app, "/extra").await.status);
    }
    assert_eq!(&codes[..3], &[StatusCode::OK; 3]);
    assert_eq!(codes[4], StatusCode::TOO_MANY_REQUESTS);
    let limited = get(&app, "/healthz").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_added_for_merged_routes_show_in_every_pages_navigation() {
    let f = fixture().await;
    f.state.add_nav("/kyt", "KYT review");
    let extra = Router::new().route("/kyt", axum::routing::get(|| async { "queue" }));
    let app = x402scope_web::app(f.state.clone(), extra);
    for path in ["/", "/transactions", "/networks", "/resources"] {
        let page = get(&app, path).await;
        assert!(
            page.body.contains("<a href=\"/kyt\">KYT review</a>"),
            "{path}\n{}",
            page.body
        );
    }
    assert_eq!(get(&app, "/kyt").await.body, "queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_report_exports_csv() {
    let f = fixture().await;
    let app = app(&f.state);
    let q = x402scope_web::url_encode(RESOURCE);
    let csv = get(&app, &format!("/api/v1/probe?url={q}&format=csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("probe-report.csv")
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 3, "{}", csv.body);
    assert!(lines[0].starts_with("kind,url,run_id,started_at,status_code"));
    assert!(lines[1].starts_with(&format!("run,{RESOURCE},run1,")));
    assert!(lines[1].contains(",402,42,"));
    assert!(
        lines[2].starts_with(&format!("finding,{RESOURCE},run1,,,,,X402-001,must,")),
        "{}",
        lines[2]
    );
    // The page links it, and `format=csv` on the page sends there.
    let page = get(&app, &format!("/probe?url={q}")).await;
    assert!(
        page.body.contains(&format!(
            "id=\"probe-csv\" href=\"/api/v1/probe?url={q}&#38;format=csv\""
        )),
        "{}",
        page.body
    );
    let r = get(&app, &format!("/probe?url={q}&format=csv")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers[header::LOCATION],
        format!("/api/v1/probe?url={q}&format=csv").as_str()
    );
    // A bad format is a 400 from both.
    for path in [
        format!("/api/v1/probe?url={q}&format=xls"),
        format!("/probe?url={q}&format=xls"),
    ] {
        let a = get(&app, &path).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(
            a.body.contains("`format`: ") && a.body.contains("is not a format (json or csv)"),
            "{path}: {}",
            a.body
        );
    }
}
