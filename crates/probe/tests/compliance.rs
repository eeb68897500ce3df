//! The probe against real servers on loopback: well-behaved ones (the reference
//! `@x402/express` stack, the captured v1 and v2 responses) get no MUST finding;
//! each broken one gets exactly the rule it breaks.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use common::{Request, Response, serve};
use serde_json::{Value, json};
use x402scope_probe::codec::{Decoded, decode_header};
use x402scope_probe::fetch::{FetchPolicy, Fetcher};
use x402scope_probe::listing::parse_listings;
use x402scope_probe::{Context, Listing, ProbeReport, Severity, probe};

fn fetcher() -> Fetcher {
    Fetcher::new(FetchPolicy {
        allow_loopback: true,
        ..FetchPolicy::default()
    })
    .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Broken {
    Nothing,
    PaidWithoutPaying,
    NoPaymentRequiredHeader,
    Base64Url,
    NonCaip2Network,
    NonIntegerAmount,
    NoExtraName,
    EmptyAccepts,
    OkOnMalformedPayment,
    CrashOnMalformedPayment,
    ChangingAccepts,
}

fn requirements(url: &str, broken: Broken, n: u64) -> Value {
    let mut doc = json!({"x402Version": 2, "error": "Payment required",
        "resource": {"url": url, "description": "Weather >>> data???", "mimeType": "application/json"},
        "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": "1000",
            "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            "payTo": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
            "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}}]});
    match broken {
        Broken::NonCaip2Network => doc["accepts"][0]["network"] = json!("base-sepolia"),
        Broken::NonIntegerAmount => doc["accepts"][0]["amount"] = json!("0.001"),
        Broken::NoExtraName => doc["accepts"][0]["extra"] = json!({"version": "2"}),
        Broken::EmptyAccepts => doc["accepts"] = json!([]),
        Broken::ChangingAccepts => doc["accepts"][0]["amount"] = json!((1000 + n).to_string()),
        _ => {}
    }
    doc
}

/// A v2 seller written from the spec, with one deliberate fault.
fn seller(broken: Broken, counter: &AtomicU64, req: &Request, base: &str) -> Response {
    let n = counter.fetch_add(1, Ordering::SeqCst);
    let url = format!("{base}{}", req.path);
    let doc = requirements(&url, broken, n);
    let b64 = match broken {
        Broken::Base64Url => {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(doc.to_string())
        }
        _ => base64::engine::general_purpose::STANDARD.encode(doc.to_string()),
    };
    let unpaid = || {
        let r = Response::new(402)
            .header("content-type", "application/json")
            .header(
                "access-control-expose-headers",
                "PAYMENT-REQUIRED, PAYMENT-RESPONSE",
            );
        if broken == Broken::NoPaymentRequiredHeader {
            r.body("{}")
        } else {
            r.header("PAYMENT-REQUIRED", &b64).body("{}")
        }
    };
    match req.header("payment-signature") {
        None if broken == Broken::PaidWithoutPaying => {
            Response::new(200).body("{\"weather\":\"sunny\"}")
        }
        None => unpaid(),
        Some(h) => match decode_header(h) {
            // Well-formed, but the signature cannot verify: a 402 again.
            Decoded::Standard(_) => unpaid(),
            _ => match broken {
                Broken::OkOnMalformedPayment => Response::new(200).body("{\"weather\":\"sunny\"}"),
                Broken::CrashOnMalformedPayment => {
                    Response::new(500).body("TypeError: cannot read")
                }
                _ => unpaid(),
            },
        },
    }
}

async fn probe_seller(broken: Broken, listing: Option<&Listing>) -> ProbeReport {
    let counter = Arc::new(AtomicU64::new(0));
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let b = base.clone();
    let server = serve(move |req| {
        seller(
            broken,
            &counter,
            &req,
            b.get().map(String::as_str).unwrap_or(""),
        )
    })
    .await;
    base.set(format!("http://{}", server.addr)).unwrap();
    let url = server.url("/weather").parse().unwrap();
    probe(&fetcher(), &url, listing, &Context::default())
        .await
        .unwrap()
}

fn rules(r: &ProbeReport) -> BTreeSet<String> {
    r.findings.iter().map(|f| f.rule.clone()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

async fn assert_flags(broken: Broken, want: &[&str]) {
    let r = probe_seller(broken, None).await;
    assert_eq!(rules(&r), set(want), "{broken:?}: {:#?}", r.findings);
}

#[tokio::test]
async fn a_correct_seller_has_no_finding() {
    let r = probe_seller(Broken::Nothing, None).await;
    assert_eq!(r.findings, vec![], "{:#?}", r.findings);
    assert_eq!(r.x402_version, Some(2));
    let purposes: Vec<_> = r
        .exchanges
        .iter()
        .map(|e| format!("{:?}", e.purpose))
        .collect();
    assert_eq!(
        purposes,
        [
            "Unpaid",
            "UnpaidRepeat",
            "MalformedPayment",
            "InvalidPayment"
        ]
    );
}

#[tokio::test]
async fn broken_sellers_get_exactly_their_rule() {
    for (broken, want) in [
        (Broken::PaidWithoutPaying, &["X402-R01"][..]),
        (Broken::NoPaymentRequiredHeader, &["X402-R02"]),
        (Broken::Base64Url, &["X402-R02"]),
        (Broken::NonCaip2Network, &["X402-R07"]),
        (Broken::NonIntegerAmount, &["X402-R08"]),
        (Broken::NoExtraName, &["X402-R09"]),
        (Broken::EmptyAccepts, &["X402-R05"]),
        (Broken::OkOnMalformedPayment, &["X402-R18"]),
        (Broken::CrashOnMalformedPayment, &["X402-R18"]),
        (Broken::ChangingAccepts, &["X402-R15"]),
    ] {
        assert_flags(broken, want).await;
    }
}

#[tokio::test]
async fn severities_of_the_broken_sellers() {
    let r = probe_seller(Broken::Base64Url, None).await;
    assert_eq!(
        r.findings[0].severity,
        Severity::Interop,
        "the reference SDK refuses base64url"
    );
    let r = probe_seller(Broken::CrashOnMalformedPayment, None).await;
    assert_eq!(r.findings[0].severity, Severity::Must);
    assert_eq!(r.findings[0].evidence["status"], 500);
}

#[tokio::test]
async fn a_pay_to_that_differs_from_its_listing_is_high_severity_drift() {
    let listing = parse_listings(
        &json!({"resource": "http://x/weather", "type": "http", "x402Version": 2,
            "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": "1000",
                "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                "payTo": "0x000000000000000000000000000000000000bEEF", "maxTimeoutSeconds": 300}]})
        .to_string(),
    )
    .unwrap()
    .remove(0);
    let r = probe_seller(Broken::Nothing, Some(&listing)).await;
    assert_eq!(rules(&r), set(&["X402-D01"]), "{:#?}", r.findings);
    assert_eq!(r.findings[0].severity, Severity::Must);
    assert_eq!(
        r.findings[0].evidence["listed"],
        "0x000000000000000000000000000000000000bEEF"
    );
    assert_eq!(
        r.findings[0].evidence["live"],
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
    );
}

#[tokio::test]
async fn listed_methods_are_each_probed_unpaid() {
    let listing = Listing {
        resource: "x".into(),
        methods: vec!["GET".into(), "POST".into()],
        accepts: vec![],
    };
    // A seller that protects GET but serves POST for free.
    let counter = Arc::new(AtomicU64::new(0));
    let server = serve(move |req| {
        if req.method == "POST" {
            Response::new(200).body("free")
        } else {
            seller(Broken::Nothing, &counter, &req, "http://x")
        }
    })
    .await;
    let url = server.url("/weather").parse().unwrap();
    let r = probe(&fetcher(), &url, Some(&listing), &Context::default())
        .await
        .unwrap();
    assert_eq!(rules(&r), set(&["X402-R01"]), "{:#?}", r.findings);
    assert!(r.findings[0].message.contains("POST"));
}

fn capture(name: &str) -> Response {
    let path = format!(
        "{}/../../../shared/fixtures/x402-captures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let path = if std::path::Path::new(&path).exists() {
        path
    } else {
        format!("/work/shared/fixtures/x402-captures/{name}")
    };
    Response::from_capture(&std::fs::read_to_string(path).unwrap())
}

#[tokio::test]
async fn a_v1_server_replaying_the_captured_responses_has_no_must_finding() {
    let unpaid = capture("v1-402-weather.http");
    let refused = capture("v1-402-replay.http");
    let server = serve(move |req| {
        if req.header("x-payment").is_some() {
            refused.clone()
        } else {
            unpaid.clone()
        }
    })
    .await;
    let url = server.url("/weather").parse().unwrap();
    let r = probe(&fetcher(), &url, None, &Context::default())
        .await
        .unwrap();
    assert_eq!(r.x402_version, Some(1));
    let must: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Must)
        .collect();
    assert!(must.is_empty(), "{must:#?}");
    // The malformed and the unverifiable payment went in X-PAYMENT.
    assert!(
        r.exchanges
            .iter()
            .filter(|e| e.request_header("x-payment").is_some())
            .count()
            == 2
    );
}

#[tokio::test]
async fn a_v2_server_replaying_the_captured_responses_has_no_must_finding() {
    let unpaid = capture("v2-402-weather.http");
    let refused = capture("v2-402-replay.http");
    let server = serve(move |req| {
        if req.header("payment-signature").is_some() {
            refused.clone()
        } else {
            unpaid.clone()
        }
    })
    .await;
    let url = server.url("/weather").parse().unwrap();
    let r = probe(&fetcher(), &url, None, &Context::default())
        .await
        .unwrap();
    assert_eq!(r.x402_version, Some(2));
    assert_eq!(r.must_failures(), 0, "{:#?}", r.findings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_express_server_has_no_must_finding() {
    let stack = tokio::task::spawn_blocking(x402scope_testkit::x402::X402Stack::start)
        .await
        .unwrap()
        .unwrap();
    let f = fetcher();
    // Rule 13 against the stack's own facilitator /supported.
    let supported: Value = reqwest::get(format!(
        "{}/supported",
        stack.info.facilitator.as_deref().unwrap()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let kinds = supported["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["x402Version"].as_u64().unwrap() as u8,
                k["scheme"].as_str().unwrap().to_owned(),
                k["network"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let ctx = Context {
        supported_kinds: Some(kinds),
    };
    let url = stack.paid_url().unwrap().parse().unwrap();
    let r = probe(&f, &url, None, &ctx).await.unwrap();
    assert_eq!(r.x402_version, Some(2));
    assert_eq!(r.must_failures(), 0, "{:#?}", r.findings);
    assert!(
        !r.findings.iter().any(|f| f.rule == "X402-R13"),
        "{:#?}",
        r.findings
    );
    // The reference SDK answers 402 to a malformed and to an unverifiable payment.
    let statuses: Vec<u16> = r.exchanges.iter().map(|e| e.status()).collect();
    assert_eq!(statuses, [402, 402, 402, 402]);
}
