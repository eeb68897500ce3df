//! Store benchmark: insert throughput and query latency on each backend.
//!
//!     cargo bench -p x402scope-store --bench store
//!
//! Sizes: X402SCOPE_BENCH_SQLITE_ROWS (default 1,000,000) and
//! X402SCOPE_BENCH_CLICKHOUSE_ROWS (default 10,000,000). ClickHouse is a private
//! Debian clickhouse-server started for the run (or X402SCOPE_TEST_CLICKHOUSE_URL).
//! Prints one line per figure; BENCHMARKS.md records them.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use x402scope_core::Amount;
use x402scope_store::*;

const DAY: i64 = 86_400;
const T0: i64 = 1_750_000_000;

fn payment(i: u64, total: u64) -> Payment {
    // A spread like a busy ecosystem: 200k buyers, 20k sellers, 90 days, 3 chains,
    // 6 facilitators, amounts from 1 to ~1 USDC.
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Payment {
        chain: [
            "eip155:8453",
            "eip155:84532",
            "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
        ][(h % 3) as usize]
            .into(),
        tx_id: format!("0x{i:064x}"),
        idx_outer: (h % 4) as u32,
        idx_inner: 0,
        block_number: 30_000_000 + i / 4,
        block_hash: format!("0x{:064x}", i / 4),
        block_time: T0 + (i as i64 * 90 * DAY) / total.max(1) as i64,
        asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
        payer: format!("0x{:040x}", (h >> 8) % 200_000),
        pay_to: format!("0x{:040x}", (h >> 24) % 20_000),
        amount: Amount::from_u64(1 + (h >> 32) % 1_000_000),
        nonce: format!("0x{h:064x}"),
        facilitator: ["cdp", "payai", "x402rs", "corbits", "dexter", "unknown"]
            [((h >> 40) % 6) as usize]
            .into(),
        tx_from: format!("0x{:040x}", (h >> 40) % 6),
        method: "eip3009".into(),
        is_final: true,
        is_organic: !(h >> 50).is_multiple_of(10),
    }
}

fn rows_from_env(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's CPU time (user + system), where /proc tells it: on a shared
/// machine it says what the work cost, whatever the wall clock says.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

async fn load(store: &Store, rows: u64, batch: u64) -> f64 {
    let started = Instant::now();
    let cpu = cpu_seconds();
    let mut i = 0;
    while i < rows {
        let n = batch.min(rows - i);
        let payments: Vec<Payment> = (i..i + n).map(|k| payment(k, rows)).collect();
        store.commit_payments(payments, vec![], None).await.unwrap();
        i += n;
    }
    if let (Some(a), Some(b)) = (cpu, cpu_seconds()) {
        println!(
            "  (CPU time of the load {:.1} s: {:.0} rows per CPU second)",
            b - a,
            rows as f64 / (b - a)
        );
    }
    rows as f64 / started.elapsed().as_secs_f64()
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

async fn latency<F, Fut>(runs: usize, mut f: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // X402SCOPE_BENCH_RUNS overrides the number of timed calls per figure.
    let runs = rows_from_env("X402SCOPE_BENCH_RUNS", runs as u64).max(1) as usize;
    f().await; // warm
    let mut samples = Vec::with_capacity(runs);
    let cpu = cpu_seconds();
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        samples.push(t.elapsed());
    }
    if let (Some(a), Some(b)) = (cpu, cpu_seconds()) {
        println!(
            "  (CPU time per call, this process: {:.1} ms)",
            (b - a) * 1000.0 / runs as f64
        );
    }
    (
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.95),
    )
}

async fn queries(name: &str, store: &Store, rows: u64) {
    let all = Filter::default();
    let last30 = Filter {
        from: Some(T0 + 60 * DAY),
        to: Some(T0 + 90 * DAY),
        ..Default::default()
    };
    let o = store.overview(&all).await.unwrap();
    assert_eq!(o.count, rows);
    for (label, filter) in [("all time", &all), ("last 30 days", &last30)] {
        let (p50, p95) = latency(15, || async {
            store.overview(filter).await.unwrap();
        })
        .await;
        println!("{name}: overview ({label}) over {rows} payments: p50 {p50:.1?}, p95 {p95:.1?}");
        let (p50, p95) = latency(15, || async {
            store.timeseries(filter, DAY as u32).await.unwrap();
        })
        .await;
        println!(
            "{name}: daily timeseries ({label}) over {rows} payments: p50 {p50:.1?}, p95 {p95:.1?}"
        );
    }
    let (p50, p95) = latency(15, || async {
        store.transactions(&all, None, 50).await.unwrap();
    })
    .await;
    println!("{name}: transactions page of 50: p50 {p50:.1?}, p95 {p95:.1?}");
    let page = store.transactions(&all, None, 50).await.unwrap();
    let cursor = page.next.unwrap();
    let (p50, p95) = latency(15, || async {
        store.transactions(&all, Some(&cursor), 50).await.unwrap();
    })
    .await;
    println!("{name}: transactions second page of 50 (keyset): p50 {p50:.1?}, p95 {p95:.1?}");
}

/// Many readers at once: `tasks` tasks each asking for the first page of 50
/// for `secs` seconds; calls per second and per-call latency.
async fn concurrent_pages(name: &str, store: &Store, tasks: usize, secs: u64) {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while Instant::now() < until {
                let t = Instant::now();
                store
                    .transactions(&Filter::default(), None, 50)
                    .await
                    .unwrap();
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let rate = all.len() as f64 / secs as f64;
    let (p50, p95) = (percentile(&mut all, 0.5), percentile(&mut all, 0.95));
    println!(
        "{name}: transactions page of 50, {tasks} concurrent readers: {rate:.0} calls/s, p50 {p50:.1?}, p95 {p95:.1?}"
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let rows = rows_from_env("X402SCOPE_BENCH_SQLITE_ROWS", 1_000_000);
        if rows > 0 {
            let dir = tempfile::tempdir().unwrap();
            // X402SCOPE_BENCH_SQLITE_KEEP=PATH keeps the database there, for a look afterwards.
            let path = std::env::var("X402SCOPE_BENCH_SQLITE_KEEP")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|_| dir.path().join("bench.db"));
            let url = StoreUrl::Sqlite(path);
            migrate(&url).await.unwrap();
            let store = open(&url).await.unwrap();
            let rate = load(&store, rows, 10_000).await;
            println!("sqlite: insert {rows} payments in batches of 10,000: {rate:.0} rows/s");
            queries("sqlite", &store, rows).await;
            concurrent_pages("sqlite", &store, 16, 5).await;
        }

        let rows = rows_from_env("X402SCOPE_BENCH_CLICKHOUSE_ROWS", 10_000_000);
        if rows > 0 {
            let (_server, http) = match std::env::var("X402SCOPE_TEST_CLICKHOUSE_URL") {
                Ok(u) if !u.is_empty() => (None, u),
                _ => {
                    let s = x402scope_testkit::clickhouse::ClickHouseServer::start().unwrap();
                    let u = s.http_url();
                    (Some(s), u)
                }
            };
            // X402SCOPE_BENCH_CLICKHOUSE_OPTIONS, e.g. `?compression=none`, is added to the store URL.
            let options = std::env::var("X402SCOPE_BENCH_CLICKHOUSE_OPTIONS").unwrap_or_default();
            let url = StoreUrl::parse(&format!(
                "clickhouse://default@{}/x402scope_bench{options}",
                http.trim_start_matches("http://")
            ))
            .unwrap();
            x402scope_testkit::clickhouse::execute(
                &http,
                "DROP DATABASE IF EXISTS x402scope_bench",
            )
            .unwrap();
            migrate(&url).await.unwrap();
            let store = open(&url).await.unwrap();
            let rate = load(&store, rows, 200_000).await;
            println!("clickhouse: insert {rows} payments in batches of 200,000: {rate:.0} rows/s");
            // Let background merges settle, as they would on a long-running server.
            x402scope_testkit::clickhouse::execute(
                &http,
                "OPTIMIZE TABLE x402scope_bench.payments FINAL",
            )
            .unwrap();
            queries("clickhouse", &store, rows).await;
            x402scope_testkit::clickhouse::execute(
                &http,
                "DROP DATABASE IF EXISTS x402scope_bench",
            )
            .unwrap();
        }
    });
}
