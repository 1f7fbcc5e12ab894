-- An upsert (INSERT … ON CONFLICT DO UPDATE) fires the statement triggers
-- of both INSERT and UPDATE. Stamped with clock_timestamp(), their two
-- notices differed whenever a millisecond passed between them, and the
-- replicas heard (and reloaded) twice. Stamped with the statement's start,
-- they are the same, and PostgreSQL sends one.
CREATE OR REPLACE FUNCTION tradeplane_announce_shared() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'tradeplane_shared',
        TG_TABLE_NAME || ' ' || floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint
    );
    RETURN NULL;
END $$;
