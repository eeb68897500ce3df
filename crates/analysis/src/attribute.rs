//! Attribution of a payment (or a claim) to a resource, and its price status.
//! Pure.
//!
//! The resource is the claim's resource URL when there is one. Otherwise it is
//! the resource whose listing was in force at block time with the payment's
//! (network, asset, payTo), when exactly one is; several resources sharing a
//! payTo are told apart by price, and when prices do not tell them apart the
//! attribution is `ambiguous`: no origin is credited.
//!
//! "In force at time t": of each listing series (source, resource, accept
//! index), the newest snapshot observed at or before t; a series first observed
//! after t counts with its first snapshot (the crawler saw it late).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use x402scope_core::Amount;
use x402scope_store::ListingSnapshot;

/// How the amount compares with the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceStatus {
    PriceMatch,
    Underpaid,
    Overpaid,
    /// The amount equals an earlier price of the listing, not the one in force.
    MatchedPriorPrice,
    NoListing,
    /// Several resources fit and the price does not tell them apart.
    Ambiguous,
}

impl PriceStatus {
    pub const ALL: [PriceStatus; 6] = [
        PriceStatus::PriceMatch,
        PriceStatus::Underpaid,
        PriceStatus::Overpaid,
        PriceStatus::MatchedPriorPrice,
        PriceStatus::NoListing,
        PriceStatus::Ambiguous,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PriceStatus::PriceMatch => "price_match",
            PriceStatus::Underpaid => "underpaid",
            PriceStatus::Overpaid => "overpaid",
            PriceStatus::MatchedPriorPrice => "matched_prior_price",
            PriceStatus::NoListing => "no_listing",
            PriceStatus::Ambiguous => "ambiguous",
        }
    }
}

/// What is being attributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paid<'a> {
    /// The claim's resource URL, or empty.
    pub resource_hint: &'a str,
    pub network: &'a str,
    pub asset: &'a str,
    pub pay_to: &'a str,
    pub amount: Amount,
    /// Block time, or the claim's time when there is no payment.
    pub at: i64,
}

/// The outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// Empty when no single resource fits.
    pub resource: String,
    pub price_status: PriceStatus,
    /// The in-force price compared with (0 when none).
    pub listed_amount: Amount,
}

/// Listings grouped into series, oldest snapshot first.
#[derive(Debug, Clone, Default)]
pub struct Listings {
    /// (source, resource, accept_index) → snapshots by observed_at.
    series: BTreeMap<(String, String, u32), Vec<ListingSnapshot>>,
}

fn same(network: &str, a: &str, b: &str) -> bool {
    if network.starts_with("solana:") {
        a == b
    } else {
        a.eq_ignore_ascii_case(b)
    }
}

impl Listings {
    pub fn new(snapshots: impl IntoIterator<Item = ListingSnapshot>) -> Self {
        let mut series: BTreeMap<(String, String, u32), Vec<ListingSnapshot>> = BTreeMap::new();
        for s in snapshots {
            series
                .entry((s.source.clone(), s.resource.clone(), s.accept_index))
                .or_default()
                .push(s);
        }
        for v in series.values_mut() {
            v.sort_by(|a, b| {
                (a.observed_at, &a.snapshot_hash).cmp(&(b.observed_at, &b.snapshot_hash))
            });
        }
        Listings { series }
    }

    /// Per resource fitting `paid`'s (network, asset, payTo) at `paid.at`: the
    /// in-force prices and the earlier ones.
    fn candidates(
        &self,
        paid: &Paid<'_>,
    ) -> BTreeMap<String, (BTreeSet<Amount>, BTreeSet<Amount>)> {
        let mut out: BTreeMap<String, (BTreeSet<Amount>, BTreeSet<Amount>)> = BTreeMap::new();
        for ((_, resource, _), snaps) in &self.series {
            let fits = |s: &ListingSnapshot| {
                s.network == paid.network
                    && same(paid.network, &s.asset, paid.asset)
                    && same(paid.network, &s.pay_to, paid.pay_to)
            };
            let pos = snaps
                .iter()
                .rposition(|s| s.observed_at <= paid.at)
                .unwrap_or(0);
            let Some(in_force) = snaps.get(pos) else {
                continue;
            };
            if !fits(in_force) {
                continue;
            }
            let entry = out.entry(resource.clone()).or_default();
            entry.0.insert(in_force.amount);
            for earlier in snaps[..pos].iter().filter(|s| fits(s)) {
                entry.1.insert(earlier.amount);
            }
        }
        for (now, before) in out.values_mut() {
            for a in now.iter() {
                before.remove(a);
            }
        }
        out
    }
}

fn price(
    amount: Amount,
    in_force: &BTreeSet<Amount>,
    earlier: &BTreeSet<Amount>,
) -> (PriceStatus, Amount) {
    if in_force.contains(&amount) {
        return (PriceStatus::PriceMatch, amount);
    }
    let listed = in_force.iter().next().copied().unwrap_or_default();
    if earlier.contains(&amount) {
        return (PriceStatus::MatchedPriorPrice, amount);
    }
    if amount < listed {
        (PriceStatus::Underpaid, listed)
    } else {
        (PriceStatus::Overpaid, listed)
    }
}

/// Attribute `paid` to a resource.
pub fn attribute(paid: &Paid<'_>, listings: &Listings) -> Attribution {
    let candidates = listings.candidates(paid);
    if !paid.resource_hint.is_empty() {
        return match candidates.get(paid.resource_hint) {
            Some((now, before)) => {
                let (price_status, listed_amount) = price(paid.amount, now, before);
                Attribution {
                    resource: paid.resource_hint.to_owned(),
                    price_status,
                    listed_amount,
                }
            }
            None => Attribution {
                resource: paid.resource_hint.to_owned(),
                price_status: PriceStatus::NoListing,
                listed_amount: Amount::ZERO,
            },
        };
    }
    match candidates.len() {
        0 => Attribution {
            resource: String::new(),
            price_status: PriceStatus::NoListing,
            listed_amount: Amount::ZERO,
        },
        1 => {
            let (resource, (now, before)) = candidates.iter().next().map_or_else(
                || (String::new(), (BTreeSet::new(), BTreeSet::new())),
                |(r, v)| (r.clone(), v.clone()),
            );
            let (price_status, listed_amount) = price(paid.amount, &now, &before);
            Attribution {
                resource,
                price_status,
                listed_amount,
            }
        }
        _ => {
            // A shared payTo: the price decides, exactly one resource or none.
            for wanted in [PriceStatus::PriceMatch, PriceStatus::MatchedPriorPrice] {
                let fitting: Vec<&String> = candidates
                    .iter()
                    .filter(|(_, (now, before))| price(paid.amount, now, before).0 == wanted)
                    .map(|(r, _)| r)
                    .collect();
                match fitting.len() {
                    0 => continue,
                    1 => {
                        return Attribution {
                            resource: fitting[0].clone(),
                            price_status: wanted,
                            listed_amount: paid.amount,
                        };
                    }
                    _ => break,
                }
            }
            Attribution {
                resource: String::new(),
                price_status: PriceStatus::Ambiguous,
                listed_amount: Amount::ZERO,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NET: &str = "eip155:84532";
    const USDC: &str = "0x036cbd53842c5426634e7929541ec2318f3dcf7e";
    const SELLER: &str = "0x00000000000000000000000000000000000000aa";
    const SOL: &str = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1";

    fn snap(resource: &str, observed_at: i64, pay_to: &str, amount: u64) -> ListingSnapshot {
        ListingSnapshot {
            source: "bazaar".into(),
            resource: resource.into(),
            accept_index: 0,
            snapshot_hash: format!("{resource}@{observed_at}"),
            observed_at,
            scheme: "exact".into(),
            network: NET.into(),
            asset: USDC.into(),
            pay_to: pay_to.into(),
            amount: Amount::from_u64(amount),
            raw: "{}".into(),
        }
    }

    fn paid(hint: &str, amount: u64, at: i64) -> Paid<'_> {
        Paid {
            resource_hint: hint,
            network: NET,
            asset: USDC,
            pay_to: SELLER,
            amount: Amount::from_u64(amount),
            at,
        }
    }

    #[test]
    fn price_statuses_table() {
        // /a: 1000 from t=100, 2000 from t=200. /b: other seller. /c, /d share
        // a payTo of their own with equal prices.
        let listings = Listings::new([
            snap("https://s/a", 100, SELLER, 1000),
            snap("https://s/a", 200, SELLER, 2000),
            snap(
                "https://s/b",
                100,
                "0x00000000000000000000000000000000000000bb",
                5,
            ),
        ]);
        let cases: &[(&str, &str, u64, i64, &str, PriceStatus, u64)] = &[
            (
                "hint, in force",
                "https://s/a",
                2000,
                250,
                "https://s/a",
                PriceStatus::PriceMatch,
                2000,
            ),
            (
                "hint, old price while new in force",
                "https://s/a",
                1000,
                250,
                "https://s/a",
                PriceStatus::MatchedPriorPrice,
                1000,
            ),
            (
                "hint, old price in force",
                "https://s/a",
                1000,
                150,
                "https://s/a",
                PriceStatus::PriceMatch,
                1000,
            ),
            (
                "hint, less",
                "https://s/a",
                1500,
                250,
                "https://s/a",
                PriceStatus::Underpaid,
                2000,
            ),
            (
                "hint, more",
                "https://s/a",
                2500,
                250,
                "https://s/a",
                PriceStatus::Overpaid,
                2000,
            ),
            (
                "hint, unlisted",
                "https://s/zzz",
                2000,
                250,
                "https://s/zzz",
                PriceStatus::NoListing,
                0,
            ),
            (
                "no hint, unique payTo",
                "",
                2000,
                250,
                "https://s/a",
                PriceStatus::PriceMatch,
                2000,
            ),
            (
                "no hint, seen late: first snapshot",
                "",
                1000,
                50,
                "https://s/a",
                PriceStatus::PriceMatch,
                1000,
            ),
            (
                "no hint, underpaid",
                "",
                10,
                250,
                "https://s/a",
                PriceStatus::Underpaid,
                2000,
            ),
        ];
        for (name, hint, amount, at, resource, status, listed) in cases {
            let got = attribute(&paid(hint, *amount, *at), &listings);
            assert_eq!(
                (got.resource.as_str(), got.price_status, got.listed_amount),
                (*resource, *status, Amount::from_u64(*listed)),
                "{name}"
            );
        }
        let no = attribute(
            &Paid {
                pay_to: "0x00000000000000000000000000000000000000cc",
                ..paid("", 5, 250)
            },
            &listings,
        );
        assert_eq!(
            (no.resource.as_str(), no.price_status),
            ("", PriceStatus::NoListing)
        );
    }

    #[test]
    fn a_shared_pay_to_is_told_apart_by_price_or_is_ambiguous() {
        let listings = Listings::new([
            snap("https://s/c", 100, SELLER, 1000),
            snap("https://s/d", 100, SELLER, 1000),
            snap("https://s/e", 100, SELLER, 3000),
            snap("https://s/f", 100, SELLER, 7000),
            snap("https://s/f", 200, SELLER, 8000),
        ]);
        let cases: &[(&str, u64, &str, PriceStatus)] = &[
            (
                "equal prices: never credit every origin",
                1000,
                "",
                PriceStatus::Ambiguous,
            ),
            (
                "a unique price",
                3000,
                "https://s/e",
                PriceStatus::PriceMatch,
            ),
            (
                "a unique prior price",
                7000,
                "https://s/f",
                PriceStatus::MatchedPriorPrice,
            ),
            ("no price fits", 4000, "", PriceStatus::Ambiguous),
        ];
        for (name, amount, resource, status) in cases {
            let got = attribute(&paid("", *amount, 250), &listings);
            assert_eq!(
                (got.resource.as_str(), got.price_status),
                (*resource, *status),
                "{name}"
            );
        }
    }

    #[test]
    fn solana_addresses_compare_exactly() {
        let mut s = snap("https://s/sol", 100, "SeLLer111", 10);
        s.network = SOL.into();
        s.asset = "Mint111".into();
        let listings = Listings::new([s]);
        let base = Paid {
            resource_hint: "",
            network: SOL,
            asset: "Mint111",
            pay_to: "SeLLer111",
            amount: Amount::from_u64(10),
            at: 150,
        };
        assert_eq!(
            attribute(&base, &listings).price_status,
            PriceStatus::PriceMatch
        );
        let other_case = Paid {
            pay_to: "seller111",
            ..base
        };
        assert_eq!(
            attribute(&other_case, &listings).price_status,
            PriceStatus::NoListing
        );
    }
}
