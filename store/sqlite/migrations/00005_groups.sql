-- Lookups that dispatch makes on every alert it attaches or declares: the
-- open incident of a group key, and the alerts on an incident.

-- +goose Up
ALTER TABLE incidents ADD COLUMN group_key TEXT;
UPDATE incidents SET group_key = json_extract(state, '$.group_key')
	WHERE json_extract(state, '$.group_key') IS NOT NULL;
CREATE INDEX incidents_group_idx ON incidents (group_key) WHERE group_key IS NOT NULL;
CREATE INDEX alerts_incident_idx ON alerts (incident_id, last_seen DESC) WHERE incident_id IS NOT NULL;

-- +goose Down
DROP INDEX alerts_incident_idx;
DROP INDEX incidents_group_idx;
ALTER TABLE incidents DROP COLUMN group_key;
