-- Analysis: the derived correlation table (replaced wholesale by every run),
-- the organic filter's address flags, and the ledger of observed payments
-- (a payment a reorg removed stays here, so its claims become orphaned_by_reorg).
CREATE TABLE analysis_observed (
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
    nonce        TEXT    NOT NULL,
    facilitator  TEXT    NOT NULL,
    tx_from      TEXT    NOT NULL,
    method       TEXT    NOT NULL,
    PRIMARY KEY (chain, tx_id, idx_outer, idx_inner)
) WITHOUT ROWID;
CREATE TABLE analysis_matches (
    row_key        TEXT    PRIMARY KEY,
    claim_source   TEXT    NOT NULL,
    claim_id       TEXT    NOT NULL,
    network        TEXT    NOT NULL,
    tx_id          TEXT    NOT NULL,
    idx_outer      INTEGER NOT NULL,
    idx_inner      INTEGER NOT NULL,
    has_payment    INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    rule           TEXT    NOT NULL,
    payer          TEXT    NOT NULL,
    pay_to         TEXT    NOT NULL,
    asset          TEXT    NOT NULL,
    amount         TEXT    NOT NULL,
    claimed_amount TEXT    NOT NULL,
    block_time     INTEGER NOT NULL,
    claimed_at     INTEGER NOT NULL,
    facilitator    TEXT    NOT NULL,
    resource       TEXT    NOT NULL,
    price_status   TEXT    NOT NULL,
    listed_amount  TEXT    NOT NULL,
    is_final       INTEGER NOT NULL,
    is_organic     INTEGER NOT NULL,
    detail         TEXT    NOT NULL,
    run_at         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX analysis_matches_by_pay_to ON analysis_matches (pay_to);
CREATE TABLE analysis_address_flags (
    address TEXT    NOT NULL,
    flag    TEXT    NOT NULL,
    detail  TEXT    NOT NULL,
    run_at  INTEGER NOT NULL,
    PRIMARY KEY (address, flag)
) WITHOUT ROWID;
CREATE TABLE analysis_runs (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    finished_at INTEGER NOT NULL
);
