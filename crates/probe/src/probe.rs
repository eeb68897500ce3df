//! The active probe: the requests that feed the compliance engine.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use crate::codec::{Decoded, decode_header, encode_header};
use crate::fetch::{FetchError, FetchRequest, Fetcher};
use crate::model::{Exchange, Finding, Listing, Purpose, Severity};
use crate::rules::{Context, check_with};

/// A probe of one resource: what was sent and seen, and what is wrong.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProbeReport {
    pub url: String,
    /// 1 or 2 when the 402 said so.
    pub x402_version: Option<u8>,
    pub exchanges: Vec<Exchange>,
    pub findings: Vec<Finding>,
    /// The server answered 429 or 503: the probe stopped there and judged
    /// nothing. `Some(seconds)` from Retry-After, `Some(0)` without one.
    #[serde(default)]
    pub throttled: Option<u64>,
}

impl ProbeReport {
    pub fn must_failures(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Must)
            .count()
    }
}

/// `Some(seconds)` when `ex` is a 429 or 503 (Retry-After in seconds, 0 if absent
/// or an HTTP date).
pub fn throttle(ex: &Exchange) -> Option<u64> {
    matches!(ex.status(), 429 | 503).then(|| {
        ex.response
            .header("retry-after")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    })
}

/// The header a malformed payment is sent in (not base64).
pub const MALFORMED_PAYMENT: &str = "%%not-base64%%";

fn base_headers() -> Vec<(String, String)> {
    vec![("accept".into(), "application/json".into())]
}

async fn send(
    fetcher: &Fetcher,
    purpose: Purpose,
    method: &str,
    url: &Url,
    extra: Vec<(String, String)>,
) -> Result<Exchange, FetchError> {
    let mut headers = base_headers();
    headers.extend(extra);
    let body = matches!(method, "POST" | "PUT" | "PATCH").then(|| b"{}".to_vec());
    if body.is_some() {
        headers.push(("content-type".into(), "application/json".into()));
    }
    let response = fetcher
        .fetch(FetchRequest {
            method: method.to_owned(),
            url: url.clone(),
            headers: headers.clone(),
            body,
        })
        .await?;
    Ok(Exchange {
        purpose,
        method: method.to_owned(),
        url: url.to_string(),
        request_headers: headers,
        response,
    })
}

/// The version and document of a 402, if it has one.
pub fn payment_required(ex: &Exchange) -> Option<(u8, Value)> {
    if ex.status() != 402 {
        return None;
    }
    if let Some(h) = ex.response.header("payment-required") {
        return match decode_header(h) {
            Decoded::Standard(v) | Decoded::UrlSafe(v) => Some((2, v)),
            Decoded::Invalid(_) => None,
        };
    }
    let v: Value = serde_json::from_str(&ex.response.body).ok()?;
    (v.get("x402Version").and_then(Value::as_u64) == Some(1)).then_some((1, v))
}

/// A well-formed EIP-3009 payment for `accepted` whose signature cannot verify.
pub fn invalid_payment(version: u8, accepted: &Value, resource: Option<&Value>) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let amount = accepted
        .get("amount")
        .or_else(|| accepted.get("maxAmountRequired"))
        .cloned()
        .unwrap_or(json!("0"));
    let payload = json!({
        "signature": format!("0x{}", "11".repeat(65)),
        "authorization": {
            "from": "0x000000000000000000000000000000000000dEaD",
            "to": accepted.get("payTo").cloned().unwrap_or(json!("")),
            "value": amount,
            "validAfter": (now.saturating_sub(600)).to_string(),
            "validBefore": (now + 300).to_string(),
            "nonce": format!("0x{}", "ab".repeat(32)),
        }
    });
    if version == 1 {
        json!({"x402Version": 1, "scheme": accepted.get("scheme"), "network": accepted.get("network"), "payload": payload})
    } else {
        let mut p = json!({"x402Version": 2, "accepted": accepted, "payload": payload});
        if let Some(r) = resource {
            p["resource"] = r.clone();
        }
        p
    }
}

/// The payment header name of a version.
pub fn payment_header(version: u8) -> &'static str {
    if version == 1 {
        "x-payment"
    } else {
        "payment-signature"
    }
}

/// Probe `url`: an unpaid request per listed method (GET without a listing), the
/// first again for stability, a malformed payment, and an unverifiable payment
/// when the 402 offers an exact EVM option. Then run the engine.
pub async fn probe(
    fetcher: &Fetcher,
    url: &Url,
    listing: Option<&Listing>,
    ctx: &Context,
) -> Result<ProbeReport, FetchError> {
    let methods: Vec<String> = listing
        .map(|l| l.methods.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| vec!["GET".into()]);
    let mut exchanges = Vec::new();
    // A server asking us to slow down is left alone, and not judged.
    macro_rules! push {
        ($e:expr) => {{
            let ex = $e;
            let t = throttle(&ex);
            exchanges.push(ex);
            if t.is_some() {
                return Ok(ProbeReport {
                    url: url.to_string(),
                    x402_version: None,
                    exchanges,
                    findings: vec![],
                    throttled: t,
                });
            }
        }};
    }
    for m in &methods {
        push!(send(fetcher, Purpose::Unpaid, m, url, vec![]).await?);
    }
    let first = methods[0].as_str();
    push!(send(fetcher, Purpose::UnpaidRepeat, first, url, vec![]).await?);
    let doc = payment_required(&exchanges[0]);
    let version = doc.as_ref().map(|(v, _)| *v);
    if let Some((v, doc)) = &doc {
        let header = payment_header(*v).to_owned();
        push!(
            send(
                fetcher,
                Purpose::MalformedPayment,
                first,
                url,
                vec![(header.clone(), MALFORMED_PAYMENT.into())],
            )
            .await?
        );
        let evm_exact = doc.get("accepts").and_then(Value::as_array).and_then(|a| {
            a.iter().find(|r| {
                r.get("scheme").and_then(Value::as_str) == Some("exact")
                    && r.get("network")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.starts_with("eip155:") || *v == 1)
            })
        });
        if let Some(accepted) = evm_exact {
            let p = invalid_payment(*v, accepted, doc.get("resource"));
            push!(
                send(
                    fetcher,
                    Purpose::InvalidPayment,
                    first,
                    url,
                    vec![(header, encode_header(&p))],
                )
                .await?
            );
        }
    }
    let findings = check_with(&exchanges, listing, ctx);
    Ok(ProbeReport {
        url: url.to_string(),
        x402_version: version,
        exchanges,
        findings,
        throttled: None,
    })
}
