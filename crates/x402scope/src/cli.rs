//! The command line: global flags, subcommands, and their dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{self, FlagOverrides, LogFormat, Sources};

/// Explorer and indexer for x402, the HTTP 402 payment protocol.
///
/// Configuration comes from a TOML file (--config, or ./x402scope.toml if present),
/// then X402SCOPE_… environment variables (X402SCOPE_STORE__URL sets store.url),
/// then these flags. `x402scope config check` prints the result.
#[derive(Debug, Parser)]
#[command(
    name = "x402scope",
    version,
    about,
    long_about,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (TOML). Default: ./x402scope.toml when it exists.
    #[arg(long, global = true, value_name = "FILE", env = "X402SCOPE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Store URL: sqlite://PATH or clickhouse://USER:PASSWORD@HOST:PORT/DB (sets store.url).
    #[arg(long, global = true, value_name = "URL")]
    pub store: Option<String>,
    /// Log format (sets log.format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `x402scope=debug,warn` (sets log.level).
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Crawl facilitators' Bazaar discovery lists and refresh their /supported
    /// kinds and signers ([crawl] in the config).
    Crawl(crate::crawl::CrawlArgs),
    /// Benchmark helpers: plant a synthetic dataset in the store.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Index x402 settlements from a chain into the store.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Create or upgrade the store's schema (store.url); safe to run again.
    ///
    /// Refuses a database that a newer x402scope has migrated.
    Migrate,
    /// Run everything in one process: an indexer per configured chain and the web
    /// server (dashboard, /api/v1, /healthz, /metrics), each part switchable in [serve].
    ///
    /// With no configuration: Base mainnet through its public RPC, the SQLite store
    /// ./x402scope.db, and http://127.0.0.1:8402. An unreachable source is shown and
    /// retried; the web server keeps serving. Ctrl-C stops every part gracefully.
    Serve(crate::serve::ServeArgs),
    /// KYT: sanctions lists, screening, case hash-chain checks, reviewer keys.
    #[command(subcommand)]
    Screen(crate::screen::ScreenCommand),
    /// Check an x402 resource against the protocol's compliance checklist.
    ///
    /// Sends an unpaid request per listed method, repeats it, then a malformed and
    /// an unverifiable payment, and reports each broken rule (X402-R01…; X402-D01…
    /// for drift from a Bazaar listing). Exits 1 when any MUST rule fails.
    Probe(crate::probe::ProbeArgs),
    /// Receive signed settlement webhooks ([webhooks] in the config).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Correlate claims with on-chain payments, attribute them to resources and
    /// set the organic flags, once ([analysis] in the config).
    Analyze(crate::analyze::AnalyzeArgs),
    /// Reports from the latest analysis run.
    #[command(subcommand)]
    Report(crate::analyze::ReportCommand),
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Serve POST /webhooks/{source}: store each signed delivery before replying,
    /// and turn stored deliveries into claims in the background.
    Serve(crate::webhooks::ServeArgs),
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// EIP-3009 settlements (AuthorizationUsed + Transfer) on an EVM chain from [chains.NAME].
    Evm(crate::index::IndexEvmArgs),
    /// SPL Token and Token-2022 transfers paid by facilitator fee payers on Solana ([solana]).
    Solana(crate::index_solana::IndexSolanaArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration, then print it with secrets redacted.
    ///
    /// Exits 0 when it is valid; otherwise prints what is wrong, naming the key and
    /// where it was set (file:line:column, environment variable or flag), and exits 2.
    Check {
        /// The file to check (overrides --config).
        file: Option<PathBuf>,
    },
}

impl GlobalArgs {
    fn overrides(&self) -> FlagOverrides {
        let mut values = Vec::new();
        if let Some(store) = &self.store {
            values.push(("--store", "store.url", toml::Value::String(store.clone())));
        }
        if let Some(format) = self.log_format {
            let name = match format {
                LogFormat::Pretty => "pretty",
                LogFormat::Json => "json",
            };
            values.push((
                "--log-format",
                "log.format",
                toml::Value::String(name.into()),
            ));
        }
        if let Some(level) = &self.log_level {
            values.push((
                "--log-level",
                "log.level",
                toml::Value::String(level.clone()),
            ));
        }
        FlagOverrides { values }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let file = match &cli.command {
        Command::Config(ConfigCommand::Check { file: Some(f) }) => Some(f.clone()),
        _ => cli.global.config.clone(),
    };
    let sources = Sources {
        file,
        env: std::env::vars().collect(),
        flags: cli.global.overrides(),
    };
    let loaded = config::load(&sources)?;
    init_tracing(&loaded.config.log);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        crate::shutdown::install(shutdown.clone());
        dispatch(cli.command, loaded, shutdown).await
    })
}

async fn dispatch(
    command: Command,
    loaded: config::Loaded,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Index(IndexCommand::Evm(args)) => {
            crate::index::run(&loaded.config, args, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Index(IndexCommand::Solana(args)) => {
            crate::index_solana::run(&loaded.config, args, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Screen(command) => crate::screen::run(&loaded.config, command).await,
        Command::Analyze(args) => crate::analyze::analyze(&loaded.config, args).await,
        Command::Report(command) => crate::analyze::report(&loaded.config, command).await,
        Command::Crawl(args) => {
            crate::crawl::run(&loaded.config, args, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Webhooks(WebhooksCommand::Serve(args)) => {
            crate::webhooks::serve(&loaded.config, args, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(command) => {
            crate::bench::run(&loaded.config, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            crate::serve::run(&loaded.config, args, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check { .. }) => {
            let source = loaded.file.as_ref().map_or_else(
                || "no file (defaults and environment)".to_owned(),
                |p| p.display().to_string(),
            );
            let text = loaded
                .config
                .to_redacted_toml()
                .context("cannot print the config")?;
            println!(
                "# x402scope effective configuration, from {source}; secrets redacted\n{text}"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Probe(args) => crate::probe::run(&loaded.config, args, shutdown).await,
        Command::Migrate => {
            let url = &loaded.config.store.url.0;
            tracing::info!(store = %url, "migrating");
            let report = x402scope_store::migrate(url)
                .await
                .with_context(|| format!("cannot migrate the store at {url}"))?;
            for name in &report.present {
                println!("already applied  {name}");
            }
            for name in &report.applied {
                println!("applied          {name}");
            }
            println!(
                "{url}: schema up to date ({} applied now, {} already there)",
                report.applied.len(),
                report.present.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_tracing(log: &config::LogConfig) {
    // The level was validated when the config was loaded.
    let filter = tracing_subscriber::EnvFilter::try_new(&log.level.0)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match log.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
