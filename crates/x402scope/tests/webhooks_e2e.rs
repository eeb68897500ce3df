//! End to end: the reference `@x402/express` server (tests/env/harness.mjs) with
//! the seller snippet (snippets/x402scope-webhook.mjs) sells to the reference
//! client on anvil; `x402scope webhooks serve` receives the signed webhook and
//! stores its claim, and the event it got matches the published JSON Schema.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use x402scope_store::StoreUrl;
use x402scope_testkit::process::OwnedChild;
use x402scope_testkit::x402::X402Stack;
use x402scope_testkit::{env_dir, repo_root};

const SECRET: &str = "whsec_ZTJlIHNlbGxlciBzZWNyZXQgZm9yIHg0MDJzY29wZQ==";

fn schema_valid(doc: &[u8]) -> serde_json::Value {
    let mut child = Command::new("node")
        .current_dir(env_dir())
        .arg("validate-schema.mjs")
        .arg(repo_root().join("docs/schemas/settlement-event.schema.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(doc).expect("write");
    stdin.write_all(b"\n").expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("validator output");
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

#[test]
fn reference_seller_with_the_snippet_reports_its_sale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("x.db");
    let config = dir.path().join("x402scope.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[webhooks.sources.seller]\nkind = \"x402\"\nsecrets = [\"{SECRET}\"]\n",
            db.display()
        ),
    )
    .expect("config");
    let migrate = Command::new(env!("CARGO_BIN_EXE_x402scope"))
        .arg("--config")
        .arg(&config)
        .arg("migrate")
        .output()
        .expect("migrate");
    assert!(migrate.status.success());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_x402scope"));
    cmd.arg("--config")
        .arg(&config)
        .args(["webhooks", "serve", "--listen", "127.0.0.1:0"]);
    let mut receiver = OwnedChild::spawn("x402scope webhooks serve", cmd).expect("spawn");
    let line = receiver
        .first_line(Duration::from_secs(30))
        .expect("address");
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("address line")
        .to_owned();

    let stack = X402Stack::start_with_webhook(&format!("{base}/webhooks/seller"), SECRET)
        .expect("reference stack");
    let paid_url = stack.paid_url().expect("server").to_owned();
    let paid = stack.pay(&paid_url).expect("the reference client pays");
    assert_eq!(paid.status, 200, "{}", paid.body);
    let settle = paid.payment_response.expect("PAYMENT-RESPONSE");
    let tx = settle["transaction"]
        .as_str()
        .expect("tx hash")
        .to_ascii_lowercase();

    let url = StoreUrl::parse(&format!("sqlite://{}", db.display())).expect("url");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let claims = runtime.block_on(async {
        let store = x402scope_store::open(&url).await.expect("open");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let claims = store.claims().await.expect("claims");
            if !claims.is_empty() || tokio::time::Instant::now() > deadline {
                return claims;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    assert_eq!(claims.len(), 1, "one sale, one claim: {claims:?}");
    let c = &claims[0];
    assert_eq!(c.source, "seller");
    assert_eq!(c.tx_id, tx);
    assert_eq!(c.network, "eip155:84532");
    assert!(c.success);
    assert_eq!(
        c.amount.to_string(),
        stack.info.price_atomic.clone().expect("price")
    );
    assert_eq!(
        c.pay_to,
        stack.info.accounts.payee.address.to_ascii_lowercase()
    );
    assert_eq!(
        c.payer,
        stack.info.accounts.payer.address.to_ascii_lowercase()
    );
    assert_eq!(c.asset, stack.info.token.to_ascii_lowercase());
    assert_eq!(c.resource_url, paid_url);
    assert_eq!(
        Some(c.facilitator.as_str()),
        stack.info.facilitator.as_deref()
    );

    // The delivery itself, as stored byte for byte, follows the published schema.
    let conn = rusqlite::Connection::open(&db).expect("open the store file");
    let (status, body): (String, Vec<u8>) = conn
        .query_row(
            "SELECT status, body FROM webhook_inbox WHERE source = 'seller'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("one stored delivery");
    assert_eq!(status, "processed");
    let verdict = schema_valid(&body);
    assert_eq!(verdict["valid"], true, "{verdict}");
    let event: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(event["type"], "x402.settlement.succeeded");
    // The snippet sends the EIP-3009 nonce the client signed; it is the claim's reference.
    let nonce = event["data"]["authorization"]["nonce"]
        .as_str()
        .expect("the event carries the authorization nonce");
    assert_eq!(nonce.len(), 66, "{nonce}");
    assert_eq!(c.reference, nonce.to_ascii_lowercase());
}
