//! One analysis run over the store.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use x402scope_core::Amount;
use x402scope_store::{AddressFlag, MatchRow, Payment, PaymentKey, Store};

use crate::AnalysisError;
use crate::attribute::{Listings, Paid, attribute};
use crate::correlate::{CorrelateConfig, Facts, PaymentRef, correlate};
use crate::organic::{OrganicConfig, organic};
use crate::reconcile::{self, SellerReport};

/// `[analysis]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// `x402scope serve` runs the analysis again this many seconds after a run.
    pub interval_secs: u64,
    pub correlate: CorrelateConfig,
    pub organic: OrganicConfig,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            interval_secs: 60,
            correlate: CorrelateConfig::default(),
            organic: OrganicConfig::default(),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub payments: usize,
    pub removed_payments: usize,
    pub claims: usize,
    pub rows: usize,
    pub by_status: BTreeMap<String, usize>,
    /// Payments whose `is_organic` changed.
    pub organic_changed: u64,
    pub organic_payments: usize,
}

/// Correlate, attribute and filter everything the store holds at `now`; write
/// the organic flags and replace the derived rows.
pub async fn run(
    store: &Store,
    config: &AnalysisConfig,
    now: i64,
) -> Result<RunReport, AnalysisError> {
    let payments = store.analysis_payments().await?;

    // The ledger: record what is new or moved to another block; what it holds
    // and the store no longer does was removed by a reorg. Scoped, so that the
    // ledger's copy is freed before the correlation runs.
    let removed: Vec<Payment> = {
        let observed = store.analysis_observed().await?;
        let current: HashSet<PaymentKey> = payments.iter().map(PaymentKey::of).collect();
        let known: HashMap<PaymentKey, &str> = observed
            .iter()
            .map(|p| (PaymentKey::of(p), p.block_hash.as_str()))
            .collect();
        let fresh: Vec<Payment> = payments
            .iter()
            .filter(|p| {
                known
                    .get(&PaymentKey::of(p))
                    .is_none_or(|h| *h != p.block_hash)
            })
            .cloned()
            .collect();
        drop(known);
        if !fresh.is_empty() {
            store.analysis_observe(fresh).await?;
        }
        observed
            .into_iter()
            .filter(|o| !current.contains(&PaymentKey::of(o)))
            .collect()
    };

    let claims = store.claims().await?;
    let listings = Listings::new(store.analysis_listings().await?);
    let facilitator_addresses: HashSet<String> = store
        .signers()
        .await?
        .into_iter()
        .map(|s| s.address)
        .collect();

    let filter = organic(&payments, &facilitator_addresses, &config.organic);
    let changed: Vec<(PaymentKey, bool)> = payments
        .iter()
        .enumerate()
        .filter(|(i, p)| p.is_organic != filter.is_organic(*i))
        .map(|(i, p)| (PaymentKey::of(p), filter.is_organic(i)))
        .collect();
    let organic_changed = if changed.is_empty() {
        0
    } else {
        store.analysis_set_organic(changed).await?
    };

    let correlations = correlate(
        Facts {
            claims: &claims,
            payments: &payments,
            removed: &removed,
            now,
        },
        &config.correlate,
    );
    let mut rows = Vec::with_capacity(correlations.len());
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for c in &correlations {
        let claim = c.claim.map(|i| &claims[i]);
        let (payment, organic_flag) = match c.payment {
            Some(PaymentRef::Current(i)) => (Some(&payments[i]), filter.is_organic(i)),
            Some(PaymentRef::Removed(i)) => (Some(&removed[i]), false),
            None => (None, false),
        };
        let row_key = match (claim, payment) {
            (Some(cl), _) => format!("claim:{}:{}", cl.source, cl.claim_id),
            (None, Some(p)) => format!(
                "payment:{}:{}:{}:{}",
                p.chain, p.tx_id, p.idx_outer, p.idx_inner
            ),
            (None, None) => continue,
        };
        let pick = |from_payment: Option<&str>, from_claim: Option<&str>| -> String {
            from_payment.or(from_claim).unwrap_or("").to_owned()
        };
        let network = pick(
            payment.map(|p| p.chain.as_str()),
            claim.map(|c| c.network.as_str()),
        );
        let pay_to = pick(
            payment.map(|p| p.pay_to.as_str()),
            claim.map(|c| c.pay_to.as_str()),
        );
        let asset = pick(
            payment.map(|p| p.asset.as_str()),
            claim.map(|c| c.asset.as_str()),
        );
        let amount = payment.map_or(Amount::ZERO, |p| p.amount);
        let claimed_amount = claim.map_or(Amount::ZERO, |c| c.amount);
        let attribution = attribute(
            &Paid {
                resource_hint: claim.map_or("", |c| c.resource_url.as_str()),
                network: &network,
                asset: &asset,
                pay_to: &pay_to,
                amount: if payment.is_some() {
                    amount
                } else {
                    claimed_amount
                },
                at: payment.map_or_else(|| claim.map_or(0, |c| c.claimed_at), |p| p.block_time),
            },
            &listings,
        );
        *by_status.entry(c.status.as_str().to_owned()).or_insert(0) += 1;
        rows.push(MatchRow {
            row_key,
            claim_source: claim.map_or_else(String::new, |c| c.source.clone()),
            claim_id: claim.map_or_else(String::new, |c| c.claim_id.clone()),
            tx_id: pick(
                payment.map(|p| p.tx_id.as_str()),
                claim.map(|c| c.tx_id.as_str()),
            ),
            idx_outer: payment.map_or(0, |p| p.idx_outer),
            idx_inner: payment.map_or(0, |p| p.idx_inner),
            has_payment: payment.is_some(),
            status: c.status.as_str().to_owned(),
            rule: c.rule.map_or_else(String::new, |r| r.as_str().to_owned()),
            payer: pick(
                payment.map(|p| p.payer.as_str()),
                claim.map(|c| c.payer.as_str()),
            ),
            facilitator: pick(
                payment.map(|p| p.facilitator.as_str()),
                claim.map(|c| c.facilitator.as_str()),
            ),
            network,
            pay_to,
            asset,
            amount,
            claimed_amount,
            block_time: payment.map_or(0, |p| p.block_time),
            claimed_at: claim.map_or(0, |c| c.claimed_at),
            resource: attribution.resource,
            price_status: attribution.price_status.as_str().to_owned(),
            listed_amount: attribution.listed_amount,
            is_final: matches!(c.payment, Some(PaymentRef::Current(_)))
                && payment.is_some_and(|p| p.is_final),
            is_organic: organic_flag,
            detail: c.detail.clone(),
            run_at: now,
        });
    }
    let flags: Vec<AddressFlag> = filter
        .address_flags
        .iter()
        .map(|((address, flag), detail)| AddressFlag {
            address: address.clone(),
            flag: flag.as_str().to_owned(),
            detail: detail.clone(),
            run_at: now,
        })
        .collect();
    let report = RunReport {
        payments: payments.len(),
        removed_payments: removed.len(),
        claims: claims.len(),
        rows: rows.len(),
        by_status,
        organic_changed,
        organic_payments: (0..payments.len())
            .filter(|i| filter.is_organic(*i))
            .count(),
    };
    store.analysis_replace(rows, flags, now).await?;
    Ok(report)
}

/// The report of `pay_to` over [from, to), from the latest run's rows.
pub async fn seller_report(
    store: &Store,
    pay_to: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<SellerReport, AnalysisError> {
    let pay_to = normalise(pay_to);
    let rows = store.analysis_matches(Some(&pay_to)).await?;
    Ok(reconcile::seller_report(&pay_to, &rows, from, to))
}

/// EVM hex addresses are stored lowercase; anything else as given.
fn normalise(a: &str) -> String {
    if a.starts_with("0x") || a.starts_with("0X") {
        a.to_ascii_lowercase()
    } else {
        a.to_owned()
    }
}
