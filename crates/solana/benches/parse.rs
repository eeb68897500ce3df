//! Transactions per second parsed, and parsed and stored, by the Solana
//! indexer's pure path: `getTransaction` jsonParsed text → [`TxResponse`] →
//! payment rows → `commit_payments` into SQLite, in pages of 1,000 as the
//! indexer commits them. The RPC is left out: it is what a node serves.
//!
//! `cargo bench -p x402scope-solana --bench parse` (transactions from
//! `X402SCOPE_BENCH_SOLANA_TXS`, default 100,000).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Instant;

use serde_json::json;
use x402scope_solana::parse::{MEMO_PROGRAM, Parsed, TOKEN_PROGRAM, parse_transaction};
use x402scope_solana::tx::TxResponse;
use x402scope_store::{StoreUrl, migrate, open};

const CHAIN: &str = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp";
const FAC: &str = "2wKupLR9q6wXYppw8Gr2NvWxKBUqm4PPJKkQfoxHDBg4";
const MINT: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

/// An x402-shaped transaction as a node sends it: compute budget x2,
/// TransferChecked, memo; about 2.5 kB of JSON.
fn tx_json(i: u64) -> String {
    let client = format!("Client{i:0>38}");
    let src = format!("Src{i:0>41}");
    let dst = format!("Dst{:0>41}", i % 5000);
    let payee = format!("PayTo{:0>39}", i % 5000);
    let sig = format!("{i:0>88}");
    let keys = [
        FAC,
        client.as_str(),
        src.as_str(),
        dst.as_str(),
        MINT,
        TOKEN_PROGRAM,
        MEMO_PROGRAM,
    ];
    json!({
        "slot": 300_000_000u64 + i / 4, "blockTime": 1_750_000_000u64 + i / 10,
        "transaction": {"signatures": [sig, format!("{i:1>88}")], "message": {
            "accountKeys": keys.iter().enumerate().map(|(n, k)| json!({"pubkey": k, "signer": n < 2, "writable": n < 4, "source": "transaction"})).collect::<Vec<_>>(),
            "instructions": [
                {"programId": "ComputeBudget111111111111111111111111111111", "accounts": [], "data": "K1FDJ7", "stackHeight": null},
                {"programId": "ComputeBudget111111111111111111111111111111", "accounts": [], "data": "3DdGGhkhJbjm", "stackHeight": null},
                {"program": "spl-token", "programId": TOKEN_PROGRAM, "parsed": {"type": "transferChecked", "info": {
                    "source": src, "mint": MINT, "destination": dst, "authority": client,
                    "tokenAmount": {"amount": (10_000 + i % 1000).to_string(), "decimals": 6, "uiAmount": 0.01, "uiAmountString": "0.01"}}}, "stackHeight": null},
                {"program": "spl-memo", "programId": MEMO_PROGRAM, "parsed": format!("{i:032x}"), "stackHeight": null}],
            "recentBlockhash": "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N", "addressTableLookups": []}},
        "meta": {"err": null, "status": {"Ok": null}, "fee": 5001, "computeUnitsConsumed": 6200,
            "preBalances": [1, 2, 3, 4, 5, 6, 7], "postBalances": [1, 2, 3, 4, 5, 6, 7],
            "innerInstructions": [], "logMessages": ["Program log: Instruction: TransferChecked"],
            "preTokenBalances": [
                {"accountIndex": 2, "mint": MINT, "owner": client, "programId": TOKEN_PROGRAM, "uiTokenAmount": {"amount": "1000000", "decimals": 6, "uiAmount": 1.0, "uiAmountString": "1"}},
                {"accountIndex": 3, "mint": MINT, "owner": payee, "programId": TOKEN_PROGRAM, "uiTokenAmount": {"amount": "0", "decimals": 6, "uiAmount": 0.0, "uiAmountString": "0"}}],
            "postTokenBalances": [
                {"accountIndex": 2, "mint": MINT, "owner": client, "programId": TOKEN_PROGRAM, "uiTokenAmount": {"amount": "990000", "decimals": 6, "uiAmount": 0.99, "uiAmountString": "0.99"}},
                {"accountIndex": 3, "mint": MINT, "owner": payee, "programId": TOKEN_PROGRAM, "uiTokenAmount": {"amount": "10000", "decimals": 6, "uiAmount": 0.01, "uiAmountString": "0.01"}}],
            "rewards": [], "loadedAddresses": {"readonly": [], "writable": []}},
        "version": 0
    })
    .to_string()
}

fn main() {
    let n: u64 = std::env::var("X402SCOPE_BENCH_SOLANA_TXS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let texts: Vec<String> = (0..n).map(tx_json).collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let lookup: HashMap<String, String> = HashMap::from([(FAC.to_owned(), "bench".to_owned())]);

    let started = Instant::now();
    let mut rows = Vec::with_capacity(texts.len());
    for t in &texts {
        let tx: TxResponse = serde_json::from_str(t).unwrap();
        match parse_transaction(&tx, CHAIN, &lookup, true).unwrap() {
            Parsed::Payments(r) => rows.extend(r),
            Parsed::Excluded(e) => panic!("{e:?}"),
        }
    }
    let parse = started.elapsed();
    assert_eq!(rows.len() as u64, n);
    println!(
        "parse: {n} transactions ({:.1} MB of JSON) in {parse:.2?}: {:.0} tx/s",
        bytes as f64 / 1e6,
        n as f64 / parse.as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = StoreUrl::Sqlite(dir.path().join("bench.db"));
        migrate(&url).await.unwrap();
        let store = open(&url).await.unwrap();
        let started = Instant::now();
        for page in texts.chunks(1000) {
            let mut rows = Vec::with_capacity(page.len());
            for t in page {
                let tx: TxResponse = serde_json::from_str(t).unwrap();
                if let Parsed::Payments(r) = parse_transaction(&tx, CHAIN, &lookup, true).unwrap() {
                    rows.extend(r);
                }
            }
            store.commit_payments(rows, Vec::new(), None).await.unwrap();
        }
        let total = started.elapsed();
        println!(
            "parse + store (SQLite, pages of 1,000): {n} transactions in {total:.2?}: {:.0} tx/s",
            n as f64 / total.as_secs_f64()
        );
    });
}
