//! Probe throughput across many local hosts, and the memory of 100k listings.
//!
//!   cargo bench -p x402scope-probe --bench probe
//!
//! Hosts are 127.0.0.2..=127.0.0.(1+HOSTS), each a compliant v2 seller on
//! loopback (`allow_loopback`). Every endpoint probe is 4 requests (unpaid,
//! unpaid again, malformed, unverifiable payment) through the SSRF-safe fetcher
//! and the compliance engine, driven by the scheduler (one pass, per-host limit
//! high enough not to bind).

#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Response, serve_on};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use x402scope_probe::fetch::{FetchPolicy, Fetcher, HostLimiter};
use x402scope_probe::listing::parse_listings;
use x402scope_probe::scheduler::{SchedulerConfig, run};
use x402scope_probe::{Context, Listing};

const HOSTS: usize = 32;
const ENDPOINTS: usize = 4000;
const LISTINGS: usize = 100_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn seller(path: &str, host: &str) -> Response {
    let doc = serde_json::json!({"x402Version": 2, "error": "Payment required",
        "resource": {"url": format!("http://{host}{path}")},
        "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": "1000",
            "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            "payTo": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
            "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}}]});
    Response::new(402)
        .header("content-type", "application/json")
        .header(
            "payment-required",
            &base64::engine::general_purpose::STANDARD.encode(doc.to_string()),
        )
        .header(
            "access-control-expose-headers",
            "PAYMENT-REQUIRED, PAYMENT-RESPONSE",
        )
        .body("{}")
}

fn discovery_item(i: usize) -> String {
    format!(
        r#"{{"resource":"https://seller-{}.example.com/api/v1/resource/{i}","type":"http","x402Version":2,"lastUpdated":"2026-11-24T00:00:00Z","accepts":[{{"scheme":"exact","network":"eip155:8453","amount":"{}","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":"0x{i:040x}","maxTimeoutSeconds":300,"extra":{{"name":"USD Coin","version":"2"}}}}],"extensions":{{"bazaar":{{"info":{{"input":{{"type":"http","method":"GET"}}}},"schema":{{}}}}}}}}"#,
        i % 5000,
        1000 + i
    )
}

/// Heap and inline bytes a listing holds.
fn listing_bytes(l: &Listing) -> usize {
    std::mem::size_of::<Listing>()
        + l.resource.capacity()
        + l.methods.capacity() * std::mem::size_of::<String>()
        + l.methods.iter().map(String::capacity).sum::<usize>()
        + l.accepts.capacity() * std::mem::size_of::<x402scope_probe::ListedRequirement>()
        + l.accepts
            .iter()
            .map(|a| {
                a.scheme.capacity()
                    + a.network.capacity()
                    + a.amount.capacity()
                    + a.asset.capacity()
                    + a.pay_to.capacity()
            })
            .sum::<usize>()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // ---- memory of 100k listings, parsed from one discovery response
    let text = format!(
        r#"{{"x402Version":2,"items":[{}]}}"#,
        (0..LISTINGS)
            .map(discovery_item)
            .collect::<Vec<_>>()
            .join(",")
    );
    let before = rss_kib();
    let started = Instant::now();
    let listings = parse_listings(&text).unwrap();
    let parse_secs = started.elapsed().as_secs_f64();
    let peak = rss_kib();
    let text_mib = text.len() as f64 / 1048576.0;
    drop(text);
    let bytes: usize = listings.iter().map(listing_bytes).sum::<usize>()
        + listings.capacity() * std::mem::size_of::<Listing>();
    println!(
        "listings: {} parsed from a {:.1} MiB discovery response in {parse_secs:.2} s; held: {:.1} MiB ({:.0} B/listing); RSS {before} KiB before parsing, {peak} KiB after",
        listings.len(),
        text_mib,
        bytes as f64 / 1048576.0,
        bytes as f64 / listings.len() as f64,
    );
    drop(listings);

    // ---- endpoints/s across HOSTS local hosts
    rt.block_on(async {
        let mut servers = Vec::new();
        for h in 0..HOSTS {
            let ip = format!("127.0.0.{}", h + 2);
            let host = ip.clone();
            servers.push(serve_on(&ip, 0, move |req| seller(&req.path, &host)).await);
        }
        let targets: Vec<Listing> = (0..ENDPOINTS)
            .map(|i| Listing {
                resource: servers[i % HOSTS].url(&format!("/r/{i}")),
                methods: vec!["GET".into()],
                accepts: vec![],
            })
            .collect();
        for concurrency in [16usize, 64] {
            let fetcher = Fetcher::new(FetchPolicy {
                allow_loopback: true,
                ..FetchPolicy::default()
            })
            .unwrap()
            .with_limiter(Arc::new(HostLimiter::per_minute(
                NonZeroU32::new(6_000_000).unwrap(),
                Duration::ZERO,
            )));
            let (tx, mut rx) = mpsc::channel(1024);
            let config = SchedulerConfig {
                once: true,
                concurrency,
                ..SchedulerConfig::default()
            };
            let started = Instant::now();
            let task = tokio::spawn(run(
                fetcher,
                targets.clone(),
                config,
                Context::default(),
                tx,
                CancellationToken::new(),
            ));
            let (mut ok, mut bad) = (0usize, 0usize);
            while let Some(o) = rx.recv().await {
                match o.result {
                    Ok(r) if r.findings.is_empty() => ok += 1,
                    _ => bad += 1,
                }
            }
            task.await.unwrap();
            let secs = started.elapsed().as_secs_f64();
            println!(
                "probe: {ENDPOINTS} endpoints on {HOSTS} hosts, concurrency {concurrency}: {secs:.2} s, {:.0} endpoints/s ({:.0} requests/s), {ok} clean, {bad} not; RSS {} KiB",
                ENDPOINTS as f64 / secs,
                4.0 * ENDPOINTS as f64 / secs,
                rss_kib()
            );
        }
    });
}
