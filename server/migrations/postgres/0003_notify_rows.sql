-- Watch streams on every replica show the changes made on any of them:
-- each new or changed signal, order, execution and audit event is
-- announced on `tradeplane_rows` as "<table> <key> <application_name>";
-- the replica named (the one that made the change) has already shown it.

CREATE FUNCTION tradeplane_announce_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    key TEXT;
BEGIN
    IF TG_TABLE_NAME = 'audit_events' THEN
        key := NEW.sequence::text;
    ELSE
        key := NEW.id;
    END IF;
    PERFORM pg_notify(
        'tradeplane_rows',
        TG_TABLE_NAME || ' ' || key || ' ' || current_setting('application_name')
    );
    RETURN NULL;
END $$;

CREATE TRIGGER signals_announce_row
    AFTER INSERT ON signals
    FOR EACH ROW EXECUTE FUNCTION tradeplane_announce_row();

CREATE TRIGGER orders_announce_row
    AFTER INSERT OR UPDATE OF status, body ON orders
    FOR EACH ROW EXECUTE FUNCTION tradeplane_announce_row();

CREATE TRIGGER executions_announce_row
    AFTER INSERT OR UPDATE OF status, body ON executions
    FOR EACH ROW EXECUTE FUNCTION tradeplane_announce_row();

CREATE TRIGGER audit_events_announce_row
    AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION tradeplane_announce_row();
