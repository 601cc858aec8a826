-- When an alert's triage or incident last changed, stamped by the database
-- itself on every such change, so that no code path can forget it: the
-- repair of alerts a crash left declared without an incident (see
-- StrandedAlerts) takes up only those that stayed so longer than any
-- declaration takes. NULL: not changed since this migration. (00006 is
-- SQLite's alone.)

-- +goose Up
ALTER TABLE alerts ADD COLUMN triaged_at timestamptz;

-- +goose StatementBegin
CREATE FUNCTION alerts_triaged_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.triaged_at := clock_timestamp();
	RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER alerts_triaged_at BEFORE UPDATE OF triage, incident_id ON alerts
	FOR EACH ROW WHEN (NEW.triage IS DISTINCT FROM OLD.triage OR NEW.incident_id IS DISTINCT FROM OLD.incident_id)
	EXECUTE FUNCTION alerts_triaged_at();

-- Alerts declared without an incident: few, and only for a moment, but a
-- repair looks for them every minute.
CREATE INDEX alerts_stranded_idx ON alerts (id) WHERE triage = 'declared' AND incident_id IS NULL;

-- +goose Down
DROP INDEX alerts_stranded_idx;
DROP TRIGGER alerts_triaged_at ON alerts;
DROP FUNCTION alerts_triaged_at();
ALTER TABLE alerts DROP COLUMN triaged_at;
