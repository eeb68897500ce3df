//! Probes every listed resource periodically, politely.
//!
//! - Each resource is due every `interval`, ±`jitter` (a fraction) at random, so
//!   probes do not line up.
//! - Requests to one host go through the fetcher's per-host governor limit.
//! - A 429 or 503 pushes the whole host back: by its Retry-After, else by an
//!   exponential backoff (`base_backoff`, doubling to `max_backoff`); the next
//!   clean answer resets it.
//! - Outcomes leave through a bounded channel (the caller stores them); the loop
//!   ends on cancellation, or after one pass with `once`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::fetch::Fetcher;
use crate::model::Listing;
use crate::probe::{ProbeReport, probe};
use crate::rules::Context;

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub interval: Duration,
    /// 0.2 = ±20 %.
    pub jitter: f64,
    /// Resources probed at once.
    pub concurrency: usize,
    /// One pass over the targets, then return.
    pub once: bool,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            interval: Duration::from_secs(3600),
            jitter: 0.2,
            concurrency: 16,
            once: false,
            base_backoff: Duration::from_secs(60),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

/// One probe of one listed resource.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub listing: Listing,
    /// Unix seconds.
    pub started_at: i64,
    /// The report, or the fetch error (`code: message`).
    pub result: Result<ProbeReport, String>,
}

impl Outcome {
    /// Status and latency of the first answer, for uptime (0 without one).
    pub fn status_and_latency(&self) -> (u16, u32) {
        match &self.result {
            Ok(r) => r.exchanges.first().map_or((0, 0), |e| {
                (
                    e.status(),
                    u32::try_from(e.response.latency_ms).unwrap_or(u32::MAX),
                )
            }),
            Err(_) => (0, 0),
        }
    }
}

const MAX_ONCE_RETRIES: u32 = 3;

#[derive(Debug, Default, Clone, Copy)]
struct HostState {
    not_before: Option<Instant>,
    backoff: Option<Duration>,
}

fn jittered(interval: Duration, jitter: f64) -> Duration {
    let j = jitter.clamp(0.0, 1.0);
    let factor = 1.0 + j * (rand::random::<f64>() * 2.0 - 1.0);
    interval.mul_f64(factor.max(0.0))
}

fn host_of(l: &Listing) -> String {
    url::Url::parse(&l.resource)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Run until `cancel` (or one pass with `once`).
pub async fn run(
    fetcher: Fetcher,
    targets: Vec<Listing>,
    config: SchedulerConfig,
    ctx: Context,
    out: mpsc::Sender<Outcome>,
    cancel: CancellationToken,
) {
    let start = Instant::now();
    let ctx = Arc::new(ctx);
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    // (due, sequence, index into targets); min-heap by due.
    let mut queue: BinaryHeap<Reverse<(Instant, usize, usize)>> = BinaryHeap::new();
    for i in 0..targets.len() {
        // The first pass is spread over the jitter window too, unless `once`.
        let first = if config.once {
            start
        } else {
            start
                + config
                    .interval
                    .mul_f64(config.jitter.clamp(0.0, 1.0) * rand::random::<f64>())
        };
        queue.push(Reverse((first, i, i)));
    }
    let mut seq = targets.len();
    let mut hosts: HashMap<String, HostState> = HashMap::new();
    // Throttled retries per target in a single pass.
    let mut retries: HashMap<usize, u32> = HashMap::new();
    let mut running: JoinSet<(usize, Option<u64>)> = JoinSet::new();
    loop {
        if config.once && queue.is_empty() && running.is_empty() {
            return;
        }
        let next_due = queue.peek().map(|Reverse((due, _, _))| *due);
        tokio::select! {
            () = cancel.cancelled() => {
                running.abort_all();
                return;
            }
            Some(done) = running.join_next(), if !running.is_empty() => {
                let Ok((i, throttled)) = done else { continue };
                let host = host_of(&targets[i]);
                let state = hosts.entry(host).or_default();
                match throttled {
                    Some(retry_after) => {
                        let backoff = if retry_after > 0 {
                            Duration::from_secs(retry_after)
                        } else {
                            state
                                .backoff
                                .map_or(config.base_backoff, |b| (b * 2).min(config.max_backoff))
                        };
                        state.backoff = Some(backoff);
                        state.not_before = Some(Instant::now() + backoff);
                        // Throttled work is retried, in a single pass up to 3 times.
                        let n = retries.entry(i).or_default();
                        *n += 1;
                        if !config.once || *n <= MAX_ONCE_RETRIES {
                            seq += 1;
                            queue.push(Reverse((Instant::now() + backoff, seq, i)));
                        }
                    }
                    None => {
                        state.backoff = None;
                        if !config.once {
                            seq += 1;
                            let due = Instant::now() + jittered(config.interval, config.jitter);
                            queue.push(Reverse((due, seq, i)));
                        }
                    }
                }
            }
            () = async {
                match next_due {
                    Some(due) => tokio::time::sleep_until(due).await,
                    None => std::future::pending().await,
                }
            } => {
                let Some(Reverse((_, _, i))) = queue.pop() else { continue };
                let host = host_of(&targets[i]);
                if let Some(nb) = hosts.get(&host).and_then(|s| s.not_before)
                    && nb > Instant::now()
                {
                    seq += 1;
                    queue.push(Reverse((nb, seq, i)));
                    continue;
                }
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                let fetcher = fetcher.clone();
                let listing = targets[i].clone();
                let ctx = ctx.clone();
                let out = out.clone();
                running.spawn(async move {
                    let _permit = permit;
                    let started_at = now_unix();
                    let result = match url::Url::parse(&listing.resource) {
                        Ok(url) => probe(&fetcher, &url, Some(&listing), &ctx)
                            .await
                            .map_err(|e| format!("{}: {e}", e.code())),
                        Err(e) => Err(format!("bad_url: {e}")),
                    };
                    let throttled = result.as_ref().ok().and_then(|r| r.throttled);
                    let _ = out.send(Outcome { listing, started_at, result }).await;
                    (i, throttled)
                });
            }
        }
    }
}
