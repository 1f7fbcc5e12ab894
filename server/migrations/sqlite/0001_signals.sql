-- Signals: the filterable columns, plus the full record as protobuf bytes.
-- Ids are UUIDv7 whose timestamp is the receive time, so time ranges are id
-- ranges and need no index of their own.
CREATE TABLE signals (
    id       TEXT    PRIMARY KEY NOT NULL,
    source   TEXT    NOT NULL,
    strategy TEXT    NOT NULL,
    symbol   TEXT    NOT NULL,
    outcome  INTEGER NOT NULL,
    body     BLOB    NOT NULL
) WITHOUT ROWID;

-- Idempotency keys, remembered until expires_ms.
CREATE TABLE signal_dedupe (
    key        TEXT    PRIMARY KEY NOT NULL,
    signal_id  TEXT    NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX signal_dedupe_by_expiry ON signal_dedupe (expires_ms);
