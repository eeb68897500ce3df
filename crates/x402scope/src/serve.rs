//! `x402scope serve`: one process runs every part — an EVM indexer per
//! configured chain and the web server — each a named task that reports to one
//! status board (shown by the banner, /healthz and /metrics) and can be turned
//! off in `[serve]`.
//!
//! A source that cannot be reached does not stop the process: its part shows
//! the error and retries with backoff, while the web server keeps serving what
//! the store has. Ctrl-C cancels every part; each finishes its current unit of
//! work (the indexer commits, the server answers in-flight requests).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use x402scope_evm::indexer::{EvmIndexer, IndexError, Progress};
use x402scope_evm::rpc::{EvmRpc, RpcConfig, RpcError};
use x402scope_evm::sink::StoreSink;
use x402scope_store::Store;
use x402scope_web::{PartState, PartStatus, RateLimit, StatusBoard, WebConfig};

use crate::config::{Config, EvmChainConfig};

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (sets serve.listen), e.g. 0.0.0.0:8402; port 0 picks one.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One part of the process: a named background task with a status. Parts are
/// listed on the status board even when disabled.
pub struct Part {
    pub status: PartStatus,
    /// None when the part is disabled.
    pub task: Option<Task>,
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("status", &self.status)
            .field("enabled", &self.task.is_some())
            .finish()
    }
}

/// Backoff between retries of an unreachable source: 1 s doubling to 60 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.min(6)).min(60))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The EVM indexer of one chain as a part: check the RPC, index, and on any
/// failure report it and try again after a backoff, until cancelled.
fn evm_part(
    name: String,
    chain: EvmChainConfig,
    chain_name: String,
    store: Store,
    board: StatusBoard,
    cancel: CancellationToken,
) -> Task {
    Box::pin(async move {
        let mut attempt = 0u32;
        let fail = |attempt: &mut u32, error: String| report_failure(&board, &name, attempt, error);
        while !cancel.is_cancelled() {
            // A quick reachability check, so that an offline source shows at once.
            let mut quick = RpcConfig::new(chain.rpc_urls.clone());
            quick.max_attempts = 1;
            quick.request_timeout = Duration::from_secs(5);
            let head = match EvmRpc::new(quick) {
                Ok(rpc) => rpc.head(&cancel).await,
                Err(e) => Err(e),
            };
            let wait = match head {
                Err(RpcError::Cancelled) => break,
                Err(e) => fail(&mut attempt, e.to_string()),
                Ok(head) => {
                    board.update(&name, |p| {
                        p.state = PartState::Running;
                        p.head = Some(head);
                        p.retry_in_secs = None;
                        p.last_ok_at = Some(now());
                    });
                    match run_indexer(&name, &chain, &chain_name, &store, &board, &cancel).await {
                        Ok(()) => break,
                        Err(e) => fail(&mut attempt, format!("{e:#}")),
                    }
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        board.update(&name, |p| {
            p.state = PartState::Stopped;
            p.retry_in_secs = None;
        });
    })
}

async fn run_indexer(
    name: &str,
    chain: &EvmChainConfig,
    chain_name: &str,
    store: &Store,
    board: &StatusBoard,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let (rpc, lookup, settings) =
        crate::index::prepare(store, chain_name, chain, chain.effective_start_block()).await?;
    let network = x402scope_evm::sink::caip2(chain.chain_id);
    if let Some(cp) = store.checkpoint(&network).await? {
        board.update(name, |p| p.last_block = Some(cp.block));
    }
    let (tx, mut rx) = mpsc::channel(256);
    let indexer = EvmIndexer::new(
        Arc::new(rpc),
        Arc::new(StoreSink::new(store.clone())),
        lookup,
        settings,
    )
    .with_progress(tx);
    let reporter = {
        let board = board.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                board.update(&name, |p| {
                    p.state = PartState::Running;
                    p.last_error = None;
                    p.retry_in_secs = None;
                    p.last_ok_at = Some(now());
                    match event {
                        Progress::Committed {
                            to, settlements, ..
                        } => {
                            p.last_block = Some(to);
                            p.rows_written += settlements as u64;
                            if p.head.is_none_or(|h| h < to) {
                                p.head = Some(to);
                            }
                        }
                        Progress::Reorg { fork, .. } => p.last_block = Some(fork),
                        Progress::Idle { head, safe } => {
                            p.head = Some(head);
                            if p.last_block.is_none_or(|b| b < safe) {
                                p.last_block = Some(safe);
                            }
                        }
                    }
                });
            }
        })
    };
    let result = indexer.run(cancel).await;
    drop(indexer);
    let _ = reporter.await;
    match result {
        Ok(()) | Err(IndexError::Rpc(RpcError::Cancelled)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Show a part's failure on the board and return how long to wait before the
/// next try (the backoff of `attempt`, which it advances).
fn report_failure(board: &StatusBoard, name: &str, attempt: &mut u32, error: String) -> Duration {
    let wait = backoff(*attempt);
    *attempt += 1;
    tracing::warn!(part = %name, error = %error, retry_in = ?wait, "part failed");
    board.update(name, |p| {
        p.state = PartState::Unreachable;
        p.last_error = Some(error);
        p.errors += 1;
        p.retry_in_secs = Some(wait.as_secs());
    });
    wait
}

/// A part that runs `work` again and again until cancelled: `work` returns the
/// pause before its next round, or an error that the board shows (then it is
/// retried after a backoff).
fn looping_part<F, Fut>(
    name: &str,
    board: &StatusBoard,
    cancel: CancellationToken,
    mut work: F,
) -> Task
where
    F: FnMut(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<Duration>> + Send,
{
    let (name, board) = (name.to_owned(), board.clone());
    Box::pin(async move {
        let mut attempt = 0u32;
        while !cancel.is_cancelled() {
            board.update(&name, |p| p.state = PartState::Running);
            let wait = match work(cancel.clone()).await {
                Ok(pause) => {
                    attempt = 0;
                    board.update(&name, |p| {
                        p.last_ok_at = Some(now());
                        p.last_error = None;
                        p.retry_in_secs = None;
                    });
                    pause
                }
                Err(e) => report_failure(&board, &name, &mut attempt, format!("{e:#}")),
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        board.update(&name, |p| {
            p.state = PartState::Stopped;
            p.retry_in_secs = None;
        });
    })
}

/// The parts beside the indexers, all on the one open store: the Bazaar
/// crawler, the probe scheduler, KYT screening and the webhook processor (when
/// sources are configured).
fn service_parts(
    config: &Config,
    store: &Store,
    board: &StatusBoard,
    cancel: &CancellationToken,
    webhooks: Option<&x402scope_ingest::webhooks::WebhookState>,
) -> Vec<Part> {
    let on = |name: &str| !config.serve.disable.iter().any(|d| d == name);
    let part = |name: &str, kind: &str, task: Option<Task>| Part {
        status: PartStatus::new(name, kind, None),
        task: if on(name) { task } else { None },
    };
    let mut out = Vec::new();

    // The crawler keeps its own interval (crawl.interval_secs) until cancelled.
    let (config2, store2) = (config.clone(), store.clone());
    out.push(part(
        "crawler",
        "crawler",
        Some(looping_part(
            "crawler",
            board,
            cancel.child_token(),
            move |c| {
                let (config, store) = (config2.clone(), store2.clone());
                async move {
                    let args = crate::crawl::CrawlArgs {
                        once: false,
                        only: Vec::new(),
                    };
                    crate::crawl::run_on(store, &config, args, c).await?;
                    Ok(Duration::ZERO)
                }
            },
        )),
    ));

    // One probe pass a round, so that listings the crawler adds are probed next.
    let (config2, store2) = (config.clone(), store.clone());
    out.push(part(
        "probe",
        "probe-scheduler",
        Some(looping_part(
            "probe",
            board,
            cancel.child_token(),
            move |c| {
                let (config, store) = (config2.clone(), store2.clone());
                async move {
                    let args = crate::probe::ProbeArgs {
                        url: None,
                        json: false,
                        listing: None,
                        all: true,
                        once: true,
                        pay: false,
                    };
                    crate::probe::run_all(&config, &store, &args, c).await?;
                    Ok(Duration::from_secs(config.probe.interval_secs.max(1)))
                }
            },
        )),
    ));

    let store2 = store.clone();
    out.push(part(
        "kyt",
        "kyt-screening",
        Some(looping_part(
            "kyt",
            board,
            cancel.child_token(),
            move |_| {
                let store = store2.clone();
                async move {
                    let report = x402scope_kyt::screen::run(&store, now()).await?;
                    if !report.new_alerts.is_empty() {
                        tracing::warn!(
                            new_alerts = report.new_alerts.len(),
                            "KYT screening raised alerts"
                        );
                    }
                    Ok(Duration::from_secs(60))
                }
            },
        )),
    ));

    let (config2, store2) = (config.clone(), store.clone());
    out.push(part(
        "analysis",
        "analysis",
        Some(looping_part(
            "analysis",
            board,
            cancel.child_token(),
            move |_| {
                let (config, store) = (config2.clone(), store2.clone());
                async move {
                    crate::analyze::run_once(&config, &store).await?;
                    Ok(Duration::from_secs(config.analysis.interval_secs.max(1)))
                }
            },
        )),
    ));

    if let Some(state) = webhooks.cloned() {
        out.push(part(
            "webhooks",
            "webhook-processor",
            Some(looping_part(
                "webhooks",
                board,
                cancel.child_token(),
                move |c| {
                    let state = state.clone();
                    async move {
                        x402scope_ingest::webhooks::run_processor(state, c).await?;
                        Ok(Duration::ZERO)
                    }
                },
            )),
        ));
    }
    out
}

/// Every part the configuration describes, enabled or not.
fn parts(
    config: &Config,
    store: &Store,
    board: &StatusBoard,
    cancel: &CancellationToken,
) -> Vec<Part> {
    let mut out = Vec::new();
    for (chain_name, chain) in &config.chains {
        let name = format!("evm:{chain_name}");
        let network = x402scope_evm::sink::caip2(chain.chain_id);
        let status = PartStatus::new(&name, "evm-indexer", Some(network));
        let enabled = config.serve.indexers && !config.serve.disable.contains(&name);
        out.push(Part {
            task: enabled.then(|| {
                evm_part(
                    name.clone(),
                    chain.clone(),
                    chain_name.clone(),
                    store.clone(),
                    board.clone(),
                    cancel.child_token(),
                )
            }),
            status,
        });
    }
    if let Some(cfg) = &config.solana {
        let name = "solana".to_owned();
        let status = PartStatus::new(&name, "solana-indexer", cfg.network.clone());
        let enabled = config.serve.indexers && !config.serve.disable.contains(&name);
        out.push(Part {
            task: enabled.then(|| {
                solana_part(
                    name.clone(),
                    cfg.clone(),
                    store.clone(),
                    board.clone(),
                    cancel.child_token(),
                )
            }),
            status,
        });
    }
    out
}

/// The Solana indexer as a part: connect, index, and on any failure report it
/// and try again after a backoff, until cancelled (like the EVM parts).
fn solana_part(
    name: String,
    cfg: crate::config::SolanaConfig,
    store: Store,
    board: StatusBoard,
    cancel: CancellationToken,
) -> Task {
    Box::pin(async move {
        let mut attempt = 0u32;
        while !cancel.is_cancelled() {
            let wait = match run_solana(&name, &cfg, &store, &board, &cancel).await {
                Ok(()) => break,
                Err(e) => report_failure(&board, &name, &mut attempt, format!("{e:#}")),
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        board.update(&name, |p| {
            p.state = PartState::Stopped;
            p.retry_in_secs = None;
        });
    })
}

async fn run_solana(
    name: &str,
    cfg: &crate::config::SolanaConfig,
    store: &Store,
    board: &StatusBoard,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    use x402scope_solana::indexer::{IndexError as SolError, Progress as SolProgress};
    // A quick reachability check, so that an offline source shows at once.
    let mut quick = x402scope_solana::rpc::RpcConfig::new(cfg.rpc_url.as_str());
    quick.max_attempts = 1;
    quick.timeout = Duration::from_secs(5);
    x402scope_solana::rpc::SolanaRpc::new(quick, cancel.clone())
        .finalized_slot()
        .await
        .with_context(|| format!("getSlot at {}", crate::config::redact_url(&cfg.rpc_url)))?;
    let (tx, mut rx) = mpsc::channel(256);
    let indexer = crate::index_solana::prepare(store, cfg, cancel)
        .await?
        .with_progress(tx);
    board.update(name, |p| {
        p.state = PartState::Running;
        p.retry_in_secs = None;
        p.last_ok_at = Some(now());
    });
    let reporter = {
        let (board, name) = (board.clone(), name.to_owned());
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                board.update(&name, |p| {
                    p.state = PartState::Running;
                    p.last_error = None;
                    p.last_ok_at = Some(now());
                    if let SolProgress::Page { payments, .. } = event {
                        p.rows_written += payments as u64;
                    }
                });
            }
        })
    };
    let result = indexer.run(cancel).await;
    drop(indexer);
    let _ = reporter.await;
    match result {
        Ok(()) | Err(SolError::Cancelled) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub async fn run(
    config: &Config,
    args: ServeArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let url = &config.store.url.0;
    x402scope_store::migrate(url)
        .await
        .with_context(|| format!("cannot prepare the store at {url}"))?;
    let store = x402scope_store::open(url)
        .await
        .with_context(|| format!("cannot open the store at {url}"))?;
    let board = StatusBoard::new();
    let mut tasks = JoinSet::new();

    // Webhook deliveries are received by the web server and processed by a part.
    let webhooks = if config.webhooks.sources.is_empty() {
        None
    } else {
        let sources = x402scope_ingest::webhooks::Sources::from_config(&config.webhooks)
            .context("bad [webhooks] configuration")?;
        Some(x402scope_ingest::webhooks::WebhookState::new(
            store.clone(),
            sources,
        ))
    };
    let mut all_parts = parts(config, &store, &board, &shutdown);
    all_parts.extend(service_parts(
        config,
        &store,
        &board,
        &shutdown,
        webhooks.as_ref(),
    ));
    // Part tasks start once the web server has said where it listens, so that
    // its address is the first line printed.
    let mut pending = Vec::new();
    for part in all_parts {
        let mut status = part.status;
        match part.task {
            Some(task) => {
                board.register(status);
                pending.push(task);
            }
            None => {
                status.state = PartState::Disabled;
                board.register(status);
            }
        }
    }
    let web_enabled = config.serve.web && !config.serve.disable.iter().any(|d| d == "web");
    // The webhook receiver (POST /webhooks/{source} on the web server) is a
    // part of its own: `disable = ["webhook-receiver"]` unmounts it.
    let receiver_on = !config.serve.disable.iter().any(|d| d == "webhook-receiver");
    if webhooks.is_some() {
        let mut r = PartStatus::new("webhook-receiver", "webhook-receiver", None);
        r.state = if receiver_on && web_enabled {
            PartState::Running
        } else {
            PartState::Disabled
        };
        board.register(r);
    }
    let mut web = PartStatus::new("web", "web", None);
    if web_enabled {
        let listen = args.listen.unwrap_or(config.serve.listen);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let web_config = WebConfig {
            networks: config
                .chains
                .values()
                .map(|c| x402scope_evm::sink::caip2(c.chain_id))
                .collect(),
            cache_ttl: Duration::from_secs(config.serve.cache_ttl_secs),
            rate_limit: (config.serve.rate_limit_per_second > 0).then_some(RateLimit {
                per_second: config.serve.rate_limit_per_second,
                burst: config.serve.rate_limit_burst,
            }),
        };
        let state = x402scope_web::AppState::new(store.clone(), board.clone(), web_config);
        state.add_nav("/kyt", "KYT review");
        // The KYT review router (every route authenticated) and the webhook
        // receiver share the web server, its headers and its rate limit.
        let mut extra =
            x402scope_kyt::http::router(x402scope_kyt::http::KytState::new(store.clone()));
        if let Some(state) = webhooks.as_ref().filter(|_| receiver_on) {
            extra = extra.merge(x402scope_ingest::webhooks::router(state.clone()));
            board.add_metrics(crate::webhooks::delivery_metrics(state.clone()));
        }
        extra = extra.merge(x402scope_analysis::http::router(store.clone()));
        let app = x402scope_web::app(state, extra);
        let cancel = shutdown.child_token();
        let board2 = board.clone();
        web.state = PartState::Running;
        tasks.spawn(async move {
            if let Err(e) = x402scope_web::serve(listener, app, cancel).await {
                tracing::error!(error = %e, "the web server stopped");
                board2.update("web", |p| {
                    p.state = PartState::Stopped;
                    p.last_error = Some(e.to_string());
                });
            }
        });
        println!("x402scope serving on http://{addr}");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    } else {
        web.state = PartState::Disabled;
    }
    board.register(web);
    for task in pending {
        tasks.spawn(task);
    }

    for p in board.snapshot() {
        tracing::info!(part = %p.name, state = ?p.state, "part");
    }
    if tasks.is_empty() {
        anyhow::bail!("every part is disabled in [serve]: nothing to run");
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a part panicked");
        }
        if shutdown.is_cancelled() {
            continue;
        }
    }
    println!("x402scope: stopped; everything committed is kept");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_minute() {
        let secs: Vec<u64> = (0..9).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
