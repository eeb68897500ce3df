//! Shared by the receiver tests: a real SQLite store, the real router on a
//! loopback port, and signed deliveries.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use x402scope_ingest::events::SourceKind;
use x402scope_ingest::signature::{Secret, sign_standard};
use x402scope_ingest::webhooks::{self, SourceConfig, Sources, WebhookState, WebhooksConfig};
use x402scope_store::{Store, StoreUrl};

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const OLD_SECRET: &str = "whsec_b2xkIHNlY3JldCwgc3RpbGwgdmFsaWQ=";
pub const CDP_SECRET: &str = "cdp-subscription-secret";

pub struct Server {
    pub addr: SocketAddr,
    pub store: Store,
    pub state: WebhookState,
    pub cancel: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), webhooks::IngestError>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub fn config() -> WebhooksConfig {
    let mut sources = BTreeMap::new();
    sources.insert(
        "shop".to_owned(),
        SourceConfig {
            kind: SourceKind::X402,
            secrets: vec![SECRET.to_owned(), OLD_SECRET.to_owned()],
        },
    );
    sources.insert(
        "cdp".to_owned(),
        SourceConfig {
            kind: SourceKind::Cdp,
            secrets: vec![CDP_SECRET.to_owned()],
        },
    );
    WebhooksConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        sources,
    }
}

/// A migrated SQLite store in a temporary directory and the receiver on it.
/// With `processor`, the background processor runs too.
pub async fn start(processor: bool) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = StoreUrl::parse(&format!("sqlite://{}", dir.path().join("x.db").display()))
        .expect("store url");
    x402scope_store::migrate(&url).await.expect("migrate");
    let store = x402scope_store::open(&url).await.expect("open");
    let sources = Sources::from_config(&config()).expect("valid config");
    let state = WebhookState::new(store.clone(), sources);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cancel = CancellationToken::new();
    let task = if processor {
        tokio::spawn(webhooks::serve(listener, state.clone(), cancel.clone()))
    } else {
        let router = webhooks::router(state.clone());
        let c = cancel.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { c.cancelled().await })
                .await?;
            Ok(())
        })
    };
    Server {
        addr,
        store,
        state,
        cancel,
        task,
        _dir: dir,
    }
}

pub fn now() -> i64 {
    webhooks::unix_now()
}

/// A settlement event of ours; `n` makes the transaction hash unique.
pub fn settlement(n: u64, success: bool) -> Value {
    let kind = if success {
        "x402.settlement.succeeded"
    } else {
        "x402.settlement.failed"
    };
    json!({
        "type": kind,
        "timestamp": 1_700_000_000u64 + n,
        "data": {
            "resource": {"url": format!("http://seller.test/item/{n}"), "mimeType": "application/json"},
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
                "success": success,
                "transaction": if success { format!("0x{n:064x}") } else { String::new() },
                "network": "eip155:84532",
                "payer": "0x00000000000000000000000000000000000000bb"
            }
        }
    })
}

/// Standard Webhooks headers for a body.
pub fn signed(secret: &str, id: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    let s = Secret::whsec(secret).expect("secret");
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), ts.to_string()),
        ("webhook-signature".into(), sign_standard(&s, id, ts, body)),
    ]
}

pub async fn post(
    client: &reqwest::Client,
    addr: SocketAddr,
    source: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = client
        .post(format!("http://{addr}/webhooks/{source}"))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// Wait until the store holds `n` claims (at most `secs`).
pub async fn wait_claims(store: &Store, n: usize, secs: u64) -> Vec<x402scope_store::Claim> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let claims = store.claims().await.expect("claims");
        if claims.len() >= n || tokio::time::Instant::now() > deadline {
            return claims;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
