-- x402scope store, SQLite backend: the initial schema.
-- Amounts are exact: `amount` holds the decimal text; `amount_i64` holds the same
-- value when it fits a signed 64-bit integer (NULL otherwise) so that sums are fast.

-- A rowid table with the natural key as a UNIQUE constraint: secondary indexes then
-- carry an 8-byte rowid rather than the long text key, which keeps them narrow
-- enough for the dashboard's totals and exact distinct counts to scan quickly.
CREATE TABLE payments (
    chain        TEXT    NOT NULL,
    tx_id        TEXT    NOT NULL,
    idx_outer    INTEGER NOT NULL,
    idx_inner    INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    block_hash   TEXT    NOT NULL,
    block_time   INTEGER NOT NULL,
    asset        TEXT    NOT NULL,
    payer        TEXT    NOT NULL,
    pay_to       TEXT    NOT NULL,
    amount       TEXT    NOT NULL,
    amount_i64   INTEGER,
    nonce        TEXT    NOT NULL,
    facilitator  TEXT    NOT NULL,
    tx_from      TEXT    NOT NULL,
    method       TEXT    NOT NULL,
    is_final     INTEGER NOT NULL,
    is_organic   INTEGER NOT NULL,
    UNIQUE (chain, tx_id, idx_outer, idx_inner)
);
CREATE INDEX payments_by_time ON payments (block_time, amount_i64);
CREATE INDEX payments_by_payer ON payments (payer, block_time);
CREATE INDEX payments_by_pay_to ON payments (pay_to, block_time);
CREATE INDEX payments_by_block ON payments (chain, block_number);
-- Transaction lists page newest first on this order.
CREATE INDEX payments_by_recency ON payments (block_time, chain, tx_id, idx_outer, idx_inner);

CREATE TABLE checkpoints (
    chain      TEXT PRIMARY KEY,
    block      INTEGER NOT NULL,
    hash       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE block_window (
    chain       TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    parent_hash TEXT    NOT NULL,
    PRIMARY KEY (chain, number)
) WITHOUT ROWID;

CREATE TABLE facilitators (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    url  TEXT NOT NULL
);

CREATE TABLE facilitator_signers (
    facilitator_id TEXT    NOT NULL,
    network        TEXT    NOT NULL,
    address        TEXT    NOT NULL,
    first_seen     INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    source         TEXT    NOT NULL,
    PRIMARY KEY (network, address, facilitator_id)
) WITHOUT ROWID;

CREATE TABLE listing_snapshots (
    source        TEXT    NOT NULL,
    resource      TEXT    NOT NULL,
    accept_index  INTEGER NOT NULL,
    snapshot_hash TEXT    NOT NULL,
    observed_at   INTEGER NOT NULL,
    scheme        TEXT    NOT NULL,
    network       TEXT    NOT NULL,
    asset         TEXT    NOT NULL,
    pay_to        TEXT    NOT NULL,
    amount        TEXT    NOT NULL,
    raw           TEXT    NOT NULL,
    PRIMARY KEY (source, resource, accept_index, snapshot_hash)
) WITHOUT ROWID;

CREATE TABLE webhook_inbox (
    source      TEXT    NOT NULL,
    webhook_id  TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    headers     TEXT    NOT NULL,
    body        BLOB    NOT NULL,
    status      TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    PRIMARY KEY (source, webhook_id)
) WITHOUT ROWID;

CREATE TABLE claims (
    source       TEXT    NOT NULL,
    claim_id     TEXT    NOT NULL,
    network      TEXT    NOT NULL,
    tx_id        TEXT    NOT NULL,
    payer        TEXT    NOT NULL,
    pay_to       TEXT    NOT NULL,
    asset        TEXT    NOT NULL,
    amount       TEXT    NOT NULL,
    resource_url TEXT    NOT NULL,
    facilitator  TEXT    NOT NULL,
    success      INTEGER NOT NULL,
    claimed_at   INTEGER NOT NULL,
    PRIMARY KEY (source, claim_id)
) WITHOUT ROWID;
CREATE INDEX claims_by_tx ON claims (network, tx_id);

CREATE TABLE probe_runs (
    id          TEXT PRIMARY KEY,
    url         TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    status_code INTEGER NOT NULL,
    latency_ms  INTEGER NOT NULL,
    error       TEXT    NOT NULL
);
CREATE INDEX probe_runs_by_url ON probe_runs (url, started_at);

CREATE TABLE probe_findings (
    run_id   TEXT NOT NULL,
    rule_id  TEXT NOT NULL,
    severity TEXT NOT NULL,
    message  TEXT NOT NULL,
    evidence TEXT NOT NULL,
    PRIMARY KEY (run_id, rule_id, message)
) WITHOUT ROWID;
