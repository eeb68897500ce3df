-- x402scope store, ClickHouse backend: KYT screening and reviews (issue 11).
-- Same subset as 0001 (runs on 18.16 and current versions). Mutable facts
-- (alerts, screenings, keys) are ReplacingMergeTree(version) read with FINAL;
-- list versions, entries, changes, cases and case events are only appended.

CREATE TABLE IF NOT EXISTS kyt_list_versions (
    id           String,
    source       String,
    format       LowCardinality(String),
    published_at Int64,
    loaded_at    Int64,
    sha256       String,
    entry_count  UInt64,
    version      UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id
;
CREATE TABLE IF NOT EXISTS kyt_list_entries (
    version_id String,
    address    String,
    kind       LowCardinality(String),
    ticker     LowCardinality(String),
    label      String,
    version    UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (version_id, address, ticker)
;
CREATE TABLE IF NOT EXISTS kyt_list_changes (
    version_id String,
    source     String,
    address    String,
    change     LowCardinality(String),
    label      String,
    version    UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (version_id, change, address)
;
CREATE TABLE IF NOT EXISTS kyt_alerts (
    id             String,
    address        String,
    kind           LowCardinality(String),
    role           String,
    listed_address String,
    source         String,
    list_version   String,
    label          String,
    status         LowCardinality(String),
    created_at     Int64,
    updated_at     Int64,
    removed_by     String,
    version        UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id
;
CREATE TABLE IF NOT EXISTS kyt_screenings (
    address       String,
    status        LowCardinality(String),
    list_versions String,
    screened_at   Int64,
    version       UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY address
;
CREATE TABLE IF NOT EXISTS kyt_cases (
    id        String,
    alert_id  String,
    opened_at Int64,
    opened_by String,
    version   UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id
;
CREATE TABLE IF NOT EXISTS kyt_case_events (
    case_id   String,
    seq       UInt64,
    at        Int64,
    actor     String,
    action    LowCardinality(String),
    payload   String,
    prev_hash String,
    hash      String
) ENGINE = MergeTree
ORDER BY (case_id, seq)
;
CREATE TABLE IF NOT EXISTS kyt_api_keys (
    key_id     String,
    reviewer   String,
    scopes     String,
    key_hash   String,
    created_at Int64,
    version    UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY key_id
