//! `x402scope bench seed`: plant a synthetic dataset in the configured store,
//! for benchmarks of `serve` (wrk against the API). Deterministic: the same
//! arguments plant the same rows, and a second run changes nothing.

use std::time::Instant;

use anyhow::Context;
use x402scope_core::Amount;
use x402scope_store::Payment;

/// Benchmark helpers.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Plant synthetic payments (3 networks, 6 facilitators, ~141k buyers and 20k
    /// sellers per million rows, spread over DAYS up to now) in the store.
    Seed(SeedArgs),
}

#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// Payments to plant.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Days the payments span, ending now.
    #[arg(long, default_value_t = 90)]
    pub days: u64,
}

const NETWORKS: [&str; 3] = ["eip155:8453", "eip155:84532", "eip155:43114"];
const FACILITATORS: [&str; 6] = ["cdp", "payai", "x402rs", "corbits", "daydreams", "unknown"];
const BATCH: usize = 10_000;

/// A small deterministic generator.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn row(i: u64, rng: &mut Lcg, now: i64, span: i64) -> Payment {
    let buyers = 141_000;
    let sellers = 20_000;
    let block_time = now - span + (i as i64 * 7919) % span.max(1);
    Payment {
        chain: NETWORKS[rng.below(3) as usize].into(),
        tx_id: format!("0x{:064x}", i + 1),
        idx_outer: 0,
        idx_inner: 0,
        block_number: i + 1,
        block_hash: format!("0x{:064x}", (i + 1) * 31),
        block_time,
        asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
        payer: format!("0x{:040x}", 0xb000_0000 + rng.below(buyers)),
        pay_to: format!("0x{:040x}", 0x5000_0000 + rng.below(sellers)),
        amount: Amount::from_u64(1 + rng.below(1_000_000)),
        nonce: format!("0x{:064x}", i * 3 + 1),
        facilitator: FACILITATORS[rng.below(6) as usize].into(),
        tx_from: format!("0x{:040x}", 0xfac0_0000 + rng.below(12)),
        method: "eip3009".into(),
        is_final: true,
        is_organic: rng.below(20) != 0,
    }
}

pub async fn run(config: &crate::config::Config, command: BenchCommand) -> anyhow::Result<()> {
    let BenchCommand::Seed(args) = command;
    let url = &config.store.url.0;
    x402scope_store::migrate(url)
        .await
        .with_context(|| format!("cannot prepare the store at {url}"))?;
    let store = x402scope_store::open(url)
        .await
        .with_context(|| format!("cannot open the store at {url}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let span = (args.days.max(1) * 86_400) as i64;
    let mut rng = Lcg(42);
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..args.rows {
        batch.push(row(i, &mut rng, now, span));
        if batch.len() == BATCH {
            store
                .commit_payments(std::mem::take(&mut batch), vec![], None)
                .await?;
        }
    }
    if !batch.is_empty() {
        store.commit_payments(batch, vec![], None).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{url}: planted {} payments over {} days in {secs:.1} s ({:.0} rows/s)",
        args.rows,
        args.days,
        args.rows as f64 / secs.max(1e-9)
    );
    Ok(())
}
