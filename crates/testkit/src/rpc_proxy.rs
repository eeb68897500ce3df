//! A fault-injecting JSON-RPC proxy: it forwards every request to a real node
//! (the test anvil) and, by the [`Faults`] it is given, answers some of them the
//! way real providers misbehave:
//!
//! - `429 Too Many Requests` with a `Retry-After` header (and records whether a
//!   refused `eth_getLogs` came back before the wait it was told);
//! - a timeout: the response is held past the client's patience, then dropped;
//! - "range too large" for `eth_getLogs` over a block-range threshold;
//! - an empty `eth_getLogs` answer where the real one has logs in the last block
//!   asked for (so the block's bloom contradicts it), once per block;
//! - a lagging head: every other `eth_blockNumber` is behind, and a block above
//!   the lagging head is "not found" (`null`) the first time it is asked for.
//!
//! The HTTP side is a small HTTP/1.1 server (keep-alive, `Content-Length`
//! bodies, which is what JSON-RPC clients send). The proxy stops when dropped.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::TestkitError;

/// Which faults to inject. `0` / `None` turns one off.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Every n-th request (of any method) is refused with 429 and `Retry-After`.
    pub rate_limit_every: u64,
    /// The `Retry-After` the 429s carry, in whole seconds.
    pub retry_after_secs: u64,
    /// Every n-th request (of any method) is held for `hold`, then dropped.
    pub timeout_every: u64,
    pub hold: Duration,
    /// `eth_getLogs` over more blocks than this is refused as too large.
    pub max_log_range: Option<u64>,
    /// Empty the first `eth_getLogs` answer per block that has logs in the last
    /// block asked for.
    pub empty_logs: bool,
    /// Blocks by which the lagging node is behind (every other `eth_blockNumber`;
    /// blocks above its head are `null` the first time).
    pub head_lag: u64,
}

impl Faults {
    /// Every fault on, at rates that a short test run meets many times.
    pub fn all() -> Self {
        Faults {
            rate_limit_every: 17,
            retry_after_secs: 1,
            timeout_every: 29,
            hold: Duration::from_secs(3),
            max_log_range: Some(3),
            empty_logs: true,
            head_lag: 4,
        }
    }
}

/// How many times each fault was injected.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FaultCounts {
    pub requests: u64,
    pub rate_limited: u64,
    /// Refused `eth_getLogs` requests that came back before their `Retry-After`.
    pub retried_too_early: u64,
    pub timeouts: u64,
    pub too_large: u64,
    pub emptied_logs: u64,
    pub lagging_heads: u64,
    pub blocks_not_found: u64,
}

#[derive(Debug, Default)]
struct State {
    counts: FaultCounts,
    /// Blocks whose log answer was already emptied once, or that were already
    /// "not found" once.
    emptied: HashSet<u64>,
    not_found: HashSet<u64>,
    /// Refused `eth_getLogs` params → when they may come back.
    refused_until: HashMap<String, Instant>,
}

struct Shared {
    upstream: String,
    faults: Faults,
    client: reqwest::Client,
    seq: AtomicU64,
    heads: AtomicU64,
    state: Mutex<State>,
}

/// A running proxy in front of `upstream`.
#[derive(Debug)]
pub struct RpcProxy {
    /// The proxy's JSON-RPC URL.
    pub url: String,
    shared: Arc<SharedDebug>,
    task: JoinHandle<()>,
}

/// `Shared` with a `Debug` that does not print the state.
struct SharedDebug(Shared);

impl std::fmt::Debug for SharedDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcProxy")
            .field("upstream", &self.0.upstream)
            .field("faults", &self.0.faults)
            .finish_non_exhaustive()
    }
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RpcProxy {
    /// Listen on a free local port and forward to `upstream` (an HTTP JSON-RPC URL).
    /// Must be called inside a tokio runtime.
    pub async fn start(upstream: &str, faults: Faults) -> Result<Self, TestkitError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(SharedDebug(Shared {
            upstream: upstream.to_owned(),
            faults,
            client: reqwest::Client::new(),
            seq: AtomicU64::new(0),
            heads: AtomicU64::new(0),
            state: Mutex::new(State::default()),
        }));
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &s.0).await;
                });
            }
        });
        Ok(RpcProxy { url, shared, task })
    }

    /// What was injected so far.
    pub fn counts(&self) -> FaultCounts {
        self.shared.0.lock().counts
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Serve one keep-alive connection.
async fn serve(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let Some(body) = read_request(&mut stream, &mut buf).await? else {
            return Ok(());
        };
        match answer(shared, &body).await {
            Reply::Json(status, text) => {
                write_response(&mut stream, status, &[], text.as_bytes()).await?;
            }
            Reply::RateLimited(secs) => {
                let retry = format!("Retry-After: {secs}\r\n");
                write_response(&mut stream, 429, &[&retry], b"Too Many Requests").await?;
            }
            Reply::Hold(d) => {
                tokio::time::sleep(d).await;
                return Ok(());
            }
        }
    }
}

/// Read one request's body; `None` when the client closed the connection.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<Vec<u8>>> {
    let header_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[header_end..header_end + length].to_vec();
    buf.drain(..header_end + length);
    Ok(Some(body))
}

async fn write_response(
    stream: &mut TcpStream,
    status: u16,
    extra_headers: &[&str],
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n",
        body.len()
    );
    for h in extra_headers {
        head.push_str(h);
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

enum Reply {
    Json(u16, String),
    RateLimited(u64),
    Hold(Duration),
}

fn hex_u64(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok()
}

fn rpc_error(id: &Value, message: &str) -> Reply {
    Reply::Json(
        200,
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": message}})
            .to_string(),
    )
}

fn rpc_result(id: &Value, result: &Value) -> Reply {
    Reply::Json(
        200,
        json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
    )
}

async fn forward(shared: &Shared, body: &[u8]) -> Result<Value, String> {
    let response = shared
        .client
        .post(&shared.upstream)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let text = response.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

async fn answer(shared: &Shared, body: &[u8]) -> Reply {
    let f = &shared.faults;
    let n = shared.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let method = request["method"].as_str().unwrap_or_default().to_owned();
    let id = request["id"].clone();
    let params = request["params"].clone();
    shared.lock().counts.requests += 1;

    // A refused log query that returns before its Retry-After is a client bug.
    if method == "eth_getLogs" {
        let key = params.to_string();
        let mut st = shared.lock();
        if let Some(until) = st.refused_until.remove(&key)
            && Instant::now() < until
        {
            st.counts.retried_too_early += 1;
        }
    }
    if f.rate_limit_every > 0 && n.is_multiple_of(f.rate_limit_every) {
        let mut st = shared.lock();
        st.counts.rate_limited += 1;
        if method == "eth_getLogs" {
            st.refused_until.insert(
                params.to_string(),
                Instant::now() + Duration::from_secs(f.retry_after_secs),
            );
        }
        return Reply::RateLimited(f.retry_after_secs);
    }
    if f.timeout_every > 0 && n.is_multiple_of(f.timeout_every) {
        shared.lock().counts.timeouts += 1;
        return Reply::Hold(f.hold);
    }

    match method.as_str() {
        "eth_getLogs" => {
            let filter = &params[0];
            let range = match (hex_u64(&filter["fromBlock"]), hex_u64(&filter["toBlock"])) {
                (Some(a), Some(b)) if b >= a => Some((a, b)),
                _ => None,
            };
            if let (Some(max), Some((a, b))) = (f.max_log_range, range)
                && b - a + 1 > max
            {
                shared.lock().counts.too_large += 1;
                return rpc_error(
                    &id,
                    &format!(
                        "eth_getLogs block range too large, range: {}, max: {max}",
                        b - a + 1
                    ),
                );
            }
            let real = match forward(shared, body).await {
                Ok(v) => v,
                Err(e) => return rpc_error(&id, &format!("proxy: upstream failed: {e}")),
            };
            if f.empty_logs
                && let Some(logs) = real["result"].as_array()
            {
                // The block whose logs are dropped: the last one asked for.
                let last = match range {
                    Some((_, b)) => Some(b),
                    None => logs.first().and_then(|l| hex_u64(&l["blockNumber"])),
                };
                if let Some(last) = last
                    && logs
                        .iter()
                        .any(|l| hex_u64(&l["blockNumber"]) == Some(last))
                {
                    let mut st = shared.lock();
                    if st.emptied.insert(last) {
                        st.counts.emptied_logs += 1;
                        return rpc_result(&id, &json!([]));
                    }
                }
            }
            Reply::Json(200, real.to_string())
        }
        "eth_blockNumber" if f.head_lag > 0 => {
            let real = match forward(shared, body).await {
                Ok(v) => v,
                Err(e) => return rpc_error(&id, &format!("proxy: upstream failed: {e}")),
            };
            let calls = shared.heads.fetch_add(1, Ordering::Relaxed);
            match hex_u64(&real["result"]) {
                Some(head) if calls % 2 == 1 => {
                    shared.lock().counts.lagging_heads += 1;
                    rpc_result(
                        &id,
                        &json!(format!("{:#x}", head.saturating_sub(f.head_lag))),
                    )
                }
                _ => Reply::Json(200, real.to_string()),
            }
        }
        "eth_getBlockByNumber" if f.head_lag > 0 => {
            let real = match forward(shared, body).await {
                Ok(v) => v,
                Err(e) => return rpc_error(&id, &format!("proxy: upstream failed: {e}")),
            };
            if let Some(number) = hex_u64(&params[0]) {
                let head = match forward(
                    shared,
                    br#"{"jsonrpc":"2.0","id":0,"method":"eth_blockNumber","params":[]}"#,
                )
                .await
                {
                    Ok(v) => hex_u64(&v["result"]).unwrap_or(0),
                    Err(e) => return rpc_error(&id, &format!("proxy: upstream failed: {e}")),
                };
                let mut st = shared.lock();
                if number + f.head_lag > head && st.not_found.insert(number) {
                    st.counts.blocks_not_found += 1;
                    return rpc_result(&id, &Value::Null);
                }
            }
            Reply::Json(200, real.to_string())
        }
        _ => match forward(shared, body).await {
            Ok(v) => Reply::Json(200, v.to_string()),
            Err(e) => rpc_error(&id, &format!("proxy: upstream failed: {e}")),
        },
    }
}
