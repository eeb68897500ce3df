//! `/metrics` in the Prometheus text format (version 0.0.4), written by hand:
//! per-part gauges and counters from the status board, HTTP answers by status
//! class, probe results and webhook counts read from the store at scrape time,
//! and families that parts keep themselves ([`ExternalFamily`], e.g. the
//! webhook receiver's deliveries by outcome).

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::status::{PartState, PartStatus};

/// Reads the current samples of an [`ExternalFamily`]: (label values, value).
pub type SampleReader = Arc<dyn Fn() -> Vec<(Vec<String>, u64)> + Send + Sync>;

/// A metric family kept outside the web crate, read at every scrape.
#[derive(Clone)]
pub struct ExternalFamily {
    /// `x402scope_…`.
    pub name: String,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    pub help: String,
    /// The label names; every sample gives that many values.
    pub labels: Vec<String>,
    pub read: SampleReader,
}

impl std::fmt::Debug for ExternalFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalFamily")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// What the store says at scrape time; `None` when it could not be read.
#[derive(Debug, Clone, Default)]
pub struct StoreCounts {
    pub probe: Option<x402scope_store::ProbeStats>,
    pub inbox: Option<Vec<x402scope_store::LabelCount>>,
}

/// `{a="x",b="y"}` from names and values (empty when there are none).
fn label_set(names: &[&str], values: &[String]) -> String {
    if names.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = names
        .iter()
        .zip(
            values
                .iter()
                .map(String::as_str)
                .chain(std::iter::repeat("")),
        )
        .map(|(n, v)| format!("{n}=\"{}\"", label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn write_family(out: &mut String, name: &str, kind: &str, help: &str, rows: &[(String, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in rows {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

fn counted(names: &[&str], rows: &[x402scope_store::LabelCount]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| (label_set(names, &r.labels), r.count.to_string()))
        .collect()
}

/// The families read from the store and kept by parts, after [`render`]'s.
pub fn render_more(store: &StoreCounts, external: &[ExternalFamily]) -> String {
    let mut out = String::with_capacity(1024);
    write_family(
        &mut out,
        "x402scope_store_up",
        "gauge",
        "1 when the store answered this scrape's queries, else 0.",
        &[(
            String::new(),
            u8::from(store.probe.is_some() && store.inbox.is_some()).to_string(),
        )],
    );
    if let Some(p) = &store.probe {
        write_family(
            &mut out,
            "x402scope_probe_runs_total",
            "counter",
            "Probe runs in the store by outcome: compliant, noncompliant (a `must` finding), unreachable (no HTTP answer).",
            &counted(&["outcome"], &p.runs),
        );
        write_family(
            &mut out,
            "x402scope_probe_findings_total",
            "counter",
            "Compliance findings of probe runs in the store, by severity.",
            &counted(&["severity"], &p.findings),
        );
    }
    if let Some(rows) = &store.inbox {
        write_family(
            &mut out,
            "x402scope_webhook_inbox_envelopes",
            "gauge",
            "Webhook deliveries in the inbox by source and status: received (waiting), processed, rejected.",
            &counted(&["source", "status"], rows),
        );
    }
    for f in external {
        let names: Vec<&str> = f.labels.iter().map(String::as_str).collect();
        let rows: Vec<(String, String)> = (f.read)()
            .into_iter()
            .map(|(values, v)| (label_set(&names, &values), v.to_string()))
            .collect();
        write_family(&mut out, &f.name, f.kind, &f.help, &rows);
    }
    out
}

/// HTTP answers counted by status class (1xx..5xx).
#[derive(Debug, Default)]
pub struct HttpCounters {
    by_class: [AtomicU64; 5],
    rate_limited: AtomicU64,
}

impl HttpCounters {
    pub fn record(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        if status == 429 {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn get(&self, class: usize) -> u64 {
        self.by_class[class].load(Ordering::Relaxed)
    }
}

/// A label value, escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn state_value(s: PartState) -> u8 {
    u8::from(s == PartState::Running)
}

/// The whole exposition.
pub fn render(parts: &[PartStatus], http: &HttpCounters) -> String {
    let mut out = String::with_capacity(2048);
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let per = |f: &dyn Fn(&PartStatus) -> Option<String>| -> Vec<(String, String)> {
        parts
            .iter()
            .filter_map(|p| {
                f(p).map(|v| {
                    (
                        format!(
                            "{{part=\"{}\",kind=\"{}\"}}",
                            label(&p.name),
                            label(&p.kind)
                        ),
                        v,
                    )
                })
            })
            .collect()
    };
    family(
        "x402scope_part_up",
        "gauge",
        "1 when the part is running, 0 when it is starting, unreachable, stopped or disabled.",
        per(&|p| Some(state_value(p.state).to_string())),
    );
    family(
        "x402scope_indexer_last_block",
        "gauge",
        "The last block (or slot) the part committed to the store.",
        per(&|p| p.last_block.map(|b| b.to_string())),
    );
    family(
        "x402scope_indexer_head",
        "gauge",
        "The source's head block as last seen.",
        per(&|p| p.head.map(|b| b.to_string())),
    );
    family(
        "x402scope_indexer_lag_blocks",
        "gauge",
        "Blocks between the source's head and the last committed block.",
        per(&|p| p.lag.map(|b| b.to_string())),
    );
    family(
        "x402scope_rows_written_total",
        "counter",
        "Rows the part wrote to the store since start.",
        per(&|p| Some(p.rows_written.to_string())),
    );
    family(
        "x402scope_source_errors_total",
        "counter",
        "Source (RPC) failures the part met since start.",
        per(&|p| Some(p.errors.to_string())),
    );
    family(
        "x402scope_http_responses_total",
        "counter",
        "HTTP responses by status class.",
        (0..5)
            .map(|c| {
                (
                    format!("{{class=\"{}xx\"}}", c + 1),
                    http.get(c).to_string(),
                )
            })
            .collect(),
    );
    family(
        "x402scope_http_rate_limited_total",
        "counter",
        "Requests refused by the rate limit (429).",
        vec![(
            String::new(),
            http.rate_limited.load(Ordering::Relaxed).to_string(),
        )],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_help_type_and_labelled_samples() {
        let mut p = PartStatus::new("evm:ba\"se", "evm-indexer", None);
        p.last_block = Some(7);
        p.head = Some(9);
        p.lag = Some(2);
        p.state = PartState::Running;
        let http = HttpCounters::default();
        http.record(200);
        http.record(429);
        let text = render(&[p], &http);
        assert!(text.contains("# TYPE x402scope_indexer_lag_blocks gauge"));
        assert!(text.contains(
            "x402scope_indexer_lag_blocks{part=\"evm:ba\\\"se\",kind=\"evm-indexer\"} 2"
        ));
        assert!(text.contains("x402scope_http_responses_total{class=\"2xx\"} 1"));
        assert!(text.contains("x402scope_http_responses_total{class=\"4xx\"} 1"));
        assert!(text.contains("x402scope_http_rate_limited_total 1"));
        assert!(text.contains("x402scope_part_up{"));
    }
}
