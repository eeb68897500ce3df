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
    /// with (drift) and to take the methods from. With --all: the resources to probe.
    #[arg(long, value_name = "FILE")]
    pub listing: Option<PathBuf>,
    /// Probe every listed resource (the store's listing snapshots, or --listing)
    /// on a schedule, and store runs and findings.
    #[arg(long, conflicts_with = "url")]
    pub all: bool,
    /// With --all: one pass, then exit.
    #[arg(long, requires = "all")]
    pub once: bool,
    /// Also pay for URL once with [probe.paid] (opt-in, capped), check the
    /// settlement header and that a replay is refused.
    #[arg(long, requires = "url")]
    pub pay: bool,
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
    if args.all {
        let url = &config.store.url.0;
        let store = x402scope_store::open(url)
            .await
            .with_context(|| format!("cannot open the store at {url}"))?;
        return run_all(config, &store, &args, shutdown).await;
    }
    let Some(url) = args.url.as_deref() else {
        bail!("give a URL to probe, or --all");
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
    if args.pay {
        return run_paid(config, &fetcher, &parsed, args.json, shutdown).await;
    }
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
    if let Some(secs) = r.throttled {
        let _ = writeln!(
            s,
            "throttled (HTTP 429/503, retry after {secs} s): not judged"
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

fn read_listings(path: &std::path::Path) -> anyhow::Result<Vec<Listing>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_listings(&text)
        .with_context(|| format!("{} is not a Bazaar discovery item", path.display()))
}

/// The store's newest listing snapshots, one listing per resource.
async fn store_listings(store: &x402scope_store::Store) -> anyhow::Result<Vec<Listing>> {
    let snapshots = store.latest_listings().await?;
    let mut out: Vec<Listing> = Vec::new();
    for s in snapshots {
        let methods = serde_json::from_str::<serde_json::Value>(&s.raw)
            .ok()
            .and_then(|raw| x402scope_probe::listing::listing_from_item(&raw, 0).ok())
            .map(|l| l.methods)
            .unwrap_or_else(|| vec!["GET".into()]);
        let req = x402scope_probe::ListedRequirement {
            scheme: s.scheme,
            network: s.network,
            amount: s.amount.to_string(),
            asset: s.asset,
            pay_to: s.pay_to,
        };
        match out.iter_mut().find(|l| l.resource == s.resource) {
            Some(l) => {
                if !l.accepts.contains(&req) {
                    l.accepts.push(req);
                }
            }
            None => out.push(Listing {
                resource: s.resource,
                methods,
                accepts: vec![req],
            }),
        }
    }
    Ok(out)
}

fn run_id(started_at: i64) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{started_at:x}-{nanos:08x}-{:x}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `probe --all` on an open store (shared with `serve`): the listings are read
/// from `--listing` or from the store at the start of each call.
pub async fn run_all(
    config: &Config,
    store: &x402scope_store::Store,
    args: &ProbeArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    use x402scope_probe::scheduler::{self, SchedulerConfig};
    let targets = match &args.listing {
        Some(path) => read_listings(path)?,
        None => store_listings(store).await?,
    };
    let p = &config.probe;
    let per_minute = std::num::NonZeroU32::new(p.per_host_per_minute)
        .context("probe.per_host_per_minute must be at least 1")?;
    let limiter = std::sync::Arc::new(x402scope_probe::fetch::HostLimiter::per_minute(
        per_minute,
        Duration::from_millis(250),
    ));
    let fetcher = Fetcher::new(fetch_policy(p))?.with_limiter(limiter);
    let sched = SchedulerConfig {
        interval: Duration::from_secs(p.interval_secs),
        concurrency: p.concurrency,
        once: args.once,
        ..SchedulerConfig::default()
    };
    tracing::info!(resources = targets.len(), once = args.once, "probing");
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(scheduler::run(
        fetcher,
        targets,
        sched,
        x402scope_probe::Context::default(),
        tx,
        shutdown.clone(),
    ));
    let (mut runs, mut failing) = (0usize, 0usize);
    while let Some(outcome) = rx.recv().await {
        let (status_code, latency_ms) = outcome.status_and_latency();
        let id = run_id(outcome.started_at);
        let (error, findings) = match &outcome.result {
            Ok(r) => (
                r.throttled
                    .map(|s| format!("throttled: retry after {s} s"))
                    .unwrap_or_default(),
                r.findings.clone(),
            ),
            Err(e) => (e.clone(), vec![]),
        };
        let must = findings
            .iter()
            .filter(|f| f.severity == Severity::Must)
            .count();
        if must > 0 || outcome.result.is_err() {
            failing += 1;
        }
        let findings = findings
            .into_iter()
            .map(|f| x402scope_store::ProbeFinding {
                run_id: id.clone(),
                rule_id: f.rule,
                severity: f.severity.as_str().to_owned(),
                message: f.message,
                evidence: f.evidence.to_string(),
            })
            .collect::<Vec<_>>();
        let n = findings.len();
        store
            .insert_probe_run(
                x402scope_store::ProbeRun {
                    id,
                    url: outcome.listing.resource.clone(),
                    started_at: outcome.started_at,
                    status_code,
                    latency_ms,
                    error: error.clone(),
                },
                findings,
            )
            .await?;
        runs += 1;
        println!(
            "{}  HTTP {status_code}  {latency_ms} ms  {n} findings ({must} must){}",
            outcome.listing.resource,
            if error.is_empty() {
                String::new()
            } else {
                format!("  {error}")
            }
        );
    }
    task.await.context("the scheduler stopped")?;
    println!("{runs} probe runs stored, {failing} failing");
    Ok(ExitCode::SUCCESS)
}

async fn run_paid(
    config: &Config,
    fetcher: &Fetcher,
    url: &url::Url,
    json: bool,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    use x402scope_probe::paid::{PaidProbe, PrivateKeySigner, SpendCaps, U256};
    let paid = config
        .probe
        .paid
        .as_ref()
        .context("--pay needs a [probe.paid] section (private_key, max_per_day, max_total)")?;
    let signer: PrivateKeySigner =
        paid.private_key.0.parse().map_err(|_| {
            anyhow::anyhow!("probe.paid.private_key is not a secp256k1 private key")
        })?;
    let cap = |name: &str, v: &str| {
        v.parse::<U256>()
            .with_context(|| format!("probe.paid.{name} {v:?} is not an integer"))
    };
    let caps = SpendCaps {
        per_day: cap("max_per_day", &paid.max_per_day)?,
        total: cap("max_total", &paid.max_total)?,
    };
    let store_url = &config.store.url.0;
    let store = x402scope_store::open(store_url)
        .await
        .with_context(|| format!("cannot open the store at {store_url}"))?;
    let probe = PaidProbe::new(signer, caps, store);
    let report = tokio::select! {
        r = probe.pay(fetcher, url) => r?,
        () = shutdown.cancelled() => bail!("interrupted"),
    };
    let must = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Must)
        .count();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "paid probe {} (x402 v{}) as {}",
            report.url,
            report.x402_version,
            probe.payer()
        );
        for e in &report.exchanges {
            println!(
                "  {:<8} HTTP {}  {} ms",
                format!("{:?}", e.purpose),
                e.status(),
                e.response.latency_ms
            );
        }
        println!(
            "settlement: {}",
            report.transaction.as_deref().unwrap_or("none reported")
        );
        for f in &report.findings {
            println!(
                "  {:<7} {}  {}",
                f.severity.as_str().to_uppercase(),
                f.rule,
                f.message
            );
        }
        println!(
            "result: {}",
            if must > 0 {
                format!("FAIL ({must} MUST)")
            } else {
                "PASS".into()
            }
        );
    }
    Ok(if must > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
