//! Seller reconciliation: totals, revenue per resource and per facilitator, the
//! rows of each status, and a CSV with one row per claim and per unclaimed
//! payment. Pure: over the derived rows of one payTo. Amounts are exact integers
//! in atomic units.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use x402scope_core::Amount;
use x402scope_store::MatchRow;

use crate::correlate::Status;

/// The totals of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Payments on chain now (rows with a current payment).
    pub payments: u64,
    /// Their sum.
    pub received: Amount,
    /// The organic part of it.
    pub organic_received: Amount,
    pub claims: u64,
    /// The claims' amounts summed.
    pub claimed: Amount,
    /// Received through rows that are `matched` or `matched_pending_finality`.
    pub matched: Amount,
}

/// Revenue of one resource or facilitator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revenue {
    /// The resource URL or facilitator id; empty when unattributed.
    pub key: String,
    pub payments: u64,
    pub amount: Amount,
}

/// A seller's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellerReport {
    pub pay_to: String,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub totals: Totals,
    pub by_resource: Vec<Revenue>,
    pub by_facilitator: Vec<Revenue>,
    /// Every status with its rows (statuses without rows are listed empty).
    pub by_status: BTreeMap<String, Vec<MatchRow>>,
}

/// The time a row is placed at: its block time, or its claim's time.
pub fn row_time(r: &MatchRow) -> i64 {
    if r.has_payment {
        r.block_time
    } else {
        r.claimed_at
    }
}

/// A current payment belongs to the row (not one a reorg removed).
pub fn has_current_payment(r: &MatchRow) -> bool {
    r.has_payment && r.status != Status::OrphanedByReorg.as_str()
}

fn add(a: Amount, b: Amount) -> Amount {
    a.checked_add(b)
        .unwrap_or(Amount(alloy_primitives::U256::MAX))
}

fn revenue(map: BTreeMap<String, (u64, Amount)>) -> Vec<Revenue> {
    let mut v: Vec<Revenue> = map
        .into_iter()
        .map(|(key, (payments, amount))| Revenue {
            key,
            payments,
            amount,
        })
        .collect();
    v.sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| a.key.cmp(&b.key)));
    v
}

/// Build the report of `pay_to` over rows in [from, to).
pub fn seller_report(
    pay_to: &str,
    rows: &[MatchRow],
    from: Option<i64>,
    to: Option<i64>,
) -> SellerReport {
    let mut totals = Totals::default();
    let mut by_resource: BTreeMap<String, (u64, Amount)> = BTreeMap::new();
    let mut by_facilitator: BTreeMap<String, (u64, Amount)> = BTreeMap::new();
    let mut by_status: BTreeMap<String, Vec<MatchRow>> = Status::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), Vec::new()))
        .collect();
    for r in rows {
        let t = row_time(r);
        if r.pay_to != pay_to || from.is_some_and(|f| t < f) || to.is_some_and(|e| t >= e) {
            continue;
        }
        if !r.claim_source.is_empty() {
            totals.claims += 1;
            totals.claimed = add(totals.claimed, r.claimed_amount);
        }
        if has_current_payment(r) && r.status != Status::DuplicateClaim.as_str() {
            totals.payments += 1;
            totals.received = add(totals.received, r.amount);
            if r.is_organic {
                totals.organic_received = add(totals.organic_received, r.amount);
            }
            if r.status == Status::Matched.as_str()
                || r.status == Status::MatchedPendingFinality.as_str()
            {
                totals.matched = add(totals.matched, r.amount);
            }
            let e = by_resource.entry(r.resource.clone()).or_default();
            e.0 += 1;
            e.1 = add(e.1, r.amount);
            let e = by_facilitator.entry(r.facilitator.clone()).or_default();
            e.0 += 1;
            e.1 = add(e.1, r.amount);
        }
        by_status
            .entry(r.status.clone())
            .or_default()
            .push(r.clone());
    }
    SellerReport {
        pay_to: pay_to.to_owned(),
        from,
        to,
        totals,
        by_resource: revenue(by_resource),
        by_facilitator: revenue(by_facilitator),
        by_status,
    }
}

/// The CSV columns.
pub const CSV_HEADER: &str = "kind,status,rule,network,tx_id,idx_outer,idx_inner,payer,pay_to,asset,amount,\
claimed_amount,block_time,claim_source,claim_id,claimed_at,facilitator,resource,price_status,listed_amount,\
is_final,is_organic,counted,detail";

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The report's rows as CSV: one line per claim (`kind` = claim, with its
/// payment when it has one) and per unclaimed payment (`kind` = payment).
/// `counted` is 1 on the rows whose `amount` makes up `totals.received`, so
/// the column's sum over those rows equals it.
pub fn to_csv(report: &SellerReport) -> String {
    let mut rows: Vec<&MatchRow> = report.by_status.values().flatten().collect();
    rows.sort_by(|a, b| (row_time(a), &a.row_key).cmp(&(row_time(b), &b.row_key)));
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for r in rows {
        let kind = if r.claim_source.is_empty() {
            "payment"
        } else {
            "claim"
        };
        let counted = has_current_payment(r) && r.status != Status::DuplicateClaim.as_str();
        let cells = [
            kind.to_owned(),
            r.status.clone(),
            r.rule.clone(),
            r.network.clone(),
            r.tx_id.clone(),
            r.idx_outer.to_string(),
            r.idx_inner.to_string(),
            r.payer.clone(),
            r.pay_to.clone(),
            r.asset.clone(),
            r.amount.to_string(),
            r.claimed_amount.to_string(),
            r.block_time.to_string(),
            r.claim_source.clone(),
            r.claim_id.clone(),
            r.claimed_at.to_string(),
            r.facilitator.clone(),
            r.resource.clone(),
            r.price_status.clone(),
            r.listed_amount.to_string(),
            u8::from(r.is_final).to_string(),
            u8::from(r.is_organic).to_string(),
            u8::from(counted).to_string(),
            r.detail.clone(),
        ];
        let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, status: Status, claim: bool, payment: bool, amount: u64, t: i64) -> MatchRow {
        MatchRow {
            row_key: key.into(),
            claim_source: if claim { "hook".into() } else { String::new() },
            claim_id: if claim { key.into() } else { String::new() },
            network: "eip155:84532".into(),
            tx_id: format!("0x{key}"),
            idx_outer: 0,
            idx_inner: 0,
            has_payment: payment,
            status: status.as_str().into(),
            rule: String::new(),
            payer: "0xa".into(),
            pay_to: "0xs".into(),
            asset: "0xusdc".into(),
            amount: Amount::from_u64(if payment { amount } else { 0 }),
            claimed_amount: Amount::from_u64(if claim { amount } else { 0 }),
            block_time: if payment { t } else { 0 },
            claimed_at: if claim { t } else { 0 },
            facilitator: "fac".into(),
            resource: if key == "a" {
                "https://r/1".into()
            } else {
                String::new()
            },
            price_status: "price_match".into(),
            listed_amount: Amount::ZERO,
            is_final: true,
            is_organic: key != "b",
            detail: "a, \"quoted\" detail".into(),
            run_at: 0,
        }
    }

    #[test]
    fn totals_skip_duplicates_and_orphans_and_the_csv_adds_up() {
        let rows = vec![
            row("a", Status::Matched, true, true, 100, 10),
            row("b", Status::TransferWithoutClaim, false, true, 50, 20),
            row("c", Status::DuplicateClaim, true, true, 100, 30),
            row("d", Status::OrphanedByReorg, true, true, 70, 40),
            row("e", Status::ClaimWithoutTransfer, true, false, 9, 50),
            row("f", Status::Matched, true, true, 1000, 99),
        ];
        let r = seller_report("0xs", &rows, Some(10), Some(99));
        assert_eq!(r.totals.payments, 2);
        assert_eq!(r.totals.received, Amount::from_u64(150));
        assert_eq!(r.totals.organic_received, Amount::from_u64(100));
        assert_eq!(r.totals.matched, Amount::from_u64(100));
        assert_eq!(r.totals.claims, 4);
        assert_eq!(r.totals.claimed, Amount::from_u64(279));
        assert_eq!(r.by_resource[0].key, "https://r/1");
        assert_eq!(r.by_facilitator[0].amount, Amount::from_u64(150));
        assert_eq!(r.by_status["duplicate_claim"].len(), 1);
        assert!(r.by_status["ambiguous"].is_empty());
        let csv = to_csv(&r);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines.len(), 6);
        let counted: u64 = lines[1..]
            .iter()
            .filter(|l| l.split(',').nth(22) == Some("1"))
            .map(|l| {
                l.split(',')
                    .nth(10)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(counted, 150);
        assert!(lines[1].ends_with("\"a, \"\"quoted\"\" detail\""));
    }
}
