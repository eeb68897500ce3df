-- The Solana indexer's progress per watched address (see crates/store/src/solana.rs).
-- Empty strings mean "none". Read with FINAL; the newest version wins.
CREATE TABLE IF NOT EXISTS solana_cursors (
    chain      LowCardinality(String),
    address    String,
    until_sig  String,
    before_sig String,
    next_until String,
    updated_at DateTime('UTC'),
    version    UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (chain, address)
;
