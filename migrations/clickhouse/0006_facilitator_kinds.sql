CREATE TABLE IF NOT EXISTS facilitator_kinds (
    facilitator_id String,
    x402_version   UInt16,
    scheme         LowCardinality(String),
    network        LowCardinality(String),
    first_seen     DateTime('UTC'),
    last_seen      DateTime('UTC'),
    version        UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (facilitator_id, x402_version, scheme, network)
;
