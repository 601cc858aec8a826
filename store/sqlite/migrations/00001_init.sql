-- The first schema. Times are INTEGER unix microseconds (UTC): the domain
-- truncates to microseconds, so they round-trip exactly and every entry's hash
-- recomputes to the stored one.

-- +goose Up
CREATE TABLE users (
	name       TEXT    NOT NULL PRIMARY KEY,
	role       TEXT    NOT NULL CHECK (role IN ('admin', 'responder', 'viewer')),
	email      TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE tokens (
	id         TEXT    NOT NULL PRIMARY KEY,
	user_name  TEXT    NOT NULL REFERENCES users (name),
	label      TEXT    NOT NULL DEFAULT '',
	hash       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	CONSTRAINT tokens_hash_key UNIQUE (hash)
) STRICT;
CREATE INDEX tokens_user_name_idx ON tokens (user_name);

CREATE TABLE incident_counters (
	year INTEGER NOT NULL PRIMARY KEY,
	last INTEGER NOT NULL CHECK (last > 0)
) STRICT;

-- state is the JSON of the whole sitrep.Incident (the projection); the other
-- columns copy what listings filter and sort on.
CREATE TABLE incidents (
	id           TEXT    NOT NULL PRIMARY KEY,
	number       INTEGER NOT NULL CHECK (number > 0),
	title        TEXT    NOT NULL,
	severity     INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 4),
	phase        TEXT    NOT NULL CHECK (phase IN ('identification', 'containment', 'eradication', 'recovery', 'post-mortem', 'closed')),
	kind         TEXT    NOT NULL,
	confidential INTEGER NOT NULL CHECK (confidential IN (0, 1)),
	exercise     INTEGER NOT NULL CHECK (exercise IN (0, 1)),
	declared_at  INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	seq          INTEGER NOT NULL CHECK (seq > 0),
	head         TEXT    NOT NULL,
	state        TEXT    NOT NULL
) STRICT;
CREATE INDEX incidents_declared_idx ON incidents (declared_at DESC, number DESC);

-- data is TEXT holding the exact bytes the entry's hash covers.
CREATE TABLE entries (
	incident_id TEXT    NOT NULL REFERENCES incidents (id),
	seq         INTEGER NOT NULL CHECK (seq > 0),
	at          INTEGER NOT NULL,
	actor       TEXT    NOT NULL,
	type        TEXT    NOT NULL,
	data        TEXT    NOT NULL,
	prev_hash   TEXT    NOT NULL,
	hash        TEXT    NOT NULL,
	PRIMARY KEY (incident_id, seq)
) STRICT, WITHOUT ROWID;

-- The timeline is evidence: nothing may change or remove an entry. Someone
-- with write access to the file can drop these triggers, which is why the
-- entries are hash-chained as well.
-- +goose StatementBegin
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
	SELECT RAISE(ABORT, 'timeline entries are append-only: the record is evidence');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN
	SELECT RAISE(ABORT, 'timeline entries are append-only: the record is evidence');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER entries_no_delete;
DROP TRIGGER entries_no_update;
DROP TABLE entries;
DROP TABLE incidents;
DROP TABLE incident_counters;
DROP TABLE tokens;
DROP TABLE users;
