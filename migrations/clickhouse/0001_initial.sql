-- x402scope store, ClickHouse backend: the initial schema.
-- Only SQL that runs on ClickHouse 18.16 and on current versions (see
-- docs/clickhouse-compat.md). Statements are separated by lines holding only ';'.
-- Facts are ReplacingMergeTree tables with a `version` column: replays collapse to
-- one row (queries read with FINAL). Reorg rollbacks use ALTER TABLE … DELETE,
-- and every write carries a fresh version, so that a re-insert of the same keys
-- is a different block and never mistaken for a duplicate insert.

CREATE TABLE IF NOT EXISTS payments (
    chain        LowCardinality(String),
    tx_id        String,
    idx_outer    UInt32,
    idx_inner    UInt32,
    block_number UInt64,
    block_hash   String,
    block_time   DateTime('UTC'),
    asset        LowCardinality(String),
    payer        String,
    pay_to       String,
    amount       Decimal(38, 0),
    nonce        String,
    facilitator  LowCardinality(String),
    tx_from      String,
    method       LowCardinality(String),
    is_final     UInt8,
    is_organic   UInt8,
    version      UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (chain, tx_id, idx_outer, idx_inner)
;
CREATE TABLE IF NOT EXISTS checkpoints (
    chain   LowCardinality(String),
    block   UInt64,
    hash    String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY chain
;
CREATE TABLE IF NOT EXISTS block_window (
    chain       LowCardinality(String),
    number      UInt64,
    hash        String,
    parent_hash String,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (chain, number)
;
CREATE TABLE IF NOT EXISTS facilitators (
    id      String,
    name    String,
    url     String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id
;
CREATE TABLE IF NOT EXISTS facilitator_signers (
    facilitator_id String,
    network        LowCardinality(String),
    address        String,
    first_seen     DateTime('UTC'),
    last_seen      DateTime('UTC'),
    source         LowCardinality(String),
    version        UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (network, address, facilitator_id)
;
CREATE TABLE IF NOT EXISTS listing_snapshots (
    source        String,
    resource      String,
    accept_index  UInt32,
    snapshot_hash String,
    observed_at   DateTime('UTC'),
    scheme        LowCardinality(String),
    network       LowCardinality(String),
    asset         String,
    pay_to        String,
    amount        Decimal(38, 0),
    raw           String,
    version       UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (source, resource, accept_index, snapshot_hash)
;
CREATE TABLE IF NOT EXISTS webhook_inbox (
    source      String,
    webhook_id  String,
    received_at DateTime('UTC'),
    headers     String,
    body        String,
    status      LowCardinality(String),
    error       String,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (source, webhook_id)
;
CREATE TABLE IF NOT EXISTS claims (
    source       String,
    claim_id     String,
    network      LowCardinality(String),
    tx_id        String,
    payer        String,
    pay_to       String,
    asset        String,
    amount       Decimal(38, 0),
    resource_url String,
    facilitator  String,
    success      UInt8,
    claimed_at   DateTime('UTC'),
    version      UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (source, claim_id)
;
CREATE TABLE IF NOT EXISTS probe_runs (
    id          String,
    url         String,
    started_at  DateTime('UTC'),
    status_code UInt16,
    latency_ms  UInt32,
    error       String,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id
;
CREATE TABLE IF NOT EXISTS probe_findings (
    run_id   String,
    rule_id  String,
    severity LowCardinality(String),
    message  String,
    evidence String,
    version  UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (run_id, rule_id, message)
