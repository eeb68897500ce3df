//! `/metrics` through `tower::ServiceExt::oneshot`: probe results read from
//! the store (runs by outcome, findings by severity), and webhook counts after
//! real deliveries to the real receiver merged into the app (deliveries by
//! source and outcome, the inbox by source and status).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use x402scope_ingest::events::SourceKind;
use x402scope_ingest::signature::{Secret, sign_standard};
use x402scope_ingest::webhooks::{
    self, MAX_BODY, SourceConfig, Sources, WebhookState, WebhooksConfig,
};
use x402scope_store::*;
use x402scope_web::metrics::ExternalFamily;
use x402scope_web::{AppState, StatusBoard, WebConfig};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now() -> i64 {
    webhooks::unix_now()
}

async fn store(dir: &tempfile::TempDir) -> Store {
    let url = StoreUrl::Sqlite(dir.path().join("x402scope.db"));
    migrate(&url).await.unwrap();
    open(&url).await.unwrap()
}

fn state(store: Store, board: StatusBoard) -> AppState {
    AppState::new(
        store,
        board,
        WebConfig {
            networks: vec![],
            cache_ttl: Duration::from_secs(5),
            rate_limit: None,
        },
    )
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn metrics(app: &Router) -> String {
    let (status, body) = send(app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    body
}

/// The value of the sample `name{labels}`, if present.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn run(id: &str, status_code: u16) -> ProbeRun {
    ProbeRun {
        id: id.into(),
        url: format!("https://seller.example/{id}"),
        started_at: now() - 60,
        status_code,
        latency_ms: 12,
        error: if status_code == 0 {
            "connection refused".into()
        } else {
            String::new()
        },
    }
}

fn finding(run: &str, rule: &str, severity: &str) -> ProbeFinding {
    ProbeFinding {
        run_id: run.into(),
        rule_id: rule.into(),
        severity: severity.into(),
        message: format!("{rule} failed"),
        evidence: "{}".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_results_by_outcome_and_severity() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let app = x402scope_web::app(state(store.clone(), StatusBoard::new()), Router::new());

    // Nothing probed yet: the families are there, without samples.
    let text = metrics(&app).await;
    assert!(
        text.contains("# TYPE x402scope_probe_runs_total counter"),
        "{text}"
    );
    assert_eq!(sample(&text, "x402scope_store_up"), Some(1));
    assert_eq!(
        sample(&text, "x402scope_probe_runs_total{outcome=\"compliant\"}"),
        None
    );

    // Two compliant runs (one with only a `should` finding), two
    // noncompliant ones (a `must` finding each, one with two findings), one
    // without an HTTP answer.
    for (r, findings) in [
        (run("a", 402), vec![]),
        (run("b", 402), vec![finding("b", "X402-010", "should")]),
        (
            run("c", 402),
            vec![
                finding("c", "X402-001", "must"),
                finding("c", "X402-020", "interop"),
            ],
        ),
        (run("d", 200), vec![finding("d", "X402-002", "must")]),
        (run("e", 0), vec![]),
    ] {
        store.insert_probe_run(r, findings).await.unwrap();
    }
    // A run stored twice counts once.
    store.insert_probe_run(run("a", 402), vec![]).await.unwrap();

    let text = metrics(&app).await;
    for (series, n) in [
        ("x402scope_probe_runs_total{outcome=\"compliant\"}", 2),
        ("x402scope_probe_runs_total{outcome=\"noncompliant\"}", 2),
        ("x402scope_probe_runs_total{outcome=\"unreachable\"}", 1),
        ("x402scope_probe_findings_total{severity=\"must\"}", 2),
        ("x402scope_probe_findings_total{severity=\"should\"}", 1),
        ("x402scope_probe_findings_total{severity=\"interop\"}", 1),
    ] {
        assert_eq!(sample(&text, series), Some(n), "{series}\n{text}");
    }
}

fn delivery(source: &str, id: &str, body: &[u8], secret: &str) -> Request<Body> {
    let ts = now();
    let sig = sign_standard(&Secret::whsec(secret).unwrap(), id, ts, body);
    Request::post(format!("/webhooks/{source}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(Body::from(body.to_vec()))
        .unwrap()
}

fn settlement(n: u64) -> Vec<u8> {
    serde_json::json!({
        "type": "x402.settlement.succeeded",
        "timestamp": 1_700_000_000u64 + n,
        "data": {
            "resource": {"url": format!("http://seller.test/item/{n}"), "mimeType": "application/json"},
            "facilitator": "http://facilitator.test",
            "accepted": {
                "scheme": "exact",
                "network": "eip155:84532",
                "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                "amount": "1000",
                "payTo": "0x00000000000000000000000000000000000000aa",
                "maxTimeoutSeconds": 300,
                "extra": {"name": "USDC", "version": "2"}
            },
            "settleResponse": {
                "success": true,
                "transaction": format!("0x{n:064x}"),
                "network": "eip155:84532",
                "payer": "0x00000000000000000000000000000000000000bb"
            }
        }
    })
    .to_string()
    .into_bytes()
}

/// The bridge `serve` installs: the receiver's counts as a family.
fn deliveries_family(w: WebhookState) -> ExternalFamily {
    ExternalFamily {
        name: "x402scope_webhook_deliveries_total".into(),
        kind: "counter",
        help: "Webhook deliveries by source and outcome.".into(),
        labels: vec!["source".into(), "outcome".into()],
        read: std::sync::Arc::new(move || {
            w.delivery_counts()
                .into_iter()
                .map(|(s, o, n)| (vec![s, o.as_str().to_owned()], n))
                .collect()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_by_source_and_outcome_and_the_inbox_by_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let mut sources = BTreeMap::new();
    sources.insert(
        "shop".to_owned(),
        SourceConfig {
            kind: SourceKind::X402,
            secrets: vec![SECRET.to_owned()],
        },
    );
    let config = WebhooksConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        sources,
    };
    let hooks = WebhookState::new(store.clone(), Sources::from_config(&config).unwrap());
    let board = StatusBoard::new();
    board.add_metrics(deliveries_family(hooks.clone()));
    let app = x402scope_web::app(state(store.clone(), board), webhooks::router(hooks.clone()));

    // Three accepted, one of them delivered again twice.
    for n in 1..=3u64 {
        let (s, b) = send(
            &app,
            delivery("shop", &format!("msg_{n}"), &settlement(n), SECRET),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    for _ in 0..2 {
        let (s, b) = send(&app, delivery("shop", "msg_1", &settlement(1), SECRET)).await;
        assert_eq!((s, b.contains("duplicate")), (StatusCode::OK, true), "{b}");
    }
    // Signed with another secret; unsigned.
    let (s, _) = send(
        &app,
        delivery(
            "shop",
            "msg_x",
            &settlement(9),
            "whsec_b2xkIHNlY3JldCwgc3RpbGwgdmFsaWQ=",
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let unsigned = Request::post("/webhooks/shop")
        .body(Body::from(settlement(8)))
        .unwrap();
    assert_eq!(send(&app, unsigned).await.0, StatusCode::UNAUTHORIZED);
    // Over the size cap.
    let big = vec![b' '; MAX_BODY + 1];
    let (s, _) = send(&app, delivery("shop", "msg_big", &big, SECRET)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    // Signed, but not an event.
    let (s, _) = send(&app, delivery("shop", "msg_junk", b"{\"type\":1}", SECRET)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Two unknown sources count under one label.
    for name in ["nope", "other"] {
        let (s, _) = send(&app, delivery(name, "m", &settlement(1), SECRET)).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }

    let text = metrics(&app).await;
    assert!(
        text.contains("# TYPE x402scope_webhook_deliveries_total counter"),
        "{text}"
    );
    for (series, n) in [
        ("{source=\"shop\",outcome=\"accepted\"}", 3),
        ("{source=\"shop\",outcome=\"duplicate\"}", 2),
        ("{source=\"shop\",outcome=\"rejected_signature\"}", 2),
        ("{source=\"shop\",outcome=\"too_large\"}", 1),
        ("{source=\"shop\",outcome=\"bad_request\"}", 1),
        ("{source=\"(unknown)\",outcome=\"unknown_source\"}", 2),
    ] {
        let series = format!("x402scope_webhook_deliveries_total{series}");
        assert_eq!(sample(&text, &series), Some(n), "{series}\n{text}");
    }
    // No processor runs here: the three stored envelopes wait in the inbox.
    assert_eq!(
        sample(
            &text,
            "x402scope_webhook_inbox_envelopes{source=\"shop\",status=\"received\"}"
        ),
        Some(3),
        "{text}"
    );
    // After one processor pass they are processed.
    let cancel = tokio_util::sync::CancellationToken::new();
    let processor = tokio::spawn(webhooks::run_processor(hooks.clone(), cancel.clone()));
    let mut processed = None;
    for _ in 0..200 {
        let text = metrics(&app).await;
        processed = sample(
            &text,
            "x402scope_webhook_inbox_envelopes{source=\"shop\",status=\"processed\"}",
        );
        if processed == Some(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    cancel.cancel();
    let _ = processor.await;
    assert_eq!(processed, Some(3));
}
