-- Signals recorded in groups (`store/postgres/signal_batch.rs`): every
-- signal that arrived while the last group was being written, in one call
-- and one transaction. The idempotency keys' locks of the whole group are
-- taken first, in one sorted order (the caller sorts and dedups them), so
-- that groups of two replicas whose keys overlap never wait on each other
-- in a cycle; then each signal is checked and recorded in turn, as
-- tradeplane_record_signal (0005) does for one. A signal whose key an
-- earlier one of the same group holds is that one's duplicate.
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
BEGIN
    FOREACH key_lock IN ARRAY key_locks LOOP
        PERFORM pg_advisory_xact_lock(key_lock);
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(signal_ids, 1), 0) LOOP
        IF dedupe_keys[i] IS NOT NULL THEN
            SELECT d.signal_id, s.body INTO duplicate_id, duplicate_body
                FROM signal_dedupe AS d
                LEFT JOIN signals AS s ON s.id = d.signal_id
                WHERE (d.key = dedupe_keys[i] OR d.key = earlier_keys[i])
                  AND d.expires_ms > now_ms
                ORDER BY d.key = dedupe_keys[i] DESC LIMIT 1;
            IF FOUND THEN
                slot := i;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        INSERT INTO signals (id, source, strategy, symbol, outcome, body)
            VALUES (signal_ids[i], sources[i], strategies[i], symbols[i], outcomes[i],
                    bodies[i]);
        IF dedupe_keys[i] IS NOT NULL THEN
            -- Under the key's lock no live row has it: one that does is
            -- expired, and is replaced.
            INSERT INTO signal_dedupe AS d (key, signal_id, expires_ms)
                VALUES (dedupe_keys[i], signal_ids[i], expires[i])
                ON CONFLICT (key) DO UPDATE
                SET signal_id = excluded.signal_id, expires_ms = excluded.expires_ms;
        END IF;
    END LOOP;
END $$;
