//! Durable webhook deliveries per second and their latency: the real receiver
//! and processor on a SQLite store in a temporary directory, driven over
//! loopback HTTP by `CONCURRENCY` clients. Every delivery is signed and
//! distinct; a 200 means it is committed.
//!
//!   cargo bench -p x402scope-ingest --bench webhooks [-- DELIVERIES CONCURRENCY]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use x402scope_ingest::events::SourceKind;
use x402scope_ingest::signature::{Secret, sign_standard};
use x402scope_ingest::webhooks::{
    self, SourceConfig, Sources, WebhookState, WebhooksConfig, unix_now,
};
use x402scope_store::StoreUrl;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn event(n: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "x402.settlement.succeeded",
        "timestamp": 1_700_000_000u64 + n,
        "data": {
            "resource": {"url": format!("https://seller.test/item/{n}")},
            "facilitator": "https://x402.org/facilitator",
            "accepted": {"scheme": "exact", "network": "eip155:8453", "asset": "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913",
                         "amount": "10000", "payTo": "0x00000000000000000000000000000000000000aa", "maxTimeoutSeconds": 60,
                         "extra": {"name": "USD Coin", "version": "2"}},
            "settleResponse": {"success": true, "transaction": format!("0x{n:064x}"), "network": "eip155:8453",
                               "payer": "0x00000000000000000000000000000000000000bb"}
        }
    }))
    .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let deliveries: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let concurrency: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return;
        }
    };
    if let Err(e) = rt.block_on(run(deliveries, concurrency)) {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}

async fn run(deliveries: u64, concurrency: u64) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = StoreUrl::parse(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))?;
    x402scope_store::migrate(&url).await?;
    let store = x402scope_store::open(&url).await?;
    let mut sources = BTreeMap::new();
    sources.insert(
        "shop".to_owned(),
        SourceConfig {
            kind: SourceKind::X402,
            secrets: vec![SECRET.to_owned()],
        },
    );
    let config = WebhooksConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        sources,
    };
    let state = WebhookState::new(store.clone(), Sources::from_config(&config)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let cancel = CancellationToken::new();
    let server = tokio::spawn(webhooks::serve(listener, state, cancel.clone()));

    let secret = Secret::whsec(SECRET)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .build()?;
    // Bodies and signatures are prepared outside the timed part.
    let ts = unix_now();
    let prepared: Vec<(String, String, Vec<u8>)> = (0..deliveries)
        .map(|n| {
            let id = format!("msg_{n}");
            let body = event(n);
            let sig = sign_standard(&secret, &id, ts, &body);
            (id, sig, body)
        })
        .collect();
    let mut chunks: Vec<Vec<(String, String, Vec<u8>)>> =
        (0..concurrency).map(|_| Vec::new()).collect();
    for (i, p) in prepared.into_iter().enumerate() {
        chunks[i % concurrency as usize].push(p);
    }
    let started = Instant::now();
    let workers = chunks.into_iter().map(|chunk| {
        let client = client.clone();
        async move {
            let mut latencies = Vec::with_capacity(chunk.len());
            for (id, sig, body) in chunk {
                let t = Instant::now();
                let resp = client
                    .post(format!("http://{addr}/webhooks/shop"))
                    .header("content-type", "application/json")
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", sig)
                    .body(body)
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().is_success() => latencies.push(t.elapsed()),
                    Ok(r) => return Err(format!("status {}", r.status())),
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(latencies)
        }
    });
    let mut latencies: Vec<Duration> = Vec::new();
    for r in futures::future::join_all(workers).await {
        latencies.extend(r?);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    // Then until every delivery is a claim.
    loop {
        if store.claims().await?.len() as u64 >= deliveries {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_claimed = started.elapsed();
    cancel.cancel();
    let _ = server.await;
    println!(
        "webhooks: {deliveries} durable deliveries, concurrency {concurrency}: {:.0} deliveries/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; all claimed after {:.2} s ({:.0} claims/s end to end)",
        deliveries as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        all_claimed.as_secs_f64(),
        deliveries as f64 / all_claimed.as_secs_f64(),
    );
    Ok(())
}
