//! `x402scope probe URL`: the compliance report of one resource.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use tokio_util::sync::CancellationToken;
use x402scope_probe::fetch::{FetchPolicy, Fetcher};
use x402scope_probe::listing::parse_listings;
use x402scope_probe::{Listing, ProbeReport, Severity};

use crate::config::{Config, ProbeConfig};

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The resource to probe (http or https).
    pub url: Option<String>,
    /// Print the report as JSON (exchanges and findings).
    #[arg(long)]
    pub json: bool,
    /// A Bazaar discovery item (or a discovery response) to compare the live 402
    /// with (drift) and to take the methods from.
    #[arg(long, value_name = "FILE")]
    pub listing: Option<PathBuf>,
}

pub fn fetch_policy(c: &ProbeConfig) -> FetchPolicy {
    FetchPolicy {
        allow_loopback: c.allow_loopback,
        connect_timeout: Duration::from_secs(c.connect_timeout_secs),
        total_timeout: Duration::from_secs(c.total_timeout_secs),
        max_body_bytes: c.max_body_bytes,
        ..FetchPolicy::default()
    }
}

fn pick_listing(listings: Vec<Listing>, url: &str) -> Option<Listing> {
    let exact = listings.iter().position(|l| l.resource == url);
    match exact {
        Some(i) => listings.into_iter().nth(i),
        None if listings.len() == 1 => listings.into_iter().next(),
        None => None,
    }
}

pub async fn run(
    config: &Config,
    args: ProbeArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let Some(url) = args.url.as_deref() else {
        bail!("give a URL to probe");
    };
    let parsed: url::Url = url.parse().with_context(|| format!("bad URL {url:?}"))?;
    let listing = match &args.listing {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let all = parse_listings(&text)
                .with_context(|| format!("{} is not a Bazaar discovery item", path.display()))?;
            let n = all.len();
            Some(pick_listing(all, parsed.as_str()).with_context(|| {
                format!("{} has {n} listings and none is for {url}", path.display())
            })?)
        }
        None => None,
    };
    let fetcher = Fetcher::new(fetch_policy(&config.probe))?;
    let ctx = x402scope_probe::Context::default();
    let report = tokio::select! {
        r = x402scope_probe::probe(&fetcher, &parsed, listing.as_ref(), &ctx) => r?,
        () = shutdown.cancelled() => bail!("interrupted"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", human(&report));
    }
    Ok(if report.must_failures() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The human-readable report.
pub fn human(r: &ProbeReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let version = r.x402_version.map_or_else(
        || "no x402 version seen".to_owned(),
        |v| format!("x402 v{v}"),
    );
    let _ = writeln!(s, "probe {} ({version})", r.url);
    for e in &r.exchanges {
        let _ = writeln!(
            s,
            "  {:<6} {:<18} HTTP {}  {} ms",
            e.method,
            format!("{:?}", e.purpose),
            e.status(),
            e.response.latency_ms
        );
    }
    let count = |sev| r.findings.iter().filter(|f| f.severity == sev).count();
    let must = count(Severity::Must);
    let _ = writeln!(
        s,
        "findings: {must} must, {} should, {} interop",
        count(Severity::Should),
        count(Severity::Interop)
    );
    for f in &r.findings {
        let _ = writeln!(
            s,
            "  {:<7} {}  {}",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.message
        );
        let _ = writeln!(s, "          evidence: {}", f.evidence);
    }
    let _ = writeln!(
        s,
        "result: {}",
        if must > 0 {
            format!("FAIL ({must} MUST)")
        } else {
            "PASS".into()
        }
    );
    s
}
