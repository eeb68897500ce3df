//! The scheduler against loopback sellers: one pass, the per-host limit, and
//! Retry-After on 429.

#![allow(clippy::unwrap_used)]

mod common;

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Response, serve_on};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use x402scope_probe::fetch::{FetchPolicy, Fetcher, HostLimiter};
use x402scope_probe::scheduler::{Outcome, SchedulerConfig, run};
use x402scope_probe::{Context, Listing};

fn payment_required(url: &str) -> Response {
    use base64::Engine;
    let doc = serde_json::json!({"x402Version": 2, "resource": {"url": url},
        "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": "1",
            "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            "payTo": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
            "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}}]});
    Response::new(402)
        .header(
            "payment-required",
            &base64::engine::general_purpose::STANDARD.encode(doc.to_string()),
        )
        .header("access-control-expose-headers", "*")
}

fn listing(url: String) -> Listing {
    Listing {
        resource: url,
        methods: vec!["GET".into()],
        accepts: vec![],
    }
}

fn fetcher(per_minute: u32) -> Fetcher {
    Fetcher::new(FetchPolicy {
        allow_loopback: true,
        ..FetchPolicy::default()
    })
    .unwrap()
    .with_limiter(Arc::new(HostLimiter::per_minute(
        NonZeroU32::new(per_minute).unwrap(),
        Duration::from_millis(10),
    )))
}

async fn collect(mut rx: mpsc::Receiver<Outcome>, n: usize) -> Vec<Outcome> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(o)) => out.push(o),
            _ => break,
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pass_over_two_hosts_under_the_per_host_limit() {
    let times: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let t1 = times.clone();
    let a = serve_on("127.0.0.1", 0, move |req| {
        t1.lock().unwrap().push(("a".into(), Instant::now()));
        payment_required(&req.path)
    })
    .await;
    let t2 = times.clone();
    let b = serve_on("127.0.0.2", 0, move |req| {
        t2.lock().unwrap().push(("b".into(), Instant::now()));
        payment_required(&req.path)
    })
    .await;
    let targets = vec![
        listing(a.url("/one")),
        listing(a.url("/two")),
        listing(b.url("/three")),
    ];
    let (tx, rx) = mpsc::channel(8);
    let config = SchedulerConfig {
        once: true,
        ..SchedulerConfig::default()
    };
    // 600 per minute: one request to a host every 100 ms.
    let task = tokio::spawn(run(
        fetcher(600),
        targets,
        config,
        Context::default(),
        tx,
        CancellationToken::new(),
    ));
    let outcomes = collect(rx, 3).await;
    task.await.unwrap(); // a single pass returns by itself
    assert_eq!(outcomes.len(), 3);
    for o in &outcomes {
        let r = o.result.as_ref().unwrap();
        assert_eq!(r.findings, vec![], "{:#?}", r.findings);
        assert_eq!(o.status_and_latency().0, 402);
    }
    let times = times.lock().unwrap();
    // 4 requests per resource: GET, GET again, malformed, unverifiable.
    assert_eq!(times.iter().filter(|(h, _)| h == "a").count(), 8);
    assert_eq!(times.iter().filter(|(h, _)| h == "b").count(), 4);
    let a_times: Vec<Instant> = times
        .iter()
        .filter(|(h, _)| h == "a")
        .map(|(_, t)| *t)
        .collect();
    for pair in a_times.windows(2) {
        let gap = pair[1].saturating_duration_since(pair[0]);
        assert!(
            gap >= Duration::from_millis(80),
            "requests to one host {gap:?} apart"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_holds_the_host_back() {
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let t = times.clone();
    let server = serve_on("127.0.0.1", 0, move |req| {
        t.lock().unwrap().push(Instant::now());
        if req.seq == 1 {
            Response::new(429).header("retry-after", "2")
        } else {
            payment_required(&req.path)
        }
    })
    .await;
    let (tx, rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let config = SchedulerConfig {
        interval: Duration::from_millis(100),
        jitter: 0.0,
        ..SchedulerConfig::default()
    };
    let task = tokio::spawn(run(
        fetcher(6000),
        vec![listing(server.url("/x"))],
        config,
        Context::default(),
        tx,
        cancel.clone(),
    ));
    let outcomes = collect(rx, 2).await;
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(outcomes.len(), 2);
    let first = outcomes[0].result.as_ref().unwrap();
    assert_eq!(first.throttled, Some(2));
    assert_eq!(first.exchanges.len(), 1, "stopped at the 429");
    assert_eq!(first.findings, vec![], "a throttled answer is not judged");
    let second = outcomes[1].result.as_ref().unwrap();
    assert_eq!(second.throttled, None);
    let times = times.lock().unwrap();
    let gap = times[1].saturating_duration_since(times[0]);
    assert!(
        gap >= Duration::from_millis(1900),
        "retried after {gap:?}, before Retry-After"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_without_retry_after_backs_off_exponentially() {
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let t = times.clone();
    let server = serve_on("127.0.0.1", 0, move |_| {
        t.lock().unwrap().push(Instant::now());
        Response::new(503)
    })
    .await;
    let (tx, rx) = mpsc::channel(8);
    let cancel = CancellationToken::new();
    let config = SchedulerConfig {
        interval: Duration::from_millis(10),
        jitter: 0.0,
        base_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(10),
        ..SchedulerConfig::default()
    };
    let task = tokio::spawn(run(
        fetcher(6000),
        vec![listing(server.url("/x"))],
        config,
        Context::default(),
        tx,
        cancel.clone(),
    ));
    let outcomes = collect(rx, 4).await;
    cancel.cancel();
    task.await.unwrap();
    assert_eq!(outcomes.len(), 4);
    assert!(
        outcomes
            .iter()
            .all(|o| o.result.as_ref().unwrap().throttled == Some(0))
    );
    let times = times.lock().unwrap();
    let gaps: Vec<Duration> = times
        .windows(2)
        .map(|p| p[1].saturating_duration_since(p[0]))
        .collect();
    // 200 ms, 400 ms, 800 ms.
    for (gap, want) in gaps.iter().zip([200u64, 400, 800]) {
        assert!(*gap >= Duration::from_millis(want - 20), "{gaps:?}");
    }
}
