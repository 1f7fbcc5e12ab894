-- The approval queue: orders of pipelines that require approval, held
-- until an operator decides or they expire. The body (protobuf
-- `Approval`, pending) never changes; the decision lives in the columns,
-- written once by `UPDATE … WHERE state = 'pending'`.
CREATE TABLE approvals (
    id           TEXT    PRIMARY KEY NOT NULL,
    -- One approval per execution: a resumed execution finds its own.
    execution_id TEXT    NOT NULL UNIQUE,
    pipeline_id  TEXT    NOT NULL,
    -- pending, approved, rejected or expired.
    state        TEXT    NOT NULL,
    expire_ms    INTEGER NOT NULL,
    decided_by   TEXT    NOT NULL DEFAULT '',
    reason       TEXT    NOT NULL DEFAULT '',
    decide_ms    INTEGER NOT NULL DEFAULT 0,
    body         BLOB    NOT NULL
) WITHOUT ROWID;

CREATE INDEX approvals_by_state ON approvals (state, expire_ms);
