//! `x402scope index evm`: run the EVM indexer for one configured chain into the
//! configured store, with progress on the terminal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use x402scope_evm::indexer::{ChainSettings, EvmIndexer, Progress};
use x402scope_evm::rpc::{EvmRpc, RpcConfig};
use x402scope_evm::sink::StoreSink;
use x402scope_evm::types::FacilitatorLookup;

use crate::config::{Config, EvmChainConfig};

/// The default stablecoin of a chain x402scope knows without configuration
/// (the asset table of `x402scope_core::asset`).
fn default_usdc(chain_id: u64) -> Option<alloy_primitives::Address> {
    let asset = x402scope_core::asset::default_asset(&x402scope_core::Network::eip155(chain_id))?;
    x402scope_core::EvmAddress::parse(asset.address)
        .ok()
        .map(|a| a.0)
}

/// Arguments of `index evm`.
#[derive(Debug, clap::Args)]
pub struct IndexEvmArgs {
    /// The chain to index: a name under [chains] in the config (default: the only one).
    #[arg(long)]
    pub chain: Option<String>,
    /// First block (default: after the stored checkpoint, or the chain's start_block).
    #[arg(long)]
    pub from: Option<u64>,
    /// Last block: index [from, to] once and exit. Without it, index up to the head
    /// and keep following it until Ctrl-C.
    #[arg(long)]
    pub to: Option<u64>,
}

fn pick_chain<'a>(
    config: &'a Config,
    name: Option<&str>,
) -> anyhow::Result<(&'a str, &'a EvmChainConfig)> {
    match name {
        Some(n) => config
            .chains
            .get_key_value(n)
            .map(|(k, v)| (k.as_str(), v))
            .with_context(|| {
                let known: Vec<&str> = config.chains.keys().map(String::as_str).collect();
                format!(
                    "no chain named {n:?} in the config (configured: {})",
                    known.join(", ")
                )
            }),
        None if config.chains.len() == 1 => {
            let (k, v) = config.chains.iter().next().context("no chain configured")?;
            Ok((k.as_str(), v))
        }
        None => bail!(
            "several chains are configured ({}): pick one with --chain",
            config.chains.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// What an indexer of `chain` needs: its RPC client, the facilitator senders
/// the store knows for its network, and its settings (shared by `index evm` and
/// `serve`).
pub async fn prepare(
    store: &x402scope_store::Store,
    name: &str,
    chain: &EvmChainConfig,
    start_block: u64,
) -> anyhow::Result<(EvmRpc, Arc<dyn FacilitatorLookup>, ChainSettings)> {
    let mut tokens: Vec<alloy_primitives::Address> =
        chain.assets.iter().map(|a| a.address.0).collect();
    if tokens.is_empty() {
        tokens.push(default_usdc(chain.chain_id).with_context(|| {
            format!("chain {name} (id {}) has no built-in stablecoin: list its tokens under [[chains.{name}.assets]]", chain.chain_id)
        })?);
    }
    // Facilitator senders known to the store (from the registry and /supported).
    let network = format!("eip155:{}", chain.chain_id);
    let signers: std::collections::HashMap<alloy_primitives::Address, String> = store
        .signers()
        .await?
        .into_iter()
        .filter(|s| s.network == network || s.network == "eip155:*")
        .filter_map(|s| s.address.parse().ok().map(|a| (a, s.facilitator_id)))
        .collect();
    // Then the built-in facilitator registry, for senders the store does not list.
    let registry = x402scope_core::FacilitatorRegistry::builtin()
        .context("the built-in facilitator registry is invalid")?;
    let chain_network = x402scope_core::Network::eip155(chain.chain_id);
    let lookup: Arc<dyn FacilitatorLookup> =
        Arc::new(move |_: u64, a: alloy_primitives::Address| {
            signers.get(&a).cloned().or_else(|| {
                let a = x402scope_core::Address::Evm(x402scope_core::EvmAddress(a));
                registry.lookup(&chain_network, &a).map(|f| f.id.clone())
            })
        });

    let mut rpc_config = RpcConfig::new(chain.rpc_urls.clone());
    rpc_config.requests_per_second = chain.rate_limit;
    let rpc = EvmRpc::new(rpc_config).context("bad RPC configuration")?;
    let settings = ChainSettings {
        chain_id: chain.chain_id,
        tokens,
        start_block,
        confirmations: chain.confirmations,
        max_range: chain.max_range,
        concurrency: chain.concurrency,
        window: 128,
        poll_interval: Duration::from_secs(2),
    };
    Ok((rpc, lookup, settings))
}

pub async fn run(
    config: &Config,
    args: IndexEvmArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (name, chain) = pick_chain(config, args.chain.as_deref())?;
    let url = &config.store.url.0;
    x402scope_store::migrate(url)
        .await
        .with_context(|| format!("cannot prepare the store at {url}"))?;
    let store = x402scope_store::open(url)
        .await
        .with_context(|| format!("cannot open the store at {url}"))?;
    let (rpc, lookup, settings) = prepare(
        &store,
        name,
        chain,
        args.from.unwrap_or(chain.effective_start_block()),
    )
    .await?;
    let (tx, rx) = mpsc::channel(256);
    let indexer = EvmIndexer::new(
        Arc::new(rpc),
        Arc::new(StoreSink::new(store)),
        lookup,
        settings,
    )
    .with_progress(tx);
    let cancel = shutdown.child_token();

    match args.to {
        Some(to) => {
            let from = match args.from {
                Some(f) => f,
                None => indexer.resume_point().await?,
            };
            if from > to {
                bail!("--from {from} is after --to {to}");
            }
            let reporter = tokio::spawn(report(rx, Some((from, to))));
            let mut stats = indexer.backfill(from, to, &cancel).await;
            if stats.is_ok() && !cancel.is_cancelled() {
                // Rows written earlier near the head may be final by now.
                if let Err(e) = indexer.mark_final(&cancel).await {
                    stats = Err(e);
                }
            }
            drop(indexer);
            let _ = reporter.await;
            let stats = stats?;
            println!(
                "{name}: indexed blocks {from}..={to}: {} blocks, {} settlements{}",
                stats.blocks,
                stats.settlements,
                if cancel.is_cancelled() {
                    " (stopped early by a signal; resume picks up from the checkpoint)"
                } else {
                    ""
                }
            );
        }
        None => {
            tracing::info!(
                chain = name,
                "indexing to the head, then following it; Ctrl-C stops"
            );
            let reporter = tokio::spawn(report(rx, None));
            let result = indexer.run(&cancel).await;
            drop(indexer);
            let _ = reporter.await;
            result?;
            println!(
                "{name}: stopped; everything committed is kept, and the next run resumes from the checkpoint"
            );
        }
    }
    Ok(())
}

/// Render progress: a bar on a terminal, log lines otherwise.
async fn report(mut rx: mpsc::Receiver<Progress>, range: Option<(u64, u64)>) {
    let bar = match range {
        Some((from, to)) => indicatif::ProgressBar::new(to - from + 1),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} blocks  {per_sec}  ETA {eta}  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut found = 0usize;
    let mut last_log = Instant::now();
    while let Some(event) = rx.recv().await {
        match event {
            Progress::Committed {
                from,
                to,
                settlements,
            } => {
                found += settlements;
                bar.inc(to - from + 1);
                bar.set_message(format!("{found} settlements (block {to})"));
                if bar.is_hidden() && last_log.elapsed() > Duration::from_secs(5) {
                    tracing::info!(block = to, settlements = found, elapsed = ?started.elapsed(), "progress");
                    last_log = Instant::now();
                }
            }
            Progress::Reorg { fork, depth } => {
                bar.println(format!("reorg: {depth} blocks rolled back to {fork}"));
            }
            Progress::Idle { head, safe } => {
                bar.set_message(format!(
                    "{found} settlements; at the safe head {safe} (head {head})"
                ));
            }
        }
    }
    bar.finish_and_clear();
}
