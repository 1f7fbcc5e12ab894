-- Pipelines: the filterable columns plus the whole resource as protobuf.
CREATE TABLE pipelines (
    id         TEXT    PRIMARY KEY NOT NULL,
    name       TEXT    NOT NULL UNIQUE,
    state      INTEGER NOT NULL,
    exchange   TEXT    NOT NULL,
    -- The CreatePipeline request_id: a retry finds the first pipeline.
    request_id TEXT    UNIQUE,
    body       BLOB    NOT NULL
) WITHOUT ROWID;

-- Executions are created in the transaction that accepts their signal.
-- Workers claim PENDING ones (or RUNNING ones whose lease expired) by
-- setting a lease. Ids are UUIDv7, so id order is creation order.
CREATE TABLE executions (
    id             TEXT    PRIMARY KEY NOT NULL,
    pipeline_id    TEXT    NOT NULL,
    signal_id      TEXT    NOT NULL,
    status         INTEGER NOT NULL,
    lease_until_ms INTEGER NOT NULL DEFAULT 0,
    -- The W3C traceparent of the call that created it: the execution's
    -- span continues that trace, even after a restart.
    traceparent    TEXT    NOT NULL DEFAULT '',
    -- The RunPipeline request_id: a retry finds the first execution.
    request_id     TEXT    UNIQUE,
    -- 1: skip rather than queue behind a running execution.
    skip_if_running INTEGER NOT NULL DEFAULT 0,
    body           BLOB    NOT NULL
) WITHOUT ROWID;

CREATE INDEX executions_by_status ON executions (status, id);
CREATE INDEX executions_by_pipeline ON executions (pipeline_id, status);
