//! One analysis run over the store.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use x402scope_core::Amount;
use x402scope_store::{AddressFlag, AnalysisRun, Claim, MatchRow, Payment, PaymentKey, Store};

use crate::AnalysisError;
use crate::attribute::{Listings, Paid, attribute};
use crate::correlate::{CorrelateConfig, Facts, PaymentRef, Rule, Status, Wanted, correlate};
use crate::organic::{OrganicBuilder, OrganicConfig};
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

/// Payments read from the store at a time, and derived rows written at a time.
const PAGE: usize = 2_000;
/// Organic-flag changes written at a time: ClickHouse writes them as
/// mutations that each rewrite parts, so fewer, larger batches.
const FLAG_BATCH: usize = 20_000;

#[derive(Clone, Copy)]
enum Table {
    Payments,
    Observed,
}

/// A table of payments read a page at a time, in key order.
struct Pages<'a> {
    store: &'a Store,
    table: Table,
    limit: usize,
    after: Option<PaymentKey>,
    buf: std::vec::IntoIter<Payment>,
    done: bool,
    /// Payments handed out so far.
    read: usize,
}

impl<'a> Pages<'a> {
    fn new(store: &'a Store, table: Table, limit: usize) -> Self {
        Pages {
            store,
            table,
            limit: limit.max(1),
            after: None,
            buf: Vec::new().into_iter(),
            done: false,
            read: 0,
        }
    }

    /// The next page; empty at the end.
    async fn page(&mut self) -> Result<Vec<Payment>, AnalysisError> {
        if self.done {
            return Ok(Vec::new());
        }
        let after = self.after.take();
        let page = match self.table {
            Table::Payments => self.store.analysis_payments_page(after, self.limit).await?,
            Table::Observed => self.store.analysis_observed_page(after, self.limit).await?,
        };
        self.done = page.len() < self.limit;
        self.after = page.last().map(PaymentKey::of);
        Ok(page)
    }

    async fn next(&mut self) -> Result<Option<Payment>, AnalysisError> {
        loop {
            if let Some(p) = self.buf.next() {
                self.read += 1;
                return Ok(Some(p));
            }
            let page = self.page().await?;
            if page.is_empty() {
                return Ok(None);
            }
            self.buf = page.into_iter();
        }
    }
}

/// The store's key order: (chain, tx_id, idx_outer, idx_inner), text by bytes.
fn key_order(a: &Payment, b: &Payment) -> Ordering {
    (a.chain.as_str(), a.tx_id.as_str(), a.idx_outer, a.idx_inner).cmp(&(
        b.chain.as_str(),
        b.tx_id.as_str(),
        b.idx_outer,
        b.idx_inner,
    ))
}

/// The ledger: record what is new or moved to another block, and return what
/// it holds that the store no longer does (a reorg removed it). Both tables are
/// walked side by side in key order, a page at a time. A payment recorded here
/// is always behind the ledger's read position, so it is never read back.
/// Also says how many current payments it saw.
async fn ledger(store: &Store, limit: usize) -> Result<(Vec<Payment>, usize), AnalysisError> {
    let mut current = Pages::new(store, Table::Payments, limit);
    let mut observed = Pages::new(store, Table::Observed, limit);
    let mut removed = Vec::new();
    let mut fresh = Vec::new();
    let mut c = current.next().await?;
    let mut o = observed.next().await?;
    loop {
        match (c.take(), o.take()) {
            (None, None) => break,
            (Some(cp), None) => {
                fresh.push(cp);
                c = current.next().await?;
            }
            (None, Some(op)) => {
                removed.push(op);
                o = observed.next().await?;
            }
            (Some(cp), Some(op)) => match key_order(&cp, &op) {
                Ordering::Less => {
                    fresh.push(cp);
                    o = Some(op);
                    c = current.next().await?;
                }
                Ordering::Greater => {
                    removed.push(op);
                    c = Some(cp);
                    o = observed.next().await?;
                }
                Ordering::Equal => {
                    if cp.block_hash != op.block_hash {
                        fresh.push(cp);
                    }
                    c = current.next().await?;
                    o = observed.next().await?;
                }
            },
        }
        if fresh.len() >= limit {
            store.analysis_observe(std::mem::take(&mut fresh)).await?;
        }
    }
    if !fresh.is_empty() {
        store.analysis_observe(fresh).await?;
    }
    Ok((removed, current.read))
}

/// The derived row of a correlation, or `None` for one with neither claim
/// nor payment.
#[allow(clippy::too_many_arguments)]
fn match_row(
    claim: Option<&Claim>,
    payment: Option<&Payment>,
    current: bool,
    organic: bool,
    status: Status,
    rule: Option<Rule>,
    detail: &str,
    listings: &Listings,
    now: i64,
) -> Option<MatchRow> {
    let row_key = match (claim, payment) {
        (Some(cl), _) => format!("claim:{}:{}", cl.source, cl.claim_id),
        (None, Some(p)) => format!(
            "payment:{}:{}:{}:{}",
            p.chain, p.tx_id, p.idx_outer, p.idx_inner
        ),
        (None, None) => return None,
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
        listings,
    );
    Some(MatchRow {
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
        status: status.as_str().to_owned(),
        rule: rule.map_or_else(String::new, |r| r.as_str().to_owned()),
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
        is_final: current && payment.is_some_and(|p| p.is_final),
        is_organic: organic,
        detail: detail.to_owned(),
        run_at: now,
    })
}

/// Derived rows on their way to the store, a page at a time.
struct Rows<'a> {
    store: &'a Store,
    run: AnalysisRun,
    limit: usize,
    page: Vec<MatchRow>,
    written: usize,
    by_status: BTreeMap<String, usize>,
}

impl Rows<'_> {
    async fn push(&mut self, row: MatchRow) -> Result<(), AnalysisError> {
        *self.by_status.entry(row.status.clone()).or_insert(0) += 1;
        self.page.push(row);
        if self.page.len() >= self.limit {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), AnalysisError> {
        let page = std::mem::take(&mut self.page);
        self.written += page.len();
        self.store.analysis_stage(self.run, page).await?;
        Ok(())
    }
}

/// Correlate, attribute and filter everything the store holds at `now`; write
/// the organic flags and replace the derived rows.
///
/// The store is read a page at a time, three times: the ledger; the organic
/// filter, which keeps 32 bytes per payment, and the payments some claim or
/// removed payment can reach ([`Wanted`]), which go to the correlation; then
/// every payment once more, for its organic flag and, when nothing can reach
/// it, its `transfer_without_claim` row. So a run's memory grows with the
/// claims, not with the payments. A payment that arrives during a run is
/// judged by what the run saw, and wholly by the next run.
pub async fn run(
    store: &Store,
    config: &AnalysisConfig,
    now: i64,
) -> Result<RunReport, AnalysisError> {
    run_paged(store, config, now, PAGE).await
}

/// [`run`], reading and writing `limit` rows at a time.
async fn run_paged(
    store: &Store,
    config: &AnalysisConfig,
    now: i64,
    limit: usize,
) -> Result<RunReport, AnalysisError> {
    let limit = limit.max(1);
    let (removed, seen) = ledger(store, limit).await?;

    let claims = store.claims().await?;
    let listings = Listings::new(store.analysis_listings().await?);
    let facilitator_addresses: HashSet<String> = store
        .signers()
        .await?
        .into_iter()
        .map(|s| s.address)
        .collect();
    let wanted = Wanted::new(&claims, &removed);

    let mut filter = OrganicBuilder::new(&facilitator_addresses, &config.organic);
    // Room for what the ledger saw and a few more, so that the records are not
    // moved (and briefly held twice) as they grow.
    filter.reserve(seen + seen / 64);
    let mut reachable: Vec<Payment> = Vec::new();
    let mut pages = Pages::new(store, Table::Payments, limit);
    loop {
        let page = pages.page().await?;
        if page.is_empty() {
            break;
        }
        for p in page {
            filter.push(&p);
            if wanted.wants(&p) {
                reachable.push(p);
            }
        }
    }
    let filter = filter.finish();

    let mut rows = Rows {
        store,
        run: store.analysis_begin().await?,
        limit,
        page: Vec::with_capacity(limit),
        written: 0,
        by_status: BTreeMap::new(),
    };
    let correlations = correlate(
        Facts {
            claims: &claims,
            payments: &reachable,
            removed: &removed,
            now,
        },
        &config.correlate,
    );
    for c in &correlations {
        let (payment, current) = match c.payment {
            Some(PaymentRef::Current(i)) => (Some(&reachable[i]), true),
            Some(PaymentRef::Removed(i)) => (Some(&removed[i]), false),
            None => (None, false),
        };
        let organic = current && payment.is_some_and(|p| filter.is_organic(p));
        if let Some(row) = match_row(
            c.claim.map(|i| &claims[i]),
            payment,
            current,
            organic,
            c.status,
            c.rule,
            &c.detail,
            &listings,
            now,
        ) {
            rows.push(row).await?;
        }
    }
    drop(correlations);
    drop(reachable);

    let mut payments = 0usize;
    let mut organic_payments = 0usize;
    let mut organic_changed = 0u64;
    let mut changed: Vec<(PaymentKey, bool)> = Vec::new();
    let mut pages = Pages::new(store, Table::Payments, limit);
    loop {
        let page = pages.page().await?;
        if page.is_empty() {
            break;
        }
        for p in &page {
            payments += 1;
            let organic = filter.is_organic(p);
            organic_payments += usize::from(organic);
            if p.is_organic != organic {
                changed.push((PaymentKey::of(p), organic));
            }
            // What a claim can reach was written with the correlation (or
            // arrived since, and waits for the next run).
            if wanted.wants(p) {
                continue;
            }
            if let Some(row) = match_row(
                None,
                Some(p),
                true,
                organic,
                Status::TransferWithoutClaim,
                None,
                "",
                &listings,
                now,
            ) {
                rows.push(row).await?;
            }
        }
        if changed.len() >= FLAG_BATCH.min(limit * 10) {
            organic_changed += store
                .analysis_set_organic(std::mem::take(&mut changed))
                .await?;
        }
    }
    if !changed.is_empty() {
        organic_changed += store.analysis_set_organic(changed).await?;
    }
    rows.flush().await?;

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
        payments,
        removed_payments: removed.len(),
        claims: claims.len(),
        rows: rows.written,
        by_status: rows.by_status,
        organic_changed,
        organic_payments,
    };
    store.analysis_commit(rows.run, flags, now).await?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use x402scope_store::{StoreUrl, migrate, open};

    use super::*;

    const BASE: &str = "eip155:8453";
    const SOL: &str = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp";
    const USDC: &str = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";

    fn payment(i: u64) -> Payment {
        let chain = if i.is_multiple_of(5) { SOL } else { BASE };
        Payment {
            chain: chain.into(),
            // Payments 50 and 51 share a transaction.
            tx_id: format!("0x{:064x}", if i == 51 { 50 } else { i }),
            idx_outer: (i % 3) as u32,
            idx_inner: (i % 2) as u32,
            block_number: i,
            block_hash: format!("0xh{i}"),
            block_time: 1_750_000_000 + (i as i64) * 60,
            asset: USDC.into(),
            payer: format!("0x{:040x}", 0xb0 + i % 7),
            pay_to: format!("0x{:040x}", 0xb0 + (i * 3) % 5),
            amount: Amount::from_u64(1_000 + (i % 4) * 500_000),
            nonce: format!("0xn{i}"),
            facilitator: "fac".into(),
            tx_from: format!("0x{:040x}", 0xfa + i % 2),
            method: "eip3009".into(),
            is_final: !i.is_multiple_of(4),
            is_organic: i.is_multiple_of(3),
        }
    }

    fn claim(id: &str, p: &Payment, tx: bool, amount: u64) -> Claim {
        Claim {
            source: "hook".into(),
            claim_id: id.into(),
            network: p.chain.clone(),
            tx_id: if tx { p.tx_id.clone() } else { String::new() },
            payer: p.payer.clone(),
            pay_to: p.pay_to.clone(),
            asset: p.asset.clone(),
            amount: Amount::from_u64(amount),
            resource_url: String::new(),
            facilitator: "fac".into(),
            success: true,
            claimed_at: p.block_time + 5,
            reference: String::new(),
        }
    }

    /// A store with payments, claims of every kind of match, and a ledger that
    /// holds payments a reorg removed since.
    async fn world(dir: &std::path::Path) -> Store {
        let url = StoreUrl::Sqlite(dir.join("x402scope.db"));
        migrate(&url).await.unwrap();
        let store = open(&url).await.unwrap();
        let payments: Vec<Payment> = (0..60).map(payment).collect();
        // The first run's ledger, then a reorg: 7 and 8 gone, 9 moved to another block.
        store
            .analysis_observe((0..12).map(payment).collect())
            .await
            .unwrap();
        let mut kept = payments.clone();
        kept.retain(|p| p.block_number != 7 && p.block_number != 8);
        kept[7].block_hash = "0xmoved".into();
        store.commit_payments(kept, vec![], None).await.unwrap();
        let claims = vec![
            claim("by-tx", &payments[10], true, 1_000 + (10 % 4) * 500_000),
            claim("by-tx-removed", &payments[7], true, 1),
            claim("pending", &payments[12], true, 1_000),
            claim("fuzzy", &payments[22], false, 1_000 + (22 % 4) * 500_000),
            claim("nothing", &payments[30], false, 3),
            claim("wrong-amount", &payments[41], true, 4),
        ];
        store.insert_claims(claims).await.unwrap();
        store
    }

    /// Every page size, down to one row, gives the same run: the ledger's
    /// walk, the filter, and the staged rows meet at every boundary.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_is_the_same_at_every_page_size() {
        let config = AnalysisConfig {
            organic: OrganicConfig {
                min_seller_revenue_micros: 1_000_000,
                ..OrganicConfig::default()
            },
            ..AnalysisConfig::default()
        };
        let now = 1_750_010_000;
        let mut results = Vec::new();
        for limit in [1, 2, 3, 7, 64, PAGE] {
            let dir = tempfile::tempdir().unwrap();
            let store = world(dir.path()).await;
            let first = run_paged(&store, &config, now, limit).await.unwrap();
            let second = run_paged(&store, &config, now, limit).await.unwrap();
            results.push((
                limit,
                first,
                second,
                store.analysis_matches(None).await.unwrap(),
                store.analysis_address_flags().await.unwrap(),
                store.analysis_payments().await.unwrap(),
                store.analysis_observed().await.unwrap(),
            ));
        }
        let (_, first, second, rows, flags, payments, observed) = &results[0];
        assert_eq!(first.payments, 58);
        assert_eq!(first.removed_payments, 2);
        // Six claims; 54 payments no claim took; 8, removed with nothing in its place.
        assert_eq!(first.rows, 6 + 54 + 1, "{first:?}");
        assert_eq!(second.organic_changed, 0, "the second run changed no flag");
        assert_eq!(rows.len(), first.rows);
        let statuses: Vec<(&str, usize)> = first
            .by_status
            .iter()
            .map(|(s, n)| (s.as_str(), *n))
            .collect();
        assert_eq!(
            statuses,
            [
                ("amount_mismatch", 1),
                ("claim_without_transfer", 1),
                ("matched", 2),
                ("matched_pending_finality", 1),
                ("orphaned_by_reorg", 2),
                ("transfer_without_claim", 54),
            ]
        );
        assert!(!flags.is_empty());
        assert_eq!(observed.len(), 60, "the ledger keeps removed payments");
        for (limit, f, s, r, fl, p, o) in &results[1..] {
            assert_eq!((f, s), (first, second), "report, pages of {limit}");
            assert_eq!(r, rows, "rows, pages of {limit}");
            assert_eq!(fl, flags, "address flags, pages of {limit}");
            assert_eq!(p, payments, "organic flags, pages of {limit}");
            assert_eq!(o, observed, "ledger, pages of {limit}");
        }
    }
}
