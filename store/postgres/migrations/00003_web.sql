-- Web UI sign-in: a password hash per user (argon2id as a PHC string, ''
-- until one is set) and the sessions of signed-in browsers, each stored as
-- the SHA-256 of its secret.

-- +goose Up
ALTER TABLE users ADD COLUMN password_hash text NOT NULL DEFAULT '';

CREATE TABLE sessions (
	hash       text        NOT NULL,
	user_name  text        NOT NULL,
	created_at timestamptz NOT NULL,
	last_seen  timestamptz NOT NULL,
	CONSTRAINT sessions_pkey PRIMARY KEY (hash),
	CONSTRAINT sessions_user_fkey FOREIGN KEY (user_name) REFERENCES users (name)
);
CREATE INDEX sessions_user_name_idx ON sessions (user_name);
CREATE INDEX sessions_last_seen_idx ON sessions (last_seen);
CREATE INDEX sessions_created_at_idx ON sessions (created_at);

-- +goose Down
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN password_hash;
