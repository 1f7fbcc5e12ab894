-- The pipeline an order belongs to, as a column: the orders-per-minute
-- rule counts a pipeline's recent orders by it, reading only those.
ALTER TABLE orders ADD COLUMN pipeline_id TEXT NOT NULL DEFAULT '';
UPDATE orders SET pipeline_id = executions.pipeline_id
    FROM executions WHERE executions.id = orders.execution_id;
CREATE INDEX orders_by_pipeline ON orders (pipeline_id, id);
