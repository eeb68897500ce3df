//! `x402scope index solana`: run the Solana indexer over the watched addresses
//! (every Solana fee payer of the facilitator registry and the store's signers,
//! plus `[solana].pay_to`) into the configured store, with progress on the
//! terminal. Also what `serve`'s `solana` part runs.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use x402scope_solana::indexer::{IndexError, IndexerSettings, Progress, SolanaIndexer};
use x402scope_solana::parse::FeePayerLookup;
use x402scope_solana::rpc::{RpcConfig, RpcError, SolanaRpc};
use x402scope_store::Store;

use crate::config::{Config, SolanaConfig};

/// Arguments of `index solana`.
#[derive(Debug, clap::Args)]
pub struct IndexSolanaArgs {
    /// Scan every watched address down to its resume point once, settle
    /// finality, and exit. Without it, keep following until Ctrl-C.
    #[arg(long)]
    pub once: bool,
}

/// The network, fee-payer lookup and watched addresses for `cfg`, read from the
/// store's signers and the built-in registry.
pub async fn prepare(
    store: &Store,
    cfg: &SolanaConfig,
    cancel: &CancellationToken,
) -> anyhow::Result<SolanaIndexer> {
    let mut rpc_config = RpcConfig::new(cfg.rpc_url.as_str());
    rpc_config.requests_per_second = cfg.rate_limit.max(1);
    let rpc = SolanaRpc::new(rpc_config, cancel.clone());
    let network = match &cfg.network {
        Some(n) => x402scope_core::Network::parse_lenient(n)
            .with_context(|| format!("[solana].network {n:?} is not a network"))?,
        None => {
            let reference = rpc.genesis_reference().await?;
            x402scope_core::Network::solana(&reference)
                .with_context(|| format!("the node's genesis hash {reference:?} is not valid"))?
        }
    };
    if !network.is_solana() {
        anyhow::bail!("[solana].network {network} is not a Solana network");
    }
    let chain = network.to_string();

    // Fee payer → facilitator: the store's signers first, then the registry.
    let mut fee_payers: HashMap<String, String> = HashMap::new();
    let registry = x402scope_core::FacilitatorRegistry::builtin()
        .context("the built-in facilitator registry is invalid")?;
    for f in registry.facilitators() {
        for s in &f.signers {
            if s.network.matches(&network) {
                fee_payers.insert(s.address.to_string(), f.id.clone());
            }
        }
    }
    for s in store.signers().await? {
        if s.network == chain || s.network == "solana:*" {
            fee_payers.insert(s.address, s.facilitator_id);
        }
    }
    let mut watched: BTreeSet<String> = BTreeSet::new();
    if !cfg.only_pay_to {
        watched.extend(fee_payers.keys().cloned());
    }
    for a in &cfg.pay_to {
        x402scope_core::SolanaAddress::parse(a)
            .with_context(|| format!("[solana].pay_to {a:?} is not a Solana address"))?;
        watched.insert(a.clone());
    }
    let lookup: Arc<dyn FeePayerLookup> = Arc::new(fee_payers);
    let settings = IndexerSettings {
        chain,
        addresses: watched.into_iter().collect(),
        page_size: cfg.page_size.clamp(1, 1000),
        concurrency: cfg.concurrency.max(1),
        poll_interval: Duration::from_secs(cfg.poll_interval_secs.max(1)),
    };
    Ok(SolanaIndexer::new(rpc, store.clone(), lookup, settings))
}

pub async fn run(
    config: &Config,
    args: IndexSolanaArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let cfg = config.solana.clone().unwrap_or_default();
    let url = &config.store.url.0;
    x402scope_store::migrate(url)
        .await
        .with_context(|| format!("cannot prepare the store at {url}"))?;
    let store = x402scope_store::open(url)
        .await
        .with_context(|| format!("cannot open the store at {url}"))?;
    let cancel = shutdown.child_token();
    let (tx, rx) = mpsc::channel(256);
    let indexer = prepare(&store, &cfg, &cancel).await?.with_progress(tx);
    let chain = indexer.settings().chain.clone();
    let watched = indexer.settings().addresses.len();
    if watched == 0 {
        anyhow::bail!(
            "no Solana address to watch: the registry lists no fee payer for {chain}, and [solana].pay_to is empty"
        );
    }
    println!(
        "{chain}: watching {watched} addresses through {}",
        crate::config::redact_url(&cfg.rpc_url)
    );
    let reporter = tokio::spawn(report(rx));
    let result = if args.once {
        indexer.run_once(&cancel).await.map(Some)
    } else {
        indexer.run(&cancel).await.map(|()| None)
    };
    drop(indexer);
    let _ = reporter.await;
    match result {
        Ok(Some(stats)) => println!(
            "{chain}: {} signatures, {} transactions read, {} settlements written; {} marked final, {} removed",
            stats.signatures, stats.transactions, stats.payments, stats.marked_final, stats.removed
        ),
        Ok(None) | Err(IndexError::Cancelled | IndexError::Rpc(RpcError::Cancelled)) => println!(
            "{chain}: stopped; everything committed is kept, and the next run resumes from each address's cursor"
        ),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Render progress: a spinner on a terminal, log lines otherwise.
async fn report(mut rx: mpsc::Receiver<Progress>) {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {pos} signatures  {per_sec}  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let started = Instant::now();
    let (mut found, mut txs) = (0usize, 0usize);
    let mut last_log = Instant::now();
    while let Some(event) = rx.recv().await {
        match event {
            Progress::Page {
                address,
                signatures,
                transactions,
                payments,
            } => {
                found += payments;
                txs += transactions;
                bar.inc(signatures as u64);
                bar.set_message(format!(
                    "{txs} transactions, {found} settlements (at {address})"
                ));
                if bar.is_hidden() && last_log.elapsed() > Duration::from_secs(5) {
                    tracing::info!(%address, transactions = txs, settlements = found, elapsed = ?started.elapsed(), "progress");
                    last_log = Instant::now();
                }
            }
            Progress::ScanDone { address } => {
                tracing::debug!(%address, "address scanned to its resume point");
            }
            Progress::Finality { marked, removed } => {
                if removed > 0 {
                    bar.println(format!(
                        "{removed} transactions dropped before finality removed"
                    ));
                }
                bar.set_message(format!(
                    "{txs} transactions, {found} settlements; {marked} just became final"
                ));
            }
            Progress::Idle => {
                bar.set_message(format!(
                    "{txs} transactions, {found} settlements; waiting for new ones"
                ));
            }
        }
    }
    bar.finish_and_clear();
}
