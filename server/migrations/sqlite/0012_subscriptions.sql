-- Notification subscriptions made through the API (those of the
-- configuration file are not stored). `body` is the
-- tradeplane.v1.Subscription as created, channel secrets included: an
-- RPC shows it only redacted.
CREATE TABLE notify_subscriptions (
    name       TEXT    PRIMARY KEY,
    request_id TEXT    UNIQUE,
    body       BLOB    NOT NULL
);
