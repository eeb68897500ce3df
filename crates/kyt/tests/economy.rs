//! End to end on a real chain: settlements generated on anvil are indexed into
//! the store (SQLite and ClickHouse) by the EVM indexer; sanctioned payer, payee
//! and facilitator addresses are planted in an SDN_ADVANCED file; screening
//! raises exactly the expected ownership and exposure alerts; a malformed file
//! changes nothing; a new list version adds one address and removes another,
//! raising new alerts and recording the removals.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use common::{Backend, clickhouse, sqlite};
use tokio_util::sync::CancellationToken;
use x402scope_evm::indexer::{ChainSettings, EvmIndexer};
use x402scope_evm::rpc::{EvmRpc, RpcConfig};
use x402scope_evm::sink::StoreSink;
use x402scope_evm::types::FacilitatorLookup;
use x402scope_kyt::lists::{self, Format, write_sdn};
use x402scope_kyt::screen::{self, Status};
use x402scope_kyt::{KytError, now};
use x402scope_testkit::settlements::{Generated, Plan, generate};
use x402scope_testkit::x402::X402Stack;

async fn index(stack: &X402Stack, b: &Backend, generated: &Generated) {
    let known: HashMap<Address, String> = generated
        .known_facilitators
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, format!("facilitator-{i}")))
        .collect();
    let lookup: Arc<dyn FacilitatorLookup> =
        Arc::new(move |_: u64, a: Address| known.get(&a).cloned());
    let rpc = Arc::new(EvmRpc::new(RpcConfig::new(vec![stack.info.rpc.parse().unwrap()])).unwrap());
    let settings = ChainSettings {
        chain_id: stack.info.chain_id,
        tokens: vec![stack.info.token.parse().unwrap()],
        start_block: 0,
        confirmations: 0,
        max_range: 50,
        concurrency: 2,
        window: 16,
        poll_interval: Duration::from_millis(50),
    };
    let ix = EvmIndexer::new(
        rpc,
        Arc::new(StoreSink::new(b.store.clone())),
        lookup,
        settings,
    );
    let cancel = CancellationToken::new();
    ix.backfill_to_window(&cancel).await.unwrap();
    ix.follow_to_head(&cancel).await.unwrap();
}

fn lower(a: Address) -> String {
    format!("{a:#x}")
}

/// (address, kind, listed address) the ground truth calls for, given listed
/// payers/payees/senders.
fn expected(
    generated: &Generated,
    listed: &BTreeSet<String>,
) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for s in &generated.settlements {
        let (payer, pay_to, sender) = (lower(s.payer), lower(s.pay_to), lower(s.sender));
        for a in [&payer, &pay_to, &sender] {
            if listed.contains(a) {
                out.insert((a.clone(), "ownership".to_owned(), a.clone()));
            }
        }
        if listed.contains(&pay_to) && payer != pay_to {
            out.insert((payer.clone(), "exposure".to_owned(), pay_to.clone()));
        }
        if listed.contains(&payer) && payer != pay_to {
            out.insert((pay_to.clone(), "exposure".to_owned(), payer.clone()));
        }
    }
    out
}

async fn open_alerts(b: &Backend) -> BTreeSet<(String, String, String)> {
    b.store
        .kyt_alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.status == "open")
        .map(|a| (a.address, a.kind, a.listed_address))
        .collect()
}

async fn economy(b: Backend) {
    let stack = X402Stack::start_chain_only().unwrap();
    let generated = generate(&stack.info, &Plan::new(80)).await.unwrap();
    index(&stack, &b, &generated).await;
    let s = &b.store;

    let sanctioned_payer = generated.settlements[0].payer;
    let sanctioned_payee = generated.settlements[1].pay_to;
    let sanctioned_sender = generated.known_facilitators[0];
    let later_payee = generated
        .settlements
        .iter()
        .map(|e| e.pay_to)
        .find(|p| *p != sanctioned_payee)
        .unwrap();
    let unrelated: Address = "0x00000000000000000000000000000000DeaDBeef"
        .parse()
        .unwrap();
    // Checksummed (mixed-case) in the file, as OFAC publishes them.
    let party = |name: &str, f: &[(&str, String)]| {
        (
            name.to_owned(),
            f.iter()
                .map(|(t, a)| ((*t).to_owned(), a.clone()))
                .collect::<Vec<_>>(),
        )
    };
    let v1 = write_sdn(
        (2026, 11, 30),
        &[
            party(
                "PAYER ONE",
                &[
                    ("ETH", sanctioned_payer.to_checksum(None)),
                    ("XBT", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT".into()),
                ],
            ),
            party("PAYEE TWO", &[("USDC", sanctioned_payee.to_checksum(None))]),
            party(
                "RELAY THREE",
                &[
                    ("USDT", sanctioned_sender.to_checksum(None)),
                    ("SOL", "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU".into()),
                ],
            ),
            party("NOBODY", &[("ARB", unrelated.to_checksum(None))]),
        ],
    );
    let out1 = lists::load(s, "ofac-sdn", Format::Sdn, v1.as_bytes(), now())
        .await
        .unwrap();
    assert_eq!(out1.version.entry_count, 6);
    assert_eq!(
        out1.version.published_at,
        lists::parse_date("2026-11-30").unwrap()
    );
    let report = screen::run(s, now()).await.unwrap();
    let listed: BTreeSet<String> = [sanctioned_payer, sanctioned_payee, sanctioned_sender]
        .map(lower)
        .into();
    let want = expected(&generated, &listed);
    assert!(want.len() > 3, "the plan gives exposure alerts too");
    assert_eq!(open_alerts(&b).await, want);
    assert_eq!(report.new_alerts.len(), want.len());
    let roles: HashMap<String, String> = s
        .kyt_alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == "ownership")
        .map(|a| (a.address, a.role))
        .collect();
    assert!(roles[&lower(sanctioned_payer)].contains("payer"));
    assert!(roles[&lower(sanctioned_payee)].contains("pay_to"));
    assert_eq!(roles[&lower(sanctioned_sender)], "facilitator");
    assert_eq!(
        screen::status_of(s, &lower(sanctioned_payer))
            .await
            .unwrap()
            .0,
        Status::Listed
    );
    assert_eq!(
        screen::status_of(s, &lower(unrelated)).await.unwrap().0,
        Status::NotScreened,
        "not in the graph"
    );

    // A malformed file fails clearly and the active version stays.
    let broken = v1.replace("</DistinctParties>", "</DistinctPartie>");
    let e = lists::load(s, "ofac-sdn", Format::Sdn, broken.as_bytes(), now())
        .await
        .unwrap_err();
    assert!(matches!(e, KytError::Malformed { .. }), "{e}");
    assert!(
        e.to_string().contains("previous list version stays active"),
        "{e}"
    );
    assert_eq!(
        lists::active_versions(s).await.unwrap(),
        vec![out1.version.clone()]
    );
    assert_eq!(s.kyt_list_versions().await.unwrap().len(), 1);
    let report = screen::run(s, now()).await.unwrap();
    assert!(report.new_alerts.is_empty() && report.removed_alerts.is_empty());
    assert_eq!(open_alerts(&b).await, want);

    // Version 2: the payee is delisted, a later payee is listed.
    let v2 = write_sdn(
        (2026, 12, 1),
        &[
            party(
                "PAYER ONE",
                &[
                    ("ETH", sanctioned_payer.to_checksum(None)),
                    ("XBT", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT".into()),
                ],
            ),
            party(
                "RELAY THREE",
                &[
                    ("USDT", sanctioned_sender.to_checksum(None)),
                    ("SOL", "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU".into()),
                ],
            ),
            party("NOBODY", &[("ARB", unrelated.to_checksum(None))]),
            party("PAYEE FOUR", &[("ETH", later_payee.to_checksum(None))]),
        ],
    );
    let out2 = lists::load(s, "ofac-sdn", Format::Sdn, v2.as_bytes(), now())
        .await
        .unwrap();
    assert_eq!(
        out2.added
            .iter()
            .map(|c| c.address.clone())
            .collect::<Vec<_>>(),
        vec![lower(later_payee)]
    );
    assert_eq!(
        out2.removed
            .iter()
            .map(|c| c.address.clone())
            .collect::<Vec<_>>(),
        vec![lower(sanctioned_payee)]
    );
    let report = screen::run(s, now()).await.unwrap();
    let listed2: BTreeSet<String> = [sanctioned_payer, later_payee, sanctioned_sender]
        .map(lower)
        .into();
    let want2 = expected(&generated, &listed2);
    assert_eq!(open_alerts(&b).await, want2);
    let new: BTreeSet<_> = report
        .new_alerts
        .iter()
        .chain(&report.raised_again)
        .map(|a| (a.address.clone(), a.kind.clone(), a.listed_address.clone()))
        .collect();
    assert_eq!(new, want2.difference(&want).cloned().collect());
    let removed: BTreeSet<_> = report
        .removed_alerts
        .iter()
        .map(|a| (a.address.clone(), a.kind.clone(), a.listed_address.clone()))
        .collect();
    assert_eq!(removed, want.difference(&want2).cloned().collect());
    assert!(
        removed
            .iter()
            .all(|(_, _, l)| *l == lower(sanctioned_payee))
    );
    assert!(
        report
            .removed_alerts
            .iter()
            .all(|a| a.removed_by == out2.version.id)
    );
    let stored_removed = s
        .kyt_alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.status == "removed")
        .count();
    assert_eq!(stored_removed, removed.len());
    let changes = s.kyt_list_changes().await.unwrap();
    assert!(changes.iter().any(|c| c.version_id == out2.version.id
        && c.change == "removed"
        && c.address == lower(sanctioned_payee)
        && c.label == "PAYEE TWO"));
    assert!(changes.iter().any(|c| c.version_id == out2.version.id
        && c.change == "added"
        && c.address == lower(later_payee)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_sanctioned_addresses_raise_the_right_alerts_on_sqlite() {
    economy(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_sanctioned_addresses_raise_the_right_alerts_on_clickhouse() {
    economy(clickhouse("kyt_economy").await).await;
}
