-- Alert sources and alerts. Times are INTEGER unix microseconds (UTC), as in
-- the first schema. labels and samples are JSON text.

-- +goose Up
CREATE TABLE sources (
	name       TEXT    NOT NULL PRIMARY KEY,
	kind       TEXT    NOT NULL,
	key_hash   TEXT    NOT NULL,
	allow      TEXT    NOT NULL DEFAULT '[]',
	created_at INTEGER NOT NULL,
	created_by TEXT    NOT NULL,
	CONSTRAINT sources_key_hash_key UNIQUE (key_hash)
) STRICT;

-- AUTOINCREMENT: an alert ID on an incident's timeline (which is evidence)
-- must never come to name another alert, even if the newest rows were ever
-- removed.
CREATE TABLE alerts (
	id          INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	source      TEXT    NOT NULL,
	dedup_key   TEXT    NOT NULL,
	status      TEXT    NOT NULL CHECK (status IN ('firing', 'acknowledged', 'resolved')),
	triage      TEXT    NOT NULL CHECK (triage IN ('pending', 'declared', 'attached', 'suppressed')),
	severity    INTEGER NOT NULL CHECK (severity BETWEEN 0 AND 4),
	summary     TEXT    NOT NULL,
	labels      TEXT    NOT NULL DEFAULT '{}',
	count       INTEGER NOT NULL CHECK (count > 0),
	first_seen  INTEGER NOT NULL,
	last_seen   INTEGER NOT NULL,
	resolved_at INTEGER,
	incident_id TEXT,
	samples     TEXT    NOT NULL DEFAULT '[]'
) STRICT;

-- One open alert per key: the ingest upsert names this index (with the same
-- WHERE) as its conflict target.
CREATE UNIQUE INDEX alerts_open_key ON alerts (source, dedup_key) WHERE status <> 'resolved';
-- The triage desk: pending alerts, most recently seen first.
CREATE INDEX alerts_triage_idx ON alerts (triage, last_seen DESC);
-- Listings of all alerts and of open ones.
CREATE INDEX alerts_last_seen_idx ON alerts (last_seen DESC);
CREATE INDEX alerts_open_last_seen_idx ON alerts (last_seen DESC) WHERE status <> 'resolved';

-- +goose Down
DROP TABLE alerts;
DROP TABLE sources;
