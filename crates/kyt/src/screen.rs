//! Screening the payment graph against the active list versions.
//!
//! [`Watchlist`] and [`screen_edges`] are pure; [`run`] reads the store, screens
//! everything, and writes the alerts that are new, raised again, or removed, and
//! every address's status. It is idempotent: run it after each ingest and after
//! each list update.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use x402scope_store::{Alert, ListVersion, PaymentEdge, Screening, Store};

use crate::{KytError, lists, sha256_hex};

/// An address's screening status. Only `Clear` says "screened, nothing found";
/// an address that was never screened is `NotScreened`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Listed,
    Exposed,
    Clear,
    NotScreened,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Listed => "listed",
            Status::Exposed => "exposed",
            Status::Clear => "clear",
            Status::NotScreened => "not_screened",
        }
    }

    /// A stored status; anything unknown is treated as not screened, never clear.
    pub fn parse(s: &str) -> Self {
        match s {
            "listed" => Status::Listed,
            "exposed" => Status::Exposed,
            "clear" => Status::Clear,
            _ => Status::NotScreened,
        }
    }
}

/// Why an address is on the watchlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub source: String,
    pub version_id: String,
    pub label: String,
}

/// The addresses of the active list versions, by the chain family they apply to.
#[derive(Debug, Clone, Default)]
pub struct Watchlist {
    evm: HashMap<String, Vec<Hit>>,
    solana: HashMap<String, Vec<Hit>>,
    other: HashMap<String, Vec<Hit>>,
    pub versions: Vec<ListVersion>,
}

/// The family of a CAIP-2 network: `eip155:*` is EVM, `solana:*` Solana.
fn family(chain: &str) -> &'static str {
    if chain.starts_with("eip155:") {
        "evm"
    } else if chain.starts_with("solana:") {
        "solana"
    } else {
        "other"
    }
}

impl Watchlist {
    pub fn add(&mut self, kind: &str, address: String, hit: Hit) {
        let map = match kind {
            "evm" => &mut self.evm,
            "solana" => &mut self.solana,
            _ => &mut self.other,
        };
        let hits = map.entry(address).or_default();
        if !hits.iter().any(|h| h.source == hit.source) {
            hits.push(hit);
        }
    }

    pub fn len(&self) -> usize {
        self.evm.len() + self.solana.len() + self.other.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hits for `address` as seen on `chain`: EVM addresses compare in
    /// lowercase, Solana (and anything else) exactly.
    pub fn lookup(&self, chain: &str, address: &str) -> Option<&[Hit]> {
        let found = match family(chain) {
            "evm" => {
                if address.bytes().any(|b| b.is_ascii_uppercase()) {
                    self.evm.get(&address.to_ascii_lowercase())
                } else {
                    self.evm.get(address)
                }
            }
            "solana" => self.solana.get(address),
            _ => self.other.get(address),
        };
        found.map(Vec::as_slice)
    }

    /// The watchlist of the store's active list versions.
    pub async fn from_store(store: &Store) -> Result<Self, KytError> {
        let versions = lists::active_versions(store).await?;
        let mut w = Watchlist::default();
        for v in &versions {
            for e in store.kyt_list_entries(&v.id).await? {
                w.add(
                    &e.kind,
                    e.address,
                    Hit {
                        source: v.source.clone(),
                        version_id: v.id.clone(),
                        label: e.label,
                    },
                );
            }
        }
        w.versions = versions;
        Ok(w)
    }
}

/// An alert that the current lists and graph call for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub address: String,
    /// `ownership` or `exposure`.
    pub kind: &'static str,
    pub roles: BTreeSet<&'static str>,
    pub listed_address: String,
    pub source: String,
    pub version_id: String,
    pub label: String,
}

/// The stable id of an alert.
pub fn alert_id(address: &str, kind: &str, listed: &str, source: &str) -> String {
    let h = sha256_hex(format!("{address}\n{kind}\n{listed}\n{source}").as_bytes());
    format!("a-{}", &h[..20])
}

/// What the graph and the watchlist say: findings by alert id, and the status of
/// every address in the graph.
#[derive(Debug, Clone, Default)]
pub struct Screened {
    pub findings: BTreeMap<String, Finding>,
    pub statuses: HashMap<String, Status>,
}

fn raise(
    out: &mut BTreeMap<String, Finding>,
    address: &str,
    kind: &'static str,
    role: &'static str,
    listed: &str,
    hit: &Hit,
) {
    let id = alert_id(address, kind, listed, &hit.source);
    out.entry(id)
        .or_insert_with(|| Finding {
            address: address.to_owned(),
            kind,
            roles: BTreeSet::new(),
            listed_address: listed.to_owned(),
            source: hit.source.clone(),
            version_id: hit.version_id.clone(),
            label: hit.label.clone(),
        })
        .roles
        .insert(role);
}

/// Screen every edge of the payment graph: payer, payTo and facilitator
/// (transaction sender) for ownership; payer and payTo for direct exposure to
/// each other.
pub fn screen_edges(edges: &[PaymentEdge], watch: &Watchlist) -> Screened {
    let mut s = Screened::default();
    for e in edges {
        let payer = watch.lookup(&e.chain, &e.payer);
        let pay_to = watch.lookup(&e.chain, &e.pay_to);
        let sender = watch.lookup(&e.chain, &e.tx_from);
        for (address, role, hits) in [
            (&e.payer, "payer", payer),
            (&e.pay_to, "pay_to", pay_to),
            (&e.tx_from, "facilitator", sender),
        ] {
            for h in hits.unwrap_or_default() {
                raise(&mut s.findings, address, "ownership", role, address, h);
            }
            let status = if hits.is_some() {
                Status::Listed
            } else {
                Status::Clear
            };
            merge(&mut s.statuses, address, status);
        }
        if e.payer != e.pay_to {
            for h in pay_to.unwrap_or_default() {
                raise(&mut s.findings, &e.payer, "exposure", "payer", &e.pay_to, h);
                merge(&mut s.statuses, &e.payer, Status::Exposed);
            }
            for h in payer.unwrap_or_default() {
                raise(
                    &mut s.findings,
                    &e.pay_to,
                    "exposure",
                    "pay_to",
                    &e.payer,
                    h,
                );
                merge(&mut s.statuses, &e.pay_to, Status::Exposed);
            }
        }
    }
    s
}

/// Keep the most severe status (Listed < Exposed < Clear in the enum's order).
fn merge(statuses: &mut HashMap<String, Status>, address: &str, status: Status) {
    match statuses.get_mut(address) {
        Some(s) => *s = (*s).min(status),
        None => {
            statuses.insert(address.to_owned(), status);
        }
    }
}

/// What a screening run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScreenReport {
    /// The list versions screened against; empty means nothing was screened.
    pub list_versions: Vec<String>,
    pub addresses: usize,
    pub edges: usize,
    pub new_alerts: Vec<Alert>,
    /// Alerts raised again after a removal.
    pub raised_again: Vec<Alert>,
    /// Alerts whose listed address no active list version lists any more.
    pub removed_alerts: Vec<Alert>,
    pub open_alerts: usize,
}

/// Screen the whole payment graph against the active list versions and write
/// the results. Without any list version nothing is screened, so every address
/// stays `not_screened`.
pub async fn run(store: &Store, now: i64) -> Result<ScreenReport, KytError> {
    let watch = Watchlist::from_store(store).await?;
    if watch.versions.is_empty() {
        return Ok(ScreenReport::default());
    }
    let edges = store.kyt_payment_edges().await?;
    let screened = screen_edges(&edges, &watch);
    let existing: HashMap<String, Alert> = store
        .kyt_alerts()
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let active_of: HashMap<&str, &str> = watch
        .versions
        .iter()
        .map(|v| (v.source.as_str(), v.id.as_str()))
        .collect();
    let mut report = ScreenReport {
        list_versions: watch.versions.iter().map(|v| v.id.clone()).collect(),
        addresses: screened.statuses.len(),
        edges: edges.len(),
        ..Default::default()
    };
    let mut writes = Vec::new();
    for (id, f) in &screened.findings {
        let role = f.roles.iter().copied().collect::<Vec<_>>().join(",");
        match existing.get(id) {
            Some(a) if a.status == "open" => {
                if a.role != role {
                    let mut a = a.clone();
                    a.role = role;
                    a.updated_at = now;
                    writes.push(a);
                }
            }
            Some(a) => {
                let mut a = a.clone();
                a.status = "open".into();
                a.role = role;
                a.list_version = f.version_id.clone();
                a.label = f.label.clone();
                a.updated_at = now;
                a.removed_by = String::new();
                report.raised_again.push(a.clone());
                writes.push(a);
            }
            None => {
                let a = Alert {
                    id: id.clone(),
                    address: f.address.clone(),
                    kind: f.kind.to_owned(),
                    role,
                    listed_address: f.listed_address.clone(),
                    source: f.source.clone(),
                    list_version: f.version_id.clone(),
                    label: f.label.clone(),
                    status: "open".into(),
                    created_at: now,
                    updated_at: now,
                    removed_by: String::new(),
                };
                report.new_alerts.push(a.clone());
                writes.push(a);
            }
        }
    }
    for (id, a) in &existing {
        if a.status == "open" && !screened.findings.contains_key(id) {
            let mut a = a.clone();
            a.status = "removed".into();
            a.updated_at = now;
            a.removed_by = active_of
                .get(a.source.as_str())
                .map_or_else(String::new, |v| (*v).to_owned());
            report.removed_alerts.push(a.clone());
            writes.push(a);
        }
    }
    report.open_alerts = (existing.values().filter(|a| a.status == "open").count()
        + report.new_alerts.len()
        + report.raised_again.len())
    .saturating_sub(report.removed_alerts.len());
    store.kyt_put_alerts(writes).await?;
    let versions = report.list_versions.join(",");
    let screenings: Vec<Screening> = screened
        .statuses
        .into_iter()
        .map(|(address, status)| Screening {
            address,
            status: status.as_str().to_owned(),
            list_versions: versions.clone(),
            screened_at: now,
        })
        .collect();
    store.kyt_put_screenings(screenings).await?;
    Ok(report)
}

/// The status of one address: `not_screened` unless a screening run saw it.
pub async fn status_of(
    store: &Store,
    address: &str,
) -> Result<(Status, Option<Screening>), KytError> {
    let s = store.kyt_screening(address).await?;
    Ok((
        s.as_ref()
            .map_or(Status::NotScreened, |s| Status::parse(&s.status)),
        s,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn edge(payer: &str, pay_to: &str, from: &str) -> PaymentEdge {
        PaymentEdge {
            chain: "eip155:8453".into(),
            payer: payer.into(),
            pay_to: pay_to.into(),
            tx_from: from.into(),
            payments: 1,
        }
    }

    fn watch(addrs: &[&str]) -> Watchlist {
        let mut w = Watchlist::default();
        for a in addrs {
            w.add(
                "evm",
                (*a).into(),
                Hit {
                    source: "sdn".into(),
                    version_id: "sdn@1".into(),
                    label: "bad".into(),
                },
            );
        }
        w
    }

    #[test]
    fn ownership_and_exposure() {
        let edges = vec![
            edge("0xa", "0xbad", "0xf"),
            edge("0xc", "0xd", "0xbadf"),
            edge("0xe", "0xd", "0xf"),
        ];
        let s = screen_edges(&edges, &watch(&["0xbad", "0xbadf"]));
        let mut got: Vec<(String, &str, String)> = s
            .findings
            .values()
            .map(|f| (f.address.clone(), f.kind, f.listed_address.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("0xa".into(), "exposure", "0xbad".into()),
                ("0xbad".into(), "ownership", "0xbad".into()),
                ("0xbadf".into(), "ownership", "0xbadf".into()),
            ]
        );
        assert_eq!(s.statuses["0xa"], Status::Exposed);
        assert_eq!(s.statuses["0xbad"], Status::Listed);
        assert_eq!(s.statuses["0xd"], Status::Clear);
        assert_eq!(s.statuses["0xbadf"], Status::Listed);
    }

    #[test]
    fn evm_lookups_ignore_case_and_solana_does_not() {
        let mut w = watch(&["0xabc"]);
        w.add(
            "solana",
            "SoLAddr".into(),
            Hit {
                source: "s".into(),
                version_id: "s@1".into(),
                label: String::new(),
            },
        );
        assert!(w.lookup("eip155:1", "0xABC").is_some());
        assert!(w.lookup("eip155:42161", "0xabc").is_some());
        assert!(w.lookup("solana:mainnet", "0xabc").is_none());
        assert!(w.lookup("solana:mainnet", "SoLAddr").is_some());
        assert!(w.lookup("solana:mainnet", "soladdr").is_none());
    }

    #[test]
    fn unknown_is_never_clear() {
        assert_eq!(Status::parse("whatever"), Status::NotScreened);
        assert_eq!(Status::parse(""), Status::NotScreened);
    }
}
