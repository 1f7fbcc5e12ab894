-- Orders: the filterable columns, plus the full record (fills and
-- transitions included) as protobuf bytes. Ids are UUIDv7.
CREATE TABLE orders (
    id              TEXT    PRIMARY KEY NOT NULL,
    client_order_id TEXT    NOT NULL UNIQUE,
    -- The PlaceOrder request_id: a retry finds the first order.
    request_id      TEXT    UNIQUE,
    exchange        TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            INTEGER NOT NULL,
    status          INTEGER NOT NULL,
    execution_id    TEXT    NOT NULL,
    body            BLOB    NOT NULL
) WITHOUT ROWID;

CREATE INDEX orders_by_status ON orders (status, id);
