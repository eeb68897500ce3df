//! Every capture of real reference-implementation traffic decodes, and
//! re-encodes to equal JSON: headers, bodies, the verify request and the
//! settle response, for v1 and v2. A capture file no rule below knows fails
//! the test, so new captures cannot be skipped silently.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use x402scope_protocol::bazaar::DiscoveryResponse;
use x402scope_protocol::codec::Decode;
use x402scope_protocol::{
    PaymentPayload, PaymentRequired, SchemePayload, SettleResponse, SupportedResponse,
    VerifyRequest, VerifyResponse, decode_body, decode_header, encode_header,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/x402-captures")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Decode `json` as `T`, re-encode, and require equal JSON. Returns the value.
fn body_round_trip<T: Decode + Serialize>(what: &str, json: &str) -> T {
    let raw: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{what}: {e}"));
    let typed: T = decode_body(json.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let again = serde_json::to_value(&typed).expect("encodes");
    assert_eq!(again, raw, "{what}: re-encoded JSON differs");
    typed
}

/// Decode a header value as `T`; its JSON must re-encode equal, and our own
/// header for it must decode to that same JSON. (Byte equality with the
/// SDK's header is not a goal: implementations order keys differently.)
fn header_round_trip<T: Decode + Serialize>(what: &str, value: &str) -> (T, Value) {
    let typed: T = decode_header(value).unwrap_or_else(|e| panic!("{what}: {e}"));
    let raw: Value = decode_header(value).expect("header JSON");
    assert_eq!(
        serde_json::to_value(&typed).expect("encodes"),
        raw,
        "{what}"
    );
    let ours = encode_header(&typed).expect("encodes");
    let back: Value = decode_header(&ours).expect("our header decodes");
    assert_eq!(back, raw, "{what}: our header carries other JSON");
    (typed, raw)
}

/// A header of a name → which message it carries.
fn decode_named_header(what: &str, name: &str, value: &str) -> Value {
    match name.to_ascii_uppercase().as_str() {
        "PAYMENT-REQUIRED" => {
            let (m, raw) = header_round_trip::<PaymentRequired>(what, value);
            assert!(matches!(m, PaymentRequired::V2(_)), "{what}");
            raw
        }
        "PAYMENT-SIGNATURE" | "X-PAYMENT" => {
            let (m, raw) = header_round_trip::<PaymentPayload>(what, value);
            let v2 = name.eq_ignore_ascii_case("PAYMENT-SIGNATURE");
            assert_eq!(matches!(m, PaymentPayload::V2(_)), v2, "{what}");
            raw
        }
        "PAYMENT-RESPONSE" | "X-PAYMENT-RESPONSE" => {
            let (m, raw) = header_round_trip::<SettleResponse>(what, value);
            assert!(m.success, "{what}");
            raw
        }
        other => panic!("{what}: header {other} carries no x402 message"),
    }
}

/// The capture's companion decoded-JSON file, if there is one.
fn companion(stem: &str, suffixes: &[&str]) -> Option<Value> {
    suffixes.iter().find_map(|s| {
        let p = dir().join(format!("{stem}.{s}"));
        p.exists().then(|| {
            serde_json::from_str(&std::fs::read_to_string(p).expect("readable")).expect("JSON")
        })
    })
}

fn check_http(name: &str) -> usize {
    let text = read(name);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .expect("head");
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .expect("status line")
        .split(' ')
        .nth(1)
        .expect("code")
        .parse()
        .expect("number");
    let stem = name.trim_end_matches(".http");
    let mut checked = 0;
    for line in lines {
        let (h, v) = line.split_once(':').expect("header line");
        let v = v.trim();
        if h.to_ascii_uppercase().contains("PAYMENT") {
            let raw = decode_named_header(name, h, v);
            if let Some(want) = companion(
                stem,
                &[
                    "payment-required.json",
                    "payment-response.json",
                    "x-payment-response.json",
                ],
            ) {
                assert_eq!(raw, want, "{name}: header vs its decoded file");
            }
            checked += 1;
        }
    }
    let is_json = head
        .to_ascii_lowercase()
        .contains("content-type: application/json");
    if is_json && !body.trim().is_empty() {
        let v: Value = serde_json::from_str(body).expect("JSON body");
        if v.get("x402Version").is_some() {
            let m = body_round_trip::<PaymentRequired>(name, body);
            assert_eq!(status, 402, "{name}");
            assert!(matches!(m, PaymentRequired::V1(_)), "{name}");
            checked += 1;
        } else if v.get("isValid").is_some() {
            let r = body_round_trip::<VerifyResponse>(name, body);
            assert!(!r.is_valid, "{name}");
            assert!(r.invalid_reason.is_some(), "{name}");
            checked += 1;
        }
    }
    checked
}

fn check_json(name: &str) {
    let json = read(name);
    if name.ends_with("payment-required.json") || name.ends_with(".body.json") {
        body_round_trip::<PaymentRequired>(name, &json);
    } else if name.ends_with("response.json") && !name.contains("verify") {
        let r = body_round_trip::<SettleResponse>(name, &json);
        assert!(r.success && r.transaction.starts_with("0x"), "{name}");
    } else if name.contains("verify-response") {
        assert!(
            body_round_trip::<VerifyResponse>(name, &json).is_valid,
            "{name}"
        );
    } else if name.contains("verify-request") {
        let r = body_round_trip::<VerifyRequest>(name, &json);
        let PaymentPayload::V2(p) = &r.payment_payload else {
            panic!("{name}: expected v2");
        };
        assert!(matches!(p.payload, SchemePayload::Eip3009(_)), "{name}");
    } else if name.ends_with("supported.json") {
        let s = body_round_trip::<SupportedResponse>(name, &json);
        assert!(!s.signer_keys().is_empty(), "{name}");
    } else if name.ends_with(".decoded.json") {
        let p = body_round_trip::<PaymentPayload>(name, &json);
        assert!(p_is_eip3009(&p), "{name}");
    } else {
        panic!("{name}: no rule for this capture");
    }
}

fn p_is_eip3009(p: &PaymentPayload) -> bool {
    match p {
        PaymentPayload::V1(p) => p.payload.eip3009().is_some(),
        PaymentPayload::V2(p) => p.payload.eip3009().is_some(),
    }
}

fn check_header_file(name: &str) {
    let text = read(name);
    let (h, v) = text.trim().split_once(':').expect("NAME: value");
    let raw = decode_named_header(name, h, v.trim());
    let want =
        companion(name.trim_end_matches(".header"), &["decoded.json"]).expect("decoded file");
    assert_eq!(raw, want, "{name}");
}

/// Client run logs: every complete settlement header and every decoded
/// settlement JSON in them.
fn check_run_log(name: &str) -> usize {
    let text = read(name);
    let mut checked = 0;
    for line in text.lines() {
        if let Some(v) = line
            .strip_prefix("header x-payment-response ")
            .or_else(|| line.strip_prefix("header payment-response "))
        {
            if v.ends_with("...") {
                continue; // the log cut this header short
            }
            decode_named_header(name, "PAYMENT-RESPONSE", v);
            checked += 1;
        }
        if let Some((_, json)) = line.split_once("-RESPONSE decoded ") {
            body_round_trip::<SettleResponse>(name, json);
            checked += 1;
        }
        // rust-interop-run: `settle=Some("{\"success\":true,...}")`
        if let Some((_, rest)) = line.split_once("settle=Some(") {
            let quoted = rest.strip_suffix(')').expect("closing paren");
            let json: String = serde_json::from_str(quoted).expect("a quoted string");
            body_round_trip::<SettleResponse>(name, &json);
            checked += 1;
        }
    }
    assert!(checked > 0, "{name}: nothing decoded");
    checked
}

#[test]
fn every_capture_decodes_and_re_encodes_to_equal_json() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("captures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 27, "{names:?}");
    let mut messages = 0;
    for name in &names {
        match Path::new(name).extension().and_then(|e| e.to_str()) {
            Some("http") => {
                // The paid 200s carry the settlement header; the replays and
                // 402s carry a PaymentRequired or a VerifyResponse.
                let n = check_http(name);
                assert!(n > 0, "{name}: no x402 message found");
                messages += n;
            }
            Some("json") => {
                check_json(name);
                messages += 1;
            }
            Some("header") => {
                check_header_file(name);
                messages += 1;
            }
            Some("txt") => {
                messages += check_run_log(name);
            }
            _ => panic!("{name}: no rule for this capture"),
        }
    }
    // 9 http + 13 json + 2 header files, and 5 messages in the run logs
    assert_eq!(messages, 29, "messages checked");
}

#[test]
fn v2_header_and_its_verify_request_agree() {
    // The payload a client sent is the one the server forwarded to /verify.
    let header = read("v2-payment-signature.header");
    let p: PaymentPayload =
        decode_header(header.split_once(": ").expect("header").1.trim()).expect("decodes");
    let PaymentPayload::V2(p) = p else {
        panic!("v2")
    };
    let req: VerifyRequest =
        decode_body(read("v2-facilitator-verify-request.json").as_bytes()).expect("decodes");
    let x402scope_protocol::AnyRequirements::V2(reqs) = &req.payment_requirements else {
        panic!("v2")
    };
    // v2 servers match by deep equality
    assert_eq!(&p.accepted, reqs);
    assert_eq!(
        p.accepted.network().expect("CAIP-2").evm_chain_id(),
        Some(84532)
    );
    assert_eq!(p.accepted.amount().expect("amount").to_string(), "1000");
}

#[test]
fn discovery_list_is_read_leniently() {
    // The digest's shape (§4) with the variations real lists show: a number
    // and an ISO string for lastUpdated, v1 fields with a CAIP-2 network.
    let json = r#"{"x402Version":2,"items":[
      {"resource":"https://a.example/x","type":"http","x402Version":2,
       "accepts":[{"scheme":"exact","network":"eip155:8453","amount":"10000",
         "asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
         "maxTimeoutSeconds":60,"extra":{"name":"USD Coin","version":"2"}}],
       "lastUpdated":1703123456,"metadata":{"k":1}},
      {"resource":"https://b.example/y","type":"http","x402Version":1,
       "accepts":[{"scheme":"exact","network":"eip155:8453","maxAmountRequired":"5000",
         "resource":"https://b.example/y","description":"d","mimeType":"application/json",
         "payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,
         "asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
         "outputSchema":{"input":{"type":"http","method":"POST","body_type":"json","header_fields":{}},"output":null}}],
       "lastUpdated":"2025-08-09T01:07:04.005Z","vendorField":true},
      {"resource":"https://c.example/z","type":"mcp","x402Version":2,"accepts":[
         {"scheme":"exact","network":"solana","amount":"1","asset":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"}],
       "lastUpdated":"2025-08-09"}],
     "pagination":{"limit":10,"offset":0,"total":3}}"#;
    let d = body_round_trip::<DiscoveryResponse>("discovery", json);
    let times: Vec<_> = d
        .items
        .iter()
        .map(|i| i.last_updated.as_ref().and_then(|t| t.unix_seconds()))
        .collect();
    assert_eq!(
        times,
        [
            Some(1_703_123_456),
            Some(1_754_701_624),
            Some(1_754_697_600)
        ]
    );
    let amounts: Vec<String> = d
        .items
        .iter()
        .map(|i| {
            i.accepts[0]
                .amount()
                .expect("has one")
                .expect("parses")
                .to_string()
        })
        .collect();
    assert_eq!(amounts, ["10000", "5000", "1"]);
    let nets: Vec<String> = d
        .items
        .iter()
        .map(|i| {
            i.accepts[0]
                .network()
                .expect("has one")
                .expect("known")
                .to_string()
        })
        .collect();
    assert_eq!(
        nets,
        [
            "eip155:8453",
            "eip155:8453",
            "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"
        ]
    );
    assert_eq!(
        d.items[1].unknown.get("vendorField"),
        Some(&Value::Bool(true))
    );
    assert_eq!(d.pagination.as_ref().and_then(|p| p.total), Some(3));
}

#[test]
fn bazaar_extension_and_v1_output_schema() {
    let json = r#"{"x402Version":2,"resource":{"url":"https://a.example/w"},
      "accepts":[{"scheme":"exact","network":"eip155:84532","amount":"1000",
        "asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "maxTimeoutSeconds":300,"extra":null}],
      "extensions":{"bazaar":{"info":{"input":{"type":"http","method":"GET","queryParams":{"city":"Paris"}},
          "output":{"type":"json","example":{"t":20}}},
        "schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"},
        "routeTemplate":"/weather/:city"},
        "mcp-tool":{"info":{"input":{"type":"mcp","toolName":"forecast","inputSchema":{}}},"schema":{}}}}"#;
    let m = body_round_trip::<PaymentRequired>("bazaar", json);
    let PaymentRequired::V2(m) = m else {
        panic!("v2")
    };
    assert!(matches!(
        m.accepts[0].extra,
        x402scope_protocol::Nullable::Null
    ));
    let b = x402scope_protocol::bazaar::bazaar_of(&m.extensions)
        .expect("present")
        .expect("typed");
    assert_eq!(b.info.input.kind, "http");
    assert_eq!(b.info.input.method.as_deref(), Some("GET"));
    assert_eq!(b.route_template.as_deref(), Some("/weather/:city"));
    let mcp: x402scope_protocol::bazaar::BazaarExtension =
        serde_json::from_value(m.extensions.as_ref().expect("map")["mcp-tool"].clone())
            .expect("typed");
    assert_eq!(mcp.info.input.mcp_tool(), Some("forecast"));

    let v1 = read("v1-402-weather.body.json");
    let PaymentRequired::V1(v1) = body_round_trip::<PaymentRequired>("v1", &v1) else {
        panic!("v1")
    };
    let schema = v1.accepts[0]
        .output_schema()
        .expect("present")
        .expect("typed");
    let input = schema.input.expect("input");
    assert_eq!(
        (
            input.kind.as_deref(),
            input.method.as_deref(),
            input.discoverable
        ),
        (Some("http"), Some("GET"), Some(true))
    );
    assert_eq!(
        v1.accepts[0].network().expect("v1 name").to_string(),
        "eip155:84532"
    );
}
