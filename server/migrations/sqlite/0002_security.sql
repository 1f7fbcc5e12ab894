-- API keys: only the SHA-256 of each token is kept.
CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY NOT NULL,
    name         TEXT    NOT NULL,
    role         INTEGER NOT NULL,
    prefix       TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    create_ms    INTEGER NOT NULL,
    expire_ms    INTEGER,
    last_used_ms INTEGER,
    revoked_ms   INTEGER,
    -- The CreateApiKey request_id, so that a retry creates no second key.
    request_id   TEXT    UNIQUE
) WITHOUT ROWID;

-- Settings changed at run time through the admin API (JSON values); they
-- win over the configuration file until changed again.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- The audit log: append-only, each row chained to the one before by hash.
CREATE TABLE audit_events (
    sequence       INTEGER PRIMARY KEY NOT NULL,
    time_ms        INTEGER NOT NULL,
    actor          TEXT    NOT NULL,
    source_address TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    target         TEXT    NOT NULL,
    outcome        INTEGER NOT NULL,
    detail         TEXT    NOT NULL,
    trace_id       TEXT    NOT NULL,
    previous_hash  TEXT    NOT NULL,
    hash           TEXT    NOT NULL
);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
