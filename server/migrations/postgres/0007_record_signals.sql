-- Signals recorded in groups (`store/postgres/signal_batch.rs`): every
-- signal that arrived while the last group was being written, in one call
-- and one transaction. The idempotency keys' locks of the whole group are
-- taken first, in one sorted order (the caller sorts and dedups them), so
-- that groups of two replicas whose keys overlap never wait on each other
-- in a cycle; then each signal is checked in turn, as
-- tradeplane_record_signal (0005) did for one, and the group's new signals
-- go in with one statement at the end. A signal whose key an earlier one
-- of the same group holds is that one's duplicate: it finds that one's key
-- but not yet its row, and its body comes from the group.
-- Answers one row per duplicate: its place in the group (from 1) and the
-- first signal's id and body.
--
-- The group's new signals are announced to the other replicas in a few
-- notices, not one per signal: a statement trigger sends their ids on
-- `tradeplane_rows`, up to 100 to a notice, as
-- "signals <id>,<id>,… <application_name>". A notice per row cost the
-- replica that writes them about a fifth of its signal throughput, each
-- notice being queued, sent to every listener and read back only to be
-- skipped.

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
    fresh INTEGER[] := '{}';
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
                IF duplicate_body IS NULL THEN
                    SELECT bodies[j] INTO duplicate_body
                        FROM unnest(fresh) AS j WHERE signal_ids[j] = duplicate_id;
                END IF;
                slot := i;
                RETURN NEXT;
                CONTINUE;
            END IF;
            -- Under the key's lock no live row has it: one that does is
            -- expired, and is replaced.
            INSERT INTO signal_dedupe AS d (key, signal_id, expires_ms)
                VALUES (dedupe_keys[i], signal_ids[i], expires[i])
                ON CONFLICT (key) DO UPDATE
                SET signal_id = excluded.signal_id, expires_ms = excluded.expires_ms;
        END IF;
        fresh := fresh || i;
    END LOOP;
    INSERT INTO signals (id, source, strategy, symbol, outcome, body)
        SELECT signal_ids[j], sources[j], strategies[j], symbols[j], outcomes[j], bodies[j]
        FROM unnest(fresh) AS j;
END $$;

CREATE FUNCTION tradeplane_announce_signals() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    ids TEXT;
BEGIN
    FOR ids IN
        SELECT string_agg(id, ',')
        FROM (SELECT id, (row_number() OVER ()) / 100 AS part FROM added) AS numbered
        GROUP BY part
    LOOP
        PERFORM pg_notify(
            'tradeplane_rows',
            'signals ' || ids || ' ' || current_setting('application_name')
        );
    END LOOP;
    RETURN NULL;
END $$;

DROP TRIGGER signals_announce_row ON signals;

CREATE TRIGGER signals_announce_rows
    AFTER INSERT ON signals
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION tradeplane_announce_signals();

-- Signals are recorded in groups only: the one-signal form of 0005 is no
-- longer called.
DROP FUNCTION tradeplane_record_signal(
    TEXT, TEXT, TEXT, TEXT, INTEGER, BYTEA, TEXT, TEXT, BIGINT, BIGINT, BIGINT[]
);
