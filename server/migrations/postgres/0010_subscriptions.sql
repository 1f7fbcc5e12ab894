-- Notification subscriptions made through the API (see the SQLite 0012
-- migration). `body` is the tradeplane.v1.Subscription as created,
-- channel secrets included: an RPC shows it only redacted. Every replica
-- re-reads the table once per outbox poll.
CREATE TABLE notify_subscriptions (
    name       TEXT   PRIMARY KEY,
    request_id TEXT   UNIQUE,
    body       BYTEA  NOT NULL
);
