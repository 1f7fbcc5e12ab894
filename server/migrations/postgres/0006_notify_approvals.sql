-- WatchApprovals on every replica shows the approvals held and decided on
-- any of them: each new approval, and each decision, is announced on
-- `tradeplane_rows` like the rows of 0003_notify_rows.sql.

CREATE TRIGGER approvals_announce_row
    AFTER INSERT OR UPDATE OF state ON approvals
    FOR EACH ROW EXECUTE FUNCTION tradeplane_announce_row();
