-- Signals: the filterable columns, plus the full record as protobuf bytes.
CREATE TABLE signals (
    id         TEXT    PRIMARY KEY NOT NULL,
    receive_ms INTEGER NOT NULL,
    source     TEXT    NOT NULL,
    strategy   TEXT    NOT NULL,
    symbol     TEXT    NOT NULL,
    outcome    INTEGER NOT NULL,
    body       BLOB    NOT NULL
) WITHOUT ROWID;

CREATE INDEX signals_by_receive_time ON signals (receive_ms);

-- Idempotency keys, remembered until expires_ms.
CREATE TABLE signal_dedupe (
    key        TEXT    PRIMARY KEY NOT NULL,
    signal_id  TEXT    NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX signal_dedupe_by_expiry ON signal_dedupe (expires_ms);
