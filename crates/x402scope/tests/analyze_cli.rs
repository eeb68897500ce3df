//! `x402scope analyze` and `x402scope report seller` through the real binary,
//! and the same report from `serve` (its analysis part and the API route): the
//! CSV's counted amounts, the JSON totals, the API's and the store's agree.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use x402scope_core::Amount;
use x402scope_store::{Claim, Filter, Payment, StoreUrl, migrate, open};
use x402scope_testkit::http::get as http_get;

const NET: &str = "eip155:84532";
const USDC: &str = "0x036cbd53842c5426634e7929541ec2318f3dcf7e";
const SELLER: &str = "0x00000000000000000000000000000000000000aa";

fn payment(n: u64, payer: &str, amount: u64, t: i64) -> Payment {
    Payment {
        chain: NET.into(),
        tx_id: format!("0x{n:064x}"),
        idx_outer: 0,
        idx_inner: 0,
        block_number: n,
        block_hash: format!("0x{:064x}", n + 9_000),
        block_time: t,
        asset: USDC.into(),
        payer: payer.into(),
        pay_to: SELLER.into(),
        amount: Amount::from_u64(amount),
        nonce: format!("0x{:064x}", n + 500),
        facilitator: "fac".into(),
        tx_from: "0x00000000000000000000000000000000000000fa".into(),
        method: "eip3009".into(),
        is_final: true,
        is_organic: true,
    }
}

fn x402scope(store: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_x402scope"))
        .args(["--store", store, "--log-level", "warn"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The sum of `amount` over rows with `counted` = 1.
fn csv_counted(csv: &str) -> u64 {
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c[col("counted")] == "1")
        .map(|c| c[col("amount")].parse::<u64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_then_report_seller_agrees_with_the_store_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let store_url = StoreUrl::parse(&url).unwrap();
    migrate(&store_url).await.unwrap();
    let store = open(&store_url).await.unwrap();
    let t = 1_780_000_000;
    let payments = vec![
        payment(1, "0x00000000000000000000000000000000000000b1", 1000, t),
        payment(
            2,
            "0x00000000000000000000000000000000000000b2",
            2000,
            t + 10,
        ),
        payment(
            3,
            "0x00000000000000000000000000000000000000b3",
            3000,
            t + 20,
        ),
    ];
    store.commit_payments(payments, vec![], None).await.unwrap();
    store
        .insert_claims(vec![Claim {
            source: "shop".into(),
            claim_id: "c1".into(),
            network: NET.into(),
            tx_id: format!("0x{:064x}", 2),
            payer: "0x00000000000000000000000000000000000000b2".into(),
            pay_to: SELLER.into(),
            asset: USDC.into(),
            amount: Amount::from_u64(2000),
            resource_url: "https://shop.test/x".into(),
            facilitator: "fac".into(),
            success: true,
            claimed_at: t + 10,
            reference: String::new(),
        }])
        .await
        .unwrap();
    drop(store);

    let summary: serde_json::Value =
        serde_json::from_str(&x402scope(&url, &["analyze", "--json"])).unwrap();
    assert_eq!(summary["by_status"]["matched"], 1, "{summary}");
    assert_eq!(
        summary["by_status"]["transfer_without_claim"], 2,
        "{summary}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&x402scope(&url, &["report", "seller", SELLER])).unwrap();
    assert_eq!(json["totals"]["received"], "6000");
    assert_eq!(json["totals"]["claimed"], "2000");
    assert_eq!(json["by_status"]["matched"].as_array().unwrap().len(), 1);
    let csv = x402scope(&url, &["report", "seller", SELLER, "--csv"]);
    assert_eq!(csv_counted(&csv), 6000);
    assert_eq!(csv.lines().count(), 4, "a header, one claim, two payments");
    let narrow = x402scope(
        &url,
        &[
            "report",
            "seller",
            SELLER,
            "--from",
            &(t + 5).to_string(),
            "--to",
            &(t + 15).to_string(),
            "--csv",
        ],
    );
    assert_eq!(csv_counted(&narrow), 2000);

    let store = open(&store_url).await.unwrap();
    let overview = store
        .overview(&Filter {
            pay_to: Some(SELLER.into()),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(overview.volume, Amount::from_u64(6000));
    drop(store);

    // serve: the analysis part runs and the report route answers the same.
    let mut child = Command::new(env!("CARGO_BIN_EXE_x402scope"))
        .args([
            "--store",
            &url,
            "--log-level",
            "warn",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("X402SCOPE_SERVE__INDEXERS", "false")
        .env(
            "X402SCOPE_SERVE__DISABLE",
            "[\"crawler\", \"probe\", \"kyt\"]",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("x402scope serving on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let (_, body) = http_get(&addr, "/healthz").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let part = v["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "analysis")
            .cloned()
            .unwrap();
        if part["last_ok_at"].is_number() || Instant::now() > deadline {
            break part;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(health["last_ok_at"].is_number(), "{health}");
    let (status, body) = http_get(&addr, &format!("/api/v1/sellers/{SELLER}/report")).unwrap();
    assert_eq!(status, 200, "{body}");
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(api["totals"], json["totals"]);
    let (status, api_csv) = http_get(
        &addr,
        &format!("/api/v1/sellers/{SELLER}/report?format=csv"),
    )
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(csv_counted(&api_csv), 6000);
    // The seller page and its API twin show the same run's statuses.
    let (status, body) = http_get(&addr, &format!("/api/v1/sellers/{SELLER}")).unwrap();
    assert_eq!(status, 200, "{body}");
    let seller: serde_json::Value = serde_json::from_str(&body).unwrap();
    let statuses = &seller["reconciliation"]["statuses"];
    assert_eq!(
        statuses,
        &serde_json::json!([
            {"status": "matched", "rows": 1, "amount": "2000"},
            {"status": "transfer_without_claim", "rows": 2, "amount": "4000"},
        ]),
        "{seller}"
    );
    let (status, page) = http_get(&addr, &format!("/sellers/{SELLER}")).unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("<td>transfer_without_claim</td><td class=\"num\">2</td>"),
        "{page}"
    );
    assert!(page.contains(&format!("/api/v1/sellers/{SELLER}/report?format=csv")));
    let _ = child.kill();
    let _ = child.wait();
}
