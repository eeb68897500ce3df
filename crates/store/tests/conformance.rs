//! The store conformance suite: the same scenarios, unchanged, on SQLite and on
//! a real ClickHouse server (a fresh database per test). Every answer is checked
//! against a reference computed here from the planted data, and the two
//! backends are compared with each other.

#![allow(clippy::unwrap_used, clippy::too_many_arguments)]

use std::collections::{BTreeMap, BTreeSet};

use x402scope_core::Amount;
use x402scope_store::*;

/// A store plus whatever keeps its database alive.
struct Fixture {
    store: Store,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("x402scope.db"));
    migrate(&url).await.unwrap();
    Fixture {
        store: open(&url).await.unwrap(),
        _keep: Box::new(dir),
    }
}

async fn clickhouse(test: &str) -> Fixture {
    let db = x402scope_testkit::clickhouse::fresh_database(test).unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&url).await.unwrap();
    Fixture {
        store: open(&url).await.unwrap(),
        _keep: Box::new(db),
    }
}

macro_rules! conformance {
    ($($scenario:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let f = super::sqlite().await;
                    super::$scenario(&f.store).await;
                }
            )*
        }
        mod on_clickhouse {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let f = super::clickhouse(stringify!($scenario)).await;
                    super::$scenario(&f.store).await;
                }
            )*
        }
    };
}

conformance!(
    replaying_a_batch_changes_nothing,
    rollback_above_a_fork_then_reinsert_shows_the_new_rows,
    checkpoints_and_the_window_resume,
    every_query_matches_the_reference_on_a_planted_dataset,
    facilitators_and_signers,
    listing_snapshots_are_versioned,
    webhook_inbox_and_claims,
    probe_runs_and_findings,
    marking_final_flags_rows_up_to_a_block_of_one_chain,
    payments_by_tx_finds_every_payment_of_a_transaction,
);

// ---------------------------------------------------------------- data

const CHAINS: [&str; 3] = [
    "eip155:8453",
    "eip155:84532",
    "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
];
const FACILITATORS: [&str; 4] = ["cdp", "payai", "x402rs", UNKNOWN_FACILITATOR];
const DAY: i64 = 86_400;
const T0: i64 = 1_760_000_000 - 1_760_000_000 % DAY;

/// A small deterministic generator (no external randomness in the suite).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn payment(
    chain: &str,
    tx: u64,
    idx: u32,
    block: u64,
    time: i64,
    payer: u64,
    pay_to: u64,
    amount: Amount,
    fac: &str,
) -> Payment {
    Payment {
        chain: chain.into(),
        tx_id: format!("0x{tx:064x}"),
        idx_outer: idx,
        idx_inner: 0,
        block_number: block,
        block_hash: format!("0x{block:064x}"),
        block_time: time,
        asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
        payer: format!("0x{payer:040x}"),
        pay_to: format!("0x{:040x}", 0xbbbb_0000 + pay_to),
        amount,
        nonce: format!("0x{:064x}", tx * 1000 + u64::from(idx)),
        facilitator: fac.into(),
        tx_from: format!("0x{:040x}", 0xfac0_0000u64),
        method: "eip3009".into(),
        is_final: true,
        is_organic: true,
    }
}

/// 1,500 payments over 3 chains, 4 facilitators, 60 buyers, 15 sellers and 12
/// days; some amounts far above 2^64; some rows not organic; self-payments.
fn planted() -> Vec<Payment> {
    let mut rng = Lcg(42);
    let mut out = Vec::new();
    for i in 0..1_500u64 {
        let chain = CHAINS[rng.below(3) as usize];
        let time = T0 + rng.below(12 * DAY as u64) as i64;
        let amount = match i % 97 {
            0 => Amount::parse_decimal("500000000000000000000000").unwrap(), // 5e23
            1 => Amount::parse_decimal("18446744073709551617").unwrap(),     // 2^64 + 1
            _ => Amount::from_u64(1 + rng.below(5_000_000)),
        };
        let mut p = payment(
            chain,
            i / 2,
            (i % 2) as u32,
            10_000 + i,
            time,
            rng.below(60),
            rng.below(15),
            amount,
            FACILITATORS[rng.below(4) as usize],
        );
        p.is_organic = i % 11 != 0;
        out.push(p);
    }
    out
}

// ---------------------------------------------------------------- reference

fn matches(p: &Payment, f: &Filter) -> bool {
    f.from.is_none_or(|t| p.block_time >= t)
        && f.to.is_none_or(|t| p.block_time < t)
        && (f.networks.is_empty() || f.networks.contains(&p.chain))
        && f.facilitator.as_ref().is_none_or(|x| *x == p.facilitator)
        && f.asset.as_ref().is_none_or(|x| *x == p.asset)
        && f.payer.as_ref().is_none_or(|x| *x == p.payer)
        && f.pay_to.as_ref().is_none_or(|x| *x == p.pay_to)
        && (!f.organic_only || p.is_organic)
}

fn sum(rows: &[&Payment]) -> Amount {
    rows.iter()
        .fold(Amount::ZERO, |a, p| a.checked_add(p.amount).unwrap())
}

fn ref_overview(data: &[Payment], f: &Filter) -> Overview {
    let rows: Vec<&Payment> = data.iter().filter(|p| matches(p, f)).collect();
    Overview {
        count: rows.len() as u64,
        volume: sum(&rows),
        buyers: rows.iter().map(|p| &p.payer).collect::<BTreeSet<_>>().len() as u64,
        sellers: rows
            .iter()
            .map(|p| &p.pay_to)
            .collect::<BTreeSet<_>>()
            .len() as u64,
    }
}

fn ref_timeseries(data: &[Payment], f: &Filter, bucket: i64) -> Vec<Bucket> {
    let mut by: BTreeMap<i64, Vec<&Payment>> = BTreeMap::new();
    for p in data.iter().filter(|p| matches(p, f)) {
        by.entry(p.block_time / bucket * bucket)
            .or_default()
            .push(p);
    }
    by.into_iter()
        .map(|(start, rows)| Bucket {
            start,
            count: rows.len() as u64,
            volume: sum(&rows),
            buyers: rows.iter().map(|p| &p.payer).collect::<BTreeSet<_>>().len() as u64,
            sellers: rows
                .iter()
                .map(|p| &p.pay_to)
                .collect::<BTreeSet<_>>()
                .len() as u64,
        })
        .collect()
}

fn ref_top(data: &[Payment], f: &Filter, kind: TopKind, limit: usize) -> Vec<TopEntry> {
    let mut by: BTreeMap<String, Vec<&Payment>> = BTreeMap::new();
    for p in data.iter().filter(|p| matches(p, f)) {
        let key = match kind {
            TopKind::Sellers => &p.pay_to,
            TopKind::Buyers => &p.payer,
            TopKind::Facilitators => &p.facilitator,
        };
        by.entry(key.clone()).or_default().push(p);
    }
    let mut out: Vec<TopEntry> = by
        .into_iter()
        .map(|(key, rows)| TopEntry {
            key,
            count: rows.len() as u64,
            volume: sum(&rows),
            counterparties: rows
                .iter()
                .map(|p| {
                    if kind == TopKind::Buyers {
                        &p.pay_to
                    } else {
                        &p.payer
                    }
                })
                .collect::<BTreeSet<_>>()
                .len() as u64,
        })
        .collect();
    out.sort_by(|a, b| {
        b.volume
            .cmp(&a.volume)
            .then(b.count.cmp(&a.count))
            .then(a.key.cmp(&b.key))
    });
    out.truncate(limit);
    out
}

fn ref_transactions(data: &[Payment], f: &Filter) -> Vec<Payment> {
    let mut rows: Vec<Payment> = data.iter().filter(|p| matches(p, f)).cloned().collect();
    rows.sort_by(|a, b| {
        (b.block_time, &b.chain, &b.tx_id, b.idx_outer, b.idx_inner).cmp(&(
            a.block_time,
            &a.chain,
            &a.tx_id,
            a.idx_outer,
            a.idx_inner,
        ))
    });
    rows
}

fn filters() -> Vec<Filter> {
    vec![
        Filter::default(),
        Filter {
            organic_only: true,
            ..Default::default()
        },
        Filter {
            from: Some(T0 + 3 * DAY),
            to: Some(T0 + 7 * DAY),
            ..Default::default()
        },
        Filter {
            networks: vec![CHAINS[0].into(), CHAINS[2].into()],
            ..Default::default()
        },
        Filter {
            facilitator: Some("payai".into()),
            organic_only: true,
            ..Default::default()
        },
        Filter {
            facilitator: Some(UNKNOWN_FACILITATOR.into()),
            from: Some(T0 + DAY),
            ..Default::default()
        },
        Filter {
            pay_to: Some(format!("0x{:040x}", 0xbbbb_0003u64)),
            ..Default::default()
        },
        Filter {
            payer: Some(format!("0x{:040x}", 7)),
            networks: vec![CHAINS[1].into()],
            ..Default::default()
        },
        // matches nothing
        Filter {
            from: Some(T0 - 10 * DAY),
            to: Some(T0 - 9 * DAY),
            ..Default::default()
        },
    ]
}

async fn all_transactions(store: &Store, f: &Filter, page: usize) -> Vec<Payment> {
    let mut out = Vec::new();
    let mut cursor: Option<TxCursor> = None;
    loop {
        let p = store.transactions(f, cursor.as_ref(), page).await.unwrap();
        assert!(p.items.len() <= page);
        out.extend(p.items);
        match p.next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

// ---------------------------------------------------------------- scenarios

async fn replaying_a_batch_changes_nothing(store: &Store) {
    let data = planted();
    let cp = Checkpoint {
        chain: CHAINS[0].into(),
        block: 99,
        hash: "0xabc".into(),
    };
    store
        .commit_payments(data.clone(), vec![], Some(cp.clone()))
        .await
        .unwrap();
    let before = (
        store.overview(&Filter::default()).await.unwrap(),
        all_transactions(store, &Filter::default(), 500).await,
    );
    // The same batch again, and half of it a third time.
    store
        .commit_payments(data.clone(), vec![], Some(cp.clone()))
        .await
        .unwrap();
    store
        .commit_payments(data[..700].to_vec(), vec![], Some(cp.clone()))
        .await
        .unwrap();
    let after = (
        store.overview(&Filter::default()).await.unwrap(),
        all_transactions(store, &Filter::default(), 500).await,
    );
    assert_eq!(before, after);
    assert_eq!(after.0.count, 1_500);
    assert_eq!(store.checkpoint(CHAINS[0]).await.unwrap(), Some(cp));
}

fn block(chain: &str, n: u64, fork: u8) -> WindowBlock {
    WindowBlock {
        chain: chain.into(),
        number: n,
        hash: format!("0x{fork:02x}{n:062x}"),
        parent_hash: format!("0x{fork:02x}{:062x}", n.saturating_sub(1)),
    }
}

async fn rollback_above_a_fork_then_reinsert_shows_the_new_rows(store: &Store) {
    let chain = CHAINS[0];
    let other = CHAINS[1];
    // Blocks 1..=10, one payment each, on two chains.
    let on = |c: &str, n: u64, amount: u64| {
        payment(
            c,
            n,
            0,
            n,
            T0 + n as i64,
            n,
            1,
            Amount::from_u64(amount),
            "cdp",
        )
    };
    let first: Vec<Payment> = (1..=10)
        .map(|n| on(chain, n, 100))
        .chain((1..=10).map(|n| on(other, n, 100)))
        .collect();
    let blocks: Vec<WindowBlock> = (1..=10).map(|n| block(chain, n, 0)).collect();
    store
        .commit_payments(
            first,
            blocks,
            Some(Checkpoint {
                chain: chain.into(),
                block: 10,
                hash: block(chain, 10, 0).hash,
            }),
        )
        .await
        .unwrap();
    // A reorg forks after block 7 on `chain`.
    store
        .rollback_above(chain, 7, &block(chain, 7, 0).hash)
        .await
        .unwrap();
    let f = Filter {
        networks: vec![chain.into()],
        ..Default::default()
    };
    assert_eq!(store.overview(&f).await.unwrap().count, 7);
    assert_eq!(store.checkpoint(chain).await.unwrap().unwrap().block, 7);
    let window = store.window(chain, 100).await.unwrap();
    assert_eq!(
        window.first().unwrap().number,
        7,
        "window trimmed, newest first"
    );
    assert_eq!(window.len(), 7);
    // The other chain is untouched.
    assert_eq!(
        store
            .overview(&Filter {
                networks: vec![other.into()],
                ..Default::default()
            })
            .await
            .unwrap()
            .count,
        10
    );

    // The new fork re-uses the same keys (same tx ids and indexes) with new
    // blocks and amounts: the new rows must show, none of the old.
    let second: Vec<Payment> = (8..=10)
        .map(|n| {
            let mut p = on(chain, n, 777);
            p.block_hash = block(chain, n, 1).hash;
            p
        })
        .collect();
    store
        .commit_payments(
            second,
            (8..=10).map(|n| block(chain, n, 1)).collect(),
            Some(Checkpoint {
                chain: chain.into(),
                block: 10,
                hash: block(chain, 10, 1).hash,
            }),
        )
        .await
        .unwrap();
    let rows = all_transactions(store, &f, 100).await;
    assert_eq!(rows.len(), 10);
    for p in &rows {
        let expected = if p.block_number >= 8 { 777 } else { 100 };
        assert_eq!(p.amount, Amount::from_u64(expected), "{p:?}");
        if p.block_number >= 8 {
            assert_eq!(p.block_hash, block(chain, p.block_number, 1).hash);
        }
    }
    assert_eq!(
        store.overview(&f).await.unwrap().volume,
        Amount::from_u64(7 * 100 + 3 * 777)
    );
    let window = store.window(chain, 3).await.unwrap();
    assert_eq!(
        window.iter().map(|b| b.hash.clone()).collect::<Vec<_>>(),
        (8..=10)
            .rev()
            .map(|n| block(chain, n, 1).hash)
            .collect::<Vec<_>>()
    );
}

async fn checkpoints_and_the_window_resume(store: &Store) {
    assert_eq!(store.checkpoint("eip155:1").await.unwrap(), None);
    for n in 1..=5u64 {
        let cp = Checkpoint {
            chain: "eip155:1".into(),
            block: n,
            hash: block("eip155:1", n, 0).hash,
        };
        store
            .commit_payments(vec![], vec![block("eip155:1", n, 0)], Some(cp))
            .await
            .unwrap();
    }
    assert_eq!(
        store.checkpoint("eip155:1").await.unwrap().unwrap().block,
        5
    );
    let window = store.window("eip155:1", 3).await.unwrap();
    assert_eq!(
        window.iter().map(|b| b.number).collect::<Vec<_>>(),
        vec![5, 4, 3]
    );
    assert_eq!(window[0], block("eip155:1", 5, 0));
    // Checkpoints are per chain.
    assert_eq!(store.checkpoint("eip155:8453").await.unwrap(), None);
}

async fn every_query_matches_the_reference_on_a_planted_dataset(store: &Store) {
    let data = planted();
    // In several batches, as an indexer would write them.
    for chunk in data.chunks(400) {
        store
            .commit_payments(chunk.to_vec(), vec![], None)
            .await
            .unwrap();
    }
    for f in filters() {
        assert_eq!(
            store.overview(&f).await.unwrap(),
            ref_overview(&data, &f),
            "overview {f:?}"
        );
        for bucket in [3_600i64, DAY, 7 * DAY] {
            assert_eq!(
                store.timeseries(&f, bucket as u32).await.unwrap(),
                ref_timeseries(&data, &f, bucket),
                "timeseries {bucket} {f:?}"
            );
        }
        for kind in [TopKind::Sellers, TopKind::Buyers, TopKind::Facilitators] {
            assert_eq!(
                store.top(&f, kind, 10).await.unwrap(),
                ref_top(&data, &f, kind, 10),
                "top {kind:?} {f:?}"
            );
        }
        let expected = ref_transactions(&data, &f);
        assert_eq!(
            all_transactions(store, &f, 97).await,
            expected,
            "transactions {f:?}"
        );
        let first = store.transactions(&f, None, 5).await.unwrap();
        assert_eq!(
            first.items,
            expected.iter().take(5).cloned().collect::<Vec<_>>()
        );
        assert_eq!(first.next.is_some(), expected.len() > 5);
    }
    // Distinct counts are exact across buckets: the sum of per-day buyers is at
    // least the overall count, and the overall count is not a sum.
    let all = store.overview(&Filter::default()).await.unwrap();
    let days = store
        .timeseries(&Filter::default(), DAY as u32)
        .await
        .unwrap();
    assert_eq!(all.buyers, 60);
    assert!(days.iter().map(|b| b.buyers).sum::<u64>() > all.buyers);
    // Address summaries.
    for a in [
        format!("0x{:040x}", 5),
        format!("0x{:040x}", 0xbbbb_0002u64),
        "0xnobody".into(),
    ] {
        let got = store.address_summary(&a).await.unwrap();
        let as_buyer: Vec<&Payment> = data.iter().filter(|p| p.payer == a).collect();
        let as_seller: Vec<&Payment> = data.iter().filter(|p| p.pay_to == a).collect();
        let side = |rows: &[&Payment], buyer: bool| Side {
            count: rows.len() as u64,
            volume: sum(rows),
            counterparties: rows
                .iter()
                .map(|p| if buyer { &p.pay_to } else { &p.payer })
                .collect::<BTreeSet<_>>()
                .len() as u64,
            first_seen: rows.iter().map(|p| p.block_time).min(),
            last_seen: rows.iter().map(|p| p.block_time).max(),
        };
        assert_eq!(got.as_buyer, side(&as_buyer, true), "{a}");
        assert_eq!(got.as_seller, side(&as_seller, false), "{a}");
        let facs: BTreeSet<String> = as_buyer
            .iter()
            .chain(as_seller.iter())
            .map(|p| p.facilitator.clone())
            .collect();
        assert_eq!(got.facilitators, facs.into_iter().collect::<Vec<_>>());
    }
    // Bad arguments are errors, not panics.
    assert!(matches!(
        store.timeseries(&Filter::default(), 0).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn facilitators_and_signers(store: &Store) {
    store
        .upsert_facilitators(vec![
            Facilitator {
                id: "payai".into(),
                name: "PayAI".into(),
                url: "https://facilitator.payai.network".into(),
            },
            Facilitator {
                id: "cdp".into(),
                name: "CDP".into(),
                url: "https://api.cdp.coinbase.com/platform/v2/x402".into(),
            },
        ])
        .await
        .unwrap();
    store
        .upsert_facilitators(vec![Facilitator {
            id: "cdp".into(),
            name: "Coinbase CDP".into(),
            url: "https://x".into(),
        }])
        .await
        .unwrap();
    let facs = store.facilitators().await.unwrap();
    assert_eq!(
        facs.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        vec!["cdp", "payai"]
    );
    assert_eq!(facs[0].name, "Coinbase CDP");

    let signer = |first: i64, last: i64| Signer {
        facilitator_id: "cdp".into(),
        network: "eip155:8453".into(),
        address: "0xabc".into(),
        first_seen: first,
        last_seen: last,
        source: "supported".into(),
    };
    store
        .record_signers(vec![signer(T0 + 100, T0 + 200)])
        .await
        .unwrap();
    store
        .record_signers(vec![signer(T0 + 50, T0 + 150)])
        .await
        .unwrap();
    store
        .record_signers(vec![signer(T0 + 300, T0 + 400)])
        .await
        .unwrap();
    assert_eq!(
        store.signers().await.unwrap(),
        vec![signer(T0 + 50, T0 + 400)]
    );
}

async fn listing_snapshots_are_versioned(store: &Store) {
    let snap = |hash: &str, at: i64, amount: u64| ListingSnapshot {
        source: "payai".into(),
        resource: "https://api.example/weather".into(),
        accept_index: 0,
        snapshot_hash: hash.into(),
        observed_at: at,
        scheme: "exact".into(),
        network: "eip155:8453".into(),
        asset: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(),
        pay_to: "0xbbbb".into(),
        amount: Amount::from_u64(amount),
        raw: "{}".into(),
    };
    store
        .insert_listings(vec![snap("h1", T0, 1000)])
        .await
        .unwrap();
    // The same version seen again later is the same snapshot: the first observation stays.
    store
        .insert_listings(vec![snap("h1", T0 + 60, 1000)])
        .await
        .unwrap();
    store
        .insert_listings(vec![snap("h2", T0 + 120, 2000)])
        .await
        .unwrap();
    let history = store
        .listing_history("https://api.example/weather")
        .await
        .unwrap();
    assert_eq!(
        history,
        vec![snap("h1", T0, 1000), snap("h2", T0 + 120, 2000)]
    );
    assert!(
        store
            .listing_history("https://nowhere")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn webhook_inbox_and_claims(store: &Store) {
    let env = |id: &str, at: i64| WebhookEnvelope {
        source: "seller-a".into(),
        webhook_id: id.into(),
        received_at: at,
        headers: r#"{"webhook-id":"x"}"#.into(),
        body: vec![0, 159, 146, 150, b'{', b'}'],
        status: "received".into(),
        error: String::new(),
    };
    assert!(store.inbox_put(env("w1", T0)).await.unwrap());
    assert!(store.inbox_put(env("w2", T0 + 1)).await.unwrap());
    assert!(
        !store.inbox_put(env("w1", T0 + 5)).await.unwrap(),
        "a redelivery is not new"
    );
    let pending = store.inbox_pending(10).await.unwrap();
    assert_eq!(
        pending,
        vec![env("w1", T0), env("w2", T0 + 1)],
        "bodies are kept byte for byte"
    );
    store
        .inbox_set_status("seller-a", "w1", "processed", "")
        .await
        .unwrap();
    store
        .inbox_set_status("seller-a", "missing", "processed", "")
        .await
        .unwrap();
    assert_eq!(
        store.inbox_pending(10).await.unwrap(),
        vec![env("w2", T0 + 1)]
    );

    let claim = |id: &str, url: &str, amount: u64, success: bool| Claim {
        source: "seller-a".into(),
        claim_id: id.into(),
        network: "eip155:8453".into(),
        tx_id: format!("0x{id}"),
        payer: "0xaaaa".into(),
        pay_to: "0xbbbb".into(),
        asset: "0x8335".into(),
        amount: Amount::from_u64(amount),
        resource_url: url.into(),
        facilitator: "cdp".into(),
        success,
        claimed_at: T0,
        // The reference round-trips, empty or not.
        reference: if success {
            format!("memo-{id}")
        } else {
            String::new()
        },
    };
    let claims = vec![
        claim("c1", "https://a/x", 10, true),
        claim("c2", "https://a/x", 20, true),
        claim("c3", "https://a/y", 25, true),
        claim("c4", "https://a/z", 99, false),
    ];
    store.insert_claims(claims.clone()).await.unwrap();
    store.insert_claims(claims.clone()).await.unwrap();
    assert_eq!(store.claims().await.unwrap(), claims);
    assert_eq!(
        store.top_resources(10).await.unwrap(),
        vec![
            ResourceEntry {
                resource_url: "https://a/x".into(),
                count: 2,
                volume: Amount::from_u64(30)
            },
            ResourceEntry {
                resource_url: "https://a/y".into(),
                count: 1,
                volume: Amount::from_u64(25)
            },
        ]
    );
}

async fn probe_runs_and_findings(store: &Store) {
    let run = |id: &str, at: i64, status: u16| ProbeRun {
        id: id.into(),
        url: "https://api.example/weather".into(),
        started_at: at,
        status_code: status,
        latency_ms: 42,
        error: String::new(),
    };
    let finding = |run: &str, rule: &str| ProbeFinding {
        run_id: run.into(),
        rule_id: rule.into(),
        severity: "must".into(),
        message: format!("{rule} failed"),
        evidence: "{}".into(),
    };
    store
        .insert_probe_run(
            run("r1", T0, 402),
            vec![finding("r1", "X402-002"), finding("r1", "X402-001")],
        )
        .await
        .unwrap();
    store
        .insert_probe_run(run("r2", T0 + 60, 200), vec![])
        .await
        .unwrap();
    store
        .insert_probe_run(run("r1", T0, 402), vec![finding("r1", "X402-001")])
        .await
        .unwrap();
    assert_eq!(
        store
            .probe_runs("https://api.example/weather", 10)
            .await
            .unwrap(),
        vec![run("r2", T0 + 60, 200), run("r1", T0, 402)]
    );
    assert_eq!(
        store
            .probe_runs("https://api.example/weather", 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.probe_findings("r1").await.unwrap(),
        vec![finding("r1", "X402-001"), finding("r1", "X402-002")]
    );
}

async fn payments_by_tx_finds_every_payment_of_a_transaction(store: &Store) {
    let fee = |c: &str, tx: u64, idx: u32| {
        payment(
            c,
            tx,
            idx,
            tx,
            T0 + tx as i64,
            1,
            2,
            Amount::from_u64(10 + u64::from(idx)),
            "cdp",
        )
    };
    // Transaction 5 holds three payments (a batch), on one chain; the same hash
    // on another chain is another payment of that hash; transaction 6 is apart.
    let rows = vec![
        fee(CHAINS[0], 5, 2),
        fee(CHAINS[0], 5, 0),
        fee(CHAINS[0], 5, 1),
        fee(CHAINS[1], 5, 0),
        fee(CHAINS[0], 6, 0),
    ];
    store
        .commit_payments(rows.clone(), vec![], None)
        .await
        .unwrap();
    let found = store.payments_by_tx(&rows[0].tx_id).await.unwrap();
    let keys: Vec<(String, u32)> = found
        .iter()
        .map(|p| (p.chain.clone(), p.idx_outer))
        .collect();
    assert_eq!(
        keys,
        vec![
            (CHAINS[0].to_owned(), 0),
            (CHAINS[0].to_owned(), 1),
            (CHAINS[0].to_owned(), 2),
            (CHAINS[1].to_owned(), 0),
        ]
    );
    assert_eq!(found[2], rows[0], "rows come back whole");
    assert!(
        store
            .payments_by_tx(&format!("0x{:064x}", 99))
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------- cross-backend

/// Both backends give identical answers to every query on the same data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_answer_identically() {
    let a = sqlite().await;
    let b = clickhouse("both_backends_answer_identically").await;
    let data = planted();
    for f in [&a, &b] {
        f.store
            .commit_payments(data.clone(), vec![], None)
            .await
            .unwrap();
    }
    for f in filters() {
        assert_eq!(
            a.store.overview(&f).await.unwrap(),
            b.store.overview(&f).await.unwrap()
        );
        assert_eq!(
            a.store.timeseries(&f, 3600).await.unwrap(),
            b.store.timeseries(&f, 3600).await.unwrap()
        );
        for kind in [TopKind::Sellers, TopKind::Buyers, TopKind::Facilitators] {
            assert_eq!(
                a.store.top(&f, kind, 25).await.unwrap(),
                b.store.top(&f, kind, 25).await.unwrap()
            );
        }
        assert_eq!(
            all_transactions(&a.store, &f, 200).await,
            all_transactions(&b.store, &f, 200).await
        );
    }
}

async fn marking_final_flags_rows_up_to_a_block_of_one_chain(store: &Store) {
    let (chain, other) = (CHAINS[0], CHAINS[1]);
    let on = |c: &str, n: u64| {
        payment(
            c,
            n,
            0,
            n,
            T0 + n as i64,
            n,
            1,
            Amount::from_u64(100 + n),
            "cdp",
        )
    };
    let rows: Vec<Payment> = (1..=6)
        .map(|n| on(chain, n))
        .chain((1..=6).map(|n| on(other, n)))
        .map(|mut p| {
            p.is_final = false;
            p
        })
        .collect();
    store.commit_payments(rows, vec![], None).await.unwrap();
    assert_eq!(store.mark_final(chain, 4).await.unwrap(), 4);
    // Again: nothing left to change.
    assert_eq!(store.mark_final(chain, 4).await.unwrap(), 0);
    let f = Filter::default();
    let page = store.transactions(&f, None, 100).await.unwrap();
    assert_eq!(page.items.len(), 12, "no row added or lost");
    for p in &page.items {
        let expected = p.chain == chain && p.block_number <= 4;
        assert_eq!(p.is_final, expected, "{p:?}");
    }
    let o = store.overview(&f).await.unwrap();
    assert_eq!(o.count, 12);
}
