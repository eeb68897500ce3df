//! The fetcher refuses internal addresses in every spelling, pins what it
//! checked, re-checks redirects, and survives hostile servers.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)]

mod common;

use std::collections::VecDeque;
use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Response, read_request, serve, serve_on, serve_raw};
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use x402scope_probe::fetch::{FetchError, FetchPolicy, FetchRequest, Fetcher, HostResolver};
use x402scope_probe::ip::BlockReason;

fn get(url: &str) -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: url.parse().unwrap(),
        headers: vec![],
        body: None,
    }
}

fn strict() -> Fetcher {
    Fetcher::new(FetchPolicy::default()).unwrap()
}

fn loopback(policy: FetchPolicy) -> Fetcher {
    Fetcher::new(FetchPolicy {
        allow_loopback: true,
        ..policy
    })
    .unwrap()
}

/// A stub DNS: answers from a queue per lookup (the last answer repeats), counts lookups.
#[derive(Debug, Default)]
struct StubDns {
    answers: Mutex<VecDeque<Vec<IpAddr>>>,
    lookups: Mutex<Vec<String>>,
}

impl StubDns {
    fn new(answers: &[&[&str]]) -> Arc<Self> {
        Arc::new(StubDns {
            answers: Mutex::new(
                answers
                    .iter()
                    .map(|a| a.iter().map(|s| s.parse().unwrap()).collect())
                    .collect(),
            ),
            lookups: Mutex::new(vec![]),
        })
    }
    fn lookups(&self) -> usize {
        self.lookups.lock().unwrap().len()
    }
}

impl HostResolver for StubDns {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        self.lookups.lock().unwrap().push(host.to_owned());
        let mut q = self.answers.lock().unwrap();
        let answer = if q.len() > 1 {
            q.pop_front().unwrap()
        } else {
            q.front().cloned().unwrap_or_default()
        };
        Box::pin(async move { Ok(answer) })
    }
}

fn assert_blocked(r: Result<impl std::fmt::Debug, FetchError>, ip: &str, reason: BlockReason) {
    match r {
        Err(FetchError::Blocked {
            ip: got, reason: r, ..
        }) => {
            assert_eq!(got, ip.parse::<IpAddr>().unwrap());
            assert_eq!(r, reason);
        }
        other => panic!("expected Blocked({ip}), got {other:?}"),
    }
}

/// localhost may resolve to 127.0.0.1 or ::1 first.
fn assert_blocked_loopback(r: Result<impl std::fmt::Debug, FetchError>) {
    assert!(
        matches!(
            r,
            Err(FetchError::Blocked {
                reason: BlockReason::Loopback,
                ..
            })
        ),
        "{r:?}"
    );
}

#[tokio::test]
async fn every_spelling_of_loopback_and_metadata_is_refused() {
    // A live server on 127.0.0.1: none of these may reach it.
    let server = serve(|_| Response::new(200).body("secret")).await;
    let port = server.addr.port();
    let f = strict();
    for (url, ip, reason) in [
        (
            format!("http://127.0.0.1:{port}/"),
            "127.0.0.1",
            BlockReason::Loopback,
        ),
        (
            format!("http://0x7f000001:{port}/"),
            "127.0.0.1",
            BlockReason::Loopback,
        ),
        (
            format!("http://2130706433:{port}/"),
            "127.0.0.1",
            BlockReason::Loopback,
        ),
        (
            format!("http://0177.0.0.1:{port}/"),
            "127.0.0.1",
            BlockReason::Loopback,
        ),
        (
            format!("http://127.1:{port}/"),
            "127.0.0.1",
            BlockReason::Loopback,
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            "::ffff:127.0.0.1",
            BlockReason::Loopback,
        ),
        (
            format!("http://[::1]:{port}/"),
            "::1",
            BlockReason::Loopback,
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "169.254.169.254",
            BlockReason::LinkLocal,
        ),
        (
            "http://[::ffff:a9fe:a9fe]/".to_owned(),
            "::ffff:169.254.169.254",
            BlockReason::LinkLocal,
        ),
        (
            "http://10.0.0.1/".to_owned(),
            "10.0.0.1",
            BlockReason::Private,
        ),
        (
            "http://100.64.0.1/".to_owned(),
            "100.64.0.1",
            BlockReason::Cgnat,
        ),
        (
            "http://0.0.0.0/".to_owned(),
            "0.0.0.0",
            BlockReason::Unspecified,
        ),
    ] {
        assert_blocked(f.fetch(get(&url)).await, ip, reason);
    }
    assert_eq!(server.connections(), 0);
    // localhost goes through DNS, and is refused there.
    assert_blocked_loopback(f.fetch(get(&format!("http://localhost:{port}/"))).await);
    assert_eq!(server.connections(), 0);
    // Not http(s), or with credentials: refused before anything.
    assert!(matches!(
        f.fetch(get("file:///etc/passwd")).await,
        Err(FetchError::BadUrl { .. })
    ));
    assert!(matches!(
        f.fetch(get("http://user:pw@example.com/")).await,
        Err(FetchError::BadUrl { .. })
    ));
}

#[tokio::test]
async fn the_switch_lets_loopback_through_and_sends_our_user_agent_without_cookies() {
    let server = serve(|req| {
        let cookie = req.header("cookie").unwrap_or("none").to_owned();
        Response::new(200)
            .header("set-cookie", "session=1")
            .body(format!(
                "{}|{}",
                req.header("user-agent").unwrap_or(""),
                cookie
            ))
    })
    .await;
    let f = loopback(FetchPolicy::default());
    let first = f.fetch(get(&server.url("/"))).await.unwrap();
    let second = f.fetch(get(&server.url("/"))).await.unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(
        first.body,
        format!("{}|none", x402scope_probe::fetch::USER_AGENT)
    );
    assert!(x402scope_probe::fetch::USER_AGENT.starts_with("x402scope-probe/"));
    assert_eq!(second.body, first.body, "no cookie sent back");
}

#[tokio::test]
async fn a_name_with_any_private_address_is_refused() {
    let server = serve(|_| Response::new(200)).await;
    let dns = StubDns::new(&[&["127.0.0.2", "10.1.2.3"]]);
    let f = Fetcher::with_resolver(
        FetchPolicy {
            allow_addresses: vec!["127.0.0.2".parse().unwrap()],
            ..FetchPolicy::default()
        },
        dns.clone(),
    )
    .unwrap();
    let url = format!("http://mixed.test:{}/", server.addr.port());
    assert_blocked(f.fetch(get(&url)).await, "10.1.2.3", BlockReason::Private);
    assert_eq!(dns.lookups(), 1);
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn dns_answering_public_then_private_cannot_rebind() {
    // 127.0.0.2 is exempted and stands for a public address; 127.0.0.1 is the
    // private target, on the same port.
    let public = serve_on("127.0.0.2", 0, |_| Response::new(200).body("public")).await;
    let port = public.addr.port();
    let private = serve_on("127.0.0.1", port, |_| Response::new(200).body("private")).await;
    let dns = StubDns::new(&[&["127.0.0.2"], &["127.0.0.1"]]);
    let f = Fetcher::with_resolver(
        FetchPolicy {
            allow_addresses: vec!["127.0.0.2".parse().unwrap()],
            ..FetchPolicy::default()
        },
        dns.clone(),
    )
    .unwrap();
    let url = format!("http://rebind.test:{port}/");
    // The address that was checked is the one connected to: one lookup, no second.
    let r = f.fetch(get(&url)).await.unwrap();
    assert_eq!(r.body, "public");
    assert_eq!(
        r.remote_addr.as_deref(),
        Some(format!("127.0.0.2:{port}").as_str())
    );
    assert_eq!(dns.lookups(), 1);
    // The next connection resolves again, gets the private answer, and is refused.
    assert_blocked(f.fetch(get(&url)).await, "127.0.0.1", BlockReason::Loopback);
    assert_eq!(dns.lookups(), 2);
    assert_eq!(private.connections(), 0);
}

#[tokio::test]
async fn redirects_are_rechecked_and_capped() {
    let target = serve(|_| Response::new(200).body("internal")).await;
    let tport = target.addr.port();
    let hop = serve_on("127.0.0.2", 0, move |req| {
        let to = match req.path.as_str() {
            "/localhost" => format!("http://localhost:{tport}/"),
            "/ip" => format!("http://127.0.0.1:{tport}/"),
            "/mapped" => format!("http://[::ffff:127.0.0.1]:{tport}/"),
            "/metadata" => "http://169.254.169.254/latest/meta-data/".into(),
            "/loop" => "/loop".into(),
            _ => "/done".into(),
        };
        if req.path == "/done" {
            Response::new(200).body("done")
        } else {
            Response::new(302).header("location", &to)
        }
    })
    .await;
    let f = Fetcher::new(FetchPolicy {
        allow_addresses: vec!["127.0.0.2".parse().unwrap()],
        ..FetchPolicy::default()
    })
    .unwrap();
    assert_blocked_loopback(f.fetch(get(&hop.url("/localhost"))).await);
    assert_blocked(
        f.fetch(get(&hop.url("/ip"))).await,
        "127.0.0.1",
        BlockReason::Loopback,
    );
    assert_blocked(
        f.fetch(get(&hop.url("/mapped"))).await,
        "::ffff:127.0.0.1",
        BlockReason::Loopback,
    );
    assert_blocked(
        f.fetch(get(&hop.url("/metadata"))).await,
        "169.254.169.254",
        BlockReason::LinkLocal,
    );
    assert_eq!(target.connections(), 0);
    assert!(matches!(
        f.fetch(get(&hop.url("/loop"))).await,
        Err(FetchError::TooManyRedirects { max: 3 })
    ));
    let ok = f.fetch(get(&hop.url("/start"))).await.unwrap();
    assert_eq!(ok.body, "done");
    assert_eq!(ok.redirects, vec![hop.url("/start")]);
}

fn capped() -> FetchPolicy {
    FetchPolicy {
        max_body_bytes: 1 << 20,
        total_timeout: Duration::from_secs(3),
        ..FetchPolicy::default()
    }
}

#[tokio::test]
async fn a_gzip_bomb_stops_at_the_decompressed_cap() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(
        bomb.len() < (1 << 20) / 4,
        "the compressed body is far under the cap"
    );
    let server = serve(move |_| {
        Response::new(200)
            .header("content-encoding", "gzip")
            .body(bomb.clone())
    })
    .await;
    let r = loopback(capped()).fetch(get(&server.url("/"))).await;
    assert!(
        matches!(r, Err(FetchError::BodyTooLarge { max }) if max == 1 << 20),
        "{r:?}"
    );
}

async fn stream_zeros(mut stream: tokio::net::TcpStream, head: String, sent: Arc<Mutex<u64>>) {
    if read_request(&mut stream).await.is_none() {
        return;
    }
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    while total < (2u64 << 30) {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
        total += chunk.len() as u64;
        *sent.lock().unwrap() = total;
    }
}

#[tokio::test]
async fn a_2_gib_body_is_refused_without_buffering() {
    // Declared length: refused before reading the body.
    let sent = Arc::new(Mutex::new(0u64));
    let s = sent.clone();
    let server = serve_raw(move |stream| {
        stream_zeros(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-length: 2147483648\r\n\r\n".into(),
            s.clone(),
        )
    })
    .await;
    let started = Instant::now();
    let r = loopback(capped()).fetch(get(&server.url("/"))).await;
    assert!(matches!(r, Err(FetchError::BodyTooLarge { .. })), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Chunked, no length: the stream is cut at the cap.
    let sent = Arc::new(Mutex::new(0u64));
    let s = sent.clone();
    let server = serve_raw(move |stream| {
        let s = s.clone();
        async move {
            let mut stream = stream;
            if read_request(&mut stream).await.is_none() {
                return;
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = vec![b'a'; 64 * 1024];
            let framed = [
                format!("{:x}\r\n", chunk.len()).into_bytes(),
                chunk,
                b"\r\n".to_vec(),
            ]
            .concat();
            let mut total = 0u64;
            while total < (2u64 << 30) {
                if stream.write_all(&framed).await.is_err() {
                    break;
                }
                total += 64 * 1024;
                *s.lock().unwrap() = total;
            }
        }
    })
    .await;
    let r = loopback(capped()).fetch(get(&server.url("/"))).await;
    assert!(matches!(r, Err(FetchError::BodyTooLarge { .. })), "{r:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = *sent.lock().unwrap();
    assert!(
        written < 64 << 20,
        "the server could write only {written} bytes before the cut"
    );
}

#[tokio::test]
async fn slowloris_servers_hit_the_total_timeout() {
    // Headers one byte every 200 ms, forever.
    let slow_head = serve_raw(|mut stream| async move {
        if read_request(&mut stream).await.is_none() {
            return;
        }
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n").await;
        loop {
            if stream.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    // Headers at once, then the body one byte every 200 ms.
    let slow_body = serve_raw(|mut stream| async move {
        if read_request(&mut stream).await.is_none() {
            return;
        }
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
            .await;
        loop {
            if stream.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let policy = FetchPolicy {
        total_timeout: Duration::from_secs(2),
        ..FetchPolicy::default()
    };
    for server in [&slow_head, &slow_body] {
        let started = Instant::now();
        let r = loopback(policy.clone()).fetch(get(&server.url("/"))).await;
        assert!(matches!(r, Err(FetchError::Timeout(_))), "{r:?}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let server = serve(|_| Response::new(200).header("x-big", &"a".repeat(100_000))).await;
    let r = loopback(FetchPolicy::default())
        .fetch(get(&server.url("/")))
        .await;
    assert!(
        matches!(r, Err(FetchError::HeadersTooLarge { max: 65536 })),
        "{r:?}"
    );
}
