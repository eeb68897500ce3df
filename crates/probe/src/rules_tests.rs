//! Table-driven tests of the engine on hand-made exchanges.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::codec::encode_header;
use crate::fetch::FetchedResponse;
use crate::model::ListedRequirement;

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> FetchedResponse {
    FetchedResponse {
        url: "https://api.example.com/x".into(),
        redirects: vec![],
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.into(),
        remote_addr: None,
        latency_ms: 1,
    }
}

fn ex(purpose: Purpose, r: FetchedResponse) -> Exchange {
    Exchange {
        purpose,
        method: "GET".into(),
        url: r.url.clone(),
        request_headers: vec![],
        response: r,
    }
}

fn v2_doc() -> Value {
    json!({"x402Version": 2, "error": "Payment required",
        "resource": {"url": "https://api.example.com/x", "description": "", "mimeType": ""},
        "accepts": [{"scheme": "exact", "network": "eip155:84532", "amount": "1000",
            "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
            "payTo": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
            "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}}]})
}

fn v1_doc() -> Value {
    json!({"x402Version": 1, "error": "X-PAYMENT header is required",
        "accepts": [{"scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "1000",
            "resource": "https://api.example.com/x", "description": "Weather", "mimeType": "application/json",
            "payTo": "0x90F79bf6EB2c4f870365E785982E1f101E93b906", "maxTimeoutSeconds": 60,
            "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "extra": {"name": "USDC", "version": "2"}}]})
}

const EXPOSE: (&str, &str) = (
    "access-control-expose-headers",
    "PAYMENT-REQUIRED, PAYMENT-RESPONSE",
);

fn v2_402(doc: &Value) -> FetchedResponse {
    let h = encode_header(doc);
    response(402, &[("payment-required", &h), EXPOSE], "{}")
}

fn v1_402(doc: &Value) -> FetchedResponse {
    response(
        402,
        &[("content-type", "application/json; charset=utf-8")],
        &doc.to_string(),
    )
}

/// A full good v2 sequence with `doc` in the unpaid answers.
fn v2_seq(doc: &Value) -> Vec<Exchange> {
    vec![
        ex(Purpose::Unpaid, v2_402(doc)),
        ex(Purpose::UnpaidRepeat, v2_402(doc)),
        ex(Purpose::MalformedPayment, v2_402(doc)),
        ex(Purpose::InvalidPayment, v2_402(doc)),
    ]
}

fn rules_of(f: &[Finding]) -> BTreeSet<String> {
    f.iter().map(|f| f.rule.clone()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

type Mutation = fn(&mut Value);

#[test]
fn v2_document_rules() {
    let cases: &[(&str, Mutation, &[&str])] = &[
        ("good", |_| {}, &[]),
        ("version 3", |d| d["x402Version"] = json!(3), &["X402-R04"]),
        (
            "empty resource url",
            |d| d["resource"]["url"] = json!(""),
            &["X402-R05"],
        ),
        (
            "no resource",
            |d| {
                d.as_object_mut().map(|o| o.remove("resource"));
            },
            &["X402-R05"],
        ),
        ("empty accepts", |d| d["accepts"] = json!([]), &["X402-R05"]),
        (
            "no payTo",
            |d| {
                d["accepts"][0].as_object_mut().map(|o| o.remove("payTo"));
            },
            &["X402-R06"],
        ),
        (
            "no amount",
            |d| {
                d["accepts"][0].as_object_mut().map(|o| o.remove("amount"));
            },
            &["X402-R06"],
        ),
        (
            "zero timeout",
            |d| d["accepts"][0]["maxTimeoutSeconds"] = json!(0),
            &["X402-R06"],
        ),
        (
            "short timeout",
            |d| d["accepts"][0]["maxTimeoutSeconds"] = json!(10),
            &["X402-R14"],
        ),
        (
            "v1 network name in v2",
            |d| d["accepts"][0]["network"] = json!("base-sepolia"),
            &["X402-R07"],
        ),
        (
            "decimal amount",
            |d| d["accepts"][0]["amount"] = json!("0.001"),
            &["X402-R08"],
        ),
        (
            "numeric amount",
            |d| d["accepts"][0]["amount"] = json!(1000),
            &["X402-R08"],
        ),
        (
            "zero exact amount",
            |d| d["accepts"][0]["amount"] = json!("0"),
            &["X402-R08"],
        ),
        (
            "no extra.name",
            |d| {
                d["accepts"][0]["extra"]
                    .as_object_mut()
                    .map(|o| o.remove("name"));
            },
            &["X402-R09"],
        ),
        (
            "no extra",
            |d| {
                d["accepts"][0].as_object_mut().map(|o| o.remove("extra"));
            },
            &["X402-R09"],
        ),
        (
            "permit2 without name is fine",
            |d| d["accepts"][0]["extra"] = json!({"assetTransferMethod": "permit2"}),
            &[],
        ),
        (
            "bad transfer method",
            |d| d["accepts"][0]["extra"]["assetTransferMethod"] = json!("magic"),
            &["X402-R10"],
        ),
        (
            "svm without feePayer",
            |d| {
                d["accepts"][0] = json!({"scheme": "exact", "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
                "amount": "10", "asset": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
                "payTo": "CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5", "maxTimeoutSeconds": 60, "extra": {}});
            },
            &["X402-R11"],
        ),
        (
            "svm good",
            |d| {
                d["accepts"][0] = json!({"scheme": "exact", "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
                "amount": "10", "asset": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
                "payTo": "CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5", "maxTimeoutSeconds": 60,
                "extra": {"feePayer": "CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5"}});
            },
            &[],
        ),
        (
            "svm long memo",
            |d| {
                d["accepts"][0] = json!({"scheme": "exact", "network": "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
                "amount": "10", "asset": "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU",
                "payTo": "CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5", "maxTimeoutSeconds": 60,
                "extra": {"feePayer": "CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5", "memo": "m".repeat(257)}});
            },
            &["X402-R11"],
        ),
        (
            "upto without facilitatorAddress",
            |d| d["accepts"][0]["scheme"] = json!("upto"),
            &["X402-R12"],
        ),
        (
            "extension without schema",
            |d| {
                d["extensions"] =
                    json!({"bazaar": {"info": {"input": {"type": "http", "method": "GET"}}}})
            },
            &["X402-R16"],
        ),
        (
            "bazaar bad method",
            |d| d["extensions"] = json!({"bazaar": {"info": {"input": {"type": "http", "method": "FETCH"}}, "schema": {}}}),
            &["X402-R16"],
        ),
        (
            "bazaar post without bodyType",
            |d| d["extensions"] = json!({"bazaar": {"info": {"input": {"type": "http", "method": "POST"}}, "schema": {}}}),
            &["X402-R16"],
        ),
        (
            "bazaar bad routeTemplate",
            |d| d["extensions"] = json!({"bazaar": {"info": {"input": {"type": "http", "method": "GET"}}, "schema": {}, "routeTemplate": "/a/%2e%2e/b"}}),
            &["X402-R16"],
        ),
        (
            "bazaar good",
            |d| d["extensions"] = json!({"bazaar": {"info": {"input": {"type": "http", "method": "GET"}}, "schema": {}, "routeTemplate": "/users/:id"}}),
            &[],
        ),
        ("null extensions", |d| d["extensions"] = Value::Null, &[]),
        (
            "long serviceName",
            |d| d["resource"]["serviceName"] = json!("x".repeat(33)),
            &["X402-R17"],
        ),
        (
            "six tags",
            |d| d["resource"]["tags"] = json!(["a", "b", "c", "d", "e", "f"]),
            &["X402-R17"],
        ),
        (
            "icon on an IP",
            |d| d["resource"]["iconUrl"] = json!("https://10.0.0.1/i.png"),
            &["X402-R17"],
        ),
        (
            "icon on localhost",
            |d| d["resource"]["iconUrl"] = json!("http://localhost/i.png"),
            &["X402-R17"],
        ),
        (
            "good metadata",
            |d| {
                d["resource"]["serviceName"] = json!("Weather");
                d["resource"]["tags"] = json!(["weather"]);
                d["resource"]["iconUrl"] = json!("https://cdn.example.com/i.png");
            },
            &[],
        ),
    ];
    for (name, mutate, want) in cases {
        let mut doc = v2_doc();
        mutate(&mut doc);
        let got = check(&v2_seq(&doc), None);
        assert_eq!(rules_of(&got), set(want), "{name}: {got:#?}");
    }
}

#[test]
fn v1_document_rules() {
    let cases: &[(&str, Mutation, &[&str])] = &[
        ("good", |_| {}, &[]),
        (
            "no error",
            |d| {
                d.as_object_mut().map(|o| o.remove("error"));
            },
            &["X402-R03"],
        ),
        (
            "caip2 network in v1",
            |d| d["accepts"][0]["network"] = json!("eip155:84532"),
            &["X402-R07"],
        ),
        (
            "no description",
            |d| {
                d["accepts"][0]
                    .as_object_mut()
                    .map(|o| o.remove("description"));
            },
            &["X402-R06"],
        ),
        (
            "no resource",
            |d| {
                d["accepts"][0]
                    .as_object_mut()
                    .map(|o| o.remove("resource"));
            },
            &["X402-R06"],
        ),
        (
            "amount key of v2",
            |d| {
                let a = d["accepts"][0].as_object_mut().expect("object");
                a.remove("maxAmountRequired");
                a.insert("amount".into(), json!("1000"));
            },
            &["X402-R06"],
        ),
        (
            "no extra.version",
            |d| {
                d["accepts"][0]["extra"]
                    .as_object_mut()
                    .map(|o| o.remove("version"));
            },
            &["X402-R09"],
        ),
    ];
    for (name, mutate, want) in cases {
        let mut doc = v1_doc();
        mutate(&mut doc);
        let r = v1_402(&doc);
        let seq = vec![
            ex(Purpose::Unpaid, r.clone()),
            ex(Purpose::UnpaidRepeat, r.clone()),
            ex(Purpose::MalformedPayment, r),
        ];
        let got = check(&seq, None);
        assert_eq!(rules_of(&got), set(want), "{name}: {got:#?}");
    }
    // A v1 body served as text/html.
    let r = response(402, &[("content-type", "text/html")], &v1_doc().to_string());
    assert_eq!(
        rules_of(&check(&[ex(Purpose::Unpaid, r)], None)),
        set(&["X402-R03"])
    );
}

#[test]
fn status_and_transport_rules() {
    let good = v2_402(&v2_doc());
    let h = encode_header(&v2_doc());
    let url_safe = {
        use base64::Engine;
        let mut d = v2_doc();
        d["resource"]["description"] = json!(">>>???");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.to_string())
    };
    let cases: Vec<(&str, Vec<Exchange>, &[&str])> = vec![
        (
            "200 unpaid",
            vec![ex(Purpose::Unpaid, response(200, &[], "{}"))],
            &["X402-R01"],
        ),
        (
            "402 without header",
            vec![ex(Purpose::Unpaid, response(402, &[EXPOSE], "{}"))],
            &["X402-R02"],
        ),
        (
            "402 with v2 body only",
            vec![ex(
                Purpose::Unpaid,
                response(402, &[EXPOSE], &v2_doc().to_string()),
            )],
            &["X402-R02"],
        ),
        (
            "garbage header",
            vec![ex(
                Purpose::Unpaid,
                response(402, &[("payment-required", "%%%"), EXPOSE], "{}"),
            )],
            &["X402-R02"],
        ),
        (
            "base64url header",
            vec![ex(
                Purpose::Unpaid,
                response(402, &[("payment-required", &url_safe), EXPOSE], "{}"),
            )],
            &["X402-R02"],
        ),
        (
            "header claims v1",
            vec![ex(
                Purpose::Unpaid,
                response(
                    402,
                    &[("payment-required", &encode_header(&v1_doc())), EXPOSE],
                    "{}",
                ),
            )],
            &["X402-R04"],
        ),
        (
            "no CORS expose",
            vec![ex(
                Purpose::Unpaid,
                response(402, &[("payment-required", &h)], "{}"),
            )],
            &["X402-R24"],
        ),
        (
            "CORS *",
            vec![ex(
                Purpose::Unpaid,
                response(
                    402,
                    &[
                        ("payment-required", &h),
                        ("access-control-expose-headers", "*"),
                    ],
                    "{}",
                ),
            )],
            &[],
        ),
        (
            "200 on malformed",
            vec![
                ex(Purpose::Unpaid, good.clone()),
                ex(Purpose::MalformedPayment, response(200, &[], "sunny")),
            ],
            &["X402-R18"],
        ),
        (
            "500 on malformed",
            vec![
                ex(Purpose::Unpaid, good.clone()),
                ex(Purpose::MalformedPayment, response(500, &[], "oops")),
            ],
            &["X402-R18"],
        ),
        (
            "400 on malformed",
            vec![
                ex(Purpose::Unpaid, good.clone()),
                ex(Purpose::MalformedPayment, response(400, &[], "bad")),
            ],
            &[],
        ),
        (
            "200 on invalid payment",
            vec![ex(Purpose::InvalidPayment, response(200, &[], "sunny"))],
            &["X402-R19"],
        ),
        (
            "bad failure PAYMENT-RESPONSE",
            vec![ex(
                Purpose::InvalidPayment,
                response(
                    402,
                    &[(
                        "payment-response",
                        &encode_header(&json!({"success": false, "transaction": "0x1"})),
                    )],
                    "{}",
                ),
            )],
            &["X402-R19"],
        ),
        (
            "good failure PAYMENT-RESPONSE",
            vec![ex(
                Purpose::InvalidPayment,
                response(
                    402,
                    &[(
                        "payment-response",
                        &encode_header(
                            &json!({"success": false, "errorReason": "invalid_exact_evm_payload_signature", "transaction": "", "network": "eip155:84532"}),
                        ),
                    )],
                    "{}",
                ),
            )],
            &[],
        ),
        (
            "412 wrong error",
            vec![ex(
                Purpose::MalformedPayment,
                response(412, &[], "{\"error\":\"nope\"}"),
            )],
            &["X402-R18", "X402-R23"],
        ),
        (
            "412 permit2",
            vec![ex(
                Purpose::InvalidPayment,
                response(412, &[], "{\"error\":\"permit2_allowance_required\"}"),
            )],
            &["X402-R19"],
        ),
        (
            "replay accepted",
            vec![ex(Purpose::Replay, response(200, &[], "sunny"))],
            &["X402-R21"],
        ),
        (
            "replay refused",
            vec![ex(Purpose::Replay, response(402, &[], "{}"))],
            &[],
        ),
    ];
    for (name, seq, want) in cases {
        let got = check(&seq, None);
        assert_eq!(rules_of(&got), set(want), "{name}: {got:#?}");
    }
}

#[test]
fn paid_rules() {
    let accepted = v2_doc()["accepts"][0].clone();
    let payment = encode_header(&json!({"x402Version": 2, "accepted": accepted, "payload": {}}));
    let paid = |resp: FetchedResponse, v1: bool| Exchange {
        purpose: Purpose::Paid,
        method: "GET".into(),
        url: resp.url.clone(),
        request_headers: vec![(
            if v1 { "x-payment" } else { "payment-signature" }.into(),
            payment.clone(),
        )],
        response: resp,
    };
    let ok = encode_header(
        &json!({"success": true, "transaction": "0xabc", "network": "eip155:84532", "payer": "0x1"}),
    );
    let wrong_net = encode_header(
        &json!({"success": true, "transaction": "0xabc", "network": "eip155:8453", "payer": "0x1"}),
    );
    let cases: Vec<(&str, Exchange, &[&str])> = vec![
        (
            "good",
            paid(
                response(200, &[("payment-response", &ok), EXPOSE], "sunny"),
                false,
            ),
            &[],
        ),
        (
            "no header",
            paid(response(200, &[EXPOSE], "sunny"), false),
            &["X402-R20"],
        ),
        (
            "wrong network",
            paid(
                response(200, &[("payment-response", &wrong_net), EXPOSE], "sunny"),
                false,
            ),
            &["X402-R20"],
        ),
        ("402", paid(response(402, &[], "{}"), false), &["X402-R20"]),
        (
            "v1 good",
            paid(
                response(
                    200,
                    &[
                        ("x-payment-response", &ok),
                        ("access-control-expose-headers", "X-PAYMENT-RESPONSE"),
                    ],
                    "sunny",
                ),
                true,
            ),
            &[],
        ),
        (
            "v1 without X-PAYMENT-RESPONSE",
            paid(
                response(
                    200,
                    &[("access-control-expose-headers", "X-PAYMENT-RESPONSE")],
                    "sunny",
                ),
                true,
            ),
            &["X402-R22"],
        ),
    ];
    for (name, e, want) in cases {
        let got = check(&[e], None);
        assert_eq!(rules_of(&got), set(want), "{name}: {got:#?}");
    }
}

#[test]
fn stability_and_drift() {
    let mut changed = v2_doc();
    changed["accepts"][0]["amount"] = json!("2000");
    let seq = vec![
        ex(Purpose::Unpaid, v2_402(&v2_doc())),
        ex(Purpose::UnpaidRepeat, v2_402(&changed)),
    ];
    let got = check(&seq, None);
    assert_eq!(rules_of(&got), set(&["X402-R15"]), "{got:#?}");

    let base = ListedRequirement {
        scheme: "exact".into(),
        network: "base-sepolia".into(), // a v1 name matches its CAIP-2 id
        amount: "1000".into(),
        asset: "0x036cbd53842c5426634e7929541ec2318f3dcf7e".into(), // case-insensitive
        pay_to: "0x90F79bf6EB2c4f870365E785982E1f101E93b906".into(),
    };
    let listing = |r: ListedRequirement| Listing {
        resource: "https://api.example.com/x".into(),
        methods: vec!["GET".into()],
        accepts: vec![r],
    };
    let seq = v2_seq(&v2_doc());
    let cases: Vec<(&str, ListedRequirement, &[&str])> = vec![
        ("same", base.clone(), &[]),
        (
            "payTo",
            ListedRequirement {
                pay_to: "0x0000000000000000000000000000000000000001".into(),
                ..base.clone()
            },
            &["X402-D01"],
        ),
        (
            "amount",
            ListedRequirement {
                amount: "999".into(),
                ..base.clone()
            },
            &["X402-D02"],
        ),
        (
            "asset",
            ListedRequirement {
                asset: "0x0000000000000000000000000000000000000002".into(),
                ..base.clone()
            },
            &["X402-D03"],
        ),
        (
            "network",
            ListedRequirement {
                network: "eip155:8453".into(),
                ..base.clone()
            },
            &["X402-D04"],
        ),
        (
            "scheme",
            ListedRequirement {
                scheme: "upto".into(),
                ..base.clone()
            },
            &["X402-D05"],
        ),
    ];
    for (name, r, want) in cases {
        let got = check(&seq, Some(&listing(r)));
        assert_eq!(rules_of(&got), set(want), "{name}: {got:#?}");
        if name == "payTo" {
            assert_eq!(got[0].severity, Severity::Must);
        }
    }
}

#[test]
fn supported_kinds_rule_13() {
    let ctx = Context {
        supported_kinds: Some(vec![(2, "exact".into(), "eip155:8453".into())]),
    };
    let got = check_with(&v2_seq(&v2_doc()), None, &ctx);
    assert_eq!(rules_of(&got), set(&["X402-R13"]));
    let ctx = Context {
        supported_kinds: Some(vec![(2, "exact".into(), "eip155:84532".into())]),
    };
    assert!(check_with(&v2_seq(&v2_doc()), None, &ctx).is_empty());
}

#[test]
fn every_reported_rule_is_in_the_table() {
    for (id, _) in RULES {
        assert!(id.starts_with("X402-"));
    }
    let ids: BTreeSet<&str> = RULES.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), RULES.len(), "ids are unique");
}
