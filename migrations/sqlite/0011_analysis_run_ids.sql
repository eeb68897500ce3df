-- Analysis runs write their derived rows in pages, each under the run's id, and
-- a run is shown once its commit names it in analysis_runs; readers take only
-- that run's rows, so they still see one whole run. Older runs' rows are then
-- deleted a page at a time. The table is derived: it is recreated empty here
-- and the next analysis run fills it.
DROP TABLE analysis_matches;
CREATE TABLE analysis_matches (
    run_id         INTEGER NOT NULL,
    row_key        TEXT    NOT NULL,
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
    run_at         INTEGER NOT NULL,
    PRIMARY KEY (run_id, row_key)
) WITHOUT ROWID;
CREATE INDEX analysis_matches_by_pay_to ON analysis_matches (run_id, pay_to);
ALTER TABLE analysis_runs ADD COLUMN run_id INTEGER NOT NULL DEFAULT 0;
