//! `x402scope crawl`: the Bazaar crawler and the `/supported` refresh for every
//! configured facilitator (or the built-in list), once or every interval.

use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use x402scope_ingest::crawler::{Crawler, Target, builtin_targets};
use x402scope_ingest::webhooks::unix_now;
use x402scope_store::{Facilitator, Store};

use crate::config::Config;

/// Arguments of `crawl`.
#[derive(Debug, clap::Args)]
pub struct CrawlArgs {
    /// Crawl once and exit (default: again every crawl.interval_secs until Ctrl-C).
    #[arg(long)]
    pub once: bool,
    /// Only these facilitator ids (default: all).
    #[arg(long = "facilitator", value_name = "ID")]
    pub only: Vec<String>,
}

pub async fn run(
    config: &Config,
    args: CrawlArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let url = &config.store.url.0;
    let store = x402scope_store::open(url)
        .await
        .with_context(|| format!("cannot open the store at {url}"))?;
    run_on(store, config, args, shutdown).await
}

/// `crawl` on an open store (shared with `serve`).
pub async fn run_on(
    store: Store,
    config: &Config,
    args: CrawlArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut targets: Vec<Target> = if config.crawl.facilitators.is_empty() {
        builtin_targets()
    } else {
        config.crawl.facilitators.clone()
    };
    if !args.only.is_empty() {
        targets.retain(|t| args.only.contains(&t.id));
    }
    anyhow::ensure!(!targets.is_empty(), "no facilitator to crawl");
    store
        .upsert_facilitators(
            targets
                .iter()
                .map(|t| Facilitator {
                    id: t.id.clone(),
                    name: t.id.clone(),
                    url: t.url.clone(),
                })
                .collect(),
        )
        .await?;
    let crawler = Crawler::new(store, config.crawl.clone()).context("cannot start the crawler")?;
    loop {
        for target in &targets {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let now = unix_now();
            match crawler.refresh_supported(target, now, &shutdown).await {
                Ok(r) => println!(
                    "{}: /supported: {} kinds, {} signers",
                    target.id,
                    r.kinds.len(),
                    r.signers.len()
                ),
                Err(e) => {
                    tracing::warn!(facilitator = %target.id, error = %e, "/supported refresh failed")
                }
            }
            match crawler.crawl(target, now, &shutdown).await {
                Ok(r) if r.no_list => println!("{}: no discovery list", target.id),
                Ok(r) => {
                    println!(
                        "{}: {} items in {} pages, {} new versions, {} skipped, {} rate-limited",
                        target.id,
                        r.items,
                        r.pages,
                        r.new_versions,
                        r.skipped.len(),
                        r.rate_limited
                    );
                    for s in &r.skipped {
                        tracing::info!(facilitator = %target.id, position = s.position, resource = ?s.resource, reason = %s.reason, "item skipped");
                    }
                }
                Err(e) => tracing::warn!(facilitator = %target.id, error = %e, "crawl failed"),
            }
        }
        if args.once {
            return Ok(());
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(config.crawl.interval_secs.max(1))) => {}
        }
    }
}
