//! `x402scope serve` through the real binary: with its only source unreachable
//! it answers within 2 s, shows the failing source in /healthz and in the
//! banner, keeps serving the API, and stops gracefully on SIGINT; with zero
//! configuration it uses Base and Solana mainnet and ./x402scope.db.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use x402scope_testkit::http::get as http_get;

struct Server {
    child: Child,
    addr: String,
    stdout: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `serve` and wait for the line that gives its address.
fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_x402scope"));
    cmd.current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("serve printed no address");
    let addr = line
        .strip_prefix("x402scope serving on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Server {
        child,
        addr,
        stdout: rx,
    }
}

fn stop(mut server: Server) -> (bool, Vec<String>) {
    Command::new("kill")
        .args(["-INT", &server.child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    let lines: Vec<String> = server.stdout.try_iter().collect();
    (status.success(), lines)
}

#[test]
fn serve_answers_within_two_seconds_and_shows_an_unreachable_source() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("x402scope.toml");
    // Nothing listens on the discard port: every RPC call is refused.
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[chains.base]\nchain_id = 8453\nrpc_urls = [\"http://127.0.0.1:9\"]\n\n[solana]\nrpc_url = \"http://127.0.0.1:9\"\nnetwork = \"solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp\"\n\n[serve]\nlisten = \"127.0.0.1:0\"\n",
            dir.path().join("x.db").display()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let server = start(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "serve"],
        &[],
    );
    let answered = loop {
        if let Ok((200, body)) = http_get(&server.addr, "/healthz") {
            break (started.elapsed(), body);
        }
        assert!(started.elapsed() < Duration::from_secs(5), "no answer");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        answered.0 < Duration::from_secs(2),
        "first answer after {:?}",
        answered.0
    );

    // The failing source shows in /healthz, within the same 2 s.
    let health = loop {
        let (_, body) = http_get(&server.addr, "/healthz").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let part = v["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "evm:base")
            .cloned()
            .unwrap();
        if part["state"] == "unreachable" {
            break (started.elapsed(), v, part);
        }
        assert!(started.elapsed() < Duration::from_secs(5), "not shown: {v}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        health.0 < Duration::from_secs(2),
        "shown after {:?}",
        health.0
    );
    assert_eq!(health.1["status"], "degraded");
    assert_eq!(health.2["network"], "eip155:8453");
    assert!(
        health.2["last_error"]
            .as_str()
            .unwrap()
            .contains("eth_blockNumber"),
        "{}",
        health.2
    );
    assert!(health.2["retry_in_secs"].as_u64().unwrap() >= 1);
    let web = health.1["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "web")
        .cloned()
        .unwrap();
    assert_eq!(web["state"], "running");
    // The Solana source is shown unreachable too, within the same 2 s.
    let solana = loop {
        let (_, body) = http_get(&server.addr, "/healthz").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let part = v["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "solana")
            .cloned()
            .unwrap_or_else(|| panic!("no solana part: {v}"));
        if part["state"] == "unreachable" {
            break part;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "not shown: {v}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        !solana["last_error"].as_str().unwrap().is_empty(),
        "{solana}"
    );

    // The dashboard shows it in its banner and keeps serving the store.
    let (status, page) = http_get(&server.addr, "/").unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("class=\"banner\""), "{page}");
    assert!(
        page.contains("evm:base is unreachable: eth_blockNumber"),
        "{page}"
    );
    let (status, api) = http_get(&server.addr, "/api/v1/overview?range=all").unwrap();
    assert_eq!(status, 200);
    assert!(api.contains("\"count\":0"), "{api}");
    let (_, metrics) = http_get(&server.addr, "/metrics").unwrap();
    assert!(
        metrics.contains("x402scope_part_up{part=\"evm:base\",kind=\"evm-indexer\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("x402scope_part_up{part=\"web\",kind=\"web\"} 1"),
        "{metrics}"
    );

    let (ok, lines) = stop(server);
    assert!(ok, "serve exited with an error");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("stopped; everything committed is kept")),
        "{lines:?}"
    );
}

#[test]
fn zero_config_serve_uses_base_and_solana_mainnet_and_the_local_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    // The indexer is switched off, so the test sends nothing to the public RPC;
    // the part is still listed with the default chain.
    let server = start(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:0"],
        &[("X402SCOPE_SERVE__INDEXERS", "false")],
    );
    let (status, body) = http_get(&server.addr, "/healthz").unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let part = v["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "evm:base")
        .cloned()
        .unwrap();
    assert_eq!(part["network"], "eip155:8453");
    assert_eq!(part["state"], "disabled");
    let solana = v["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "solana")
        .cloned()
        .unwrap_or_else(|| panic!("no solana part: {v}"));
    assert_eq!(solana["network"], "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp");
    assert_eq!(solana["state"], "disabled");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["store"], "sqlite");
    assert!(dir.path().join("x402scope.db").exists());
    let (ok, _) = stop(server);
    assert!(ok);
}

/// A request with an optional bearer key: (status, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let auth = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    x402scope_testkit::http::request(addr, method, path, &headers, body, Duration::from_secs(5))
}

#[test]
fn serve_runs_the_crawler_probe_kyt_and_webhook_parts_and_mounts_their_routes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("x402scope.toml");
    // The crawler is switched off (it would reach the facilitators' public
    // lists); the others run. One webhook source is configured.
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[serve]\nlisten = \"127.0.0.1:0\"\nindexers = false\ndisable = [\"crawler\"]\n\n[webhooks.sources.shop]\nkind = \"x402\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n",
            dir.path().join("x.db").display()
        ),
    )
    .unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let migrated = Command::new(env!("CARGO_BIN_EXE_x402scope"))
        .args(["--config", cfg_s, "migrate"])
        .output()
        .unwrap();
    assert!(migrated.status.success());
    // A reviewer key, made with the CLI on the same store.
    let out = Command::new(env!("CARGO_BIN_EXE_x402scope"))
        .args([
            "--config",
            cfg_s,
            "screen",
            "keys",
            "create",
            "--reviewer",
            "ann",
            "--scopes",
            "kyt:read",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(!key.is_empty());

    let server = start(dir.path(), &["--config", cfg_s, "serve"], &[]);
    let (status, body) = http_get(&server.addr, "/healthz").unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let state = |name: &str| {
        v["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["state"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|| panic!("no part {name} in {body}"))
    };
    assert_eq!(state("crawler"), "disabled");
    for part in ["probe", "kyt", "webhooks"] {
        assert_ne!(state(part), "disabled", "{part}: {body}");
    }

    // KYT routes are mounted, and never public.
    assert_eq!(http(&server.addr, "GET", "/kyt", None, "").unwrap().0, 401);
    assert_eq!(
        http(&server.addr, "GET", "/api/v1/kyt/alerts", None, "")
            .unwrap()
            .0,
        401
    );
    let (status, body) = http(&server.addr, "GET", "/api/v1/kyt/alerts", Some(&key), "").unwrap();
    assert_eq!(status, 200, "{body}");
    // The webhook receiver is mounted: an unsigned delivery is refused, an
    // unknown source is not found.
    assert_eq!(
        http(&server.addr, "POST", "/webhooks/shop", None, "{}")
            .unwrap()
            .0,
        401
    );
    assert_eq!(
        http(&server.addr, "POST", "/webhooks/nope", None, "{}")
            .unwrap()
            .0,
        404
    );
    assert_eq!(state("webhook-receiver"), "running");
    // Every page links the KYT review queue.
    let (_, page) = http_get(&server.addr, "/").unwrap();
    assert!(page.contains("<a href=\"/kyt\">KYT review</a>"), "{page}");
    // A signed delivery is stored; /metrics counts every answer by source
    // and outcome.
    let body = settlement_event();
    let ts = x402scope_ingest::webhooks::unix_now();
    let secret =
        x402scope_ingest::signature::Secret::whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
    let sig = x402scope_ingest::signature::sign_standard(&secret, "msg_1", ts, body.as_bytes());
    let ts = ts.to_string();
    let headers = [
        ("Content-Type", "application/json"),
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", sig.as_str()),
    ];
    for _ in 0..2 {
        let (status, reply) = x402scope_testkit::http::request(
            &server.addr,
            "POST",
            "/webhooks/shop",
            &headers,
            &body,
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(status, 200, "{reply}");
    }
    let (_, metrics) = http_get(&server.addr, "/metrics").unwrap();
    for series in [
        "x402scope_webhook_deliveries_total{source=\"shop\",outcome=\"accepted\"} 1",
        "x402scope_webhook_deliveries_total{source=\"shop\",outcome=\"duplicate\"} 1",
        "x402scope_webhook_deliveries_total{source=\"shop\",outcome=\"rejected_signature\"} 1",
        "x402scope_webhook_deliveries_total{source=\"(unknown)\",outcome=\"unknown_source\"} 1",
        "x402scope_store_up 1",
    ] {
        assert!(metrics.contains(series), "{series}\n{metrics}");
    }

    let (ok, _) = stop(server);
    assert!(ok);
}

fn settlement_event() -> String {
    serde_json::json!({
        "type": "x402.settlement.succeeded",
        "timestamp": 1_700_000_001u64,
        "data": {
            "resource": {"url": "http://seller.test/item/1", "mimeType": "application/json"},
            "facilitator": "http://facilitator.test",
            "accepted": {
                "scheme": "exact",
                "network": "eip155:84532",
                "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                "amount": "1000",
                "payTo": "0x00000000000000000000000000000000000000aa",
                "maxTimeoutSeconds": 300,
                "extra": {"name": "USDC", "version": "2"}
            },
            "settleResponse": {
                "success": true,
                "transaction": format!("0x{:064x}", 1),
                "network": "eip155:84532",
                "payer": "0x00000000000000000000000000000000000000bb"
            }
        }
    })
    .to_string()
}

#[test]
fn the_webhook_receiver_can_be_turned_off_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("x402scope.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[serve]\nlisten = \"127.0.0.1:0\"\nindexers = false\ndisable = [\"crawler\", \"probe\", \"kyt\", \"webhook-receiver\"]\n\n[webhooks.sources.shop]\nkind = \"x402\"\nsecrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n",
            dir.path().join("x.db").display()
        ),
    )
    .unwrap();
    let server = start(
        dir.path(),
        &["--config", cfg.to_str().unwrap(), "serve"],
        &[],
    );
    let (_, body) = http_get(&server.addr, "/healthz").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let state = |name: &str| {
        v["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["state"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|| panic!("no part {name} in {body}"))
    };
    assert_eq!(state("webhook-receiver"), "disabled");
    assert_ne!(state("webhooks"), "disabled", "the processor still runs");
    assert_eq!(
        http(&server.addr, "POST", "/webhooks/shop", None, "{}")
            .unwrap()
            .0,
        404,
        "the route is not mounted"
    );
    let (_, metrics) = http_get(&server.addr, "/metrics").unwrap();
    assert!(
        !metrics.contains("x402scope_webhook_deliveries_total"),
        "{metrics}"
    );
    let (ok, _) = stop(server);
    assert!(ok);
}
