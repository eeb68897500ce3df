-- x402scope store, SQLite backend: KYT screening and reviews (issue 11).

CREATE TABLE kyt_list_versions (
    id           TEXT PRIMARY KEY,
    source       TEXT    NOT NULL,
    format       TEXT    NOT NULL,
    published_at INTEGER NOT NULL,
    loaded_at    INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    entry_count  INTEGER NOT NULL
);

CREATE TABLE kyt_list_entries (
    version_id TEXT NOT NULL,
    address    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    ticker     TEXT NOT NULL,
    label      TEXT NOT NULL,
    PRIMARY KEY (version_id, address, ticker)
) WITHOUT ROWID;

CREATE TABLE kyt_list_changes (
    version_id TEXT NOT NULL,
    source     TEXT NOT NULL,
    address    TEXT NOT NULL,
    change     TEXT NOT NULL,
    label      TEXT NOT NULL,
    PRIMARY KEY (version_id, change, address)
) WITHOUT ROWID;

CREATE TABLE kyt_alerts (
    id             TEXT PRIMARY KEY,
    address        TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    listed_address TEXT    NOT NULL,
    source         TEXT    NOT NULL,
    list_version   TEXT    NOT NULL,
    label          TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    removed_by     TEXT    NOT NULL
);
CREATE INDEX kyt_alerts_by_address ON kyt_alerts (address);

CREATE TABLE kyt_screenings (
    address       TEXT PRIMARY KEY,
    status        TEXT    NOT NULL,
    list_versions TEXT    NOT NULL,
    screened_at   INTEGER NOT NULL
);

CREATE TABLE kyt_cases (
    id        TEXT PRIMARY KEY,
    alert_id  TEXT    NOT NULL,
    opened_at INTEGER NOT NULL,
    opened_by TEXT    NOT NULL
);

-- Append-only: x402scope never updates or deletes these rows; each holds the
-- previous event's hash and its own, so `x402scope screen verify` finds any edit.
CREATE TABLE kyt_case_events (
    case_id   TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    payload   TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL,
    PRIMARY KEY (case_id, seq)
) WITHOUT ROWID;

CREATE TABLE kyt_api_keys (
    key_id     TEXT PRIMARY KEY,
    reviewer   TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    key_hash   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
