//! CSV export of lists (RFC 4180 quoting; cells that a spreadsheet would run
//! as a formula are prefixed with `'`).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::data::{FacilitatorsData, NetworksData, ProbeReportData, ResourcesData, TxListData};

fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A CSV text from a header and rows.
pub fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = header.join(",");
    out.push_str("\r\n");
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A CSV download.
pub fn response(name: &str, body: String) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

pub fn transactions(d: &TxListData) -> String {
    table(
        &[
            "network",
            "tx_id",
            "idx_outer",
            "idx_inner",
            "block_number",
            "block_time",
            "asset",
            "payer",
            "pay_to",
            "amount",
            "facilitator",
            "tx_from",
            "method",
            "is_final",
            "is_organic",
        ],
        d.items.iter().map(|t| {
            vec![
                t.network.clone(),
                t.tx_id.clone(),
                t.idx_outer.to_string(),
                t.idx_inner.to_string(),
                t.block_number.to_string(),
                t.block_time.to_string(),
                t.asset.clone(),
                t.payer.clone(),
                t.pay_to.clone(),
                t.amount.clone(),
                t.facilitator.clone(),
                t.tx_from.clone(),
                t.method.clone(),
                t.is_final.to_string(),
                t.is_organic.to_string(),
            ]
        }),
    )
}

pub fn facilitators(d: &FacilitatorsData) -> String {
    table(
        &["id", "name", "url", "count", "volume", "buyers"],
        d.items.iter().map(|f| {
            vec![
                f.id.clone(),
                f.name.clone(),
                f.url.clone(),
                f.count.to_string(),
                f.volume.clone(),
                f.buyers.to_string(),
            ]
        }),
    )
}

pub fn networks(d: &NetworksData) -> String {
    table(
        &[
            "network",
            "count",
            "volume",
            "buyers",
            "sellers",
            "last_block",
            "state",
        ],
        d.items.iter().map(|n| {
            vec![
                n.network.clone(),
                n.totals.count.to_string(),
                n.totals.volume.clone(),
                n.totals.buyers.to_string(),
                n.totals.sellers.to_string(),
                n.last_block.map(|b| b.to_string()).unwrap_or_default(),
                n.source
                    .as_ref()
                    .map(|s| format!("{:?}", s.state).to_lowercase())
                    .unwrap_or_default(),
            ]
        }),
    )
}

pub fn resources(d: &ResourcesData) -> String {
    table(
        &[
            "resource_url",
            "count",
            "volume",
            "compliance",
            "uptime_percent",
            "last_probe_at",
        ],
        d.items.iter().map(|r| {
            vec![
                r.resource_url.clone(),
                r.count.to_string(),
                r.volume.clone(),
                r.compliance.clone(),
                r.uptime_percent
                    .map(|u| format!("{u:.1}"))
                    .unwrap_or_default(),
                r.last_probe
                    .as_ref()
                    .map(|p| p.started_at.to_string())
                    .unwrap_or_default(),
            ]
        }),
    )
}

/// A probe report: one `run` row per run (newest first), then one `finding`
/// row per finding of the newest run.
pub fn probe_report(d: &ProbeReportData) -> String {
    let newest = d.runs.first().map(|r| r.id.clone()).unwrap_or_default();
    let runs = d.runs.iter().map(|r| {
        vec![
            "run".into(),
            d.url.clone(),
            r.id.clone(),
            r.started_at.to_string(),
            r.status_code.to_string(),
            r.latency_ms.to_string(),
            r.error.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]
    });
    let findings = d.findings.iter().map(|f| {
        vec![
            "finding".into(),
            d.url.clone(),
            newest.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            f.rule_id.clone(),
            f.severity.clone(),
            f.message.clone(),
            f.evidence.clone(),
        ]
    });
    table(
        &[
            "kind",
            "url",
            "run_id",
            "started_at",
            "status_code",
            "latency_ms",
            "error",
            "rule_id",
            "severity",
            "message",
            "evidence",
        ],
        runs.chain(findings),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_formula_guard() {
        let t = table(
            &["a", "b"],
            vec![
                vec!["x,y".into(), "=1+1".into()],
                vec!["q\"".into(), "ok".into()],
            ],
        );
        assert_eq!(t, "a,b\r\n\"x,y\",'=1+1\r\n\"q\"\"\",ok\r\n");
    }
}
