//! The organic filter. Pure: payments and the facilitators' addresses in,
//! flags on payments and addresses out.
//!
//! A payment is flagged when:
//! - `self_payment`: payer = payTo;
//! - `facilitator_address`: the payer or payTo is a facilitator's address (a
//!   registered signer, or any settlement wallet: a transaction sender of some
//!   settlement);
//! - `circular_flow`: the payTo paid the payer back on the same chain within
//!   the window (A→B and B→A; both directions are flagged);
//! - `inorganic_seller`: its payTo fails the organic seller rule, computed over
//!   the payments not flagged above: revenue ≥ `min_seller_revenue`, distinct
//!   buyers ≥ `min_buyers`, average payment ≥ `min_average_payment`.
//!
//! Amounts are valued in USD micro-units (10⁻⁶ USD): the assets are stablecoins;
//! an asset the registry does not know counts with `default_decimals`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use alloy_primitives::U256;
use indexmap::IndexSet;
use serde::{Deserialize, Serialize};
use x402scope_core::Network;
use x402scope_store::Payment;

/// A flag of the organic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    SelfPayment,
    FacilitatorAddress,
    CircularFlow,
    InorganicSeller,
}

impl Flag {
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::SelfPayment => "self_payment",
            Flag::FacilitatorAddress => "facilitator_address",
            Flag::CircularFlow => "circular_flow",
            Flag::InorganicSeller => "inorganic_seller",
        }
    }
}

/// The thresholds; every one configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrganicConfig {
    /// Minimum seller revenue, in USD micro-units ($100 = 100_000_000).
    pub min_seller_revenue_micros: u64,
    /// Minimum distinct buyers of a seller.
    pub min_buyers: u64,
    /// Minimum average payment, in USD micro-units ($0.001 = 1_000).
    pub min_average_payment_micros: u64,
    /// A payment back from payTo to payer within this many seconds is circular.
    pub circular_window_secs: i64,
    /// Decimals of an asset the registry does not know.
    pub default_decimals: u8,
}

impl Default for OrganicConfig {
    fn default() -> Self {
        OrganicConfig {
            min_seller_revenue_micros: 100_000_000,
            min_buyers: 3,
            min_average_payment_micros: 1_000,
            circular_window_secs: 86_400,
            default_decimals: 6,
        }
    }
}

/// The filter's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganicResult {
    /// Per payment (input order), its flags; organic when empty.
    pub payment_flags: Vec<BTreeSet<Flag>>,
    /// Per address, its flags with a short reason.
    pub address_flags: BTreeMap<(String, Flag), String>,
}

impl OrganicResult {
    pub fn is_organic(&self, i: usize) -> bool {
        self.payment_flags.get(i).is_none_or(BTreeSet::is_empty)
    }
}

fn key(chain: &str, a: &str) -> String {
    if chain.starts_with("solana:") {
        a.to_owned()
    } else {
        a.to_ascii_lowercase()
    }
}

/// `amount` in USD micro-units.
pub fn usd_micros(p: &Payment, default_decimals: u8) -> U256 {
    let decimals = Network::parse_caip2(&p.chain)
        .ok()
        .and_then(|n| x402scope_core::asset::lookup(&n, &p.asset))
        .map_or(default_decimals, |a| a.decimals);
    let a = p.amount.0;
    if decimals >= 6 {
        a / U256::from(10u64).pow(U256::from(decimals - 6))
    } else {
        a.saturating_mul(U256::from(10u64).pow(U256::from(6 - decimals)))
    }
}

const SELF_PAYMENT: u8 = 1;
const FACILITATOR_ADDRESS: u8 = 2;
const CIRCULAR_FLOW: u8 = 4;
const INORGANIC_SELLER: u8 = 8;

fn flag_set(bits: u8) -> BTreeSet<Flag> {
    [
        (SELF_PAYMENT, Flag::SelfPayment),
        (FACILITATOR_ADDRESS, Flag::FacilitatorAddress),
        (CIRCULAR_FLOW, Flag::CircularFlow),
        (INORGANIC_SELLER, Flag::InorganicSeller),
    ]
    .into_iter()
    .filter(|(b, _)| bits & b != 0)
    .map(|(_, f)| f)
    .collect()
}

/// One payment as the filter needs it: addresses and chain as small integers,
/// the USD value saturated to 64 bits (the exact value of a larger one is kept
/// aside), 32 bytes in all.
#[derive(Debug, Clone, Copy)]
struct Rec {
    payer: u32,
    pay_to: u32,
    chain: u32,
    usd: u64,
    time: i64,
}

/// Why an address is flagged, turned into words once the run is done.
#[derive(Debug, Clone, Copy)]
enum Why {
    PaidItself,
    SeenAs(&'static str),
    PaidBack(u32),
    Seller,
}

/// The filter fed one payment at a time. It keeps 32 bytes per payment and
/// each distinct address once, so a run over millions of payments stays
/// small; [`OrganicBuilder::finish`] then decides every flag.
pub struct OrganicBuilder {
    config: OrganicConfig,
    names: IndexSet<Box<str>>,
    chains: IndexSet<Box<str>>,
    wallets: HashSet<u32>,
    recs: Vec<Rec>,
    /// USD values above `u64::MAX`, by record.
    big: HashMap<usize, U256>,
}

impl std::fmt::Debug for OrganicBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrganicBuilder")
            .field("payments", &self.recs.len())
            .field("addresses", &self.names.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for OrganicModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrganicModel")
            .field("payments", &self.recs.len())
            .field("addresses", &self.names.len())
            .field("organic_sellers", &self.organic_sellers.len())
            .field("address_flags", &self.address_flags.len())
            .finish_non_exhaustive()
    }
}

impl OrganicBuilder {
    /// `facilitator_addresses` are the registered signers, in any case (EVM)
    /// or exact (Solana).
    pub fn new(facilitator_addresses: &HashSet<String>, config: &OrganicConfig) -> Self {
        let mut b = OrganicBuilder {
            config: *config,
            names: IndexSet::new(),
            chains: IndexSet::new(),
            wallets: HashSet::new(),
            recs: Vec::new(),
            big: HashMap::new(),
        };
        for a in facilitator_addresses {
            let a = if a.starts_with("0x") {
                a.to_ascii_lowercase()
            } else {
                a.clone()
            };
            let id = b.intern(a);
            b.wallets.insert(id);
        }
        b
    }

    fn intern(&mut self, a: String) -> u32 {
        match self.names.get_index_of(a.as_str()) {
            Some(i) => i as u32,
            None => self.names.insert_full(a.into_boxed_str()).0 as u32,
        }
    }

    pub fn push(&mut self, p: &Payment) {
        let chain = match self.chains.get_index_of(p.chain.as_str()) {
            Some(i) => i as u32,
            None => self.chains.insert_full(p.chain.clone().into_boxed_str()).0 as u32,
        };
        let payer = self.intern(key(&p.chain, &p.payer));
        let pay_to = self.intern(key(&p.chain, &p.pay_to));
        let wallet = self.intern(key(&p.chain, &p.tx_from));
        self.wallets.insert(wallet);
        let value = usd_micros(p, self.config.default_decimals);
        let usd = u64::try_from(value).unwrap_or_else(|_| {
            self.big.insert(self.recs.len(), value);
            u64::MAX
        });
        self.recs.push(Rec {
            payer,
            pay_to,
            chain,
            usd,
            time: p.block_time,
        });
    }

    /// Make room for `n` more payments.
    pub fn reserve(&mut self, n: usize) {
        self.recs.reserve(n);
    }

    /// Decide the flags: per address, and the rules [`OrganicModel::flags`]
    /// applies to any payment.
    pub fn finish(self) -> OrganicModel {
        let OrganicBuilder {
            config,
            names,
            chains,
            wallets,
            recs,
            big,
        } = self;
        let mut by_edge: Vec<u32> = (0..recs.len() as u32).collect();
        by_edge.sort_unstable_by_key(|&i| {
            let r = &recs[i as usize];
            (r.payer, r.pay_to, r.chain, r.time)
        });
        let mut model = OrganicModel {
            config,
            names,
            chains,
            wallets,
            recs,
            by_edge,
            organic_sellers: HashSet::new(),
            unknown_is_inorganic: Seller::default().inorganic(&config).is_some(),
            address_flags: BTreeMap::new(),
        };

        // The address flags of the first three rules, in payment order (a later
        // payment's reason replaces an earlier one's), and the payments they
        // leave (a bit each).
        let mut why: HashMap<(u32, Flag), Why> = HashMap::new();
        let mut left = vec![0u64; model.recs.len().div_ceil(64)];
        for (i, r) in model.recs.iter().enumerate() {
            if r.payer == r.pay_to {
                why.insert((r.payer, Flag::SelfPayment), Why::PaidItself);
                continue;
            }
            let mut flagged = false;
            for (a, role) in [(r.payer, "payer"), (r.pay_to, "payTo")] {
                if model.wallets.contains(&a) {
                    flagged = true;
                    why.insert((a, Flag::FacilitatorAddress), Why::SeenAs(role));
                }
            }
            if model.pays_back(r.chain, r.payer, r.pay_to, r.time) {
                flagged = true;
                why.insert((r.payer, Flag::CircularFlow), Why::PaidBack(r.pay_to));
            }
            if !flagged {
                left[i / 64] |= 1 << (i % 64);
            }
        }
        let is_left = |i: usize| left[i / 64] & (1 << (i % 64)) != 0;

        // The organic seller rule over what is left; every payTo is a seller.
        // (Not `collect`: that would size the map for every payment, not every seller.)
        let mut sellers: HashMap<u32, Seller> = HashMap::new();
        for r in &model.recs {
            sellers.entry(r.pay_to).or_default();
        }
        // `by_edge` holds each (payer, payTo) pair's payments together, on
        // every chain: a buyer counts once per seller it paid by one it left.
        let mut last: Option<(u32, u32)> = None;
        for &i in &model.by_edge {
            let i = i as usize;
            if !is_left(i) {
                continue;
            }
            let r = &model.recs[i];
            let s = sellers.entry(r.pay_to).or_default();
            let usd = big.get(&i).copied().unwrap_or_else(|| U256::from(r.usd));
            s.revenue = s.revenue.saturating_add(usd);
            s.count += 1;
            if last != Some((r.payer, r.pay_to)) {
                s.buyers += 1;
            }
            last = Some((r.payer, r.pay_to));
        }
        drop(left);
        let mut details: HashMap<u32, String> = HashMap::new();
        for (addr, s) in sellers {
            match s.inorganic(&config) {
                Some(why_not) => {
                    details.insert(addr, why_not);
                    why.insert((addr, Flag::InorganicSeller), Why::Seller);
                }
                None => {
                    model.organic_sellers.insert(addr);
                }
            }
        }
        for ((addr, flag), w) in why {
            let detail = match w {
                Why::PaidItself => "paid itself".to_owned(),
                Why::SeenAs(role) => format!("a facilitator's address, seen as {role}"),
                Why::PaidBack(to) => format!(
                    "paid {} and was paid back within the window",
                    model.name(to)
                ),
                Why::Seller => details.remove(&addr).unwrap_or_default(),
            };
            model
                .address_flags
                .insert((model.name(addr).to_owned(), flag), detail);
        }
        model
    }
}

#[derive(Debug, Default)]
struct Seller {
    revenue: U256,
    count: u64,
    buyers: u64,
}

impl Seller {
    /// Why the seller fails the organic seller rule, if it does.
    fn inorganic(&self, config: &OrganicConfig) -> Option<String> {
        let average = if self.count == 0 {
            U256::ZERO
        } else {
            self.revenue / U256::from(self.count)
        };
        let ok = self.revenue >= U256::from(config.min_seller_revenue_micros)
            && self.buyers >= config.min_buyers
            && average >= U256::from(config.min_average_payment_micros);
        (!ok).then(|| {
            format!(
                "organic revenue {} µUSD from {} buyers, average {} µUSD",
                self.revenue, self.buyers, average
            )
        })
    }
}

/// The filter's decisions over the payments it was fed.
pub struct OrganicModel {
    config: OrganicConfig,
    names: IndexSet<Box<str>>,
    chains: IndexSet<Box<str>>,
    wallets: HashSet<u32>,
    recs: Vec<Rec>,
    /// Record indexes by (payer, payTo, chain, time): the circular check,
    /// and each pair's buyers.
    by_edge: Vec<u32>,
    /// PayTo addresses that pass the organic seller rule.
    organic_sellers: HashSet<u32>,
    /// A seller with no organic payment fails the rule (false only when every
    /// threshold is zero, and then every seller passes).
    unknown_is_inorganic: bool,
    /// Per address, its flags with a short reason.
    pub address_flags: BTreeMap<(String, Flag), String>,
}

impl OrganicModel {
    fn name(&self, id: u32) -> &str {
        self.names.get_index(id as usize).map_or("", |n| n)
    }

    /// A payment from `pay_to` back to `payer` on `chain` within the window of `time`.
    fn pays_back(&self, chain: u32, payer: u32, pay_to: u32, time: i64) -> bool {
        let lo = time.saturating_sub(self.config.circular_window_secs);
        let hi = time.saturating_add(self.config.circular_window_secs);
        let at = self.by_edge.partition_point(|&i| {
            let r = &self.recs[i as usize];
            (r.payer, r.pay_to, r.chain, r.time) < (pay_to, payer, chain, lo)
        });
        self.by_edge.get(at).is_some_and(|&i| {
            let r = &self.recs[i as usize];
            (r.payer, r.pay_to, r.chain) == (pay_to, payer, chain) && r.time <= hi
        })
    }

    fn bits(&self, p: &Payment) -> u8 {
        let (payer, pay_to) = (key(&p.chain, &p.payer), key(&p.chain, &p.pay_to));
        let payer_id = self.names.get_index_of(payer.as_str()).map(|i| i as u32);
        let pay_to_id = self.names.get_index_of(pay_to.as_str()).map(|i| i as u32);
        // A seller the filter never saw has no organic revenue yet.
        let passes = pay_to_id.is_some_and(|id| self.organic_sellers.contains(&id));
        let seller = if self.unknown_is_inorganic && !passes {
            INORGANIC_SELLER
        } else {
            0
        };
        if payer == pay_to {
            return SELF_PAYMENT | seller;
        }
        let mut bits = seller;
        for id in [payer_id, pay_to_id].into_iter().flatten() {
            if self.wallets.contains(&id) {
                bits |= FACILITATOR_ADDRESS;
            }
        }
        if let (Some(chain), Some(a), Some(b)) = (
            self.chains.get_index_of(p.chain.as_str()),
            payer_id,
            pay_to_id,
        ) && self.pays_back(chain as u32, a, b, p.block_time)
        {
            bits |= CIRCULAR_FLOW;
        }
        bits
    }

    /// The flags of `p`; organic when empty. `p` need not be one the filter
    /// was fed (a payment that arrived since is judged by what was).
    pub fn flags(&self, p: &Payment) -> BTreeSet<Flag> {
        flag_set(self.bits(p))
    }

    pub fn is_organic(&self, p: &Payment) -> bool {
        self.bits(p) == 0
    }
}

/// Run the filter over a slice. `facilitator_addresses` are the registered
/// signers, in any case (EVM) or exact (Solana).
pub fn organic(
    payments: &[Payment],
    facilitator_addresses: &HashSet<String>,
    config: &OrganicConfig,
) -> OrganicResult {
    let mut b = OrganicBuilder::new(facilitator_addresses, config);
    for p in payments {
        b.push(p);
    }
    let model = b.finish();
    OrganicResult {
        payment_flags: payments.iter().map(|p| model.flags(p)).collect(),
        address_flags: model.address_flags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x402scope_core::Amount;

    const NET: &str = "eip155:84532";
    const SOL: &str = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1";

    fn pay(chain: &str, payer: &str, pay_to: &str, amount: u64, t: i64) -> Payment {
        Payment {
            chain: chain.into(),
            tx_id: format!("{payer}-{pay_to}-{t}"),
            idx_outer: 0,
            idx_inner: 0,
            block_number: 1,
            block_hash: "h".into(),
            block_time: t,
            asset: "0x00000000000000000000000000000000000000a5".into(),
            payer: payer.into(),
            pay_to: pay_to.into(),
            amount: Amount::from_u64(amount),
            nonce: String::new(),
            facilitator: "f".into(),
            tx_from: "0xfac".into(),
            method: "eip3009".into(),
            is_final: true,
            is_organic: true,
        }
    }

    /// The filter as first written, over a slice with every string kept: the
    /// oracle the compact filter is checked against.
    fn reference(
        payments: &[Payment],
        facilitator_addresses: &HashSet<String>,
        config: &OrganicConfig,
    ) -> OrganicResult {
        let mut flags: Vec<BTreeSet<Flag>> = vec![BTreeSet::new(); payments.len()];
        let mut address_flags: BTreeMap<(String, Flag), String> = BTreeMap::new();
        let mut wallets: HashSet<String> = facilitator_addresses
            .iter()
            .map(|a| {
                if a.starts_with("0x") {
                    a.to_ascii_lowercase()
                } else {
                    a.clone()
                }
            })
            .collect();
        wallets.extend(payments.iter().map(|p| key(&p.chain, &p.tx_from)));

        // (chain, payer, pay_to) → block times, sorted: for the circular check.
        let mut edges: HashMap<(String, String, String), Vec<i64>> = HashMap::new();
        for p in payments {
            edges
                .entry((
                    p.chain.clone(),
                    key(&p.chain, &p.payer),
                    key(&p.chain, &p.pay_to),
                ))
                .or_default()
                .push(p.block_time);
        }
        for v in edges.values_mut() {
            v.sort_unstable();
        }

        for (i, p) in payments.iter().enumerate() {
            let (payer, pay_to) = (key(&p.chain, &p.payer), key(&p.chain, &p.pay_to));
            if payer == pay_to {
                flags[i].insert(Flag::SelfPayment);
                address_flags.insert((payer.clone(), Flag::SelfPayment), "paid itself".into());
                continue;
            }
            for (a, role) in [(&payer, "payer"), (&pay_to, "payTo")] {
                if wallets.contains(a) {
                    flags[i].insert(Flag::FacilitatorAddress);
                    address_flags.insert(
                        (a.clone(), Flag::FacilitatorAddress),
                        format!("a facilitator's address, seen as {role}"),
                    );
                }
            }
            if let Some(back) = edges.get(&(p.chain.clone(), pay_to.clone(), payer.clone())) {
                let lo = p.block_time.saturating_sub(config.circular_window_secs);
                let hi = p.block_time.saturating_add(config.circular_window_secs);
                let first = back.partition_point(|t| *t < lo);
                if back.get(first).is_some_and(|t| *t <= hi) {
                    flags[i].insert(Flag::CircularFlow);
                    address_flags.insert(
                        (payer.clone(), Flag::CircularFlow),
                        format!("paid {pay_to} and was paid back within the window"),
                    );
                }
            }
        }

        // The organic seller rule over what is left.
        #[derive(Default)]
        struct Seller {
            revenue: U256,
            count: u64,
            buyers: HashSet<String>,
        }
        let mut sellers: BTreeMap<String, Seller> = BTreeMap::new();
        for (i, p) in payments.iter().enumerate() {
            let pay_to = key(&p.chain, &p.pay_to);
            let s = sellers.entry(pay_to).or_default();
            if flags[i].is_empty() {
                s.revenue = s
                    .revenue
                    .saturating_add(usd_micros(p, config.default_decimals));
                s.count += 1;
                s.buyers.insert(key(&p.chain, &p.payer));
            }
        }
        let inorganic: BTreeMap<String, String> = sellers
            .into_iter()
            .filter_map(|(addr, s)| {
                let average = if s.count == 0 {
                    U256::ZERO
                } else {
                    s.revenue / U256::from(s.count)
                };
                let ok = s.revenue >= U256::from(config.min_seller_revenue_micros)
                    && s.buyers.len() as u64 >= config.min_buyers
                    && average >= U256::from(config.min_average_payment_micros);
                (!ok).then(|| {
                    (
                        addr,
                        format!(
                            "organic revenue {} µUSD from {} buyers, average {} µUSD",
                            s.revenue,
                            s.buyers.len(),
                            average
                        ),
                    )
                })
            })
            .collect();
        for (i, p) in payments.iter().enumerate() {
            let pay_to = key(&p.chain, &p.pay_to);
            if let Some(why) = inorganic.get(&pay_to) {
                flags[i].insert(Flag::InorganicSeller);
                address_flags.insert((pay_to, Flag::InorganicSeller), why.clone());
            }
        }
        OrganicResult {
            payment_flags: flags,
            address_flags,
        }
    }

    fn small() -> OrganicConfig {
        OrganicConfig {
            min_seller_revenue_micros: 3_000,
            min_buyers: 3,
            min_average_payment_micros: 1_000,
            circular_window_secs: 100,
            default_decimals: 6,
        }
    }

    #[test]
    fn flags_table() {
        // S is organic: 3 buyers, 3000 µUSD, average 1000.
        let payments = vec![
            pay(NET, "0xb1", "0xs", 1000, 10),  // 0 organic
            pay(NET, "0xb2", "0xs", 1000, 20),  // 1 organic
            pay(NET, "0xB3", "0xS", 1000, 30),  // 2 organic (any case)
            pay(NET, "0xs", "0xs", 5000, 40),   // 3 self
            pay(NET, "0xfac", "0xs", 5000, 50), // 4 the settlement wallet pays
            pay(NET, "0xreg", "0xs", 5000, 50), // 5 a registered signer pays
            pay(NET, "0xc1", "0xc2", 900, 100), // 6 circular, 50 s apart
            pay(NET, "0xc2", "0xc1", 900, 150), // 7 circular
            pay(NET, "0xd1", "0xd2", 900, 100), // 8 back too late: small seller
            pay(NET, "0xd2", "0xd1", 900, 300), // 9 small seller
            pay(SOL, "0xc2", "0xc1", 900, 150), // 10 another chain: not circular
        ];
        let facs: HashSet<String> = ["0xREG".to_owned()].into();
        let r = organic(&payments, &facs, &small());
        let want: Vec<&[Flag]> = vec![
            &[],
            &[],
            &[],
            &[Flag::SelfPayment],
            &[Flag::FacilitatorAddress],
            &[Flag::FacilitatorAddress],
            &[Flag::CircularFlow, Flag::InorganicSeller],
            &[Flag::CircularFlow, Flag::InorganicSeller],
            &[Flag::InorganicSeller],
            &[Flag::InorganicSeller],
            &[Flag::InorganicSeller],
        ];
        for (i, w) in want.iter().enumerate() {
            let got: Vec<Flag> = r.payment_flags[i].iter().copied().collect();
            assert_eq!(got, w.to_vec(), "payment {i}");
        }
        // The self-payment's seller is 0xs, which is organic: only index 3 is self.
        assert!(
            r.address_flags
                .contains_key(&("0xs".into(), Flag::SelfPayment))
        );
        assert!(
            !r.address_flags
                .contains_key(&("0xs".into(), Flag::InorganicSeller))
        );
        assert!(
            r.address_flags
                .contains_key(&("0xc1".into(), Flag::InorganicSeller))
        );
        assert!(
            r.address_flags
                .contains_key(&("0xfac".into(), Flag::FacilitatorAddress))
        );
        assert!(r.is_organic(0) && !r.is_organic(4));
    }

    #[test]
    fn seller_thresholds_each_decide() {
        let three = |amount: u64, buyers: [&str; 3]| -> Vec<Payment> {
            buyers
                .iter()
                .enumerate()
                .map(|(i, b)| pay(NET, b, "0xs", amount, i as i64 * 1000))
                .collect()
        };
        let cases: &[(&str, Vec<Payment>, OrganicConfig, bool)] = &[
            ("all met", three(1000, ["0x1", "0x2", "0x3"]), small(), true),
            (
                "two buyers",
                three(1000, ["0x1", "0x2", "0x2"]),
                small(),
                false,
            ),
            (
                "revenue short",
                three(999, ["0x1", "0x2", "0x3"]),
                OrganicConfig {
                    min_average_payment_micros: 1,
                    ..small()
                },
                false,
            ),
            (
                "average short",
                three(1000, ["0x1", "0x2", "0x3"]),
                OrganicConfig {
                    min_seller_revenue_micros: 1,
                    min_average_payment_micros: 1001,
                    ..small()
                },
                false,
            ),
            (
                "the default $100 rule",
                three(1_000_000, ["0x1", "0x2", "0x3"]),
                OrganicConfig::default(),
                false,
            ),
            (
                "the default rule met",
                three(40_000_000, ["0x1", "0x2", "0x3"]),
                OrganicConfig::default(),
                true,
            ),
        ];
        for (name, payments, config, organic_seller) in cases {
            let r = organic(payments, &HashSet::new(), config);
            assert_eq!(r.is_organic(0), *organic_seller, "{name}");
        }
    }

    /// The compact filter decides exactly what the first one did, on many
    /// small random worlds: few addresses in mixed case on EVM and Solana, so
    /// that self-payments, circular flows, facilitator wallets and sellers on
    /// each side of every threshold all occur; some values beyond 64 bits.
    #[test]
    fn the_compact_filter_agrees_with_the_reference() {
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let addrs = [
            "0xa1", "0xA1", "0xb2", "0xc3", "0xC3", "0xfac", "0xreg", "Sol1", "sol1",
        ];
        let mut flagged = BTreeSet::new();
        for world in 0..300 {
            let n = 1 + next(40) as usize;
            let payments: Vec<Payment> = (0..n)
                .map(|i| {
                    let chain = [NET, SOL, "eip155:8453"][next(3) as usize];
                    let mut p = pay(
                        chain,
                        addrs[next(addrs.len() as u64) as usize],
                        addrs[next(addrs.len() as u64) as usize],
                        next(3000),
                        next(400) as i64,
                    );
                    p.tx_id = format!("t{world}-{i}");
                    p.tx_from = ["0xfac", "0xFAC", "FeePayer"][next(3) as usize].into();
                    if next(25) == 0 {
                        p.amount = Amount(U256::from(u64::MAX) * U256::from(3u64 + next(5)));
                    }
                    p
                })
                .collect();
            let facs: HashSet<String> = match next(3) {
                0 => HashSet::new(),
                1 => ["0xREG".to_owned()].into(),
                _ => ["Sol1".to_owned(), "0xb2".to_owned()].into(),
            };
            let config = OrganicConfig {
                min_seller_revenue_micros: next(4000),
                min_buyers: next(4),
                min_average_payment_micros: next(1500),
                circular_window_secs: next(150) as i64,
                default_decimals: 6,
            };
            let want = reference(&payments, &facs, &config);
            let got = organic(&payments, &facs, &config);
            assert_eq!(got, want, "world {world}: {payments:?} {facs:?} {config:?}");
            for f in want.payment_flags.iter().flatten() {
                flagged.insert(*f);
            }
        }
        assert_eq!(flagged.len(), 4, "every flag occurred: {flagged:?}");
    }

    #[test]
    fn a_payment_the_filter_never_saw_is_judged_by_what_it_saw() {
        let seen = vec![
            pay(NET, "0xb1", "0xs", 1000, 10),
            pay(NET, "0xb2", "0xs", 1000, 20),
            pay(NET, "0xb3", "0xs", 1000, 30),
            pay(NET, "0xc1", "0xc2", 5000, 100),
        ];
        let mut b = OrganicBuilder::new(&HashSet::new(), &small());
        for p in &seen {
            b.push(p);
        }
        let m = b.finish();
        let cases: &[(&str, Payment, &[Flag])] = &[
            (
                "a known organic seller",
                pay(NET, "0xnew", "0xs", 1000, 40),
                &[],
            ),
            (
                "an unknown seller",
                pay(NET, "0xb1", "0xnobody", 9000, 40),
                &[Flag::InorganicSeller],
            ),
            (
                "paid back within the window",
                pay(NET, "0xc2", "0xc1", 5000, 150),
                &[Flag::CircularFlow, Flag::InorganicSeller],
            ),
            (
                "paid back too late",
                pay(NET, "0xc2", "0xC1", 5000, 250),
                &[Flag::InorganicSeller],
            ),
            (
                "the settlement wallet",
                pay(NET, "0xFAC", "0xs", 1000, 40),
                &[Flag::FacilitatorAddress],
            ),
            (
                "itself",
                pay(NET, "0xs", "0xS", 1000, 40),
                &[Flag::SelfPayment],
            ),
        ];
        for (name, p, want) in cases {
            assert_eq!(
                m.flags(p).into_iter().collect::<Vec<_>>(),
                want.to_vec(),
                "{name}"
            );
            assert_eq!(m.is_organic(p), want.is_empty(), "{name}");
        }
    }

    #[test]
    fn usd_value_uses_the_registry_decimals() {
        let mut p = pay("eip155:8453", "a", "b", 2_500_000, 0);
        p.asset = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913".into(); // Base USDC, 6 decimals
        assert_eq!(usd_micros(&p, 18), U256::from(2_500_000u64));
        p.asset = "0x0000000000000000000000000000000000000001".into();
        assert_eq!(usd_micros(&p, 8), U256::from(25_000u64));
        assert_eq!(usd_micros(&p, 2), U256::from(25_000_000_000u64));
    }
}
