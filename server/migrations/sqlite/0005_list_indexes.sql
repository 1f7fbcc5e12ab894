-- One index per list filter, each ending in the id: a filtered first page
-- (`WHERE column = ? [AND id < ?] ORDER BY id DESC LIMIT n`) is then a walk
-- of at most n index entries, whatever the table's size. Ids are UUIDv7, so
-- time ranges and page cursors are id bounds on the same walk. A status
-- list is one walk per status (orders_by_status, executions_by_status),
-- merged by the reader. With several filters the planner walks one of
-- these indexes and checks the others on each row.
CREATE INDEX signals_by_source ON signals (source, id);
CREATE INDEX signals_by_symbol ON signals (symbol, id);
CREATE INDEX signals_by_strategy ON signals (strategy, id);
CREATE INDEX signals_by_outcome ON signals (outcome, id);

CREATE INDEX orders_by_exchange ON orders (exchange, id);
CREATE INDEX orders_by_symbol ON orders (symbol, id);
CREATE INDEX orders_by_side ON orders (side, id);
CREATE INDEX orders_by_execution ON orders (execution_id, id);

CREATE INDEX executions_by_pipeline_id ON executions (pipeline_id, id);
-- The claim's "is this pipeline busy" check and the list of a pipeline's
-- executions by status: with the id last, the list is a walk too rather
-- than a sort of every execution of the pipeline in that status.
DROP INDEX executions_by_pipeline;
CREATE INDEX executions_by_pipeline ON executions (pipeline_id, status, id);
CREATE INDEX executions_by_signal ON executions (signal_id, id);
