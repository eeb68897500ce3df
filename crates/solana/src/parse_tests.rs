//! Table tests of the parser on jsonParsed answers built here in the node's shape.

#![allow(
    clippy::unwrap_used,
    clippy::type_complexity,
    clippy::needless_pass_by_value
)]

use std::collections::HashMap;

use serde_json::{Value, json};
use x402scope_core::Amount;

use super::*;

const CHAIN: &str = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp";
const FAC: &str = "FacPayer1111111111111111111111111111111111";
const OTHER: &str = "Stranger111111111111111111111111111111111";
const CLIENT: &str = "Client11111111111111111111111111111111111";
const SRC: &str = "SrcAta1111111111111111111111111111111111";
const DST: &str = "DstAta1111111111111111111111111111111111";
const DST2: &str = "DstAta2222222222222222222222222222222222";
const PAYTO: &str = "PayTo111111111111111111111111111111111111";
const PAYTO2: &str = "PayTo222222222222222222222222222222222222";
const MINT: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
const PROG: &str = "Wallet1111111111111111111111111111111111111";

fn checked(program: &str, dst: &str, amount: &str) -> Value {
    json!({"program": "spl-token", "programId": program, "parsed": {"type": "transferChecked", "info": {
        "source": SRC, "mint": MINT, "destination": dst, "authority": CLIENT,
        "tokenAmount": {"amount": amount, "decimals": 6, "uiAmount": 0.01, "uiAmountString": "0.01"}}},
        "stackHeight": null})
}

fn plain(dst: &str, amount: &str) -> Value {
    json!({"program": "spl-token", "programId": TOKEN_PROGRAM, "parsed": {"type": "transfer", "info": {
        "source": SRC, "destination": dst, "authority": CLIENT, "amount": amount}}})
}

fn memo(text: &str) -> Value {
    json!({"program": "spl-memo", "programId": MEMO_PROGRAM, "parsed": text, "stackHeight": null})
}

fn compute() -> Value {
    json!({"programId": "ComputeBudget111111111111111111111111111111", "accounts": [], "data": "3DdGGhkhJbjm", "stackHeight": null})
}

fn tx(fee_payer: &str, ixs: Vec<Value>, inner: Vec<(u32, Vec<Value>)>, err: Value) -> TxResponse {
    let keys = [fee_payer, CLIENT, SRC, DST, DST2, MINT, TOKEN_PROGRAM];
    let j = json!({
        "slot": 777, "blockTime": 1_700_000_000,
        "transaction": {"signatures": ["SIG1", "SIG2"], "message": {
            "accountKeys": keys.iter().enumerate().map(|(i, k)| json!({"pubkey": k, "signer": i < 2, "writable": true, "source": "transaction"})).collect::<Vec<_>>(),
            "instructions": ixs, "recentBlockhash": "HASH"}},
        "meta": {"err": err, "fee": 5000,
            "innerInstructions": inner.into_iter().map(|(i, v)| json!({"index": i, "instructions": v})).collect::<Vec<_>>(),
            "preTokenBalances": [{"accountIndex": 2, "mint": MINT, "owner": CLIENT, "programId": TOKEN_PROGRAM, "uiTokenAmount": {"amount": "100", "decimals": 6}}],
            "postTokenBalances": [
                {"accountIndex": 2, "mint": MINT, "owner": CLIENT, "programId": TOKEN_PROGRAM, "uiTokenAmount": {"amount": "0", "decimals": 6}},
                {"accountIndex": 3, "mint": MINT, "owner": PAYTO, "programId": TOKEN_PROGRAM, "uiTokenAmount": {"amount": "10", "decimals": 6}},
                {"accountIndex": 4, "mint": MINT, "owner": PAYTO2, "programId": TOKEN_PROGRAM, "uiTokenAmount": {"amount": "10", "decimals": 6}}],
            "logMessages": []},
        "version": 0
    });
    serde_json::from_value(j).unwrap()
}

fn lookup() -> HashMap<String, String> {
    HashMap::from([(FAC.to_owned(), "fac".to_owned())])
}

/// (outer, inner, pay_to, amount, method, memo)
type Want = (u32, u32, &'static str, Amount, &'static str, &'static str);

#[test]
fn parse_table() {
    let ok = Value::Null;
    let cases: Vec<(&str, TxResponse, Result<Vec<Want>, Exclusion>)> = vec![
        (
            "x402 shape: compute budget x2, TransferChecked, memo",
            tx(
                FAC,
                vec![
                    compute(),
                    compute(),
                    checked(TOKEN_PROGRAM, DST, "10000"),
                    memo("abc"),
                ],
                vec![],
                ok.clone(),
            ),
            Ok(vec![(
                2,
                0,
                PAYTO,
                Amount::from_u64(10000),
                "spl_transfer_checked",
                "abc",
            )]),
        ),
        (
            "Token-2022",
            tx(
                FAC,
                vec![checked(TOKEN_2022_PROGRAM, DST, "5")],
                vec![],
                ok.clone(),
            ),
            Ok(vec![(
                0,
                0,
                PAYTO,
                Amount::from_u64(5),
                "spl_transfer_checked",
                "",
            )]),
        ),
        (
            "two transfers: two rows",
            tx(
                FAC,
                vec![
                    checked(TOKEN_PROGRAM, DST, "1"),
                    checked(TOKEN_PROGRAM, DST2, "2"),
                    memo("m"),
                ],
                vec![],
                ok.clone(),
            ),
            Ok(vec![
                (
                    0,
                    0,
                    PAYTO,
                    Amount::from_u64(1),
                    "spl_transfer_checked",
                    "m",
                ),
                (
                    1,
                    0,
                    PAYTO2,
                    Amount::from_u64(2),
                    "spl_transfer_checked",
                    "m",
                ),
            ]),
        ),
        (
            "inner transfers: keyed k + 1 under their outer instruction",
            tx(
                FAC,
                vec![
                    compute(),
                    json!({"programId": PROG, "accounts": [], "data": ""}),
                ],
                vec![(
                    1,
                    vec![
                        memo("x"),
                        checked(TOKEN_PROGRAM, DST, "7"),
                        plain(DST2, "8"),
                    ],
                )],
                ok.clone(),
            ),
            Ok(vec![
                (
                    1,
                    2,
                    PAYTO,
                    Amount::from_u64(7),
                    "spl_transfer_checked",
                    "x",
                ),
                (1, 3, PAYTO2, Amount::from_u64(8), "spl_transfer", "x"),
            ]),
        ),
        (
            "plain transfer: mint from the token balances",
            tx(FAC, vec![plain(DST, "123456789012")], vec![], ok.clone()),
            Ok(vec![(
                0,
                0,
                PAYTO,
                Amount::from_u64(123_456_789_012),
                "spl_transfer",
                "",
            )]),
        ),
        (
            "failed transaction",
            tx(
                FAC,
                vec![checked(TOKEN_PROGRAM, DST, "1")],
                vec![],
                json!({"InstructionError": [0, {"Custom": 1}]}),
            ),
            Err(Exclusion::Failed),
        ),
        (
            "fee payer is not a facilitator",
            tx(
                OTHER,
                vec![checked(TOKEN_PROGRAM, DST, "1")],
                vec![],
                ok.clone(),
            ),
            Err(Exclusion::NotFacilitator(OTHER.into())),
        ),
        (
            "facilitator, but no token transfer",
            tx(
                FAC,
                vec![compute(), memo("only a memo")],
                vec![],
                ok.clone(),
            ),
            Err(Exclusion::NoTransfer),
        ),
    ];
    for (name, t, want) in cases {
        let got = parse_transaction(&t, CHAIN, &lookup(), false).unwrap();
        match (got, want) {
            (Parsed::Payments(rows), Ok(want)) => {
                let got: Vec<Want> = rows
                    .iter()
                    .map(|p| {
                        assert_eq!(p.tx_id, "SIG1", "{name}");
                        assert_eq!(p.chain, CHAIN, "{name}");
                        assert_eq!(p.payer, CLIENT, "{name}");
                        assert_eq!(p.asset, MINT, "{name}");
                        assert_eq!(p.tx_from, FAC, "{name}");
                        assert_eq!(p.facilitator, "fac", "{name}");
                        assert_eq!(p.block_number, 777, "{name}");
                        assert_eq!(p.block_time, 1_700_000_000, "{name}");
                        assert!(!p.is_final, "{name}");
                        let amount = p.amount;
                        let pay_to: &'static str = [PAYTO, PAYTO2]
                            .into_iter()
                            .find(|a| *a == p.pay_to)
                            .unwrap();
                        let method: &'static str = ["spl_transfer_checked", "spl_transfer"]
                            .into_iter()
                            .find(|m| *m == p.method)
                            .unwrap();
                        let memo: &'static str = ["abc", "m", "x", ""]
                            .into_iter()
                            .find(|m| *m == p.nonce)
                            .unwrap();
                        (p.idx_outer, p.idx_inner, pay_to, amount, method, memo)
                    })
                    .collect();
                assert_eq!(got, want, "{name}");
            }
            (Parsed::Excluded(e), Err(want)) => assert_eq!(e, want, "{name}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn the_fee_payers_own_transfer_is_not_a_settlement() {
    let mut ix = checked(TOKEN_PROGRAM, DST, "1");
    ix["parsed"]["info"]["authority"] = json!(FAC);
    let got = parse_transaction(
        &tx(FAC, vec![ix], vec![], Value::Null),
        CHAIN,
        &lookup(),
        true,
    )
    .unwrap();
    assert_eq!(got, Parsed::Excluded(Exclusion::NoTransfer));
}

#[test]
fn amounts_beyond_u64_stay_exact_and_finality_is_carried() {
    let t = tx(
        FAC,
        vec![checked(TOKEN_PROGRAM, DST, "18446744073709551616")],
        vec![],
        Value::Null,
    );
    let Parsed::Payments(rows) = parse_transaction(&t, CHAIN, &lookup(), true).unwrap() else {
        panic!("rows expected");
    };
    assert_eq!(
        rows[0].amount,
        Amount::parse_decimal("18446744073709551616").unwrap()
    );
    assert!(rows[0].is_final);
}

#[test]
fn raw_token_instructions_are_decoded() {
    // transferChecked: [12, amount u64 LE, decimals]
    let mut data = vec![12u8];
    data.extend_from_slice(&4242u64.to_le_bytes());
    data.push(6);
    let raw = json!({"programId": TOKEN_PROGRAM, "accounts": [SRC, MINT, DST, CLIENT], "data": bs58::encode(&data).into_string()});
    let mut memo_data = json!({"programId": MEMO_PROGRAM, "accounts": [], "data": bs58::encode(b"raw memo").into_string()});
    memo_data["stackHeight"] = Value::Null;
    let t = tx(FAC, vec![raw, memo_data], vec![], Value::Null);
    let Parsed::Payments(rows) = parse_transaction(&t, CHAIN, &lookup(), false).unwrap() else {
        panic!("rows expected");
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].amount, Amount::from_u64(4242));
    assert_eq!(rows[0].pay_to, PAYTO);
    assert_eq!(rows[0].nonce, "raw memo");
}

#[test]
fn a_lying_node_gives_typed_errors() {
    // an amount that is not a number
    let t = tx(
        FAC,
        vec![checked(TOKEN_PROGRAM, DST, "1.5")],
        vec![],
        Value::Null,
    );
    assert!(matches!(
        parse_transaction(&t, CHAIN, &lookup(), false),
        Err(ParseError::BadTransfer {
            outer: 0,
            inner: 0,
            ..
        })
    ));
    // a transfer without a destination
    let mut ix = checked(TOKEN_PROGRAM, DST, "1");
    ix["parsed"]["info"]
        .as_object_mut()
        .unwrap()
        .remove("destination");
    let t = tx(FAC, vec![ix], vec![], Value::Null);
    assert!(matches!(
        parse_transaction(&t, CHAIN, &lookup(), false),
        Err(ParseError::BadTransfer { .. })
    ));
    // no meta
    let mut t = tx(FAC, vec![], vec![], Value::Null);
    t.meta = None;
    assert_eq!(
        parse_transaction(&t, CHAIN, &lookup(), false),
        Err(ParseError::NoMeta("SIG1".into()))
    );
    // no signature
    t.transaction.signatures.clear();
    assert_eq!(
        parse_transaction(&t, CHAIN, &lookup(), false),
        Err(ParseError::NoSignature)
    );
    // a reply missing required fields does not decode at all
    assert!(serde_json::from_value::<TxResponse>(json!({"slot": 1})).is_err());
}

#[test]
fn a_destination_no_balance_names_is_paid_to_the_account_itself() {
    const LOOSE: &str = "Loose11111111111111111111111111111111111111";
    let mut ix = checked(TOKEN_PROGRAM, DST, "3");
    ix["parsed"]["info"]["destination"] = json!(LOOSE);
    let Parsed::Payments(rows) = parse_transaction(
        &tx(FAC, vec![ix], vec![], Value::Null),
        CHAIN,
        &lookup(),
        false,
    )
    .unwrap() else {
        panic!("rows expected");
    };
    assert_eq!(rows[0].pay_to, LOOSE);
}
