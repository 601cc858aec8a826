-- Notifications: people's contact methods, the outbox of notifications with
-- their delivery status, how far each incident's timeline has been turned
-- into notifications, and the server's secrets (the key of signed
-- acknowledgement links). Delivery jobs live in River's tables, created by
-- River's own migrator after these. Times are INTEGER unix microseconds (UTC).

-- +goose Up
CREATE TABLE notify_contacts (
	id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	user_name  TEXT    NOT NULL REFERENCES users (name),
	kind       TEXT    NOT NULL CHECK (kind IN ('email', 'webhook')),
	address    TEXT    NOT NULL,
	format     TEXT    NOT NULL DEFAULT '' CHECK (format IN ('', 'json', 'slack', 'teams')),
	secret     TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	CONSTRAINT notify_contacts_user_address_key UNIQUE (user_name, kind, address)
) STRICT;

-- One row per message to one contact method. The unique key is the
-- idempotency key: planning the same entry twice inserts nothing new.
CREATE TABLE notifications (
	id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	incident_id  TEXT    NOT NULL REFERENCES incidents (id),
	seq          INTEGER NOT NULL CHECK (seq > 0),
	event        TEXT    NOT NULL,
	recipient    TEXT    NOT NULL,
	chain        TEXT    NOT NULL,
	step         INTEGER NOT NULL DEFAULT 0 CHECK (step >= 0),
	round        INTEGER NOT NULL DEFAULT 0 CHECK (round >= 0),
	ladder       TEXT    NOT NULL DEFAULT '[]',
	channel      TEXT    NOT NULL CHECK (channel IN ('email', 'webhook', 'none')),
	contact_id   INTEGER REFERENCES notify_contacts (id) ON DELETE SET NULL,
	address      TEXT    NOT NULL DEFAULT '',
	format       TEXT    NOT NULL DEFAULT '',
	message      TEXT    NOT NULL,
	needs_ack    INTEGER NOT NULL CHECK (needs_ack IN (0, 1)),
	status       TEXT    NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'acknowledged')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	ack_due      INTEGER,
	sent_at      INTEGER,
	acked_at     INTEGER,
	acked_by     TEXT    NOT NULL DEFAULT '',
	escalated_at INTEGER,
	CONSTRAINT notifications_key UNIQUE (incident_id, seq, chain, step, round, channel, address)
) STRICT;
CREATE INDEX notifications_incident_idx ON notifications (incident_id, id);
CREATE INDEX notifications_due_idx ON notifications (ack_due) WHERE ack_due IS NOT NULL AND acked_at IS NULL AND escalated_at IS NULL;

-- seq is the last entry of the incident already turned into notifications.
-- Incidents of a database made before notifications existed start at their
-- current end: nobody is notified of the past.
CREATE TABLE notify_cursors (
	incident_id TEXT    NOT NULL PRIMARY KEY REFERENCES incidents (id),
	seq         INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO notify_cursors (incident_id, seq) SELECT id, seq FROM incidents;

CREATE TABLE server_secrets (
	name       TEXT    NOT NULL PRIMARY KEY,
	value      BLOB    NOT NULL,
	created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE server_secrets;
DROP TABLE notify_cursors;
DROP TABLE notifications;
DROP TABLE notify_contacts;
