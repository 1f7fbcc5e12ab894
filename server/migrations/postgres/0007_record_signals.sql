-- Signals recorded in groups (`store/postgres/signal_batch.rs`): every
-- signal that arrived while the last group was being written, in one call
-- and one transaction. The idempotency keys' locks of the whole group are
-- taken first, in one sorted order (the caller sorts and dedups them), so
-- that groups of two replicas whose keys overlap never wait on each other
-- in a cycle; then each signal is recorded in turn by
-- tradeplane_record_signal, with no locks of its own to take. A signal
-- whose key another of the same group holds is that one's duplicate.
-- Answers one row per duplicate: its place in the group (from 1) and the
-- first signal's id and body.
CREATE FUNCTION tradeplane_record_signals(
    signal_ids   TEXT[],
    sources      TEXT[],
    strategies   TEXT[],
    symbols      TEXT[],
    outcomes     INTEGER[],
    bodies       BYTEA[],
    dedupe_keys  TEXT[],
    earlier_keys TEXT[],
    expires      BIGINT[],
    now_ms       BIGINT,
    key_locks    BIGINT[]
) RETURNS TABLE (slot INTEGER, duplicate_id TEXT, duplicate_body BYTEA)
LANGUAGE plpgsql AS $$
DECLARE
    key_lock BIGINT;
    found_id TEXT;
    found_body BYTEA;
BEGIN
    FOREACH key_lock IN ARRAY key_locks LOOP
        PERFORM pg_advisory_xact_lock(key_lock);
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(signal_ids, 1), 0) LOOP
        SELECT r.first_id, r.first_body INTO found_id, found_body
            FROM tradeplane_record_signal(
                signal_ids[i], sources[i], strategies[i], symbols[i], outcomes[i],
                bodies[i], dedupe_keys[i], earlier_keys[i], expires[i], now_ms,
                '{}'::BIGINT[]) AS r;
        IF FOUND THEN
            slot := i;
            duplicate_id := found_id;
            duplicate_body := found_body;
            RETURN NEXT;
        END IF;
    END LOOP;
END $$;
