//! `x402scope screen …` through the real binary on an embedded store: list
//! updates (SDN_ADVANCED and CSV), a malformed file refused with the old version
//! kept, reviewer keys, and `screen verify` failing after a case event is edited.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use x402scope_core::Amount;
use x402scope_kyt::auth;
use x402scope_kyt::case::{self, Action, Disposition};
use x402scope_kyt::lists::write_sdn;
use x402scope_store::{Payment, StoreUrl};

fn x402scope(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_x402scope"))
        .current_dir(dir)
        .env_remove("X402SCOPE_CONFIG")
        .env(
            "X402SCOPE_STORE__URL",
            format!("sqlite://{}", dir.join("x.db").display()),
        )
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn payment(n: u32, payer: &str, pay_to: &str) -> Payment {
    Payment {
        chain: "eip155:8453".into(),
        tx_id: format!("0x{n:064x}"),
        idx_outer: 0,
        idx_inner: 0,
        block_number: u64::from(n),
        block_hash: format!("0x{n:064x}"),
        block_time: 1_780_000_000,
        asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
        payer: payer.into(),
        pay_to: pay_to.into(),
        amount: Amount(alloy_primitives::U256::from(5u64)),
        nonce: format!("0x{n:064x}"),
        facilitator: "f".into(),
        tx_from: "0x00000000000000000000000000000000000000f1".into(),
        method: "eip3009".into(),
        is_final: true,
        is_organic: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screen_commands_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(x402scope(d, &["migrate"]).status.success());
    let payer = "0x00000000000000000000000000000000000000a1";
    let payee = "0x00000000000000000000000000000000000000b2";
    {
        let store = x402scope_store::open(&StoreUrl::Sqlite(d.join("x.db")))
            .await
            .unwrap();
        store
            .commit_payments(vec![payment(1, payer, payee)], vec![], None)
            .await
            .unwrap();
    }
    let out = x402scope(d, &["screen", "run"]);
    assert!(
        text(&out.stdout).contains("nothing screened"),
        "{}",
        text(&out.stdout)
    );

    let sdn = write_sdn(
        (2026, 12, 1),
        &[(
            "BAD".into(),
            vec![(
                "ETH".into(),
                "0x00000000000000000000000000000000000000B2".into(),
            )],
        )],
    );
    std::fs::write(d.join("sdn.xml"), &sdn).unwrap();
    let out = x402scope(d, &["screen", "update", "--file", "sdn.xml"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("loaded ofac-sdn@1-") && stdout.contains("1 entries"),
        "{stdout}"
    );
    assert!(
        stdout.contains("new alert") && stdout.contains(payee),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 new, 0 raised again, 0 removed, 2 open"),
        "{stdout}"
    );

    // Malformed: exit 2, a clear message, the old version stays.
    std::fs::write(d.join("bad.xml"), &sdn[..sdn.len() - 40]).unwrap();
    let out = x402scope(d, &["screen", "update", "--file", "bad.xml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("sdn list is malformed")
            && stderr.contains("previous list version stays active"),
        "{stderr}"
    );
    let out = x402scope(d, &["screen", "run"]);
    assert!(
        text(&out.stdout).contains("against ofac-sdn@1-"),
        "{}",
        text(&out.stdout)
    );

    // Keys: printed once; the store holds only the hash.
    let out = x402scope(
        d,
        &[
            "screen",
            "keys",
            "create",
            "--reviewer",
            "ann",
            "--scopes",
            "kyt:review",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ann_key = text(&out.stdout).trim().to_owned();
    assert!(ann_key.starts_with("kyt_"));
    let out = x402scope(
        d,
        &[
            "screen",
            "keys",
            "create",
            "--reviewer",
            "bob",
            "--scopes",
            "kyt:read,kyt:nope",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown scope"));

    // A case with a few events, then verify, tamper, verify again.
    {
        let store = x402scope_store::open(&StoreUrl::Sqlite(d.join("x.db")))
            .await
            .unwrap();
        let ann = auth::authenticate(&store, &ann_key).await.unwrap();
        let alert = store.kyt_alerts().await.unwrap().remove(0);
        let c = case::open(&store, &ann, &alert.id, "checking", 10)
            .await
            .unwrap();
        let fp = Action::Disposition {
            disposition: Disposition::FalsePositive,
            note: "different entity".into(),
        };
        case::act(&store, &ann, &c.case.id, &fp, 11).await.unwrap();
    }
    let out = x402scope(d, &["screen", "verify"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("ok: 1 cases, 2 events"),
        "{}",
        text(&out.stdout)
    );
    let conn = rusqlite::Connection::open(d.join("x.db")).unwrap();
    conn.execute(
        "UPDATE kyt_case_events SET actor = 'mallory' WHERE seq = 1",
        [],
    )
    .unwrap();
    drop(conn);
    let out = x402scope(d, &["screen", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("TAMPERED case c-"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("event 1: hash mismatch"),
        "{}",
        text(&out.stdout)
    );
}
