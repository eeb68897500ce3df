//! `x402scope screen …`: KYT list updates, screening runs, hash-chain
//! verification and reviewer keys, on the configured store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use x402scope_kyt::lists::{self, Format};
use x402scope_kyt::{auth, case, screen};

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum ScreenCommand {
    /// Load a sanctions list as a new list version, then rescreen everything.
    ///
    /// A file that does not parse changes nothing: the previous version stays active.
    Update(UpdateArgs),
    /// Screen every payer, payTo and facilitator address against the active lists.
    Run,
    /// Check the hash chain of every case; exits 1 if any event was altered.
    Verify,
    /// Reviewers' API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The list file.
    #[arg(long, conflicts_with = "url", required_unless_present = "url")]
    pub file: Option<PathBuf>,
    /// Download the list from this URL instead.
    #[arg(long)]
    pub url: Option<String>,
    /// The list's name (default: `ofac-sdn` for the SDN format, else the file's stem).
    #[arg(long)]
    pub source: Option<String>,
    /// sdn (SDN_ADVANCED.XML), csv or json (default: from the file extension).
    #[arg(long, value_parser = ["sdn", "csv", "json"])]
    pub format: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create an API key for a reviewer; the key is printed once and stored only as a hash.
    Create {
        #[arg(long)]
        reviewer: String,
        /// Comma-separated: kyt:read, kyt:review, kyt:approve, kyt:admin.
        #[arg(long)]
        scopes: String,
    },
}

fn format_of(args: &UpdateArgs) -> anyhow::Result<Format> {
    if let Some(f) = &args.format {
        return Format::parse(f).context("unknown format");
    }
    let name = args
        .file
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .or_else(|| args.url.clone())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let name = name.split(['?', '#']).next().unwrap_or_default();
    Ok(if name.ends_with(".csv") {
        Format::Csv
    } else if name.ends_with(".json") {
        Format::Json
    } else if name.ends_with(".xml") {
        Format::Sdn
    } else {
        bail!("cannot tell the list format from {name:?}: pass --format sdn|csv|json")
    })
}

fn source_of(args: &UpdateArgs, format: Format) -> String {
    if let Some(s) = &args.source {
        return s.clone();
    }
    match (format, &args.file) {
        (Format::Sdn, _) => "ofac-sdn".to_owned(),
        (_, None) => "custom".to_owned(),
        (_, Some(p)) => p
            .file_stem()
            .map_or_else(|| "custom".to_owned(), |s| s.to_string_lossy().into_owned()),
    }
}

async fn fetch(url: &str) -> anyhow::Result<Vec<u8>> {
    let response = reqwest::get(url)
        .await
        .with_context(|| format!("cannot download {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("downloading {url} answered HTTP {status}");
    }
    Ok(response
        .bytes()
        .await
        .with_context(|| format!("cannot read {url}"))?
        .to_vec())
}

fn print_report(r: &screen::ScreenReport) {
    if r.list_versions.is_empty() {
        println!("no list version is loaded: nothing screened (every address stays not_screened)");
        return;
    }
    println!(
        "screened {} addresses over {} payment edges against {}",
        r.addresses,
        r.edges,
        r.list_versions.join(", ")
    );
    for a in &r.new_alerts {
        println!(
            "new alert      {} {} {} (listed {}, {})",
            a.id, a.kind, a.address, a.listed_address, a.label
        );
    }
    for a in &r.raised_again {
        println!("raised again   {} {} {}", a.id, a.kind, a.address);
    }
    for a in &r.removed_alerts {
        println!(
            "removed alert  {} {} {} (no longer listed in {})",
            a.id, a.kind, a.address, a.removed_by
        );
    }
    println!(
        "{} new, {} raised again, {} removed, {} open",
        r.new_alerts.len(),
        r.raised_again.len(),
        r.removed_alerts.len(),
        r.open_alerts
    );
}

pub async fn run(config: &Config, command: ScreenCommand) -> anyhow::Result<ExitCode> {
    let url = &config.store.url.0;
    let store = x402scope_store::open(url)
        .await
        .with_context(|| format!("cannot open the store at {url}"))?;
    let now = x402scope_kyt::now();
    match command {
        ScreenCommand::Update(args) => {
            let format = format_of(&args)?;
            let source = source_of(&args, format);
            let (bytes, origin) = match (&args.file, &args.url) {
                (Some(f), _) => (
                    std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?,
                    f.display().to_string(),
                ),
                (None, Some(u)) => (fetch(u).await?, u.clone()),
                (None, None) => bail!("pass --file or --url"),
            };
            let outcome = lists::load(&store, &source, format, &bytes, now)
                .await
                .with_context(|| format!("cannot load {origin}"))?;
            let v = &outcome.version;
            if outcome.unchanged {
                println!(
                    "{origin} is already the active version {} of {source}: nothing new",
                    v.id
                );
            } else {
                println!(
                    "loaded {} ({}, published {}, {} entries, sha256 {}): {} added, {} removed",
                    v.id,
                    v.format,
                    v.published_at,
                    v.entry_count,
                    v.sha256,
                    outcome.added.len(),
                    outcome.removed.len()
                );
                for c in &outcome.added {
                    println!("added    {} {}", c.address, c.label);
                }
                for c in &outcome.removed {
                    println!("removed  {} {}", c.address, c.label);
                }
            }
            let report = screen::run(&store, now)
                .await
                .context("rescreening failed")?;
            print_report(&report);
            Ok(ExitCode::SUCCESS)
        }
        ScreenCommand::Run => {
            let report = screen::run(&store, now).await.context("screening failed")?;
            print_report(&report);
            Ok(ExitCode::SUCCESS)
        }
        ScreenCommand::Verify => {
            let report = case::verify(&store).await.context("cannot verify")?;
            for p in &report.problems {
                println!("TAMPERED case {} event {}: {}", p.case_id, p.seq, p.detail);
            }
            if report.ok() {
                println!(
                    "ok: {} cases, {} events, every hash chain intact",
                    report.cases, report.events
                );
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "FAILED: {} problems in {} cases ({} events)",
                    report.problems.len(),
                    report.cases,
                    report.events
                );
                Ok(ExitCode::from(1))
            }
        }
        ScreenCommand::Keys(KeysCommand::Create { reviewer, scopes }) => {
            let scopes = auth::parse_scopes(&scopes)?;
            let key = auth::create_key(&store, &reviewer, &scopes, now).await?;
            let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            eprintln!(
                "created a key for {reviewer} with {}; it is shown once and stored only as a hash:",
                names.join(" ")
            );
            println!("{key}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
