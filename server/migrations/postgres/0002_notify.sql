-- Replicas hear of each other's changes by LISTEN/NOTIFY (each also
-- re-reads the shared state every second, in case a notice is lost).
-- The payload is the table's name and the time of the change in Unix
-- milliseconds, from which a listener measures the notice's lag.

CREATE FUNCTION tradeplane_announce_shared() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'tradeplane_shared',
        TG_TABLE_NAME || ' ' || floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint
    );
    RETURN NULL;
END $$;

CREATE FUNCTION tradeplane_announce_queued() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tradeplane_queued', '');
    RETURN NULL;
END $$;

-- Keys made, revoked or expired; not the batched last-used times.
CREATE TRIGGER api_keys_announce
    AFTER INSERT OR DELETE OR UPDATE OF revoked_ms, expire_ms ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tradeplane_announce_shared();

-- The halt, rate limits, allowlists and the webhook passphrase.
CREATE TRIGGER settings_announce
    AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION tradeplane_announce_shared();

CREATE TRIGGER pipelines_announce
    AFTER INSERT OR UPDATE OR DELETE ON pipelines
    FOR EACH STATEMENT EXECUTE FUNCTION tradeplane_announce_shared();

CREATE TRIGGER executions_announce
    AFTER INSERT ON executions
    FOR EACH STATEMENT EXECUTE FUNCTION tradeplane_announce_queued();
