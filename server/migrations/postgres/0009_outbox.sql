-- The notification outbox (see the SQLite 0011 migration): one delivery
-- per audit event (by its sequence) and subscription, queued in the
-- transaction that moves the cursor, and claimed by the replicas with
-- `FOR UPDATE SKIP LOCKED` under a lease. `state` is pending, delivered
-- or dead.
CREATE TABLE outbox_deliveries (
    sequence        BIGINT  NOT NULL,
    subscription    TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT  NOT NULL,
    lease_until_ms  BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    body            TEXT    NOT NULL,
    created_ms      BIGINT  NOT NULL,
    PRIMARY KEY (sequence, subscription)
);

-- Claims read the pending deliveries that are due.
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (state, next_attempt_ms);

-- The sequence of the last audit event turned into deliveries: one row,
-- apart from `settings` so that moving it announces nothing.
CREATE TABLE outbox_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    sequence BIGINT  NOT NULL
);
INSERT INTO outbox_cursor (id, sequence) VALUES (1, 0);
