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

/// Run the filter. `facilitator_addresses` are the registered signers, in
/// any case (EVM) or exact (Solana).
pub fn organic(
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
