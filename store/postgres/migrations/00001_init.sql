-- The first schema. Times are timestamptz, which keeps microseconds exactly:
-- the domain truncates to microseconds, so every entry's hash recomputes.
-- Constraints are named: the store maps violations to sitrep errors by name.
-- Incident state and entry data are text, not jsonb: an entry's hash covers
-- its exact bytes, which jsonb would rewrite, and jsonb refuses the \u0000
-- escape that a title may legitimately hold.

-- +goose Up
CREATE TABLE users (
	name       text        NOT NULL,
	role       text        NOT NULL,
	email      text        NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL,
	CONSTRAINT users_pkey PRIMARY KEY (name),
	CONSTRAINT users_role_check CHECK (role IN ('admin', 'responder', 'viewer'))
);

CREATE TABLE tokens (
	id         text        NOT NULL,
	user_name  text        NOT NULL,
	label      text        NOT NULL DEFAULT '',
	hash       text        NOT NULL,
	created_at timestamptz NOT NULL,
	CONSTRAINT tokens_pkey PRIMARY KEY (id),
	CONSTRAINT tokens_hash_key UNIQUE (hash),
	CONSTRAINT tokens_user_fkey FOREIGN KEY (user_name) REFERENCES users (name)
);
CREATE INDEX tokens_user_name_idx ON tokens (user_name);

CREATE TABLE incident_counters (
	year integer NOT NULL,
	last integer NOT NULL,
	CONSTRAINT incident_counters_pkey PRIMARY KEY (year),
	CONSTRAINT incident_counters_last_check CHECK (last > 0)
);

-- state is the JSON of the whole sitrep.Incident (the projection); the other
-- columns copy what listings filter and sort on.
CREATE TABLE incidents (
	id           text        NOT NULL,
	number       integer     NOT NULL,
	title        text        NOT NULL,
	severity     smallint    NOT NULL,
	phase        text        NOT NULL,
	kind         text        NOT NULL,
	confidential boolean     NOT NULL,
	exercise     boolean     NOT NULL,
	declared_at  timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	seq          bigint      NOT NULL,
	head         text        NOT NULL,
	state        text        NOT NULL,
	CONSTRAINT incidents_pkey PRIMARY KEY (id),
	CONSTRAINT incidents_number_check CHECK (number > 0),
	CONSTRAINT incidents_severity_check CHECK (severity BETWEEN 1 AND 4),
	CONSTRAINT incidents_phase_check CHECK (phase IN ('identification', 'containment', 'eradication', 'recovery', 'post-mortem', 'closed')),
	CONSTRAINT incidents_seq_check CHECK (seq > 0)
);
CREATE INDEX incidents_declared_idx ON incidents (declared_at DESC, number DESC);

CREATE TABLE entries (
	incident_id text        NOT NULL,
	seq         bigint      NOT NULL,
	at          timestamptz NOT NULL,
	actor       text        NOT NULL,
	type        text        NOT NULL,
	data        text        NOT NULL,
	prev_hash   text        NOT NULL,
	hash        text        NOT NULL,
	CONSTRAINT entries_pkey PRIMARY KEY (incident_id, seq),
	CONSTRAINT entries_incident_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id),
	CONSTRAINT entries_seq_check CHECK (seq > 0)
);

-- The timeline is evidence: nothing may change or remove an entry. Someone
-- who owns the database can disable these triggers, which is why the entries
-- are hash-chained as well.
-- +goose StatementBegin
CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'timeline entries are append-only: the record is evidence';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
	FOR EACH ROW EXECUTE FUNCTION entries_append_only();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
	FOR EACH STATEMENT EXECUTE FUNCTION entries_append_only();

-- +goose Down
DROP TRIGGER entries_no_truncate ON entries;
DROP TRIGGER entries_append_only ON entries;
DROP FUNCTION entries_append_only();
DROP TABLE entries;
DROP TABLE incidents;
DROP TABLE incident_counters;
DROP TABLE tokens;
DROP TABLE users;
