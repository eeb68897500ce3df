//! `x402scope analyze` and `x402scope report seller …`: correlation, the
//! organic filter and seller reconciliation on the configured store.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;

/// Arguments of `analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Print the run's summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// A seller's reconciliation: totals, revenue per resource and facilitator,
    /// the rows of each status (from the latest `analyze` run).
    Seller(SellerArgs),
}

#[derive(Debug, clap::Args)]
pub struct SellerArgs {
    /// The seller's payTo address.
    pub pay_to: String,
    /// From this time (Unix seconds, inclusive).
    #[arg(long)]
    pub from: Option<i64>,
    /// To this time (Unix seconds, exclusive).
    #[arg(long)]
    pub to: Option<i64>,
    /// Print the CSV (one row per claim and per unclaimed payment) instead of JSON.
    #[arg(long)]
    pub csv: bool,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn open(config: &Config) -> anyhow::Result<x402scope_store::Store> {
    let url = &config.store.url.0;
    x402scope_store::open(url)
        .await
        .with_context(|| format!("cannot open the store at {url}"))
}

/// One analysis run on `store`.
pub async fn run_once(
    config: &Config,
    store: &x402scope_store::Store,
) -> anyhow::Result<x402scope_analysis::RunReport> {
    x402scope_analysis::run(store, &config.analysis, now())
        .await
        .context("the analysis failed")
}

pub async fn analyze(config: &Config, args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let store = open(config).await?;
    let report = run_once(config, &store).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} payments ({} removed by reorgs), {} claims: {} rows; {} organic payments ({} flags changed)",
            report.payments,
            report.removed_payments,
            report.claims,
            report.rows,
            report.organic_payments,
            report.organic_changed
        );
        for (status, n) in &report.by_status {
            println!("  {status}: {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn report(config: &Config, command: ReportCommand) -> anyhow::Result<ExitCode> {
    let ReportCommand::Seller(args) = command;
    if let (Some(f), Some(t)) = (args.from, args.to)
        && f > t
    {
        anyhow::bail!("--from {f} is after --to {t}");
    }
    let store = open(config).await?;
    if store.analysis_last_run().await?.is_none() {
        eprintln!("note: no analysis has run on this store yet; run `x402scope analyze` first");
    }
    let report = x402scope_analysis::seller_report(&store, &args.pay_to, args.from, args.to)
        .await
        .context("cannot build the report")?;
    if args.csv {
        print!("{}", x402scope_analysis::reconcile::to_csv(&report));
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}
