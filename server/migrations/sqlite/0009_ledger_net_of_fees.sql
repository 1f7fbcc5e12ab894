-- Positions are booked net of a fee taken in the asset bought (Binance
-- without BNB takes a buy's fee in the base asset): the account holds the
-- fill less that fee. Ledgers built before booked fills gross, so the
-- ledger is built again from the order history, once, on the next start.
-- (A `resync` adjustment is not in that history: the next reconciliation
-- finds the drift again and the pipeline's policy applies.)
DELETE FROM snapshots WHERE scope IN ('paper.settled', 'pipeline.position');
UPDATE snapshots SET version = 0, body = 'false' WHERE scope = 'ledger' AND key = 'built';
