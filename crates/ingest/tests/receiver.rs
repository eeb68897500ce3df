//! `POST /webhooks/{source}` against a real SQLite store: the status-code
//! matrix, the body cap (a 10 MiB body is refused without being read),
//! idempotency, processing into claims, and a redelivery storm.

mod common;

use std::time::Duration;

use common::*;
use rand::seq::SliceRandom;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use x402scope_ingest::signature::{Secret, sign_hook0};
use x402scope_ingest::webhooks::{MAX_BODY, process_pending};

fn body_of(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

/// (name, source, headers, body, expected status)
type Case<'a> = (&'a str, &'a str, Vec<(String, String)>, Vec<u8>, u16);

#[tokio::test]
async fn status_code_matrix() {
    let server = start(false).await;
    let client = reqwest::Client::new();
    let addr = server.addr;
    let t = now();
    let good = body_of(&settlement(1, true));

    // (name, source, headers, body, expected status)
    let svix: Vec<(String, String)> = signed(SECRET, "msg_svix", t, &good)
        .into_iter()
        .map(|(k, v)| (k.replace("webhook-", "svix-"), v))
        .collect();
    let mut two_sigs = signed(SECRET, "msg_two", t, &good);
    let wrong = signed(OLD_SECRET, "msg_other", t, &good)[2].1.clone();
    two_sigs[2].1 = format!("{wrong} {}", two_sigs[2].1);
    let mut tampered = signed(SECRET, "msg_tampered", t, &good);
    tampered[2].1 = signed(SECRET, "msg_tampered", t, b"{}")[2].1.clone();
    let not_json = b"{\"type\": ".to_vec();
    let unknown_type = body_of(&json!({"type": "x402.refund", "data": {}}));
    let missing_data = body_of(&json!({"type": "x402.settlement.succeeded"}));
    let mut inconsistent = settlement(5, true);
    inconsistent["data"]["settleResponse"]["success"] = json!(false);
    let inconsistent = body_of(&inconsistent);
    let no_sig: Vec<(String, String)> = signed(SECRET, "msg_nosig", t, &good)[..2].to_vec();
    let no_headers: Vec<(String, String)> = Vec::new();

    let cases: Vec<Case<'_>> = vec![
        (
            "valid",
            "shop",
            signed(SECRET, "msg_ok", t, &good),
            good.clone(),
            200,
        ),
        (
            "redelivery",
            "shop",
            signed(SECRET, "msg_ok", t + 5, &good),
            good.clone(),
            200,
        ),
        (
            "old secret still valid during rotation",
            "shop",
            signed(OLD_SECRET, "msg_old", t, &good),
            good.clone(),
            200,
        ),
        ("svix header names", "shop", svix, good.clone(), 200),
        (
            "several signatures, one right",
            "shop",
            two_sigs,
            good.clone(),
            200,
        ),
        (
            "unknown source",
            "nobody",
            signed(SECRET, "msg_x", t, &good),
            good.clone(),
            404,
        ),
        (
            "unknown secret",
            "shop",
            signed("whsec_dW5rbm93biBzZWNyZXQ=", "msg_u", t, &good),
            good.clone(),
            401,
        ),
        (
            "signature of another body",
            "shop",
            tampered,
            good.clone(),
            401,
        ),
        ("no signature header", "shop", no_sig, good.clone(), 401),
        ("no headers", "shop", no_headers, good.clone(), 401),
        (
            "301 s old",
            "shop",
            signed(SECRET, "msg_late", t - 301, &good),
            good.clone(),
            401,
        ),
        (
            "301 s ahead",
            "shop",
            signed(SECRET, "msg_early", t + 301, &good),
            good.clone(),
            401,
        ),
        (
            "signed, not JSON",
            "shop",
            signed(SECRET, "msg_nj", t, &not_json),
            not_json.clone(),
            400,
        ),
        (
            "signed, unknown type",
            "shop",
            signed(SECRET, "msg_ut", t, &unknown_type),
            unknown_type.clone(),
            400,
        ),
        (
            "signed, no data",
            "shop",
            signed(SECRET, "msg_nd", t, &missing_data),
            missing_data.clone(),
            400,
        ),
        (
            "signed, type and success disagree",
            "shop",
            signed(SECRET, "msg_in", t, &inconsistent),
            inconsistent.clone(),
            400,
        ),
        (
            "x402 event to the CDP source",
            "cdp",
            signed(SECRET, "msg_cdp", t, &good),
            good.clone(),
            401,
        ),
    ];
    for (name, source, headers, body, expected) in cases {
        let (status, reply) = post(&client, addr, source, &headers, body).await;
        assert_eq!(status, expected, "{name}: {reply}");
    }
    // The redelivery was answered as a duplicate.
    let (status, reply) = post(
        &client,
        addr,
        "shop",
        &signed(SECRET, "msg_ok", t, &good),
        good.clone(),
    )
    .await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("duplicate")));

    // Over the cap by one byte: 413; at the cap exactly: accepted.
    let mut at_cap = settlement(9, true);
    at_cap["pad"] = json!("");
    let base = body_of(&at_cap).len();
    at_cap["pad"] = json!("x".repeat(MAX_BODY - base));
    let at_cap = body_of(&at_cap);
    assert_eq!(at_cap.len(), MAX_BODY);
    let (status, reply) = post(
        &client,
        addr,
        "shop",
        &signed(SECRET, "msg_cap", t, &at_cap),
        at_cap.clone(),
    )
    .await;
    assert_eq!(status, 200, "a body of exactly {MAX_BODY} bytes: {reply}");
    let mut over = at_cap.clone();
    over.push(b' ');
    let (status, _) = post(
        &client,
        addr,
        "shop",
        &signed(SECRET, "msg_over", t, &over),
        over,
    )
    .await;
    assert_eq!(status, 413);

    // Only the 2xx deliveries are in the inbox: msg_ok, msg_old, msg_svix, msg_two, msg_cap.
    let pending = server.store.inbox_pending(100).await.expect("inbox");
    let mut ids: Vec<&str> = pending.iter().map(|e| e.webhook_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["msg_cap", "msg_ok", "msg_old", "msg_svix", "msg_two"]);
    let stored = pending
        .iter()
        .find(|e| e.webhook_id == "msg_ok")
        .expect("stored");
    assert_eq!(stored.body, good, "the raw body is stored byte for byte");
    let headers: serde_json::Value = serde_json::from_str(&stored.headers).expect("headers json");
    assert!(
        headers["webhook-signature"]
            .as_str()
            .is_some_and(|s| s.starts_with("v1,"))
    );
    assert!(stored.received_at >= t);

    // The processor turns them into claims; the five deliveries carry one event
    // (n = 1) four times and n = 9 once: two claims.
    let n = process_pending(&server.state).await.expect("process");
    assert_eq!(n, 5);
    let claims = server.store.claims().await.expect("claims");
    assert_eq!(claims.len(), 2, "{claims:?}");
    assert!(
        server
            .store
            .inbox_pending(100)
            .await
            .expect("inbox")
            .is_empty()
    );
    let c = claims
        .iter()
        .find(|c| c.resource_url.ends_with("/item/1"))
        .expect("claim 1");
    assert_eq!(c.source, "shop");
    assert_eq!(c.tx_id, format!("0x{:064x}", 1));
    assert_eq!(c.pay_to, "0x00000000000000000000000000000000000000aa");
    assert_eq!(c.payer, "0x00000000000000000000000000000000000000bb");
    assert_eq!(c.amount.to_string(), "1000");
    assert_eq!(c.facilitator, "http://facilitator.test");
    assert!(c.success);
}

/// Send the request head and the first `sent` bytes of the body, then stop
/// sending; return the status line the server answers with.
async fn partial_request(addr: std::net::SocketAddr, head: &str, first: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(first).await.expect("first bytes");
    // The rest never comes: a server that read the whole body would wait here.
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("the server answers without waiting for the rest of the body")
        .expect("read");
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn ten_mib_body_is_refused_without_being_read() {
    let server = start(false).await;
    let t = now();
    let ten_mib = 10 * 1024 * 1024;
    let body_start = vec![b'x'; 64 * 1024];
    let sig = signed(SECRET, "msg_big", t, b"");
    let mut head = format!(
        "POST /webhooks/shop HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {ten_mib}\r\n",
        server.addr
    );
    for (k, v) in &sig {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let status = partial_request(server.addr, &head, &body_start).await;
    assert!(
        status.starts_with("HTTP/1.1 413"),
        "declared 10 MiB: {status}"
    );

    // No Content-Length (chunked): refused once the cap is passed, while the
    // sender still has most of its 10 MiB to send.
    let mut head = format!(
        "POST /webhooks/shop HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n",
        server.addr
    );
    for (k, v) in &sig {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut chunks = Vec::new();
    for _ in 0..(MAX_BODY / (64 * 1024) + 1) {
        chunks.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunks.extend_from_slice(&body_start);
        chunks.extend_from_slice(b"\r\n");
    }
    let status = partial_request(server.addr, &head, &chunks).await;
    assert!(
        status.starts_with("HTTP/1.1 413"),
        "chunked past the cap: {status}"
    );
    assert!(
        server
            .store
            .inbox_pending(10)
            .await
            .expect("inbox")
            .is_empty()
    );
}

#[tokio::test]
async fn cdp_onchain_activity_is_deduplicated_on_network_tx_and_log_index() {
    let server = start(true).await;
    let client = reqwest::Client::new();
    let secret = Secret::raw(CDP_SECRET).expect("secret");
    let event = |log_index: u32, value: &str| {
        json!({
            "block_number": 46218191,
            "contract_address": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            "event_name": "Transfer",
            "event_signature": "Transfer(address,address,uint256)",
            "log_index": log_index,
            "network": "base-mainnet",
            "parameters": {"from": "0xF33a96b5932D9E9B9A0eDA447AbD8C9d48d2e0c8", "to": "0x61040E143A77F165Ba44543AF4A079F2C809D14b", "value": value},
            "timestamp": "2026-05-19T21:22:10Z",
            "transaction_from": "0x3E16D476D8Df15e3E776EAa5A46f37EC44C830cD",
            "transaction_hash": "0xa58e4471bcce875b1ea49cc0864a620d3a484b9b7c1b0b4fd18ce83f5b30e5e0"
        })
    };
    let send = |body: Vec<u8>, ts: i64, secret: Secret| {
        let client = client.clone();
        let addr = server.addr;
        async move {
            let sig = sign_hook0(&secret, ts, &[("content-type", "application/json")], &body);
            post(
                &client,
                addr,
                "cdp",
                &[("x-hook0-signature".into(), sig)],
                body,
            )
            .await
        }
    };
    let t = now();
    for log_index in [29, 29, 30, 29] {
        let (status, reply) = send(body_of(&event(log_index, "474891")), t, secret.clone()).await;
        assert_eq!(status, 200, "{reply}");
    }
    let wrong = Secret::raw("another secret").expect("secret");
    let (status, _) = send(body_of(&event(31, "1")), t, wrong).await;
    assert_eq!(status, 401);
    let (status, _) = send(body_of(&event(32, "1")), t - 400, secret.clone()).await;
    assert_eq!(status, 401);
    let mut swap = event(33, "1");
    swap["event_name"] = json!("Swap");
    let (status, _) = send(body_of(&swap), t, secret.clone()).await;
    assert_eq!(status, 400);

    let claims = wait_claims(&server.store, 2, 20).await;
    assert_eq!(claims.len(), 2, "{claims:?}");
    let mut ids: Vec<&str> = claims.iter().map(|c| c.claim_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "log:eip155:8453:0xa58e4471bcce875b1ea49cc0864a620d3a484b9b7c1b0b4fd18ce83f5b30e5e0:29",
            "log:eip155:8453:0xa58e4471bcce875b1ea49cc0864a620d3a484b9b7c1b0b4fd18ce83f5b30e5e0:30"
        ]
    );
    assert!(
        claims
            .iter()
            .all(|c| c.amount.to_string() == "474891" && c.network == "eip155:8453")
    );
}

#[tokio::test]
async fn redelivery_storm_yields_exactly_one_claim_per_event() {
    let server = start(true).await;
    let client = reqwest::Client::new();
    let t = now();
    let mut deliveries: Vec<(String, Vec<u8>)> = Vec::new();
    for n in 0..1000u64 {
        // Every fifth event is a failed settlement (claim keyed by webhook id).
        let body = body_of(&settlement(n, n % 5 != 0));
        for _ in 0..5 {
            deliveries.push((format!("msg_{n}"), body.clone()));
        }
    }
    deliveries.shuffle(&mut rand::rng());
    let statuses =
        futures::future::join_all(deliveries.chunks(deliveries.len() / 16 + 1).map(|chunk| {
            let client = client.clone();
            let addr = server.addr;
            let chunk = chunk.to_vec();
            async move {
                let mut out = Vec::new();
                for (id, body) in chunk {
                    let headers = signed(SECRET, &id, t, &body);
                    out.push(post(&client, addr, "shop", &headers, body).await.0);
                }
                out
            }
        }))
        .await;
    let statuses: Vec<u16> = statuses.into_iter().flatten().collect();
    assert_eq!(statuses.len(), 5000);
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every delivery answered 200"
    );
    let claims = wait_claims(&server.store, 1000, 60).await;
    // Give a processor that would over-count the chance to do so.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let claims_after = server.store.claims().await.expect("claims");
    assert_eq!(claims.len(), 1000);
    assert_eq!(claims_after.len(), 1000);
    assert_eq!(claims_after.iter().filter(|c| !c.success).count(), 200);
    assert!(
        server
            .store
            .inbox_pending(10)
            .await
            .expect("inbox")
            .is_empty()
    );
}
