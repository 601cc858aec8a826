-- The store keeps the index of open alerts' keys in memory (see openKeys in
-- openkeys.go): the unique index cost a random page write per new alert
-- where keys are hashes.

-- +goose Up
DROP INDEX alerts_open_key;

-- +goose Down
CREATE UNIQUE INDEX alerts_open_key ON alerts (source, dedup_key) WHERE status <> 'resolved';
