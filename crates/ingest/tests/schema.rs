//! The published JSON Schema (docs/schemas/settlement-event.schema.json) and
//! the parser agree: what the schema accepts the parser turns into a claim, and
//! what the schema refuses the parser refuses too. The schema is checked with
//! ajv from the test environment.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use x402scope_ingest::events::{SourceKind, parse};
use x402scope_testkit::{env_dir, repo_root};

fn validate(docs: &[Value]) -> Vec<Value> {
    let mut child = Command::new("node")
        .current_dir(env_dir())
        .arg("validate-schema.mjs")
        .arg(repo_root().join("docs/schemas/settlement-event.schema.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (install the test environment with tests/run.sh)");
    let mut stdin = child.stdin.take().expect("stdin");
    for d in docs {
        writeln!(stdin, "{d}").expect("write");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success(), "validator failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("verdict"))
        .collect()
}

#[test]
fn schema_and_parser_agree() {
    let ok = common::settlement(1, true);
    let failed = common::settlement(2, false);
    let mut v1 = common::settlement(3, true);
    v1["data"]["accepted"] = json!({"scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "7",
        "payTo": "0x00000000000000000000000000000000000000aa", "asset": "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
        "resource": "http://seller.test/v1", "maxTimeoutSeconds": 60});
    let mut with_pid = common::settlement(4, true);
    with_pid["data"]["paymentIdentifier"] = json!("pay_0123456789abcdef");
    let mut string_resource = common::settlement(5, true);
    string_resource["data"]["resource"] = json!("http://seller.test/plain");

    let mut no_tx = common::settlement(6, true);
    no_tx["data"]["settleResponse"]["transaction"] = json!("");
    let mut disagree = common::settlement(7, true);
    disagree["data"]["settleResponse"]["success"] = json!(false);
    let mut bad_amount = common::settlement(8, true);
    bad_amount["data"]["accepted"]["amount"] = json!("1.5");
    let mut no_amount = common::settlement(9, true);
    no_amount["data"]["accepted"]
        .as_object_mut()
        .expect("object")
        .remove("amount");
    let mut no_facilitator = common::settlement(10, true);
    no_facilitator["data"]
        .as_object_mut()
        .expect("object")
        .remove("facilitator");
    let unknown_type = json!({"type": "x402.settlement.pending", "data": ok["data"].clone()});

    let cases: Vec<(&str, Value, bool)> = vec![
        ("succeeded", ok, true),
        ("failed", failed, true),
        ("v1 requirements", v1, true),
        ("with payment identifier", with_pid, true),
        ("resource as a string", string_resource, true),
        ("succeeded without transaction", no_tx, false),
        ("type and success disagree", disagree, false),
        ("fractional amount", bad_amount, false),
        ("no amount", no_amount, false),
        ("no facilitator", no_facilitator, false),
        ("unknown type", unknown_type, false),
    ];
    let docs: Vec<Value> = cases.iter().map(|(_, d, _)| d.clone()).collect();
    let verdicts = validate(&docs);
    assert_eq!(verdicts.len(), cases.len());
    for ((name, doc, valid), verdict) in cases.iter().zip(&verdicts) {
        assert_eq!(verdict["valid"], *valid, "schema, {name}: {verdict}");
        let body = serde_json::to_vec(doc).expect("json");
        let parsed = parse(SourceKind::X402, "shop", "msg", 0, &body);
        assert_eq!(parsed.is_ok(), *valid, "parser, {name}: {parsed:?}");
    }
}
