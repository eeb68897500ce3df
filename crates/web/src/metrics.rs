//! `/metrics` in the Prometheus text format (version 0.0.4), written by hand:
//! per-part gauges and counters from the status board, and HTTP answers by
//! status class.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::status::{PartState, PartStatus};

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
