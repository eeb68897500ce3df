//! KYT benchmarks (`cargo bench -p x402scope-kyt --bench kyt`):
//! - SDN_ADVANCED parse time for a large generated file
//!   (`X402SCOPE_BENCH_SDN_PARTIES` parties with two addresses each, default 20,000);
//! - screening throughput of the pure engine: `X402SCOPE_BENCH_EDGES` payment
//!   edges (default 1,000,000, one payment each) against a
//!   `X402SCOPE_BENCH_LIST` address list (default 10,000);
//! - `screen::run` end to end on SQLite over `X402SCOPE_BENCH_SQLITE_PAYMENTS`
//!   stored payments (default 200,000) against the same list.

#![allow(clippy::unwrap_used)]

use std::time::Instant;

use x402scope_kyt::lists::{self, Format, write_sdn};
use x402scope_kyt::screen::{self, Hit, Watchlist, screen_edges};
use x402scope_store::{Payment, PaymentEdge, StoreUrl};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn addr(n: u64) -> String {
    format!("0x{n:040x}")
}

/// The i-th listed address, all distinct: 2,000 of the 20,000 payees (every
/// 10th), 2,000 of the 200,000 payers (every 100th), the rest elsewhere.
fn listed(i: u64) -> String {
    match i {
        0..2_000 => addr(1_000_000 + i * 10),
        2_000..4_000 => addr((i - 2_000) * 100),
        _ => addr(5_000_000 + i),
    }
}

fn main() {
    let parties = env("X402SCOPE_BENCH_SDN_PARTIES", 20_000);
    let edges_n = env("X402SCOPE_BENCH_EDGES", 1_000_000);
    let list_n = env("X402SCOPE_BENCH_LIST", 10_000);
    let sqlite_n = env("X402SCOPE_BENCH_SQLITE_PAYMENTS", 200_000);

    // SDN parse.
    let doc: Vec<(String, Vec<(String, String)>)> = (0..parties as u64)
        .map(|i| {
            (
                format!("PARTY {i}"),
                vec![
                    ("ETH".to_owned(), format!("0x{:040X}", i * 7 + 1)),
                    ("XBT".to_owned(), format!("1Bench{i:030}")),
                ],
            )
        })
        .collect();
    let xml = write_sdn((2026, 12, 1), &doc);
    let mut best = f64::MAX;
    let mut entries = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let list = lists::parse(Format::Sdn, xml.as_bytes()).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        entries = list.entries.len();
    }
    println!(
        "sdn parse: {:.1} MiB, {parties} parties, {entries} addresses: best of 3 {:.3} s ({:.0} MiB/s)",
        xml.len() as f64 / 1048576.0,
        best,
        xml.len() as f64 / 1048576.0 / best
    );

    // Pure screening: payers from 200k, payees from 20k; the list hits some of each.
    let mut watch = Watchlist::default();
    for i in 0..list_n as u64 {
        let a = listed(i);
        watch.add(
            "evm",
            a,
            Hit {
                source: "bench".into(),
                version_id: "bench@1".into(),
                label: "x".into(),
            },
        );
    }
    let edges: Vec<PaymentEdge> = (0..edges_n as u64)
        .map(|i| PaymentEdge {
            chain: "eip155:8453".into(),
            payer: addr((i * 7919) % 200_000),
            pay_to: addr(1_000_000 + (i * 104_729) % 20_000),
            tx_from: addr(9_000_000 + i % 6),
            payments: 1,
        })
        .collect();
    let mut best = f64::MAX;
    let mut findings = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let s = screen_edges(&edges, &watch);
        best = best.min(t.elapsed().as_secs_f64());
        findings = s.findings.len();
    }
    println!(
        "screen (pure): {edges_n} edges vs {} listed addresses: best of 3 {:.3} s ({:.0} edges/s), {findings} alerts",
        watch.len(),
        best,
        edges_n as f64 / best
    );

    // End to end on SQLite.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = StoreUrl::Sqlite(dir.path().join("bench.db"));
        x402scope_store::migrate(&url).await.unwrap();
        let store = x402scope_store::open(&url).await.unwrap();
        let mut batch = Vec::with_capacity(10_000);
        for i in 0..sqlite_n as u64 {
            batch.push(Payment {
                chain: "eip155:8453".into(),
                tx_id: format!("0x{i:064x}"),
                idx_outer: 0,
                idx_inner: 0,
                block_number: i,
                block_hash: format!("0x{i:064x}"),
                block_time: 1_780_000_000 + i as i64,
                asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
                payer: addr((i * 7919) % 200_000),
                pay_to: addr(1_000_000 + (i * 104_729) % 20_000),
                amount: x402scope_core::Amount(alloy_primitives::U256::from(i + 1)),
                nonce: format!("0x{i:064x}"),
                facilitator: "f".into(),
                tx_from: addr(9_000_000 + i % 6),
                method: "eip3009".into(),
                is_final: true,
                is_organic: true,
            });
            if batch.len() == 10_000 {
                store.commit_payments(std::mem::take(&mut batch), vec![], None).await.unwrap();
            }
        }
        store.commit_payments(batch, vec![], None).await.unwrap();
        let mut csv = String::new();
        for i in 0..list_n as u64 {
            let a = listed(i);
            csv.push_str(&format!("{a},listed {i}\n"));
        }
        let t = Instant::now();
        lists::load(&store, "bench", Format::Csv, csv.as_bytes(), 1).await.unwrap();
        let load = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let r = screen::run(&store, 2).await.unwrap();
        let first = t.elapsed().as_secs_f64();
        let t = Instant::now();
        screen::run(&store, 3).await.unwrap();
        let again = t.elapsed().as_secs_f64();
        println!(
            "screen::run on SQLite: {sqlite_n} payments ({} edges, {} addresses) vs {list_n} listed: list load {load:.2} s, first run {first:.2} s ({} alerts), rescreen {again:.2} s ({:.0} payments/s)",
            r.edges,
            r.addresses,
            r.new_alerts.len(),
            sqlite_n as f64 / again
        );
    });
}
