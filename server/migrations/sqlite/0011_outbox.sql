-- The notification outbox: one delivery per audit event (by its sequence)
-- and subscription, queued in the transaction that moves the cursor and
-- claimed under a lease. `state` is pending, delivered or dead.
CREATE TABLE outbox_deliveries (
    sequence        INTEGER NOT NULL,
    subscription    TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    lease_until_ms  INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    body            TEXT    NOT NULL,
    created_ms      INTEGER NOT NULL,
    PRIMARY KEY (sequence, subscription)
) WITHOUT ROWID;

-- Claims read the pending deliveries that are due.
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (state, next_attempt_ms);

-- The sequence of the last audit event turned into deliveries: one row.
CREATE TABLE outbox_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    sequence INTEGER NOT NULL
);
INSERT INTO outbox_cursor (id, sequence) VALUES (1, 0);
