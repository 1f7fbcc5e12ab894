-- The PostgreSQL schema: the SQLite schema as of its migration 0009, for a
-- database that several tradeplane replicas share. Ids are UUIDv7 text, so
-- id order is creation order and time ranges are id ranges; every list
-- filter has an index ending in the id (see the SQLite 0005 migration).

CREATE TABLE signals (
    id       TEXT    PRIMARY KEY,
    source   TEXT    NOT NULL,
    strategy TEXT    NOT NULL,
    symbol   TEXT    NOT NULL,
    outcome  INTEGER NOT NULL,
    body     BYTEA   NOT NULL
);
CREATE INDEX signals_by_source ON signals (source, id);
CREATE INDEX signals_by_symbol ON signals (symbol, id);
CREATE INDEX signals_by_strategy ON signals (strategy, id);
CREATE INDEX signals_by_outcome ON signals (outcome, id);

-- Idempotency keys, remembered until expires_ms. The primary key is what
-- makes two replicas that receive the same retry record one signal.
CREATE TABLE signal_dedupe (
    key        TEXT   PRIMARY KEY,
    signal_id  TEXT   NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX signal_dedupe_by_expiry ON signal_dedupe (expires_ms);

CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    role         INTEGER NOT NULL,
    prefix       TEXT    NOT NULL,
    token_hash   BYTEA   NOT NULL UNIQUE,
    create_ms    BIGINT  NOT NULL,
    expire_ms    BIGINT,
    last_used_ms BIGINT,
    revoked_ms   BIGINT,
    request_id   TEXT    UNIQUE
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The audit log: append-only, each row chained to the one before by hash.
-- Appends take `audit_chain_lock` for their transaction, so that the
-- sequence and previous hash are assigned by one writer at a time across
-- every replica.
CREATE TABLE audit_events (
    sequence       BIGINT  PRIMARY KEY,
    time_ms        BIGINT  NOT NULL,
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

CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE orders (
    id              TEXT    PRIMARY KEY,
    client_order_id TEXT    NOT NULL UNIQUE,
    request_id      TEXT    UNIQUE,
    exchange        TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            INTEGER NOT NULL,
    status          INTEGER NOT NULL,
    execution_id    TEXT    NOT NULL,
    body            BYTEA   NOT NULL
);
CREATE INDEX orders_by_status ON orders (status, id);
CREATE INDEX orders_by_exchange ON orders (exchange, id);
CREATE INDEX orders_by_symbol ON orders (symbol, id);
CREATE INDEX orders_by_side ON orders (side, id);
CREATE INDEX orders_by_execution ON orders (execution_id, id);

CREATE TABLE pipelines (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    state      INTEGER NOT NULL,
    exchange   TEXT    NOT NULL,
    request_id TEXT    UNIQUE,
    body       BYTEA   NOT NULL
);

CREATE TABLE executions (
    id              TEXT    PRIMARY KEY,
    pipeline_id     TEXT    NOT NULL,
    signal_id       TEXT    NOT NULL,
    status          INTEGER NOT NULL,
    lease_until_ms  BIGINT  NOT NULL DEFAULT 0,
    traceparent     TEXT    NOT NULL DEFAULT '',
    request_id      TEXT    UNIQUE,
    skip_if_running BOOLEAN NOT NULL DEFAULT FALSE,
    body            BYTEA   NOT NULL
);
CREATE INDEX executions_by_status ON executions (status, id);
CREATE INDEX executions_by_pipeline ON executions (pipeline_id, status, id);
CREATE INDEX executions_by_pipeline_id ON executions (pipeline_id, id);
CREATE INDEX executions_by_signal ON executions (signal_id, id);

CREATE TABLE snapshots (
    scope   TEXT   NOT NULL,
    key     TEXT   NOT NULL,
    version BIGINT NOT NULL,
    body    TEXT   NOT NULL,
    PRIMARY KEY (scope, key)
);
INSERT INTO snapshots (scope, key, version, body) VALUES ('ledger', 'built', 0, 'false');

CREATE TABLE approvals (
    id           TEXT    PRIMARY KEY,
    execution_id TEXT    NOT NULL UNIQUE,
    pipeline_id  TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    expire_ms    BIGINT  NOT NULL,
    decided_by   TEXT    NOT NULL DEFAULT '',
    reason       TEXT    NOT NULL DEFAULT '',
    decide_ms    BIGINT  NOT NULL DEFAULT 0,
    body         BYTEA   NOT NULL
);
CREATE INDEX approvals_by_state ON approvals (state, expire_ms);
