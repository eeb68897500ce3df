-- 0003_probe: the paid probe's spending ledger (one row per payment it made),
-- read back to enforce the per-day and total caps across restarts.
CREATE TABLE probe_spend (
    id       TEXT PRIMARY KEY,
    url      TEXT    NOT NULL,
    network  TEXT    NOT NULL,
    asset    TEXT    NOT NULL,
    -- atomic units, decimal text (uint256)
    amount   TEXT    NOT NULL,
    spent_at INTEGER NOT NULL,
    tx       TEXT    NOT NULL
);
CREATE INDEX probe_spend_by_time ON probe_spend (spent_at);
