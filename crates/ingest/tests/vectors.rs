//! The shared Standard Webhooks vectors: each case is valid or invalid as stated,
//! through the pure verifier and through the source-level check the receiver uses.

use serde::Deserialize;
use x402scope_ingest::events::SourceKind;
use x402scope_ingest::signature::{Secret, verify_standard};
use x402scope_ingest::webhooks::{Source, verify};

#[derive(Deserialize)]
struct Vectors {
    secret: String,
    msg_id: String,
    timestamp: i64,
    payload: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    signature: String,
    now: i64,
    #[serde(default)]
    payload: Option<String>,
    valid: bool,
}

fn vectors() -> Vectors {
    let text = include_str!("data/webhook-vectors.json");
    serde_json::from_str(text).expect("the vectors file parses")
}

#[test]
fn every_vector_is_judged_as_stated() {
    let v = vectors();
    assert!(v.cases.len() >= 9, "the file has its cases");
    let secret = Secret::whsec(&v.secret).expect("the vector secret parses");
    for case in &v.cases {
        let payload = case.payload.as_deref().unwrap_or(&v.payload);
        let got = verify_standard(
            std::slice::from_ref(&secret),
            &v.msg_id,
            &v.timestamp.to_string(),
            &case.signature,
            payload.as_bytes(),
            case.now,
        );
        assert_eq!(got.is_ok(), case.valid, "{}: {got:?}", case.name);
    }
}

#[test]
fn vectors_through_both_header_names_and_with_a_rotated_secret() {
    let v = vectors();
    let source = Source {
        kind: SourceKind::X402,
        secrets: vec![
            Secret::whsec("whsec_bmV3IHNlY3JldCBhZnRlciByb3RhdGlvbg==").expect("valid"),
            Secret::whsec(&v.secret).expect("valid"),
        ],
    };
    for prefix in ["webhook", "svix"] {
        for case in &v.cases {
            let payload = case.payload.as_deref().unwrap_or(&v.payload);
            let ts = v.timestamp.to_string();
            let lookup = |name: &str| -> Option<String> {
                let key = name.strip_prefix(prefix)?;
                match key {
                    "-id" => Some(v.msg_id.clone()),
                    "-timestamp" => Some(ts.clone()),
                    "-signature" => Some(case.signature.clone()),
                    _ => None,
                }
            };
            let got = verify(&source, &lookup, payload.as_bytes(), case.now);
            assert_eq!(got.is_ok(), case.valid, "{prefix}: {}: {got:?}", case.name);
        }
    }
}
