-- A signal and its idempotency key recorded in one round trip: the steps
-- `store/postgres/signals.rs` describes, run by the server next to the
-- data. Each statement of a volatile function takes a fresh snapshot, so
-- the duplicate check, made once the keys' locks are held, sees every
-- signal committed before, as the separate statements did.
-- Answers the first signal's id and body when a key of this one is alive
-- (then nothing is written), and no row when the signal was recorded.
CREATE FUNCTION tradeplane_record_signal(
    signal_id   TEXT,
    source      TEXT,
    strategy    TEXT,
    symbol      TEXT,
    outcome     INTEGER,
    body        BYTEA,
    dedupe_key  TEXT,
    earlier_key TEXT,
    expires_ms  BIGINT,
    now_ms      BIGINT,
    key_locks   BIGINT[]
) RETURNS TABLE (first_id TEXT, first_body BYTEA)
LANGUAGE plpgsql AS $$
DECLARE
    key_lock BIGINT;
BEGIN
    IF dedupe_key IS NOT NULL THEN
        -- In the order given (sorted by the caller): writers whose keys
        -- overlap never wait on each other in a cycle.
        FOREACH key_lock IN ARRAY key_locks LOOP
            PERFORM pg_advisory_xact_lock(key_lock);
        END LOOP;
        RETURN QUERY
            SELECT d.signal_id, s.body FROM signal_dedupe AS d
            LEFT JOIN signals AS s ON s.id = d.signal_id
            WHERE (d.key = dedupe_key OR d.key = earlier_key)
              AND d.expires_ms > now_ms
            ORDER BY d.key = dedupe_key DESC LIMIT 1;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    INSERT INTO signals (id, source, strategy, symbol, outcome, body)
        VALUES (signal_id, source, strategy, symbol, outcome, body);
    IF dedupe_key IS NOT NULL THEN
        -- Under the key's lock no live row has it: one that does is
        -- expired, and is replaced.
        INSERT INTO signal_dedupe AS d (key, signal_id, expires_ms)
            VALUES (dedupe_key, tradeplane_record_signal.signal_id, expires_ms)
            ON CONFLICT (key) DO UPDATE
            SET signal_id = excluded.signal_id, expires_ms = excluded.expires_ms;
    END IF;
END $$;
