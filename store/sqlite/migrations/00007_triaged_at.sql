-- When an alert's triage or incident last changed, stamped by the database
-- itself on every such change, so that no code path can forget it: the
-- repair of alerts a crash left declared without an incident (see
-- StrandedAlerts) takes up only those that stayed so longer than any
-- declaration takes. NULL: not changed since this migration.

-- +goose Up
ALTER TABLE alerts ADD COLUMN triaged_at INTEGER;

CREATE TRIGGER alerts_triaged_at AFTER UPDATE OF triage, incident_id ON alerts
FOR EACH ROW WHEN NEW.triage IS NOT OLD.triage OR NEW.incident_id IS NOT OLD.incident_id
BEGIN
	UPDATE alerts SET triaged_at = CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) WHERE id = NEW.id;
END;

-- Alerts declared without an incident: few, and only for a moment, but a
-- repair looks for them every minute.
CREATE INDEX alerts_stranded_idx ON alerts (id) WHERE triage = 'declared' AND incident_id IS NULL;

-- +goose Down
DROP INDEX alerts_stranded_idx;
DROP TRIGGER alerts_triaged_at;
ALTER TABLE alerts DROP COLUMN triaged_at;
