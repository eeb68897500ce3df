//! Numbered migrations, embedded from `migrations/{sqlite,clickhouse}`, and
//! what each backend's runner reports.

use serde::Serialize;

/// One migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial",
        sql: include_str!("../../../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "0002_kyt",
        sql: include_str!("../../../migrations/sqlite/0002_kyt.sql"),
    },
    Migration {
        version: 3,
        name: "0003_probe",
        sql: include_str!("../../../migrations/sqlite/0003_probe.sql"),
    },
    Migration {
        version: 6,
        name: "0006_facilitator_kinds",
        sql: include_str!("../../../migrations/sqlite/0006_facilitator_kinds.sql"),
    },
    Migration {
        version: 7,
        name: "0007_analysis",
        sql: include_str!("../../../migrations/sqlite/0007_analysis.sql"),
    },
    Migration {
        version: 8,
        name: "0008_solana",
        sql: include_str!("../../../migrations/sqlite/0008_solana.sql"),
    },
    Migration {
        version: 9,
        name: "0009_store_speed",
        sql: include_str!("../../../migrations/sqlite/0009_store_speed.sql"),
    },
    Migration {
        version: 10,
        name: "0010_claim_reference",
        sql: include_str!("../../../migrations/sqlite/0010_claim_reference.sql"),
    },
    Migration {
        version: 11,
        name: "0011_analysis_run_ids",
        sql: include_str!("../../../migrations/sqlite/0011_analysis_run_ids.sql"),
    },
];

const CLICKHOUSE: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial",
        sql: include_str!("../../../migrations/clickhouse/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "0002_kyt",
        sql: include_str!("../../../migrations/clickhouse/0002_kyt.sql"),
    },
    Migration {
        version: 3,
        name: "0003_probe",
        sql: include_str!("../../../migrations/clickhouse/0003_probe.sql"),
    },
    Migration {
        version: 6,
        name: "0006_facilitator_kinds",
        sql: include_str!("../../../migrations/clickhouse/0006_facilitator_kinds.sql"),
    },
    Migration {
        version: 7,
        name: "0007_analysis",
        sql: include_str!("../../../migrations/clickhouse/0007_analysis.sql"),
    },
    Migration {
        version: 8,
        name: "0008_solana",
        sql: include_str!("../../../migrations/clickhouse/0008_solana.sql"),
    },
    Migration {
        version: 9,
        name: "0009_store_speed",
        sql: include_str!("../../../migrations/clickhouse/0009_store_speed.sql"),
    },
    Migration {
        version: 10,
        name: "0010_claim_reference",
        sql: include_str!("../../../migrations/clickhouse/0010_claim_reference.sql"),
    },
    Migration {
        version: 11,
        name: "0011_analysis_run_ids",
        sql: include_str!("../../../migrations/clickhouse/0011_analysis_run_ids.sql"),
    },
];

/// The migrations of a backend (`sqlite` or `clickhouse`), in order.
pub fn migrations(backend: &str) -> &'static [Migration] {
    match backend {
        "clickhouse" => CLICKHOUSE,
        _ => SQLITE,
    }
}

/// What `migrate` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    pub backend: String,
    /// Applied now, in order.
    pub applied: Vec<String>,
    /// Already there before.
    pub present: Vec<String>,
}

/// ClickHouse takes one statement per request: split a file on lines that hold
/// only `;`, dropping comment-only pieces.
pub(crate) fn clickhouse_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim() == ";" {
            push_statement(&mut out, &current);
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    push_statement(&mut out, &current);
    out
}

fn push_statement(out: &mut Vec<String>, text: &str) {
    let body: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    if !body.trim().is_empty() {
        out.push(body.trim().to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        // Numbers are handed out per feature, so a branch may lack some in
        // between; they only have to rise, start at 1, and match across backends.
        for backend in ["sqlite", "clickhouse"] {
            let all = migrations(backend);
            assert_eq!(all.first().map(|m| m.version), Some(1), "{backend}");
            for pair in all.windows(2) {
                assert!(pair[0].version < pair[1].version, "{backend}");
            }
            for m in all {
                assert!(
                    m.name.starts_with(&format!("{:04}_", m.version)),
                    "{backend}"
                );
            }
        }
        let versions = |b: &str| -> Vec<(u32, &str)> {
            migrations(b).iter().map(|m| (m.version, m.name)).collect()
        };
        assert_eq!(versions("sqlite"), versions("clickhouse"));
    }

    #[test]
    fn clickhouse_files_split_into_statements() {
        let statements = clickhouse_statements(migrations("clickhouse")[0].sql);
        assert_eq!(statements.len(), 10);
        assert!(
            statements
                .iter()
                .all(|s| s.starts_with("CREATE TABLE IF NOT EXISTS"))
        );
        assert!(statements.iter().all(|s| !s.contains(';')));
    }
}
