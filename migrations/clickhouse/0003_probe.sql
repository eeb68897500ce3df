-- 0003_probe: the paid probe's spending ledger (one row per payment it made),
-- read back to enforce the per-day and total caps across restarts.
-- amount: atomic units as decimal text (uint256).
CREATE TABLE IF NOT EXISTS probe_spend (
    id       String,
    url      String,
    network  LowCardinality(String),
    asset    String,
    amount   String,
    spent_at DateTime('UTC'),
    tx       String,
    version  UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id
;
