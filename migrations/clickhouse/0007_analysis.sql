-- Analysis: the derived correlation table, the organic filter's address flags,
-- and the ledger of observed payments (kept after a reorg removes a payment).
-- Derived rows carry their run's id; a run becomes visible when its row in
-- analysis_runs is written, and older runs' rows are deleted after that.
CREATE TABLE IF NOT EXISTS analysis_observed (
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
    version      UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (chain, tx_id, idx_outer, idx_inner)
;
CREATE TABLE IF NOT EXISTS analysis_matches (
    run_id         UInt64,
    row_key        String,
    claim_source   String,
    claim_id       String,
    network        LowCardinality(String),
    tx_id          String,
    idx_outer      UInt32,
    idx_inner      UInt32,
    has_payment    UInt8,
    status         LowCardinality(String),
    rule           LowCardinality(String),
    payer          String,
    pay_to         String,
    asset          String,
    amount         Decimal(38, 0),
    claimed_amount Decimal(38, 0),
    block_time     Int64,
    claimed_at     Int64,
    facilitator    String,
    resource       String,
    price_status   LowCardinality(String),
    listed_amount  Decimal(38, 0),
    is_final       UInt8,
    is_organic     UInt8,
    detail         String,
    run_at         Int64,
    version        UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (run_id, pay_to, row_key)
;
CREATE TABLE IF NOT EXISTS analysis_address_flags (
    run_id  UInt64,
    address String,
    flag    LowCardinality(String),
    detail  String,
    run_at  Int64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (run_id, address, flag)
;
CREATE TABLE IF NOT EXISTS analysis_runs (
    run_id      UInt64,
    finished_at Int64,
    version     UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY run_id
;
