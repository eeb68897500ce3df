//! The data behind every page and endpoint: one function per page produces it,
//! and two renderers (HTML and JSON, plus CSV for lists) show it, so a page and
//! its API cannot drift.

use std::collections::{BTreeMap, HashSet};

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use x402scope_core::Amount;
use x402scope_store::{Filter, Payment, TopEntry, TopKind, TxCursor};

use crate::AppState;
use crate::error::WebError;
use crate::status::PartStatus;
use crate::validate::{self, Format, Range};

/// Decimals of the stablecoins x402 settles in (USDC on every chain so far);
/// volumes are shown in whole units with this many decimals.
pub const DISPLAY_DECIMALS: usize = 6;

/// An atomic amount in whole units, exact: `1500000` → `"1.50"`, `1000` → `"0.001"`.
pub fn units(a: &Amount) -> String {
    units_of_digits(&a.to_string())
}

/// [`units`] of an amount already written in decimal digits.
fn units_of_digits(digits: &str) -> String {
    let (int, frac) = if digits.len() > DISPLAY_DECIMALS {
        digits.split_at(digits.len() - DISPLAY_DECIMALS)
    } else {
        ("0", digits)
    };
    // Leading zeros of a short fraction, then its digits without trailing zeros.
    let pad = DISPLAY_DECIMALS - frac.len();
    let frac = frac.trim_end_matches('0');
    let mut out = String::with_capacity(int.len() + 1 + DISPLAY_DECIMALS);
    out.push_str(int);
    out.push('.');
    if frac.is_empty() {
        out.push_str("00");
        return out;
    }
    for _ in 0..pad {
        out.push('0');
    }
    out.push_str(frac);
    if pad + frac.len() < 2 {
        out.push('0');
    }
    out
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// An empty query value (a blank form field) counts as absent.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

// ---- shared shapes ----

/// Totals of a set of payments.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Totals {
    pub count: u64,
    /// Atomic units, exact.
    pub volume: String,
    /// Whole units (6 decimals), exact.
    pub volume_units: String,
    pub buyers: u64,
    pub sellers: u64,
}

/// One bucket of a series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeriesPoint {
    /// Bucket start, Unix seconds.
    pub start: i64,
    pub count: u64,
    pub volume: String,
    pub volume_units: String,
    pub buyers: u64,
    pub sellers: u64,
}

/// One entry of a ranking.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopRow {
    pub key: String,
    pub count: u64,
    pub volume: String,
    pub volume_units: String,
    /// Distinct counterparties (buyers of a seller or facilitator, sellers of a buyer).
    pub counterparties: u64,
}

impl From<TopEntry> for TopRow {
    fn from(e: TopEntry) -> Self {
        TopRow {
            key: e.key,
            count: e.count,
            volume: e.volume.to_string(),
            volume_units: units(&e.volume),
            counterparties: e.counterparties,
        }
    }
}

/// One payment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TxRow {
    /// CAIP-2.
    pub network: String,
    pub tx_id: String,
    pub idx_outer: u32,
    pub idx_inner: u32,
    pub block_number: u64,
    /// Unix seconds.
    pub block_time: i64,
    /// `YYYY-MM-DD HH:MM` UTC.
    pub time: String,
    pub asset: String,
    pub payer: String,
    pub pay_to: String,
    pub amount: String,
    pub amount_units: String,
    pub facilitator: String,
    pub tx_from: String,
    pub method: String,
    pub is_final: bool,
    pub is_organic: bool,
}

impl From<&Payment> for TxRow {
    fn from(p: &Payment) -> Self {
        TxRow::from(p.clone())
    }
}

impl From<Payment> for TxRow {
    /// Moves the payment's strings (a list page converts many rows).
    fn from(p: Payment) -> Self {
        let amount = p.amount.to_string();
        TxRow {
            network: p.chain,
            tx_id: p.tx_id,
            idx_outer: p.idx_outer,
            idx_inner: p.idx_inner,
            block_number: p.block_number,
            block_time: p.block_time,
            time: crate::chart::utc(p.block_time),
            asset: p.asset,
            payer: p.payer,
            pay_to: p.pay_to,
            amount_units: units_of_digits(&amount),
            amount,
            facilitator: p.facilitator,
            tx_from: p.tx_from,
            method: p.method,
            is_final: p.is_final,
            is_organic: p.is_organic,
        }
    }
}

fn totals(o: &x402scope_store::Overview) -> Totals {
    Totals {
        count: o.count,
        volume: o.volume.to_string(),
        volume_units: units(&o.volume),
        buyers: o.buyers,
        sellers: o.sellers,
    }
}

fn series(buckets: Vec<x402scope_store::Bucket>) -> Vec<SeriesPoint> {
    buckets
        .into_iter()
        .map(|b| SeriesPoint {
            start: b.start,
            count: b.count,
            volume: b.volume.to_string(),
            volume_units: units(&b.volume),
            buyers: b.buyers,
            sellers: b.sellers,
        })
        .collect()
}

/// The chart points of a series: (count, volume in units).
pub fn chart_points(s: &[SeriesPoint]) -> (Vec<crate::chart::Point>, Vec<crate::chart::Point>) {
    let count = s
        .iter()
        .map(|p| crate::chart::Point {
            t: p.start,
            v: p.count as f64,
        })
        .collect();
    let volume = s
        .iter()
        .map(|p| crate::chart::Point {
            t: p.start,
            v: p.volume_units.parse().unwrap_or(0.0),
        })
        .collect();
    (count, volume)
}

async fn recent(state: &AppState, filter: &Filter, n: usize) -> Result<Vec<TxRow>, WebError> {
    let page = state.store().transactions(filter, None, n).await?;
    Ok(page.items.iter().map(TxRow::from).collect())
}

// ---- overview ----

/// Parameters of the overview.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OverviewQuery {
    /// `24h`, `7d`, `30d` (default) or `all`.
    #[param(pattern = "^(24h|7d|30d|all)$")]
    pub range: Option<String>,
    /// Only this network (CAIP-2).
    #[param(pattern = "^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$")]
    pub network: Option<String>,
    /// Only payments the organic filter did not flag.
    pub organic: Option<bool>,
}

/// The overview page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OverviewData {
    pub range: String,
    pub network: Option<String>,
    pub organic: bool,
    /// Start of the range (Unix seconds), absent for all time.
    pub from: Option<i64>,
    pub to: i64,
    pub bucket_secs: u32,
    pub totals: Totals,
    pub series: Vec<SeriesPoint>,
    pub top_sellers: Vec<TopRow>,
    pub top_facilitators: Vec<TopRow>,
}

pub async fn overview(
    state: &AppState,
    q: &OverviewQuery,
) -> Result<std::sync::Arc<OverviewData>, WebError> {
    let range = Range::parse(given(&q.range))?;
    let network = given(&q.network)
        .map(|n| validate::network("network", n))
        .transpose()?;
    let organic = q.organic.unwrap_or(false);
    let key = format!("overview|{}|{network:?}|{organic}", range.as_str());
    let st = state.clone();
    state
        .cache()
        .get(key, move || async move {
            let to = now();
            let from = range.span().map(|s| to - s);
            let filter = Filter {
                from,
                networks: network.iter().cloned().collect(),
                organic_only: organic,
                ..Filter::default()
            };
            let store = st.store();
            let (o, buckets, sellers, facs) = tokio::try_join!(
                store.overview(&filter),
                store.timeseries(&filter, range.bucket()),
                store.top(&filter, TopKind::Sellers, 10),
                store.top(&filter, TopKind::Facilitators, 10),
            )?;
            Ok(OverviewData {
                range: range.as_str().to_owned(),
                network,
                organic,
                from,
                to,
                bucket_secs: range.bucket(),
                totals: totals(&o),
                series: series(buckets),
                top_sellers: sellers.into_iter().map(TopRow::from).collect(),
                top_facilitators: facs.into_iter().map(TopRow::from).collect(),
            })
        })
        .await
}

// ---- transactions ----

/// Parameters of the transaction list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TxQuery {
    /// Network (CAIP-2).
    #[param(pattern = "^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$")]
    pub network: Option<String>,
    /// Facilitator id.
    #[param(pattern = "^[A-Za-z0-9_.-]{1,64}$")]
    pub facilitator: Option<String>,
    /// Buyer address.
    #[param(pattern = "^(0x[0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44})$")]
    pub payer: Option<String>,
    /// Seller address.
    #[param(pattern = "^(0x[0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44})$")]
    pub pay_to: Option<String>,
    /// Resource URL (payments that a claim links to it).
    #[param(pattern = "^https?://[^\\s]{1,2040}$")]
    pub resource: Option<String>,
    /// Smallest amount, atomic units, inclusive.
    #[param(pattern = "^[0-9]{1,77}$")]
    pub min_amount: Option<String>,
    /// Largest amount, atomic units, inclusive.
    #[param(pattern = "^[0-9]{1,77}$")]
    pub max_amount: Option<String>,
    /// Block time lower bound (Unix seconds, inclusive).
    #[param(minimum = 0, maximum = 4_102_444_800_i64)]
    pub from: Option<i64>,
    /// Block time upper bound (Unix seconds, exclusive).
    #[param(minimum = 0, maximum = 4_102_444_800_i64)]
    pub to: Option<i64>,
    /// The previous page's `next`.
    #[param(
        pattern = "^[0-9]{1,12}\\.[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}\\.(0x[0-9a-f]{64}|[1-9A-HJ-NP-Za-km-z]{64,88})\\.[0-9]{1,9}\\.[0-9]{1,9}$"
    )]
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

impl TxQuery {
    /// The query string of the next page.
    pub fn next_query(&self, next: &str) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (k, v) in [
            ("network", &self.network),
            ("facilitator", &self.facilitator),
            ("payer", &self.payer),
            ("pay_to", &self.pay_to),
            ("resource", &self.resource),
            ("min_amount", &self.min_amount),
            ("max_amount", &self.max_amount),
        ] {
            if let Some(v) = given(v) {
                pairs.push((k, v.to_owned()));
            }
        }
        if let Some(f) = self.from {
            pairs.push(("from", f.to_string()));
        }
        if let Some(t) = self.to {
            pairs.push(("to", t.to_string()));
        }
        if let Some(l) = self.limit {
            pairs.push(("limit", l.to_string()));
        }
        pairs.push(("cursor", next.to_owned()));
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::url_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// A page of the transaction list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TxListData {
    pub items: Vec<TxRow>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next: Option<String>,
    /// This page as JSON, written by the first reader that asks (a cached
    /// page is then served without serializing it again).
    #[serde(skip)]
    pub json: std::sync::OnceLock<axum::body::Bytes>,
}

impl TxListData {
    pub fn new(items: Vec<TxRow>, next: Option<String>) -> Self {
        TxListData {
            items,
            next,
            json: std::sync::OnceLock::new(),
        }
    }
}

/// Rows examined per store page when filtering by resource or amount.
const SCAN_PAGE: usize = 500;
/// Store pages examined for one answer when filtering by resource or amount;
/// the answer then ends early with a `next` cursor.
const SCAN_PAGES: usize = 20;

pub async fn transactions(
    state: &AppState,
    q: &TxQuery,
) -> Result<(std::sync::Arc<TxListData>, Format), WebError> {
    let format = Format::parse(given(&q.format))?;
    let limit = validate::limit(q.limit)?;
    let (from, to) = validate::time_range(q.from, q.to)?;
    let network = given(&q.network)
        .map(|n| validate::network("network", n))
        .transpose()?;
    let facilitator = given(&q.facilitator)
        .map(|f| validate::facilitator("facilitator", f))
        .transpose()?;
    let payer = given(&q.payer)
        .map(|a| validate::address("payer", a))
        .transpose()?;
    let pay_to = given(&q.pay_to)
        .map(|a| validate::address("pay_to", a))
        .transpose()?;
    let resource = given(&q.resource)
        .map(|r| validate::resource("resource", r))
        .transpose()?;
    let min = given(&q.min_amount)
        .map(|a| validate::amount("min_amount", a))
        .transpose()?;
    let max = given(&q.max_amount)
        .map(|a| validate::amount("max_amount", a))
        .transpose()?;
    // An empty amount or time range is a valid question with no answer.
    let empty = matches!((min, max), (Some(lo), Some(hi)) if lo > hi)
        || matches!((from, to), (Some(f), Some(t)) if f >= t);
    let cursor = given(&q.cursor).map(validate::cursor).transpose()?;
    let filter = Filter {
        from,
        to,
        networks: network.into_iter().collect(),
        facilitator,
        payer,
        pay_to,
        ..Filter::default()
    };
    if empty {
        let none = TxListData::new(Vec::new(), None);
        return Ok((std::sync::Arc::new(none), format));
    }
    // Uncached, skip the key (a Debug print of the filter) altogether.
    let data = if state.cache().is_off() {
        std::sync::Arc::new(
            list_transactions(state, filter, resource, min, max, cursor, limit).await?,
        )
    } else {
        let key = format!("tx|{filter:?}|{resource:?}|{min:?}|{max:?}|{cursor:?}|{limit}");
        let st = state.clone();
        state
            .cache()
            .get(key, move || async move {
                list_transactions(&st, filter, resource, min, max, cursor, limit).await
            })
            .await?
    };
    Ok((data, format))
}

async fn list_transactions(
    state: &AppState,
    filter: Filter,
    resource: Option<String>,
    min: Option<Amount>,
    max: Option<Amount>,
    cursor: Option<TxCursor>,
    limit: usize,
) -> Result<TxListData, WebError> {
    let store = state.store();
    if resource.is_none() && min.is_none() && max.is_none() {
        let page = store.transactions(&filter, cursor.as_ref(), limit).await?;
        let next = page.next.map(|c| c.encode());
        return Ok(TxListData::new(
            page.items.into_iter().map(TxRow::from).collect(),
            next,
        ));
    }
    // Filters the store does not index: scan pages in order, keep what matches.
    let linked: Option<HashSet<(String, String)>> = match &resource {
        Some(r) => Some(
            store
                .claims()
                .await?
                .into_iter()
                .filter(|c| &c.resource_url == r)
                .map(|c| (c.network, c.tx_id))
                .collect(),
        ),
        None => None,
    };
    if linked.as_ref().is_some_and(HashSet::is_empty) {
        return Ok(TxListData::new(Vec::new(), None));
    }
    let keep = |p: &Payment| {
        min.is_none_or(|m| p.amount >= m)
            && max.is_none_or(|m| p.amount <= m)
            && linked
                .as_ref()
                .is_none_or(|set| set.contains(&(p.chain.clone(), p.tx_id.clone())))
    };
    let mut items = Vec::new();
    let mut after = cursor;
    for _ in 0..SCAN_PAGES {
        let page = store
            .transactions(&filter, after.as_ref(), SCAN_PAGE)
            .await?;
        let more = page.next.is_some();
        let n = page.items.len();
        for (i, p) in page.items.iter().enumerate() {
            after = Some(TxCursor::after(p));
            if keep(p) {
                items.push(TxRow::from(p));
                if items.len() == limit {
                    let last = i + 1 == n && !more;
                    let next = if last {
                        None
                    } else {
                        after.map(|c| c.encode())
                    };
                    return Ok(TxListData::new(items, next));
                }
            }
        }
        if !more {
            return Ok(TxListData::new(items, None));
        }
    }
    Ok(TxListData::new(items, after.map(|c| c.encode())))
}

// ---- facilitators ----

/// One facilitator in the list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FacilitatorRow {
    pub id: String,
    pub name: String,
    pub url: String,
    pub count: u64,
    pub volume: String,
    pub volume_units: String,
    pub buyers: u64,
}

/// The facilitator list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FacilitatorsData {
    pub items: Vec<FacilitatorRow>,
}

/// Parameters of a list that can be exported.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

impl ListQuery {
    pub fn format(&self) -> Result<Format, WebError> {
        Format::parse(given(&self.format))
    }
}

pub async fn facilitators(state: &AppState) -> Result<std::sync::Arc<FacilitatorsData>, WebError> {
    let st = state.clone();
    state
        .cache()
        .get("facilitators".into(), move || async move {
            let store = st.store();
            let all = Filter::default();
            let (known, top) = tokio::try_join!(
                store.facilitators(),
                store.top(&all, TopKind::Facilitators, 1000)
            )?;
            let mut by: BTreeMap<String, FacilitatorRow> = known
                .into_iter()
                .map(|f| {
                    (
                        f.id.clone(),
                        FacilitatorRow {
                            id: f.id,
                            name: f.name,
                            url: f.url,
                            count: 0,
                            volume: "0".into(),
                            volume_units: "0.00".into(),
                            buyers: 0,
                        },
                    )
                })
                .collect();
            for e in top {
                let row = by.entry(e.key.clone()).or_insert_with(|| FacilitatorRow {
                    id: e.key.clone(),
                    name: e.key.clone(),
                    url: String::new(),
                    count: 0,
                    volume: String::new(),
                    volume_units: String::new(),
                    buyers: 0,
                });
                row.count = e.count;
                row.volume = e.volume.to_string();
                row.volume_units = units(&e.volume);
                row.buyers = e.counterparties;
            }
            let mut items: Vec<FacilitatorRow> = by.into_values().collect();
            items.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
            Ok(FacilitatorsData { items })
        })
        .await
}

/// One facilitator's page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FacilitatorData {
    pub id: String,
    pub name: String,
    pub url: String,
    pub totals: Totals,
    /// Daily buckets, all time.
    pub series: Vec<SeriesPoint>,
    pub top_sellers: Vec<TopRow>,
    pub recent: Vec<TxRow>,
}

pub async fn facilitator(
    state: &AppState,
    id: &str,
) -> Result<std::sync::Arc<FacilitatorData>, WebError> {
    let id = validate::facilitator("id", id)?;
    let st = state.clone();
    state
        .cache()
        .get(format!("facilitator|{id}"), move || async move {
            let store = st.store();
            let filter = Filter {
                facilitator: Some(id.clone()),
                ..Filter::default()
            };
            let (known, o, buckets, sellers) = tokio::try_join!(
                store.facilitators(),
                store.overview(&filter),
                store.timeseries(&filter, 86_400),
                store.top(&filter, TopKind::Sellers, 10),
            )?;
            let known = known.into_iter().find(|f| f.id == id);
            if known.is_none() && o.count == 0 {
                return Err(WebError::NotFound(format!(
                    "no facilitator {id:?}: it is not in the registry and settled no payment"
                )));
            }
            let recent = recent(&st, &filter, 20).await?;
            let (name, url) =
                known.map_or_else(|| (id.clone(), String::new()), |f| (f.name, f.url));
            Ok(FacilitatorData {
                id,
                name,
                url,
                totals: totals(&o),
                series: series(buckets),
                top_sellers: sellers.into_iter().map(TopRow::from).collect(),
                recent,
            })
        })
        .await
}

// ---- networks ----

/// One network.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NetworkRow {
    pub network: String,
    pub totals: Totals,
    /// The indexer's checkpoint.
    pub last_block: Option<u64>,
    /// The indexer reading it, if one runs in this process.
    pub source: Option<PartStatus>,
}

/// The network list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NetworksData {
    pub items: Vec<NetworkRow>,
}

pub async fn networks(state: &AppState) -> Result<std::sync::Arc<NetworksData>, WebError> {
    let st = state.clone();
    state
        .cache()
        .get("networks".into(), move || async move {
            let parts = st.status().snapshot();
            let mut names: Vec<String> = st.config().networks.clone();
            names.extend(parts.iter().filter_map(|p| p.network.clone()));
            names.sort();
            names.dedup();
            let mut items = Vec::with_capacity(names.len());
            for n in names {
                let filter = Filter {
                    networks: vec![n.clone()],
                    ..Filter::default()
                };
                let (o, cp) =
                    tokio::try_join!(st.store().overview(&filter), st.store().checkpoint(&n))?;
                items.push(NetworkRow {
                    source: parts
                        .iter()
                        .find(|p| p.network.as_deref() == Some(&n))
                        .cloned(),
                    network: n,
                    totals: totals(&o),
                    last_block: cp.map(|c| c.block),
                });
            }
            Ok(NetworksData { items })
        })
        .await
}

// ---- addresses ----

/// One side (buyer or seller) of an address.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SideData {
    pub count: u64,
    pub volume: String,
    pub volume_units: String,
    pub counterparties: u64,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
}

impl From<&x402scope_store::Side> for SideData {
    fn from(s: &x402scope_store::Side) -> Self {
        SideData {
            count: s.count,
            volume: s.volume.to_string(),
            volume_units: units(&s.volume),
            counterparties: s.counterparties,
            first_seen: s.first_seen,
            last_seen: s.last_seen,
        }
    }
}

/// A resource a seller was paid for, from claims.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResourceUse {
    pub resource_url: String,
    pub claims: u64,
    pub volume: String,
    pub volume_units: String,
}

/// Claimed (off-chain) against settled (on-chain) revenue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reconciliation {
    /// Successful claims naming this seller.
    pub claims: u64,
    pub claimed_volume: String,
    pub onchain_count: u64,
    pub onchain_volume: String,
    /// Claims whose transaction is among the on-chain payments to this seller.
    pub matched_claims: u64,
    /// Rows of the latest analysis run per correlation status (`matched`,
    /// `amount_mismatch`, `transfer_without_claim`, …); empty before a run.
    pub statuses: Vec<StatusCount>,
    /// Rows of the latest analysis run per price status (`price_match`, …).
    pub price_statuses: Vec<StatusCount>,
}

/// How many derived rows have one status, and their on-chain amount.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusCount {
    pub status: String,
    pub rows: u64,
    /// Atomic units of the rows' payments (0 for claims without a payment).
    pub amount: String,
}

fn status_counts<'a>(rows: impl Iterator<Item = (&'a str, &'a Amount)>) -> Vec<StatusCount> {
    let mut by: BTreeMap<&str, (u64, U256)> = BTreeMap::new();
    for (status, amount) in rows.filter(|(s, _)| !s.is_empty()) {
        let e = by.entry(status).or_insert((0, U256::ZERO));
        e.0 += 1;
        e.1 = e.1.saturating_add(amount.0);
    }
    by.into_iter()
        .map(|(status, (rows, v))| StatusCount {
            status: status.to_string(),
            rows,
            amount: v.to_string(),
        })
        .collect()
}

/// A seller's page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SellerData {
    pub address: String,
    pub revenue: SideData,
    pub facilitators: Vec<String>,
    /// Daily revenue.
    pub series: Vec<SeriesPoint>,
    pub top_buyers: Vec<TopRow>,
    pub recent: Vec<TxRow>,
    pub resources: Vec<ResourceUse>,
    pub reconciliation: Reconciliation,
}

/// Payments to a seller examined when matching claims.
const RECONCILE_ROWS: usize = 1000;

pub async fn seller(
    state: &AppState,
    address: &str,
) -> Result<std::sync::Arc<SellerData>, WebError> {
    let address = validate::address("address", address)?;
    let st = state.clone();
    state
        .cache()
        .get(format!("seller|{address}"), move || async move {
            let store = st.store();
            let filter = Filter {
                pay_to: Some(address.clone()),
                ..Filter::default()
            };
            let (summary, buckets, buyers, claims, page, matches) = tokio::try_join!(
                store.address_summary(&address),
                store.timeseries(&filter, 86_400),
                store.top(&filter, TopKind::Buyers, 10),
                store.claims(),
                store.transactions(&filter, None, RECONCILE_ROWS),
                store.analysis_matches(Some(&address)),
            )?;
            let onchain: HashSet<(&str, &str)> = page
                .items
                .iter()
                .map(|p| (p.chain.as_str(), p.tx_id.as_str()))
                .collect();
            let mut by: BTreeMap<String, (u64, U256)> = BTreeMap::new();
            let (mut n, mut vol, mut matched) = (0u64, U256::ZERO, 0u64);
            for c in claims.iter().filter(|c| c.success && c.pay_to == address) {
                n += 1;
                vol = vol.saturating_add(c.amount.0);
                if onchain.contains(&(c.network.as_str(), c.tx_id.as_str())) {
                    matched += 1;
                }
                if !c.resource_url.is_empty() {
                    let e = by.entry(c.resource_url.clone()).or_insert((0, U256::ZERO));
                    e.0 += 1;
                    e.1 = e.1.saturating_add(c.amount.0);
                }
            }
            let resources = by
                .into_iter()
                .map(|(resource_url, (claims, v))| ResourceUse {
                    resource_url,
                    claims,
                    volume: v.to_string(),
                    volume_units: units(&Amount(v)),
                })
                .collect();
            Ok(SellerData {
                revenue: SideData::from(&summary.as_seller),
                reconciliation: Reconciliation {
                    claims: n,
                    claimed_volume: vol.to_string(),
                    onchain_count: summary.as_seller.count,
                    onchain_volume: summary.as_seller.volume.to_string(),
                    matched_claims: matched,
                    statuses: status_counts(matches.iter().map(|r| (r.status.as_str(), &r.amount))),
                    price_statuses: status_counts(
                        matches.iter().map(|r| (r.price_status.as_str(), &r.amount)),
                    ),
                },
                address,
                facilitators: summary.facilitators,
                series: series(buckets),
                top_buyers: buyers.into_iter().map(TopRow::from).collect(),
                recent: page.items.iter().take(20).map(TxRow::from).collect(),
                resources,
            })
        })
        .await
}

/// A buyer's page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BuyerData {
    pub address: String,
    pub spending: SideData,
    pub facilitators: Vec<String>,
    pub top_sellers: Vec<TopRow>,
    pub recent: Vec<TxRow>,
}

pub async fn buyer(state: &AppState, address: &str) -> Result<std::sync::Arc<BuyerData>, WebError> {
    let address = validate::address("address", address)?;
    let st = state.clone();
    state
        .cache()
        .get(format!("buyer|{address}"), move || async move {
            let store = st.store();
            let filter = Filter {
                payer: Some(address.clone()),
                ..Filter::default()
            };
            let (summary, sellers, page) = tokio::try_join!(
                store.address_summary(&address),
                store.top(&filter, TopKind::Sellers, 10),
                store.transactions(&filter, None, 20),
            )?;
            Ok(BuyerData {
                spending: SideData::from(&summary.as_buyer),
                address,
                facilitators: summary.facilitators,
                top_sellers: sellers.into_iter().map(TopRow::from).collect(),
                recent: page.items.iter().map(TxRow::from).collect(),
            })
        })
        .await
}

// ---- resources and probes ----

/// One probe run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProbeRunRow {
    pub id: String,
    pub url: String,
    pub started_at: i64,
    pub time: String,
    /// 0 when no response arrived.
    pub status_code: u16,
    pub latency_ms: u32,
    pub error: String,
}

impl From<&x402scope_store::ProbeRun> for ProbeRunRow {
    fn from(r: &x402scope_store::ProbeRun) -> Self {
        ProbeRunRow {
            id: r.id.clone(),
            url: r.url.clone(),
            started_at: r.started_at,
            time: crate::chart::utc(r.started_at),
            status_code: r.status_code,
            latency_ms: r.latency_ms,
            error: r.error.clone(),
        }
    }
}

/// One compliance finding.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FindingRow {
    pub rule_id: String,
    /// `must`, `should` or `interop`.
    pub severity: String,
    pub message: String,
    pub evidence: String,
}

/// A listed price at a time.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PricePoint {
    pub observed_at: i64,
    pub network: String,
    pub amount: String,
    pub amount_units: String,
}

/// One resource.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResourceRow {
    pub resource_url: String,
    /// Successful claims naming it.
    pub count: u64,
    pub volume: String,
    pub volume_units: String,
    /// `pass` (no `must` finding in the last probe), `fail`, or `unknown` (never probed).
    pub compliance: String,
    pub last_probe: Option<ProbeRunRow>,
    /// Share of the last probes that got an HTTP answer, in percent.
    pub uptime_percent: Option<f64>,
    pub price_history: Vec<PricePoint>,
}

/// The resource list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResourcesData {
    pub items: Vec<ResourceRow>,
}

/// Probes used for uptime.
const UPTIME_RUNS: usize = 50;

fn compliance(findings: &[x402scope_store::ProbeFinding], probed: bool) -> String {
    if !probed {
        "unknown".into()
    } else if findings.iter().any(|f| f.severity == "must") {
        "fail".into()
    } else {
        "pass".into()
    }
}

pub async fn resources(state: &AppState) -> Result<std::sync::Arc<ResourcesData>, WebError> {
    let st = state.clone();
    state
        .cache()
        .get("resources".into(), move || async move {
            let store = st.store();
            let top = store.top_resources(100).await?;
            let mut items = Vec::with_capacity(top.len());
            for r in top {
                let (runs, listings) = tokio::try_join!(
                    store.probe_runs(&r.resource_url, UPTIME_RUNS),
                    store.listing_history(&r.resource_url)
                )?;
                let findings = match runs.first() {
                    Some(run) => store.probe_findings(&run.id).await?,
                    None => Vec::new(),
                };
                let up = runs.iter().filter(|r| r.status_code != 0).count();
                items.push(ResourceRow {
                    count: r.count,
                    volume: r.volume.to_string(),
                    volume_units: units(&r.volume),
                    compliance: compliance(&findings, !runs.is_empty()),
                    last_probe: runs.first().map(ProbeRunRow::from),
                    uptime_percent: (!runs.is_empty())
                        .then(|| 100.0 * up as f64 / runs.len() as f64),
                    price_history: listings
                        .iter()
                        .map(|l| PricePoint {
                            observed_at: l.observed_at,
                            network: l.network.clone(),
                            amount: l.amount.to_string(),
                            amount_units: units(&l.amount),
                        })
                        .collect(),
                    resource_url: r.resource_url,
                });
            }
            Ok(ResourcesData { items })
        })
        .await
}

/// Parameters of a probe report.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProbeQuery {
    /// The probed endpoint.
    #[param(required = true, pattern = "^https?://[^\\s]{1,2040}$")]
    pub url: Option<String>,
    /// `json` (default) or `csv` (the runs and the newest run's findings).
    #[param(pattern = "^(json|csv)$")]
    pub format: Option<String>,
}

impl ProbeQuery {
    pub fn format(&self) -> Result<Format, WebError> {
        Format::parse(given(&self.format))
    }
}

/// A probe report: an endpoint's runs and the findings of the newest.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProbeReportData {
    pub url: String,
    pub compliance: String,
    pub runs: Vec<ProbeRunRow>,
    pub findings: Vec<FindingRow>,
}

pub async fn probe_report(
    state: &AppState,
    q: &ProbeQuery,
) -> Result<std::sync::Arc<ProbeReportData>, WebError> {
    let url = match given(&q.url) {
        Some(u) => validate::resource("url", u)?,
        None => return Err(WebError::bad("`url`: missing (the probed endpoint's URL)")),
    };
    let st = state.clone();
    state
        .cache()
        .get(format!("probe|{url}"), move || async move {
            let runs = st.store().probe_runs(&url, UPTIME_RUNS).await?;
            let findings = match runs.first() {
                Some(r) => st.store().probe_findings(&r.id).await?,
                None => Vec::new(),
            };
            Ok(ProbeReportData {
                compliance: compliance(&findings, !runs.is_empty()),
                runs: runs.iter().map(ProbeRunRow::from).collect(),
                findings: findings
                    .into_iter()
                    .map(|f| FindingRow {
                        rule_id: f.rule_id,
                        severity: f.severity,
                        message: f.message,
                        evidence: f.evidence,
                    })
                    .collect(),
                url,
            })
        })
        .await
}

// ---- search ----

/// Parameters of a search.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// An address, a tx hash or signature, a resource URL, or a facilitator id or name.
    #[param(required = true, min_length = 1, max_length = 256, pattern = "\\S")]
    pub q: Option<String>,
}

/// One search hit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    /// `seller`, `buyer`, `transaction`, `resource`, `facilitator`.
    pub kind: String,
    pub label: String,
    /// The page to open (a path on this server).
    pub href: String,
}

/// What a search found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchData {
    pub q: String,
    /// How the text was read: `address`, `transaction`, `resource`, `text`.
    pub kind: String,
    pub hits: Vec<SearchHit>,
}

pub async fn search(state: &AppState, q: &SearchQuery) -> Result<SearchData, WebError> {
    let text = validate::query(q.q.as_deref())?;
    let store = state.store();
    let mut hits = Vec::new();
    let enc = crate::url_encode;
    let kind = if let Ok(addr) = validate::address("q", &text) {
        let s = store.address_summary(&addr).await?;
        if s.as_seller.count > 0 {
            hits.push(SearchHit {
                kind: "seller".into(),
                label: format!("{addr}: seller, {} payments received", s.as_seller.count),
                href: format!("/sellers/{addr}"),
            });
        }
        if s.as_buyer.count > 0 {
            hits.push(SearchHit {
                kind: "buyer".into(),
                label: format!("{addr}: buyer, {} payments made", s.as_buyer.count),
                href: format!("/buyers/{addr}"),
            });
        }
        "address"
    } else if let Ok(tx) = validate::tx_id("q", &text) {
        let found = store.payments_by_tx(&tx).await?;
        if let Some(first) = found.first() {
            hits.push(SearchHit {
                kind: "transaction".into(),
                label: format!("{tx}: {} payment(s) on {}", found.len(), first.chain),
                href: format!("/tx/{tx}"),
            });
        }
        "transaction"
    } else if let Ok(url) = validate::resource("q", &text) {
        hits.push(SearchHit {
            kind: "resource".into(),
            label: format!("{url}: probe report"),
            href: format!("/probe?url={}", enc(&url)),
        });
        hits.push(SearchHit {
            kind: "resource".into(),
            label: format!("{url}: payments linked to it"),
            href: format!("/transactions?resource={}", enc(&url)),
        });
        "resource"
    } else {
        let needle = text.to_lowercase();
        for f in facilitators(state).await?.items.iter() {
            if f.id.to_lowercase().contains(&needle) || f.name.to_lowercase().contains(&needle) {
                hits.push(SearchHit {
                    kind: "facilitator".into(),
                    label: format!("{} ({} payments)", f.name, f.count),
                    href: format!("/facilitators/{}", enc(&f.id)),
                });
            }
        }
        "text"
    };
    Ok(SearchData {
        q: text,
        kind: kind.into(),
        hits,
    })
}

// ---- one transaction ----

/// A transaction's payments.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TxData {
    pub tx_id: String,
    pub items: Vec<TxRow>,
}

pub async fn transaction(state: &AppState, tx: &str) -> Result<std::sync::Arc<TxData>, WebError> {
    let tx = validate::tx_id("tx_id", tx)?;
    let st = state.clone();
    state
        .cache()
        .get(format!("txid|{tx}"), move || async move {
            let items: Vec<TxRow> = st
                .store()
                .payments_by_tx(&tx)
                .await?
                .iter()
                .map(TxRow::from)
                .collect();
            if items.is_empty() {
                return Err(WebError::NotFound(format!(
                    "no x402 payment in transaction {tx} is indexed"
                )));
            }
            Ok(TxData { tx_id: tx, items })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_exact() {
        assert_eq!(units(&Amount::from_u64(0)), "0.00");
        assert_eq!(units(&Amount::from_u64(1_000)), "0.001");
        assert_eq!(units(&Amount::from_u64(1_500_000)), "1.50");
        assert_eq!(units(&Amount::from_u64(123_456_789)), "123.456789");
        assert_eq!(units(&Amount::from_u64(1)), "0.000001");
        assert_eq!(units(&Amount::from_u64(10_000)), "0.01");
        assert_eq!(units(&Amount::from_u64(100_000)), "0.10");
        assert_eq!(units(&Amount::from_u64(1_000_000)), "1.00");
        assert_eq!(units(&Amount::from_u64(12_000_000)), "12.00");
        assert_eq!(units(&Amount::from_u64(1_234_500)), "1.2345");
        assert_eq!(units(&Amount::from_u64(20)), "0.00002");
    }
}
