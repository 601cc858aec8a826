-- Alert sources and alerts. labels and samples are JSON text rather than
-- jsonb: jsonb refuses the \u0000 escape that a raw payload may hold.

-- +goose Up
CREATE TABLE sources (
	name       text        NOT NULL,
	kind       text        NOT NULL,
	key_hash   text        NOT NULL,
	allow      text        NOT NULL DEFAULT '[]',
	created_at timestamptz NOT NULL,
	created_by text        NOT NULL,
	CONSTRAINT sources_pkey PRIMARY KEY (name),
	CONSTRAINT sources_key_hash_key UNIQUE (key_hash)
);

CREATE TABLE alerts (
	id          bigint      GENERATED ALWAYS AS IDENTITY,
	source      text        NOT NULL,
	dedup_key   text        NOT NULL,
	status      text        NOT NULL,
	triage      text        NOT NULL,
	severity    smallint    NOT NULL,
	summary     text        NOT NULL,
	labels      text        NOT NULL DEFAULT '{}',
	count       bigint      NOT NULL,
	first_seen  timestamptz NOT NULL,
	last_seen   timestamptz NOT NULL,
	resolved_at timestamptz,
	incident_id text,
	samples     text        NOT NULL DEFAULT '[]',
	CONSTRAINT alerts_pkey PRIMARY KEY (id),
	CONSTRAINT alerts_status_check CHECK (status IN ('firing', 'acknowledged', 'resolved')),
	CONSTRAINT alerts_triage_check CHECK (triage IN ('pending', 'declared', 'attached', 'suppressed')),
	CONSTRAINT alerts_severity_check CHECK (severity BETWEEN 0 AND 4),
	CONSTRAINT alerts_count_check CHECK (count > 0)
);

-- One open alert per key: the ingest upsert names this index (with the same
-- WHERE) as its conflict target, which also keeps replicas that insert one
-- new key at once to one row.
CREATE UNIQUE INDEX alerts_open_key ON alerts (source, dedup_key) WHERE status <> 'resolved';
-- The triage desk: pending alerts, most recently seen first.
CREATE INDEX alerts_triage_idx ON alerts (triage, last_seen DESC);
-- Listings of all alerts and of open ones.
CREATE INDEX alerts_last_seen_idx ON alerts (last_seen DESC);
CREATE INDEX alerts_open_last_seen_idx ON alerts (last_seen DESC) WHERE status <> 'resolved';

-- alert_samples_merge adds the samples of a batch (later) to an alert's
-- (old), both JSON arrays of strings: it keeps the first keep_first of all
-- and the latest up to keep in total, the rule the SQLite store applies in
-- Go. json rather than jsonb keeps each element's text as it is.
-- +goose StatementBegin
CREATE FUNCTION alert_samples_merge(old text, later text, keep_first integer, keep integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	WITH s AS (
		SELECT e, o FROM json_array_elements(old::json) WITH ORDINALITY AS a(e, o)
		UNION ALL
		SELECT e, o + 1000000000 FROM json_array_elements(later::json) WITH ORDINALITY AS b(e, o)
	), n AS (
		SELECT e, row_number() OVER (ORDER BY o) AS r, count(*) OVER () AS c FROM s
	)
	SELECT coalesce(json_agg(e ORDER BY r)::text, '[]') FROM n
	WHERE r <= keep_first OR r > c - (keep - keep_first)
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION alert_samples_merge(text, text, integer, integer);
DROP TABLE alerts;
DROP TABLE sources;
