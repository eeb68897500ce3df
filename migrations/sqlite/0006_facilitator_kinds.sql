-- The payment kinds each facilitator's /supported listed, with the first and
-- last time they were seen (a kind no longer listed keeps its last_seen).
CREATE TABLE facilitator_kinds (
    facilitator_id TEXT    NOT NULL,
    x402_version   INTEGER NOT NULL,
    scheme         TEXT    NOT NULL,
    network        TEXT    NOT NULL,
    first_seen     INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    PRIMARY KEY (facilitator_id, x402_version, scheme, network)
) WITHOUT ROWID;
