//! The correlation engine: claims (webhooks, paid-probe receipts) against
//! on-chain payments. Pure: the same facts always give the same rows, so every
//! run recomputes all of them and a reorg or a late webhook changes them.
//!
//! The rules, in order; the first that yields exactly one candidate wins:
//! - R1: the transaction hash (EVM) or signature (Solana). When a transaction
//!   holds several payments, the one that agrees on network, asset, payTo and
//!   amount is taken, if exactly one does.
//! - R2: EVM (chain, asset, authorizer, nonce) of `AuthorizationUsed`.
//! - R3: Solana memo plus payTo.
//! - R4: fuzzy: chain, asset, payTo, payer (when the claim has one), amount, and
//!   the block time within a window of the claim's time; only among payments no
//!   claim took by R1–R3, and only when exactly one candidate is left.
//!
//! A claim whose transaction was observed but a reorg removed it is re-matched
//! by the removed payment's authorization (R2 for EVM, R3 for Solana): the same
//! authorization settled again in another transaction. Failing that it is
//! `orphaned_by_reorg`; fuzzy matching is not tried for it, since the exact
//! transaction is known.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use x402scope_store::{Claim, Payment};

/// A correlation status. `ClaimPending` is a claim still inside the grace
/// period, before it can be called `claim_without_transfer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Matched,
    MatchedPendingFinality,
    AmountMismatch,
    RecipientMismatch,
    AssetMismatch,
    NetworkMismatch,
    ClaimWithoutTransfer,
    ClaimPending,
    ClaimFailedOnchain,
    OrphanedByReorg,
    TransferWithoutClaim,
    DuplicateClaim,
    Ambiguous,
}

impl Status {
    pub const ALL: [Status; 13] = [
        Status::Matched,
        Status::MatchedPendingFinality,
        Status::AmountMismatch,
        Status::RecipientMismatch,
        Status::AssetMismatch,
        Status::NetworkMismatch,
        Status::ClaimWithoutTransfer,
        Status::ClaimPending,
        Status::ClaimFailedOnchain,
        Status::OrphanedByReorg,
        Status::TransferWithoutClaim,
        Status::DuplicateClaim,
        Status::Ambiguous,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Matched => "matched",
            Status::MatchedPendingFinality => "matched_pending_finality",
            Status::AmountMismatch => "amount_mismatch",
            Status::RecipientMismatch => "recipient_mismatch",
            Status::AssetMismatch => "asset_mismatch",
            Status::NetworkMismatch => "network_mismatch",
            Status::ClaimWithoutTransfer => "claim_without_transfer",
            Status::ClaimPending => "claim_pending",
            Status::ClaimFailedOnchain => "claim_failed_onchain",
            Status::OrphanedByReorg => "orphaned_by_reorg",
            Status::TransferWithoutClaim => "transfer_without_claim",
            Status::DuplicateClaim => "duplicate_claim",
            Status::Ambiguous => "ambiguous",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The rule that found a claim's payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rule {
    TxId,
    EvmNonce,
    SolanaMemo,
    Fuzzy,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::TxId => "r1_tx",
            Rule::EvmNonce => "r2_evm_nonce",
            Rule::SolanaMemo => "r3_solana_memo",
            Rule::Fuzzy => "r4_fuzzy",
        }
    }
}

/// Tunables of the matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelateConfig {
    /// A successful claim with no payment is `claim_pending` for this long
    /// after its time, then `claim_without_transfer`.
    pub grace_secs: i64,
    /// R4 accepts a block time this far from the claim's time, either way.
    pub fuzzy_window_secs: i64,
}

impl Default for CorrelateConfig {
    fn default() -> Self {
        CorrelateConfig {
            grace_secs: 600,
            fuzzy_window_secs: 600,
        }
    }
}

/// Which payment a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PaymentRef {
    /// An index into the current payments.
    Current(usize),
    /// An index into the removed payments (observed, then taken away by a reorg).
    Removed(usize),
}

/// One correlation result: a claim (with its payment, if any) or a payment
/// no claim took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    /// An index into the claims.
    pub claim: Option<usize>,
    pub payment: Option<PaymentRef>,
    pub status: Status,
    pub rule: Option<Rule>,
    pub detail: String,
}

/// The facts one run sees.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub claims: &'a [Claim],
    /// The payments the store holds now.
    pub payments: &'a [Payment],
    /// Payments observed earlier that the store no longer holds (a reorg removed them).
    pub removed: &'a [Payment],
    pub now: i64,
}

fn is_solana(network: &str) -> bool {
    network.starts_with("solana:")
}

/// Addresses compare exactly, except EVM hex, which compares in any case.
fn same_address(network: &str, a: &str, b: &str) -> bool {
    if is_solana(network) {
        a == b
    } else {
        a.eq_ignore_ascii_case(b)
    }
}

fn norm(network: &str, a: &str) -> String {
    if is_solana(network) {
        a.to_owned()
    } else {
        a.to_ascii_lowercase()
    }
}

/// Lookup tables over one payment set.
struct Index<'a> {
    payments: &'a [Payment],
    by_tx: HashMap<String, Vec<usize>>,
    /// (chain, asset, payer, nonce) of EVM payments.
    by_auth: HashMap<(String, String, String, String), Vec<usize>>,
    /// (chain, memo, pay_to) of Solana payments with a memo.
    by_memo: HashMap<(String, String, String), Vec<usize>>,
    /// (chain, asset, pay_to, amount) for fuzzy matching.
    by_shape: HashMap<(String, String, String, String), Vec<usize>>,
}

fn auth_key(p: &Payment) -> (String, String, String, String) {
    (
        p.chain.clone(),
        norm(&p.chain, &p.asset),
        norm(&p.chain, &p.payer),
        p.nonce.to_ascii_lowercase(),
    )
}

fn memo_key(p: &Payment) -> (String, String, String) {
    (p.chain.clone(), p.nonce.clone(), p.pay_to.clone())
}

impl<'a> Index<'a> {
    fn new(payments: &'a [Payment]) -> Self {
        let mut ix = Index {
            payments,
            by_tx: HashMap::new(),
            by_auth: HashMap::new(),
            by_memo: HashMap::new(),
            by_shape: HashMap::new(),
        };
        for (i, p) in payments.iter().enumerate() {
            ix.by_tx
                .entry(norm(&p.chain, &p.tx_id))
                .or_default()
                .push(i);
            if is_solana(&p.chain) {
                if !p.nonce.is_empty() {
                    ix.by_memo.entry(memo_key(p)).or_default().push(i);
                }
            } else if !p.nonce.is_empty() {
                ix.by_auth.entry(auth_key(p)).or_default().push(i);
            }
            ix.by_shape
                .entry(shape_key(&p.chain, &p.asset, &p.pay_to, &p.amount))
                .or_default()
                .push(i);
        }
        ix
    }

    fn get<K: std::hash::Hash + Eq>(map: &HashMap<K, Vec<usize>>, k: &K) -> Vec<usize> {
        map.get(k).cloned().unwrap_or_default()
    }

    /// R1: payments of the claim's transaction, narrowed when there are several.
    fn by_tx(&self, c: &Claim) -> Vec<usize> {
        if c.tx_id.is_empty() {
            return Vec::new();
        }
        let all = Self::get(&self.by_tx, &norm(&c.network, &c.tx_id));
        if all.len() <= 1 {
            return all;
        }
        let agreeing: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| {
                let p = &self.payments[i];
                p.chain == c.network
                    && same_address(&p.chain, &p.asset, &c.asset)
                    && same_address(&p.chain, &p.pay_to, &c.pay_to)
                    && p.amount == c.amount
            })
            .collect();
        if agreeing.len() == 1 { agreeing } else { all }
    }

    /// R2 for EVM claims, R3 for Solana claims, with `reference` as nonce or memo.
    fn by_reference(&self, c: &Claim, reference: &str) -> (Rule, Vec<usize>) {
        if is_solana(&c.network) {
            (
                Rule::SolanaMemo,
                Self::get(
                    &self.by_memo,
                    &(c.network.clone(), reference.to_owned(), c.pay_to.clone()),
                ),
            )
        } else {
            (
                Rule::EvmNonce,
                Self::get(
                    &self.by_auth,
                    &(
                        c.network.clone(),
                        norm(&c.network, &c.asset),
                        norm(&c.network, &c.payer),
                        reference.to_ascii_lowercase(),
                    ),
                ),
            )
        }
    }

    /// The same authorization as `removed` (R2 on EVM, R3 on Solana).
    fn same_authorization(&self, removed: &Payment) -> (Rule, Vec<usize>) {
        if removed.nonce.is_empty() {
            return (Rule::EvmNonce, Vec::new());
        }
        if is_solana(&removed.chain) {
            (
                Rule::SolanaMemo,
                Self::get(&self.by_memo, &memo_key(removed)),
            )
        } else {
            (Rule::EvmNonce, Self::get(&self.by_auth, &auth_key(removed)))
        }
    }
}

fn shape_key(
    network: &str,
    asset: &str,
    pay_to: &str,
    amount: &x402scope_core::Amount,
) -> (String, String, String, String) {
    (
        network.to_owned(),
        norm(network, asset),
        norm(network, pay_to),
        amount.to_string(),
    )
}

/// The keys by which some claim, or some payment a reorg removed, can reach a
/// current payment: its transaction (R1), authorization (R2) or memo (R3), and
/// its shape (R4). A payment with none of them can only be
/// `transfer_without_claim`, whatever else the store holds; so a run hands
/// [`correlate`] the payments this wants and writes every other one as
/// unclaimed itself, without holding them all.
#[derive(Debug, Default)]
pub struct Wanted {
    tx: HashSet<String>,
    auth: HashSet<(String, String, String, String)>,
    memo: HashSet<(String, String, String)>,
    shape: HashSet<(String, String, String, String)>,
}

impl Wanted {
    pub fn new(claims: &[Claim], removed: &[Payment]) -> Self {
        let mut w = Wanted::default();
        for c in claims {
            if !c.tx_id.is_empty() {
                w.tx.insert(norm(&c.network, &c.tx_id));
            }
            if !c.reference.is_empty() {
                if is_solana(&c.network) {
                    w.memo
                        .insert((c.network.clone(), c.reference.clone(), c.pay_to.clone()));
                } else {
                    w.auth.insert((
                        c.network.clone(),
                        norm(&c.network, &c.asset),
                        norm(&c.network, &c.payer),
                        c.reference.to_ascii_lowercase(),
                    ));
                }
            }
            w.shape
                .insert(shape_key(&c.network, &c.asset, &c.pay_to, &c.amount));
        }
        for r in removed {
            w.tx.insert(norm(&r.chain, &r.tx_id));
            if !r.nonce.is_empty() {
                if is_solana(&r.chain) {
                    w.memo.insert(memo_key(r));
                } else {
                    w.auth.insert(auth_key(r));
                }
            }
        }
        w
    }

    /// Nothing can reach any payment: every payment is unclaimed.
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty() && self.auth.is_empty() && self.memo.is_empty() && self.shape.is_empty()
    }

    /// Some claim or removed payment can reach `p` by one of [`correlate`]'s lookups.
    pub fn wants(&self, p: &Payment) -> bool {
        if self.is_empty() {
            return false;
        }
        if self.tx.contains(&norm(&p.chain, &p.tx_id)) {
            return true;
        }
        if !p.nonce.is_empty() {
            let hit = if is_solana(&p.chain) {
                !self.memo.is_empty() && self.memo.contains(&memo_key(p))
            } else {
                !self.auth.is_empty() && self.auth.contains(&auth_key(p))
            };
            if hit {
                return true;
            }
        }
        !self.shape.is_empty()
            && self
                .shape
                .contains(&shape_key(&p.chain, &p.asset, &p.pay_to, &p.amount))
    }
}

/// What the strong rules found for one claim.
enum Found {
    One(usize, Rule),
    /// Some rule found several candidates and none found exactly one.
    Many(Rule, usize),
    /// The claim's transaction was observed and removed; not settled again.
    Orphaned(usize),
    None,
}

fn strong(c: &Claim, current: &Index<'_>, removed: &Index<'_>) -> Found {
    let mut many: Option<(Rule, usize)> = None;
    let r1 = current.by_tx(c);
    match r1.len() {
        1 => return Found::One(r1[0], Rule::TxId),
        0 => {}
        n => many = Some((Rule::TxId, n)),
    }
    if r1.is_empty() {
        let gone = removed.by_tx(c);
        if let Some(&first) = gone.first() {
            let (rule, again) = current.same_authorization(&removed.payments[first]);
            return match again.len() {
                1 => Found::One(again[0], rule),
                0 => Found::Orphaned(first),
                n => Found::Many(rule, n),
            };
        }
    }
    if !c.reference.is_empty() {
        let (rule, hits) = current.by_reference(c, &c.reference);
        match hits.len() {
            1 => return Found::One(hits[0], rule),
            0 => {}
            n => many = many.or(Some((rule, n))),
        }
    }
    match many {
        Some((rule, n)) => Found::Many(rule, n),
        None => Found::None,
    }
}

fn mismatch(c: &Claim, p: &Payment) -> Option<(Status, String)> {
    if p.chain != c.network {
        return Some((
            Status::NetworkMismatch,
            format!("claimed on {}, settled on {}", c.network, p.chain),
        ));
    }
    if !same_address(&p.chain, &p.asset, &c.asset) {
        return Some((
            Status::AssetMismatch,
            format!("claimed asset {}, transferred {}", c.asset, p.asset),
        ));
    }
    if !same_address(&p.chain, &p.pay_to, &c.pay_to) {
        return Some((
            Status::RecipientMismatch,
            format!("claimed payTo {}, paid to {}", c.pay_to, p.pay_to),
        ));
    }
    if p.amount != c.amount {
        return Some((
            Status::AmountMismatch,
            format!("claimed {}, transferred {}", c.amount, p.amount),
        ));
    }
    None
}

/// Correlate. Rows come claims first (in claim order), then unclaimed current
/// payments, then removed payments that nothing replaced, each in input order.
pub fn correlate(facts: Facts<'_>, config: &CorrelateConfig) -> Vec<Correlation> {
    let current = Index::new(facts.payments);
    let removed = Index::new(facts.removed);
    // Claim order: time, then source and id, so that "first" is well defined.
    let mut order: Vec<usize> = (0..facts.claims.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&facts.claims[a], &facts.claims[b]);
        (x.claimed_at, &x.source, &x.claim_id).cmp(&(y.claimed_at, &y.source, &y.claim_id))
    });

    let mut found: Vec<Found> = (0..facts.claims.len()).map(|_| Found::None).collect();
    let mut taken: HashSet<usize> = HashSet::new();
    for &ci in &order {
        let f = strong(&facts.claims[ci], &current, &removed);
        if let Found::One(pi, _) = f {
            taken.insert(pi);
        }
        found[ci] = f;
    }
    // R4, for successful claims nothing strong resolved.
    for &ci in &order {
        let c = &facts.claims[ci];
        if !matches!(found[ci], Found::None) || !c.success {
            continue;
        }
        let shape = shape_key(&c.network, &c.asset, &c.pay_to, &c.amount);
        let hits: Vec<usize> = Index::get(&current.by_shape, &shape)
            .into_iter()
            .filter(|i| !taken.contains(i))
            .filter(|&i| {
                let p = &facts.payments[i];
                (c.payer.is_empty() || same_address(&p.chain, &p.payer, &c.payer))
                    && (p.block_time - c.claimed_at).abs() <= config.fuzzy_window_secs
            })
            .collect();
        found[ci] = match hits.len() {
            0 => Found::None,
            1 => Found::One(hits[0], Rule::Fuzzy),
            n => Found::Many(Rule::Fuzzy, n),
        };
    }
    // R4 hits are taken too, once all are known (a fuzzy candidate shared by two
    // claims is one payment claimed twice, sorted out below).
    for f in &found {
        if let Found::One(pi, Rule::Fuzzy) = f {
            taken.insert(*pi);
        }
    }

    // The primary claim of a payment: the strongest rule, then the first claim.
    let mut primary: HashMap<usize, usize> = HashMap::new();
    for &ci in &order {
        if let Found::One(pi, rule) = found[ci] {
            match primary.get(&pi) {
                Some(&other) => {
                    let Found::One(_, other_rule) = found[other] else {
                        continue;
                    };
                    if rule < other_rule {
                        primary.insert(pi, ci);
                    }
                }
                None => {
                    primary.insert(pi, ci);
                }
            }
        }
    }

    let mut out = Vec::with_capacity(facts.claims.len() + facts.payments.len());
    let mut orphans_claimed: HashSet<usize> = HashSet::new();
    for &ci in &order {
        let c = &facts.claims[ci];
        let row = match found[ci] {
            Found::One(pi, rule) => {
                let p = &facts.payments[pi];
                let (status, detail) = if primary.get(&pi) != Some(&ci) {
                    let first = &facts.claims[primary[&pi]];
                    (
                        Status::DuplicateClaim,
                        format!(
                            "the payment is already claimed by {}/{}",
                            first.source, first.claim_id
                        ),
                    )
                } else if let Some(m) = mismatch(c, p) {
                    m
                } else if p.is_final {
                    (Status::Matched, String::new())
                } else {
                    (
                        Status::MatchedPendingFinality,
                        "the payment is not final yet".to_owned(),
                    )
                };
                let detail = if !c.success && detail.is_empty() {
                    "the claim reported a failed settlement, but the transfer is on chain"
                        .to_owned()
                } else {
                    detail
                };
                Correlation {
                    claim: Some(ci),
                    payment: Some(PaymentRef::Current(pi)),
                    status,
                    rule: Some(rule),
                    detail,
                }
            }
            Found::Many(rule, n) => Correlation {
                claim: Some(ci),
                payment: None,
                status: Status::Ambiguous,
                rule: None,
                detail: format!("{} found {n} candidate payments", rule.as_str()),
            },
            Found::Orphaned(ri) => {
                orphans_claimed.insert(ri);
                Correlation {
                    claim: Some(ci),
                    payment: Some(PaymentRef::Removed(ri)),
                    status: Status::OrphanedByReorg,
                    rule: Some(Rule::TxId),
                    detail: format!(
                        "the transaction was in block {} ({}), which a reorg removed",
                        facts.removed[ri].block_number, facts.removed[ri].block_hash
                    ),
                }
            }
            Found::None if !c.success => Correlation {
                claim: Some(ci),
                payment: None,
                status: Status::ClaimFailedOnchain,
                rule: None,
                detail: "the claim reports a failed settlement and no transfer is on chain"
                    .to_owned(),
            },
            Found::None if facts.now - c.claimed_at < config.grace_secs => Correlation {
                claim: Some(ci),
                payment: None,
                status: Status::ClaimPending,
                rule: None,
                detail: format!(
                    "no transfer yet; within the {} s grace period",
                    config.grace_secs
                ),
            },
            Found::None => Correlation {
                claim: Some(ci),
                payment: None,
                status: Status::ClaimWithoutTransfer,
                rule: None,
                detail: format!(
                    "no transfer found {} s after the claim",
                    facts.now - c.claimed_at
                ),
            },
        };
        out.push(row);
    }
    for pi in 0..facts.payments.len() {
        if !taken.contains(&pi) {
            out.push(Correlation {
                claim: None,
                payment: Some(PaymentRef::Current(pi)),
                status: Status::TransferWithoutClaim,
                rule: None,
                detail: String::new(),
            });
        }
    }
    // Removed payments no claim named and nothing settled again: the seller
    // should know a payment disappeared.
    let current_txs: HashSet<String> = facts
        .payments
        .iter()
        .map(|p| norm(&p.chain, &p.tx_id))
        .collect();
    for (ri, r) in facts.removed.iter().enumerate() {
        if orphans_claimed.contains(&ri) || current_txs.contains(&norm(&r.chain, &r.tx_id)) {
            continue;
        }
        if !current.same_authorization(r).1.is_empty() {
            continue;
        }
        out.push(Correlation {
            claim: None,
            payment: Some(PaymentRef::Removed(ri)),
            status: Status::OrphanedByReorg,
            rule: None,
            detail: format!(
                "the payment was in block {} ({}), which a reorg removed",
                r.block_number, r.block_hash
            ),
        });
    }
    out
}

/// How many rows have each status.
pub fn count_by_status(rows: &[Correlation]) -> BTreeMap<Status, usize> {
    let mut out = BTreeMap::new();
    for r in rows {
        *out.entry(r.status).or_insert(0) += 1;
    }
    out
}
