-- Whether an event of an action and target is stored (a scheduled report
-- is written once per window): a lookup rather than a scan of the log.
CREATE INDEX audit_events_by_action ON audit_events (action, target);
