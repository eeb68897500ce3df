//! `x402scope probe URL` through the real binary, against sellers on loopback.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use base64::Engine;

/// A seller on 127.0.0.1 answering in a thread; `crash` makes it answer 500 to
/// an undecodable payment header.
fn seller(crash: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
            let payment = head
                .lines()
                .find_map(|l| l.strip_prefix("payment-signature:"))
                .map(|v| v.trim().to_owned());
            let doc = serde_json::json!({"x402Version": 2, "error": "Payment required",
                "resource": {"url": format!("http://{addr}/weather")},
                "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": "1000",
                    "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                    "payTo": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
                    "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}}]});
            let b64 = base64::engine::general_purpose::STANDARD.encode(doc.to_string());
            let decodable = payment
                .as_deref()
                .is_none_or(|p| base64::engine::general_purpose::STANDARD.decode(p).is_ok());
            let response = if crash && !decodable {
                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\noops".to_owned()
            } else {
                format!(
                    "HTTP/1.1 402 Payment Required\r\npayment-required: {b64}\r\naccess-control-expose-headers: PAYMENT-REQUIRED\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
                )
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}/weather")
}

fn x402scope(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_x402scope"))
        .current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .output()
        .unwrap()
}

fn with_loopback() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x402scope.toml"),
        "[probe]\nallow_loopback = true\ntotal_timeout_secs = 5\nper_host_per_minute = 6000\n",
    )
    .unwrap();
    dir
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_compliant_seller_passes_with_exit_0() {
    let url = seller(false);
    let dir = with_loopback();
    let out = x402scope(dir.path(), &["probe", &url]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("x402 v2"), "{stdout}");
    assert!(
        stdout.contains("findings: 0 must, 0 should, 0 interop"),
        "{stdout}"
    );
    assert!(stdout.contains("result: PASS"), "{stdout}");
}

#[test]
fn a_must_failure_exits_1_in_text_and_json() {
    let url = seller(true);
    let dir = with_loopback();
    let out = x402scope(dir.path(), &["probe", &url]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("MUST    X402-R18"), "{stdout}");
    assert!(stdout.contains("result: FAIL (1 MUST)"), "{stdout}");

    let out = x402scope(dir.path(), &["probe", &url, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["x402_version"], 2);
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);
    assert_eq!(report["findings"][0]["rule"], "X402-R18");
    assert_eq!(report["findings"][0]["severity"], "must");
    assert_eq!(report["findings"][0]["evidence"]["status"], 500);
    assert_eq!(report["exchanges"][2]["purpose"], "malformed_payment");
}

#[test]
fn a_listing_with_another_pay_to_fails_with_drift() {
    let url = seller(false);
    let dir = with_loopback();
    let listing = dir.path().join("listing.json");
    std::fs::write(
        &listing,
        serde_json::json!({"x402Version": 2, "items": [{"resource": url, "type": "http", "x402Version": 2,
            "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": "1000",
                "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                "payTo": "0x000000000000000000000000000000000000bEEF"}]}]})
        .to_string(),
    )
    .unwrap();
    let out = x402scope(
        dir.path(),
        &["probe", &url, "--listing", listing.to_str().unwrap()],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("X402-D01"), "{stdout}");
    assert!(stdout.contains("high severity"), "{stdout}");
}

#[test]
fn without_the_switch_loopback_is_refused() {
    let url = seller(false);
    let dir = tempfile::tempdir().unwrap();
    let out = x402scope(dir.path(), &["probe", &url]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("refused to connect to 127.0.0.1"),
        "{stderr}"
    );
    assert!(stderr.contains("loopback"), "{stderr}");
}

#[test]
fn probe_all_once_stores_runs_and_findings_for_the_listed_resources() {
    let good = seller(false);
    let crashing = seller(true);
    let dir = with_loopback();
    let db = dir.path().join("x402scope.db");
    let store_url = format!("sqlite://{}", db.display());
    let out = x402scope(dir.path(), &["--store", &store_url, "migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Listing snapshots as the Bazaar crawler stores them.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = x402scope_store::StoreUrl::Sqlite(db.clone());
    rt.block_on(async {
        let store = x402scope_store::open(&url).await.unwrap();
        let snapshot = |resource: &str, pay_to: &str| x402scope_store::ListingSnapshot {
            source: "test".into(),
            resource: resource.into(),
            accept_index: 0,
            snapshot_hash: format!("h-{resource}"),
            observed_at: 1_700_000_000,
            scheme: "exact".into(),
            network: "eip155:84532".into(),
            asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e".into(),
            pay_to: pay_to.into(),
            amount: x402scope_core::Amount::from_u64(1000),
            raw: serde_json::json!({"resource": resource, "accepts": [{"outputSchema": {"input": {"method": "GET"}}}]}).to_string(),
        };
        store
            .insert_listings(vec![
                snapshot(&good, "0x90F79bf6EB2c4f870365E785982E1f101E93b906"),
                snapshot(&crashing, "0x000000000000000000000000000000000000bEEF"),
            ])
            .await
            .unwrap();
    });
    let out = x402scope(
        dir.path(),
        &["--store", &store_url, "probe", "--all", "--once"],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("2 probe runs stored, 1 failing"),
        "{stdout}"
    );
    rt.block_on(async {
        let store = x402scope_store::open(&url).await.unwrap();
        let runs = store.probe_runs(&good, 10).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status_code, 402);
        assert_eq!(runs[0].error, "");
        assert!(store.probe_findings(&runs[0].id).await.unwrap().is_empty());
        let runs = store.probe_runs(&crashing, 10).await.unwrap();
        assert_eq!(runs.len(), 1);
        let rules: Vec<String> = store
            .probe_findings(&runs[0].id)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.rule_id)
            .collect();
        assert_eq!(rules, ["X402-D01", "X402-R18"]);
    });
}

#[test]
fn probe_pay_pays_once_against_the_reference_stack_then_the_cap_refuses() {
    let stack = x402scope_testkit::x402::X402Stack::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x402scope.db");
    let price = stack.info.price_atomic.clone().unwrap();
    std::fs::write(
        dir.path().join("x402scope.toml"),
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[probe]\nallow_loopback = true\ntotal_timeout_secs = 30\n\n[probe.paid]\nprivate_key = \"{}\"\nmax_per_day = \"{price}\"\nmax_total = \"{}\"\n",
            db.display(),
            stack.info.accounts.payer.key,
            price.parse::<u64>().unwrap() * 10
        ),
    )
    .unwrap();
    assert!(x402scope(dir.path(), &["migrate"]).status.success());
    // The key never appears in `config check`.
    let out = x402scope(dir.path(), &["config", "check"]);
    let printed = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !printed.contains(&stack.info.accounts.payer.key),
        "{printed}"
    );
    assert!(printed.contains("<redacted>"), "{printed}");

    let url = stack.paid_url().unwrap();
    let out = x402scope(dir.path(), &["probe", url, "--pay"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("Paid     HTTP 200"), "{stdout}");
    assert!(stdout.contains("settlement: 0x"), "{stdout}");
    assert!(!stdout.contains("Replay   HTTP 200"), "{stdout}");
    assert!(stdout.contains("result: PASS"), "{stdout}");

    // The daily cap allows exactly one payment: the ledger in the store says so.
    let out = x402scope(dir.path(), &["probe", url, "--pay"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(stderr.contains("would exceed the daily cap"), "{stderr}");
}
