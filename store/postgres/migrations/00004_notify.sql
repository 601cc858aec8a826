-- Notifications: people's contact methods, the outbox of notifications with
-- their delivery status, how far each incident's timeline has been turned
-- into notifications, and the server's secrets (the key of signed
-- acknowledgement links). Delivery jobs live in River's tables, created by
-- River's own migrator after these.

-- +goose Up
CREATE TABLE notify_contacts (
	id         bigint      GENERATED ALWAYS AS IDENTITY,
	user_name  text        NOT NULL,
	kind       text        NOT NULL,
	address    text        NOT NULL,
	format     text        NOT NULL DEFAULT '',
	secret     text        NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL,
	CONSTRAINT notify_contacts_pkey PRIMARY KEY (id),
	CONSTRAINT notify_contacts_user_fkey FOREIGN KEY (user_name) REFERENCES users (name),
	CONSTRAINT notify_contacts_kind_check CHECK (kind IN ('email', 'webhook')),
	CONSTRAINT notify_contacts_format_check CHECK (format IN ('', 'json', 'slack', 'teams')),
	CONSTRAINT notify_contacts_user_address_key UNIQUE (user_name, kind, address)
);

-- One row per message to one contact method. The unique key is the
-- idempotency key: planning the same entry twice inserts nothing new.
CREATE TABLE notifications (
	id           bigint      GENERATED ALWAYS AS IDENTITY,
	incident_id  text        NOT NULL,
	seq          bigint      NOT NULL,
	event        text        NOT NULL,
	recipient    text        NOT NULL,
	chain        text        NOT NULL,
	step         integer     NOT NULL DEFAULT 0,
	round        integer     NOT NULL DEFAULT 0,
	ladder       text        NOT NULL DEFAULT '[]',
	channel      text        NOT NULL,
	contact_id   bigint,
	address      text        NOT NULL DEFAULT '',
	format       text        NOT NULL DEFAULT '',
	message      text        NOT NULL,
	needs_ack    boolean     NOT NULL,
	status       text        NOT NULL,
	attempts     integer     NOT NULL DEFAULT 0,
	last_error   text        NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL,
	ack_due      timestamptz,
	sent_at      timestamptz,
	acked_at     timestamptz,
	acked_by     text        NOT NULL DEFAULT '',
	escalated_at timestamptz,
	CONSTRAINT notifications_pkey PRIMARY KEY (id),
	CONSTRAINT notifications_incident_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id),
	CONSTRAINT notifications_contact_fkey FOREIGN KEY (contact_id) REFERENCES notify_contacts (id) ON DELETE SET NULL,
	CONSTRAINT notifications_seq_check CHECK (seq > 0),
	CONSTRAINT notifications_step_check CHECK (step >= 0 AND round >= 0),
	CONSTRAINT notifications_channel_check CHECK (channel IN ('email', 'webhook', 'none')),
	CONSTRAINT notifications_status_check CHECK (status IN ('queued', 'sent', 'failed', 'acknowledged')),
	CONSTRAINT notifications_key UNIQUE (incident_id, seq, chain, step, round, channel, address)
);
CREATE INDEX notifications_incident_idx ON notifications (incident_id, id);
CREATE INDEX notifications_due_idx ON notifications (ack_due) WHERE ack_due IS NOT NULL AND acked_at IS NULL AND escalated_at IS NULL;

-- seq is the last entry of the incident already turned into notifications.
-- Incidents of a database made before notifications existed start at their
-- current end: nobody is notified of the past.
CREATE TABLE notify_cursors (
	incident_id text   NOT NULL,
	seq         bigint NOT NULL,
	CONSTRAINT notify_cursors_pkey PRIMARY KEY (incident_id),
	CONSTRAINT notify_cursors_incident_fkey FOREIGN KEY (incident_id) REFERENCES incidents (id)
);
INSERT INTO notify_cursors (incident_id, seq) SELECT id, seq FROM incidents;

CREATE TABLE server_secrets (
	name       text        NOT NULL,
	value      bytea       NOT NULL,
	created_at timestamptz NOT NULL,
	CONSTRAINT server_secrets_pkey PRIMARY KEY (name)
);

-- +goose Down
DROP TABLE server_secrets;
DROP TABLE notify_cursors;
DROP TABLE notifications;
DROP TABLE notify_contacts;
