-- Web UI sign-in: a password hash per user (argon2id as a PHC string, ''
-- until one is set) and the sessions of signed-in browsers, each stored as
-- the SHA-256 of its secret. Times are INTEGER unix microseconds (UTC).

-- +goose Up
ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';

CREATE TABLE sessions (
	hash       TEXT    NOT NULL PRIMARY KEY,
	user_name  TEXT    NOT NULL REFERENCES users (name),
	created_at INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_user_name_idx ON sessions (user_name);
CREATE INDEX sessions_last_seen_idx ON sessions (last_seen);
CREATE INDEX sessions_created_at_idx ON sessions (created_at);

-- +goose Down
DROP TABLE sessions;
ALTER TABLE users DROP COLUMN password_hash;
