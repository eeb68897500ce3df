//! Table tests of the correlation engine: every status, every rule, and the
//! order of the rules, on EVM- and Solana-shaped rows.

#![allow(clippy::unwrap_used, clippy::too_many_arguments)]

use x402scope_core::Amount;
use x402scope_store::{Claim, Payment};

use crate::correlate::*;

const BASE: &str = "eip155:84532";
const OTHER: &str = "eip155:1";
const SOL: &str = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1";
const USDC: &str = "0x036cbd53842c5426634e7929541ec2318f3dcf7e";
const MINT: &str = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU";
const NOW: i64 = 10_000;

/// An EVM payment: tx `tx`, log index `idx`.
fn evm(tx: &str, idx: u32, payer: &str, pay_to: &str, amount: u64, nonce: &str, t: i64) -> Payment {
    Payment {
        chain: BASE.into(),
        tx_id: tx.into(),
        idx_outer: idx,
        idx_inner: 0,
        block_number: 100,
        block_hash: "0xb100".into(),
        block_time: t,
        asset: USDC.into(),
        payer: payer.into(),
        pay_to: pay_to.into(),
        amount: Amount::from_u64(amount),
        nonce: nonce.into(),
        facilitator: "fac".into(),
        tx_from: "0xf0".into(),
        method: "eip3009".into(),
        is_final: true,
        is_organic: true,
    }
}

/// A Solana payment as the Solana indexer writes it: signature, instruction
/// path, memo in `nonce`, method `spl_transfer_checked`.
fn sol(
    sig: &str,
    outer: u32,
    inner: u32,
    payer: &str,
    pay_to: &str,
    amount: u64,
    memo: &str,
    t: i64,
) -> Payment {
    Payment {
        chain: SOL.into(),
        tx_id: sig.into(),
        idx_outer: outer,
        idx_inner: inner,
        block_number: 5000,
        block_hash: "Bh5000".into(),
        block_time: t,
        asset: MINT.into(),
        payer: payer.into(),
        pay_to: pay_to.into(),
        amount: Amount::from_u64(amount),
        nonce: memo.into(),
        facilitator: "fac".into(),
        tx_from: "FeePayer1".into(),
        method: "spl_transfer_checked".into(),
        is_final: true,
        is_organic: true,
    }
}

fn claim(
    id: &str,
    network: &str,
    tx: &str,
    payer: &str,
    pay_to: &str,
    amount: u64,
    t: i64,
) -> Claim {
    let asset = if network == SOL { MINT } else { USDC };
    Claim {
        source: "hook".into(),
        claim_id: id.into(),
        network: network.into(),
        tx_id: tx.into(),
        payer: payer.into(),
        pay_to: pay_to.into(),
        asset: asset.into(),
        amount: Amount::from_u64(amount),
        resource_url: String::new(),
        facilitator: "fac".into(),
        success: true,
        claimed_at: t,
        reference: String::new(),
    }
}

fn with_ref(mut c: Claim, r: &str) -> Claim {
    c.reference = r.into();
    c
}

fn failed(mut c: Claim) -> Claim {
    c.success = false;
    c
}

fn with_asset(mut c: Claim, a: &str) -> Claim {
    c.asset = a.into();
    c
}

fn not_final(mut p: Payment) -> Payment {
    p.is_final = false;
    p
}

/// What a case expects of a claim: its status, rule and payment (tx, outer index).
type Want = (Status, Option<Rule>, Option<(&'static str, u32)>);

struct Case {
    name: &'static str,
    claims: Vec<Claim>,
    payments: Vec<Payment>,
    removed: Vec<Payment>,
    /// Per claim, in input order.
    want_claims: Vec<Want>,
    /// Rows with no claim: (status, tx).
    want_unclaimed: Vec<(Status, &'static str)>,
}

/// A row with its payment named by the input it came from: (claim, payment,
/// status, rule, detail), sorted.
type Flat = Vec<(
    Option<usize>,
    Option<PaymentRef>,
    Status,
    Option<Rule>,
    String,
)>;

fn flat(rows: &[Correlation], current: &[usize]) -> Flat {
    let mut out: Flat = rows
        .iter()
        .map(|r| {
            let p = r.payment.map(|p| match p {
                PaymentRef::Current(i) => PaymentRef::Current(current[i]),
                removed => removed,
            });
            (r.claim, p, r.status, r.rule, r.detail.clone())
        })
        .collect();
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out
}

/// Correlating only the payments [`Wanted`] names, and calling every other one
/// unclaimed, gives the same rows as correlating them all.
fn assert_wanted_subset_agrees(case: &Case, all: &[Correlation]) {
    let wanted = Wanted::new(&case.claims, &case.removed);
    let picked: Vec<usize> = (0..case.payments.len())
        .filter(|&i| wanted.wants(&case.payments[i]))
        .collect();
    let subset: Vec<Payment> = picked.iter().map(|&i| case.payments[i].clone()).collect();
    let rows = correlate(
        Facts {
            claims: &case.claims,
            payments: &subset,
            removed: &case.removed,
            now: NOW,
        },
        &CorrelateConfig::default(),
    );
    let identity: Vec<usize> = (0..case.payments.len()).collect();
    let mut got = flat(&rows, &picked);
    for i in (0..case.payments.len()).filter(|i| !picked.contains(i)) {
        got.push((
            None,
            Some(PaymentRef::Current(i)),
            Status::TransferWithoutClaim,
            None,
            String::new(),
        ));
    }
    got.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(
        got,
        flat(all, &identity),
        "{}: the wanted subset ({} of {} payments) disagrees",
        case.name,
        picked.len(),
        case.payments.len()
    );
}

fn run_case(case: &Case) {
    let rows = correlate(
        Facts {
            claims: &case.claims,
            payments: &case.payments,
            removed: &case.removed,
            now: NOW,
        },
        &CorrelateConfig::default(),
    );
    assert_wanted_subset_agrees(case, &rows);
    let mut got_claims: Vec<(usize, Want)> = Vec::new();
    let mut got_unclaimed = Vec::new();
    for r in &rows {
        let payment = r.payment.map(|p| match p {
            PaymentRef::Current(i) => {
                let p = &case.payments[i];
                (p.tx_id.clone(), p.idx_outer)
            }
            PaymentRef::Removed(i) => {
                let p = &case.removed[i];
                (p.tx_id.clone(), p.idx_outer)
            }
        });
        match r.claim {
            Some(ci) => {
                let want_payment = case.want_claims[ci].2.map(|(t, i)| (t.to_owned(), i));
                assert_eq!(
                    (r.status, r.rule, payment.clone()),
                    (case.want_claims[ci].0, case.want_claims[ci].1, want_payment),
                    "{}: claim {ci} ({})",
                    case.name,
                    r.detail
                );
                got_claims.push((ci, case.want_claims[ci]));
            }
            None => got_unclaimed.push((r.status, payment.map(|p| p.0).unwrap_or_default())),
        }
    }
    assert_eq!(
        got_claims.len(),
        case.claims.len(),
        "{}: one row per claim",
        case.name
    );
    let want_unclaimed: Vec<(Status, String)> = case
        .want_unclaimed
        .iter()
        .map(|(s, t)| (*s, (*t).to_owned()))
        .collect();
    assert_eq!(
        got_unclaimed, want_unclaimed,
        "{}: unclaimed rows",
        case.name
    );
}

#[test]
fn every_status_and_rule() {
    let cases = vec![
        Case {
            name: "R1 matched, final",
            claims: vec![claim("c", BASE, "0xt1", "0xa", "0xs", 100, 1000)],
            payments: vec![evm("0xt1", 3, "0xa", "0xs", 100, "0xn1", 1000)],
            removed: vec![],
            want_claims: vec![(Status::Matched, Some(Rule::TxId), Some(("0xt1", 3)))],
            want_unclaimed: vec![],
        },
        Case {
            name: "R1 matched, tx hash in another case",
            claims: vec![claim("c", BASE, "0xT1", "0xa", "0xs", 100, 1000)],
            payments: vec![evm("0xt1", 3, "0xa", "0xs", 100, "0xn1", 1000)],
            removed: vec![],
            want_claims: vec![(Status::Matched, Some(Rule::TxId), Some(("0xt1", 3)))],
            want_unclaimed: vec![],
        },
        Case {
            name: "matched, pending finality",
            claims: vec![claim("c", BASE, "0xt1", "0xa", "0xs", 100, 1000)],
            payments: vec![not_final(evm("0xt1", 3, "0xa", "0xs", 100, "0xn1", 1000))],
            removed: vec![],
            want_claims: vec![(
                Status::MatchedPendingFinality,
                Some(Rule::TxId),
                Some(("0xt1", 3)),
            )],
            want_unclaimed: vec![],
        },
        Case {
            name: "amount, recipient, asset and network mismatches by R1",
            claims: vec![
                claim("amount", BASE, "0xt1", "0xa", "0xs", 99, 1000),
                claim("recipient", BASE, "0xt2", "0xa", "0xother", 100, 1000),
                with_asset(
                    claim("asset", BASE, "0xt3", "0xa", "0xs", 100, 1000),
                    "0xdead",
                ),
                claim("network", OTHER, "0xt4", "0xa", "0xs", 100, 1000),
            ],
            payments: vec![
                evm("0xt1", 0, "0xa", "0xs", 100, "0xn1", 1000),
                evm("0xt2", 0, "0xa", "0xs", 100, "0xn2", 1000),
                evm("0xt3", 0, "0xa", "0xs", 100, "0xn3", 1000),
                evm("0xt4", 0, "0xa", "0xs", 100, "0xn4", 1000),
            ],
            removed: vec![],
            want_claims: vec![
                (Status::AmountMismatch, Some(Rule::TxId), Some(("0xt1", 0))),
                (
                    Status::RecipientMismatch,
                    Some(Rule::TxId),
                    Some(("0xt2", 0)),
                ),
                (Status::AssetMismatch, Some(Rule::TxId), Some(("0xt3", 0))),
                (Status::NetworkMismatch, Some(Rule::TxId), Some(("0xt4", 0))),
            ],
            want_unclaimed: vec![],
        },
        Case {
            name: "network mismatch wins over the other mismatches",
            claims: vec![with_asset(
                claim("c", OTHER, "0xt1", "0xa", "0xz", 1, 1000),
                "0xdead",
            )],
            payments: vec![evm("0xt1", 0, "0xa", "0xs", 100, "0xn1", 1000)],
            removed: vec![],
            want_claims: vec![(Status::NetworkMismatch, Some(Rule::TxId), Some(("0xt1", 0)))],
            want_unclaimed: vec![],
        },
        Case {
            name: "R1 narrows a batch transaction to the agreeing payment",
            claims: vec![claim("c", BASE, "0xbatch", "0xb", "0xs", 200, 1000)],
            payments: vec![
                evm("0xbatch", 1, "0xa", "0xs", 100, "0xn1", 1000),
                evm("0xbatch", 3, "0xb", "0xs", 200, "0xn2", 1000),
            ],
            removed: vec![],
            want_claims: vec![(Status::Matched, Some(Rule::TxId), Some(("0xbatch", 3)))],
            want_unclaimed: vec![(Status::TransferWithoutClaim, "0xbatch")],
        },
        Case {
            name: "R1 with two equal payments in one transaction is ambiguous",
            claims: vec![claim("c", BASE, "0xbatch", "0xa", "0xs", 100, 1000)],
            payments: vec![
                evm("0xbatch", 1, "0xa", "0xs", 100, "0xn1", 1000),
                evm("0xbatch", 3, "0xa", "0xs", 100, "0xn2", 1000),
            ],
            removed: vec![],
            want_claims: vec![(Status::Ambiguous, None, None)],
            want_unclaimed: vec![
                (Status::TransferWithoutClaim, "0xbatch"),
                (Status::TransferWithoutClaim, "0xbatch"),
            ],
        },
        Case {
            name: "R2 EVM nonce when the claim has no tx hash",
            claims: vec![with_ref(
                claim("c", BASE, "", "0xA", "0xs", 100, 1000),
                "0xN1",
            )],
            payments: vec![
                evm("0xt1", 0, "0xa", "0xs", 100, "0xn1", 5000),
                evm("0xt2", 0, "0xa", "0xs", 100, "0xn2", 1000),
            ],
            removed: vec![],
            want_claims: vec![(Status::Matched, Some(Rule::EvmNonce), Some(("0xt1", 0)))],
            want_unclaimed: vec![(Status::TransferWithoutClaim, "0xt2")],
        },
        Case {
            name: "R1 wins over R2",
            claims: vec![with_ref(
                claim("c", BASE, "0xt2", "0xa", "0xs", 100, 1000),
                "0xn1",
            )],
            payments: vec![
                evm("0xt1", 0, "0xa", "0xs", 100, "0xn1", 1000),
                evm("0xt2", 0, "0xa", "0xs", 100, "0xn2", 1000),
            ],
            removed: vec![],
            want_claims: vec![(Status::Matched, Some(Rule::TxId), Some(("0xt2", 0)))],
            want_unclaimed: vec![(Status::TransferWithoutClaim, "0xt1")],
        },
        Case {
            name: "R3 Solana memo plus payTo",
            claims: vec![with_ref(
                claim("c", SOL, "", "Payer1", "Seller1", 100, 1000),
                "order-7",
            )],
            payments: vec![
                sol("Sig1", 2, 0, "Payer1", "Seller1", 100, "order-7", 5000),
                sol("Sig2", 2, 0, "Payer1", "Seller2", 100, "order-7", 1000),
            ],
            removed: vec![],
            want_claims: vec![(Status::Matched, Some(Rule::SolanaMemo), Some(("Sig1", 2)))],
            want_unclaimed: vec![(Status::TransferWithoutClaim, "Sig2")],
        },
        Case {
            name: "R1 on a Solana signature, inner instruction; base58 compares exactly",
            claims: vec![
                claim("c", SOL, "Sig1", "Payer1", "Seller1", 100, 1000),
                claim("d", SOL, "sig1", "Payer1", "Seller1", 100, 9_500),
            ],
            payments: vec![sol("Sig1", 4, 2, "Payer1", "Seller1", 100, "", 1000)],
            removed: vec![],
            want_claims: vec![
                (Status::Matched, Some(Rule::TxId), Some(("Sig1", 4))),
                (Status::ClaimPending, None, None),
            ],
            want_unclaimed: vec![],
        },
        Case {
            name: "R3 with two payments of one memo and payTo is ambiguous",
            claims: vec![with_ref(
                claim("c", SOL, "", "Payer1", "Seller1", 100, 1000),
                "m",
            )],
            payments: vec![
                sol("Sig1", 0, 0, "Payer1", "Seller1", 100, "m", 1000),
                sol("Sig2", 0, 0, "Payer2", "Seller1", 100, "m", 1000),
            ],
            removed: vec![],
            want_claims: vec![(Status::Ambiguous, None, None)],
            want_unclaimed: vec![
                (Status::TransferWithoutClaim, "Sig1"),
                (Status::TransferWithoutClaim, "Sig2"),
            ],
        },
        Case {
            name: "R4 fuzzy with one candidate in the window",
            claims: vec![claim("c", BASE, "", "0xa", "0xs", 100, 1000)],
            payments: vec![
                evm("0xt1", 0, "0xa", "0xs", 100, "0xn1", 1300),
                evm("0xt2", 0, "0xa", "0xs", 100, "0xn2", 3000),
                evm("0xt3", 0, "0xb", "0xs", 100, "0xn3", 1000),
            ],
            removed: vec![],
            want_claims: vec![(Status::Matched, Some(Rule::Fuzzy), Some(("0xt1", 0)))],
            want_unclaimed: vec![
                (Status::TransferWithoutClaim, "0xt2"),
                (Status::TransferWithoutClaim, "0xt3"),
            ],
        },
        Case {
            name: "R4 without a payer, two candidates: ambiguous, never auto-matched",
            claims: vec![claim("c", BASE, "", "", "0xs", 100, 1000)],
            payments: vec![
                evm("0xt1", 0, "0xa", "0xs", 100, "0xn1", 1100),
                evm("0xt2", 0, "0xb", "0xs", 100, "0xn2", 900),
            ],
            removed: vec![],
            want_claims: vec![(Status::Ambiguous, None, None)],
            want_unclaimed: vec![
                (Status::TransferWithoutClaim, "0xt1"),
                (Status::TransferWithoutClaim, "0xt2"),
            ],
        },
        Case {
            name: "R4 skips a payment a strong rule took",
            claims: vec![
                claim("fuzzy", BASE, "", "0xa", "0xs", 100, 900),
                claim("exact", BASE, "0xt1", "0xa", "0xs", 100, 1000),
            ],
            payments: vec![
                evm("0xt1", 0, "0xa", "0xs", 100, "0xn1", 1000),
                evm("0xt2", 0, "0xa", "0xs", 100, "0xn2", 1000),
            ],
            removed: vec![],
            want_claims: vec![
                (Status::Matched, Some(Rule::Fuzzy), Some(("0xt2", 0))),
                (Status::Matched, Some(Rule::TxId), Some(("0xt1", 0))),
            ],
            want_unclaimed: vec![],
        },
        Case {
            name: "duplicate claims: the first claim wins, a stronger rule wins first",
            claims: vec![
                claim("late", BASE, "0xt1", "0xa", "0xs", 100, 1200),
                claim("early", BASE, "0xt1", "0xa", "0xs", 100, 1100),
                claim("fuzzy", BASE, "", "0xb", "0xs", 5, 1000),
                claim("fuzzy-strong", BASE, "0xt2", "0xb", "0xs", 5, 1500),
            ],
            payments: vec![
                evm("0xt1", 0, "0xa", "0xs", 100, "0xn1", 1000),
                evm("0xt2", 0, "0xb", "0xs", 5, "0xn2", 1000),
            ],
            removed: vec![],
            want_claims: vec![
                (Status::DuplicateClaim, Some(Rule::TxId), Some(("0xt1", 0))),
                (Status::Matched, Some(Rule::TxId), Some(("0xt1", 0))),
                // The strong claim took 0xt2 first, so the fuzzy claim finds nothing left.
                (Status::ClaimWithoutTransfer, None, None),
                (Status::Matched, Some(Rule::TxId), Some(("0xt2", 0))),
            ],
            want_unclaimed: vec![],
        },
        Case {
            name: "two fuzzy claims of one payment: the second is a duplicate",
            claims: vec![
                claim("a", BASE, "", "0xa", "0xs", 100, 1000),
                claim("b", BASE, "", "0xa", "0xs", 100, 1001),
            ],
            payments: vec![evm("0xt1", 0, "0xa", "0xs", 100, "0xn1", 1000)],
            removed: vec![],
            want_claims: vec![
                (Status::Matched, Some(Rule::Fuzzy), Some(("0xt1", 0))),
                (Status::DuplicateClaim, Some(Rule::Fuzzy), Some(("0xt1", 0))),
            ],
            want_unclaimed: vec![],
        },
        Case {
            name: "no transfer: pending inside the grace period, then claim_without_transfer",
            claims: vec![
                claim("old", BASE, "0xgone", "0xa", "0xs", 100, NOW - 601),
                claim("new", BASE, "0xsoon", "0xa", "0xs", 100, NOW - 10),
            ],
            payments: vec![],
            removed: vec![],
            want_claims: vec![
                (Status::ClaimWithoutTransfer, None, None),
                (Status::ClaimPending, None, None),
            ],
            want_unclaimed: vec![],
        },
        Case {
            name: "a failed claim: claim_failed_onchain, never fuzzy; but the chain wins by R1",
            claims: vec![
                failed(claim("f", BASE, "", "0xa", "0xs", 100, 1000)),
                failed(claim("g", BASE, "0xt2", "0xa", "0xs", 7, 1000)),
            ],
            payments: vec![
                evm("0xt1", 0, "0xa", "0xs", 100, "0xn1", 1000),
                evm("0xt2", 0, "0xa", "0xs", 7, "0xn2", 1000),
            ],
            removed: vec![],
            want_claims: vec![
                (Status::ClaimFailedOnchain, None, None),
                (Status::Matched, Some(Rule::TxId), Some(("0xt2", 0))),
            ],
            want_unclaimed: vec![(Status::TransferWithoutClaim, "0xt1")],
        },
        Case {
            name: "reorg: the claimed transaction is gone, nothing settled again",
            claims: vec![claim("c", BASE, "0xold", "0xa", "0xs", 100, 1000)],
            // A look-alike payment must not be taken by R4: the exact tx is known.
            payments: vec![evm("0xlookalike", 0, "0xa", "0xs", 100, "0xother", 1000)],
            removed: vec![evm("0xold", 2, "0xa", "0xs", 100, "0xn1", 1000)],
            want_claims: vec![(
                Status::OrphanedByReorg,
                Some(Rule::TxId),
                Some(("0xold", 2)),
            )],
            want_unclaimed: vec![(Status::TransferWithoutClaim, "0xlookalike")],
        },
        Case {
            name: "reorg then re-settlement of the same authorization in another tx",
            claims: vec![claim("c", BASE, "0xold", "0xa", "0xs", 100, 1000)],
            payments: vec![not_final(evm("0xnew", 0, "0xa", "0xs", 100, "0xn1", 1010))],
            removed: vec![evm("0xold", 2, "0xa", "0xs", 100, "0xn1", 1000)],
            want_claims: vec![(
                Status::MatchedPendingFinality,
                Some(Rule::EvmNonce),
                Some(("0xnew", 0)),
            )],
            want_unclaimed: vec![],
        },
        Case {
            name: "reorg re-included the same tx at another index: R1 as usual",
            claims: vec![claim("c", BASE, "0xt", "0xa", "0xs", 100, 1000)],
            payments: vec![evm("0xt", 5, "0xa", "0xs", 100, "0xn1", 1010)],
            removed: vec![evm("0xt", 2, "0xa", "0xs", 100, "0xn1", 1000)],
            want_claims: vec![(Status::Matched, Some(Rule::TxId), Some(("0xt", 5)))],
            want_unclaimed: vec![],
        },
        Case {
            name: "reorg of a Solana memo payment, settled again by signature with the same memo",
            claims: vec![claim("c", SOL, "SigOld", "Payer1", "Seller1", 100, 1000)],
            payments: vec![sol(
                "SigNew", 1, 0, "Payer1", "Seller1", 100, "memo-1", 1010,
            )],
            removed: vec![sol(
                "SigOld", 1, 0, "Payer1", "Seller1", 100, "memo-1", 1000,
            )],
            want_claims: vec![(Status::Matched, Some(Rule::SolanaMemo), Some(("SigNew", 1)))],
            want_unclaimed: vec![],
        },
        Case {
            name: "unclaimed removed payments are orphaned unless settled again",
            claims: vec![],
            payments: vec![evm("0xagain", 0, "0xa", "0xs", 100, "0xn2", 1000)],
            removed: vec![
                evm("0xgone", 0, "0xa", "0xs", 100, "0xn1", 1000),
                evm("0xresettled", 0, "0xa", "0xs", 100, "0xn2", 1000),
            ],
            want_claims: vec![],
            want_unclaimed: vec![
                (Status::TransferWithoutClaim, "0xagain"),
                (Status::OrphanedByReorg, "0xgone"),
            ],
        },
    ];
    let mut seen = std::collections::BTreeSet::new();
    for case in &cases {
        run_case(case);
        for w in &case.want_claims {
            seen.insert(w.0);
        }
        for w in &case.want_unclaimed {
            seen.insert(w.0);
        }
    }
    let all: std::collections::BTreeSet<Status> = Status::ALL.into_iter().collect();
    assert_eq!(seen, all, "the table covers every status");
}

#[test]
fn a_late_webhook_changes_the_status_on_the_next_run() {
    let payments = vec![not_final(evm("0xt1", 0, "0xa", "0xs", 100, "0xn1", 1000))];
    let run = |claims: &[Claim], payments: &[Payment]| {
        correlate(
            Facts {
                claims,
                payments,
                removed: &[],
                now: NOW,
            },
            &CorrelateConfig::default(),
        )
        .into_iter()
        .map(|r| r.status)
        .collect::<Vec<_>>()
    };
    assert_eq!(run(&[], &payments), vec![Status::TransferWithoutClaim]);
    let claims = vec![claim("c", BASE, "0xt1", "0xa", "0xs", 100, 1000)];
    assert_eq!(
        run(&claims, &payments),
        vec![Status::MatchedPendingFinality]
    );
    let mut fin = payments.clone();
    fin[0].is_final = true;
    assert_eq!(run(&claims, &fin), vec![Status::Matched]);
}

#[test]
fn status_names_round_trip() {
    for s in Status::ALL {
        assert_eq!(Status::parse(s.as_str()), Some(s));
    }
    assert_eq!(Status::parse("nope"), None);
}

#[test]
fn wanted_names_only_what_a_claim_or_a_removed_payment_can_reach() {
    let claims = vec![
        claim("c1", BASE, "0xT1", "0xb1", "0xs1", 1000, NOW),
        with_ref(claim("c2", BASE, "", "0xb2", "0xs2", 2000, NOW), "0xN2"),
        with_ref(
            claim("c3", SOL, "", "Buyer3", "Seller3", 3000, NOW),
            "memo3",
        ),
    ];
    let removed = vec![evm("0xgone", 0, "0xb4", "0xs4", 4000, "0xn4", NOW)];
    let w = Wanted::new(&claims, &removed);
    let cases: &[(&str, Payment, bool)] = &[
        (
            "R1, any case",
            evm("0xt1", 0, "0xzz", "0xzz", 1, "", NOW),
            true,
        ),
        (
            "R2 nonce",
            evm("0xother", 0, "0xB2", "0xq", 1, "0xn2", NOW),
            true,
        ),
        (
            "R2 needs the payer",
            evm("0xother", 0, "0xb9", "0xq", 1, "0xn2", NOW),
            false,
        ),
        (
            "R3 memo",
            sol("Sig", 0, 0, "X", "Seller3", 1, "memo3", NOW),
            true,
        ),
        (
            "R3 needs the payTo",
            sol("Sig", 0, 0, "X", "Other", 1, "memo3", NOW),
            false,
        ),
        (
            "R4 shape",
            evm("0xother", 0, "0xq", "0xS1", 1000, "", NOW + 9999),
            true,
        ),
        (
            "R4 needs the amount",
            evm("0xother", 0, "0xq", "0xs1", 999, "", NOW),
            false,
        ),
        (
            "removed tx",
            evm("0xGONE", 1, "0xq", "0xq", 1, "", NOW),
            true,
        ),
        (
            "removed authorization",
            evm("0xnew", 0, "0xb4", "0xq", 1, "0xN4", NOW),
            true,
        ),
        (
            "unrelated",
            evm("0xnone", 0, "0xb1", "0xs1", 7, "0xn1", NOW),
            false,
        ),
    ];
    for (name, p, want) in cases {
        assert_eq!(w.wants(p), *want, "{name}");
    }
    assert!(Wanted::new(&[], &[]).is_empty());
    assert!(!Wanted::new(&[], &[]).wants(&cases[0].1));
}
