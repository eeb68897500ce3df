//! The dashboard in a real browser: Debian's headless chromium, driven over
//! WebDriver (chromedriver) from Rust. Settlements are generated on anvil,
//! indexed by `x402scope serve`, and the overview, a seller page and the
//! transactions page must show the same figures as the API. Screenshots are
//! saved under the target directory (`CARGO_TARGET_TMPDIR/browser/`).

#![allow(clippy::unwrap_used)]

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};
use x402scope_testkit::http::get as http_get;
use x402scope_testkit::process::OwnedChild;
use x402scope_testkit::settlements::{Plan, generate};
use x402scope_testkit::x402::X402Stack;

fn api(addr: &str, path: &str) -> Value {
    let (status, body) = http_get(addr, path).unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_api_figures_in_chromium() {
    for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            std::path::Path::new(bin).exists(),
            "{bin} is missing: tests/run.sh installs Debian's chromium and chromium-driver"
        );
    }
    // The end-to-end dataset: settlements on anvil, indexed by serve.
    let stack = X402Stack::start_chain_only().unwrap();
    let generated = generate(&stack.info, &Plan::new(40)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("x402scope.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[chains.dev]\nchain_id = 84532\nrpc_urls = [\"{}\"]\nconfirmations = 0\nmax_range = 50\n\n[serve]\nlisten = \"127.0.0.1:0\"\ncache_ttl_secs = 0\nrate_limit_per_second = 0\n",
            dir.path().join("x.db").display(),
            stack.info.rpc
        ),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_x402scope"));
    cmd.args([
        "--config",
        cfg.to_str().unwrap(),
        "--log-level",
        "error",
        "serve",
    ]);
    let mut serve = OwnedChild::spawn("x402scope serve", cmd).unwrap();
    let line = serve.first_line(Duration::from_secs(20)).unwrap();
    let addr = line
        .trim()
        .strip_prefix("x402scope serving on http://")
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let overview = loop {
        let o = api(&addr, "/api/v1/overview?range=all");
        if o["totals"]["count"] == generated.settlements.len() as u64 {
            break o;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not indexed: {o}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // chromedriver, and a headless chromium with a fresh profile.
    let port = x402scope_testkit::free_port().unwrap();
    let mut driver_cmd = Command::new("/usr/bin/chromedriver");
    driver_cmd.arg(format!("--port={port}"));
    let _driver = OwnedChild::spawn("chromedriver", driver_cmd).unwrap();
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1600",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    // More than one rustls crypto provider is enabled in this build: pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    let text = |id: &'static str| {
        let client = client.clone();
        async move {
            client
                .find(Locator::Id(id))
                .await
                .unwrap_or_else(|e| panic!("#{id}: {e}"))
                .text()
                .await
                .unwrap()
        }
    };
    let shots = artifacts();

    // Overview: the four cards equal the API's totals.
    let base = format!("http://{addr}");
    client.goto(&format!("{base}/?range=all")).await.unwrap();
    assert_eq!(
        text("card-count").await,
        overview["totals"]["count"].to_string()
    );
    assert_eq!(
        text("card-volume").await,
        overview["totals"]["volume_units"].as_str().unwrap()
    );
    assert_eq!(
        text("card-buyers").await,
        overview["totals"]["buyers"].to_string()
    );
    assert_eq!(
        text("card-sellers").await,
        overview["totals"]["sellers"].to_string()
    );
    let charts = client.find_all(Locator::Css("svg.chart")).await.unwrap();
    assert_eq!(charts.len(), 4);
    std::fs::write(
        shots.join("overview.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();

    // The top seller's page.
    let seller = overview["top_sellers"][0]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = api(&addr, &format!("/api/v1/sellers/{seller}"));
    client
        .goto(&format!("{base}/sellers/{seller}"))
        .await
        .unwrap();
    assert_eq!(text("address").await, seller);
    assert_eq!(text("card-count").await, s["revenue"]["count"].to_string());
    assert_eq!(
        text("card-revenue").await,
        s["revenue"]["volume_units"].as_str().unwrap()
    );
    assert_eq!(
        text("card-buyers").await,
        s["revenue"]["counterparties"].to_string()
    );
    let expected: u64 = generated
        .settlements
        .iter()
        .filter(|x| format!("{:#x}", x.pay_to) == seller)
        .count() as u64;
    assert_eq!(s["revenue"]["count"], expected, "the API matches the chain");
    std::fs::write(shots.join("seller.png"), client.screenshot().await.unwrap()).unwrap();

    // Transactions: the rows shown are the API's page, in order.
    let t = api(&addr, "/api/v1/transactions?limit=15");
    client
        .goto(&format!("{base}/transactions?limit=15"))
        .await
        .unwrap();
    let rows = client
        .find_all(Locator::Css("table.tx tbody tr"))
        .await
        .unwrap();
    let items = t["items"].as_array().unwrap();
    assert_eq!(rows.len(), items.len());
    let links = client
        .find_all(Locator::Css("table.tx tbody tr td:nth-child(3) a"))
        .await
        .unwrap();
    for (link, item) in links.iter().zip(items) {
        assert_eq!(
            link.attr("title").await.unwrap().as_deref(),
            item["tx_id"].as_str()
        );
    }
    let amounts = client
        .find_all(Locator::Css("table.tx td.amount"))
        .await
        .unwrap();
    for (cell, item) in amounts.iter().zip(items) {
        assert_eq!(
            cell.text().await.unwrap(),
            item["amount_units"].as_str().unwrap()
        );
    }
    assert_eq!(
        text("row-count").await,
        format!("{} payments on this page", items.len())
    );
    std::fs::write(
        shots.join("transactions.png"),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
    // The next page link continues the keyset.
    client
        .find(Locator::Id("next-page"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let next = api(
        &addr,
        &format!(
            "/api/v1/transactions?limit=15&cursor={}",
            t["next"].as_str().unwrap()
        ),
    );
    let rows = client
        .find_all(Locator::Css("table.tx tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), next["items"].as_array().unwrap().len());

    client.close().await.unwrap();
    for name in ["overview.png", "seller.png", "transactions.png"] {
        let png = std::fs::read(shots.join(name)).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}");
    }
}
