-- The Solana indexer's progress per watched address (see crates/store/src/solana.rs).
-- Empty text means "none".
CREATE TABLE solana_cursors (
    chain      TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    until_sig  TEXT    NOT NULL,
    before_sig TEXT    NOT NULL,
    next_until TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (chain, address)
) WITHOUT ROWID;
-- Rows not final yet are few and short-lived: a partial index finds them
-- without scanning every payment, and shrinks as rows become final.
CREATE INDEX payments_not_final_by_tx ON payments (chain, tx_id) WHERE is_final = 0;
