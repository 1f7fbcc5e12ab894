-- Running state kept beside the orders (paper balance sheets, pipeline
-- positions), written in the same transaction as the order change it
-- follows, so that start-up reads these rows instead of every order.
-- A row is replaced only by a higher version.
CREATE TABLE snapshots (
    scope   TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    version INTEGER NOT NULL,
    body    TEXT    NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

-- The ledger is built from the order history once, on the first start
-- after this migration (version 0: not yet).
INSERT INTO snapshots (scope, key, version, body) VALUES ('ledger', 'built', 0, 'false');
