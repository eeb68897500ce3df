//! `x402scope webhooks serve` as a real process: SIGKILL it right after it has
//! answered 2xx to a burst of deliveries, restart it, and every acknowledged
//! event becomes a claim.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use x402scope_ingest::signature::{Secret, sign_standard};
use x402scope_store::StoreUrl;
use x402scope_testkit::process::OwnedChild;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const EVENTS: u64 = 400;

fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("x402scope.toml");
    let text = format!(
        "[store]\nurl = \"sqlite://{}\"\n\n[webhooks.sources.shop]\nkind = \"x402\"\nsecrets = [\"{SECRET}\"]\n",
        dir.join("x.db").display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn start(config: &Path) -> (OwnedChild, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_x402scope"));
    cmd.arg("--config")
        .arg(config)
        .args(["webhooks", "serve", "--listen", "127.0.0.1:0"]);
    let mut child = OwnedChild::spawn("x402scope webhooks serve", cmd).expect("spawn");
    let line = child
        .first_line(Duration::from_secs(30))
        .expect("it prints its address");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("the address line")
        .to_owned();
    (child, url)
}

fn event(n: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "x402.settlement.succeeded",
        "timestamp": 1_700_000_000u64 + n,
        "data": {
            "resource": format!("http://seller.test/item/{n}"),
            "facilitator": "http://facilitator.test",
            "accepted": {"scheme": "exact", "network": "eip155:84532", "asset": "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
                         "amount": "1000", "payTo": "0x00000000000000000000000000000000000000aa", "maxTimeoutSeconds": 60},
            "settleResponse": {"success": true, "transaction": format!("0x{n:064x}"), "network": "eip155:84532",
                               "payer": "0x00000000000000000000000000000000000000bb"}
        }
    }))
    .expect("json")
}

#[test]
fn sigkill_right_after_2xx_loses_no_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_x402scope"))
        .arg("--config")
        .arg(&config)
        .arg("migrate")
        .output()
        .expect("migrate runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (mut child, url) = start(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let secret = Secret::whsec(SECRET).expect("secret");
    let acknowledged = runtime.block_on(async {
        let client = reqwest::Client::new();
        let workers = (0..16u64).map(|w| {
            let client = client.clone();
            let url = url.clone();
            let secret = secret.clone();
            async move {
                let mut ok = 0u64;
                for n in (w..EVENTS).step_by(16) {
                    let body = event(n);
                    let id = format!("msg_{n}");
                    let ts = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64);
                    let resp = client
                        .post(format!("{url}/webhooks/shop"))
                        .header("webhook-id", &id)
                        .header("webhook-timestamp", ts.to_string())
                        .header("webhook-signature", sign_standard(&secret, &id, ts, &body))
                        .body(body)
                        .send()
                        .await
                        .expect("delivery");
                    assert_eq!(resp.status().as_u16(), 200);
                    ok += 1;
                }
                ok
            }
        });
        futures::future::join_all(workers)
            .await
            .into_iter()
            .sum::<u64>()
    });
    // Right after the last 2xx: SIGKILL, no chance to finish anything.
    child.kill();
    assert!(!child.is_running());
    assert_eq!(acknowledged, EVENTS);

    let url_store =
        StoreUrl::parse(&format!("sqlite://{}", dir.path().join("x.db").display())).expect("url");
    let (claims_at_kill, pending_at_kill) = runtime.block_on(async {
        let store = x402scope_store::open(&url_store).await.expect("open");
        let claims = store.claims().await.expect("claims").len();
        let pending = store.inbox_pending(10_000).await.expect("inbox").len();
        (claims, pending)
    });
    eprintln!("at SIGKILL: {claims_at_kill} claims, {pending_at_kill} deliveries still pending");
    assert!(claims_at_kill + pending_at_kill >= EVENTS as usize);

    // Restart: the processor finishes what the killed process had stored.
    let (_child, _url) = start(&config);
    let claims = runtime.block_on(async {
        let store = x402scope_store::open(&url_store).await.expect("open");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let claims = store.claims().await.expect("claims");
            let pending = store.inbox_pending(10).await.expect("inbox");
            if (claims.len() >= EVENTS as usize && pending.is_empty())
                || tokio::time::Instant::now() > deadline
            {
                return claims;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    assert_eq!(claims.len(), EVENTS as usize);
    let mut tx: Vec<String> = claims.into_iter().map(|c| c.tx_id).collect();
    tx.sort();
    tx.dedup();
    assert_eq!(tx.len(), EVENTS as usize, "one claim per event");
}
