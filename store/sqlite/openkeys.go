package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"hash/maphash"
)

// openKeys is the in-memory index of the open alerts' keys, in place of a
// unique index on (source, dedup_key) in the file. Such an index costs a
// B-tree insert per new alert, and where keys are hashes (syslog keys,
// Alertmanager fingerprints) each lands on a leaf page of its own, which
// the commit writes to the WAL and the checkpoint writes again: that was
// most of the intake's cost on SQLite. Every other index of the alerts
// table grows at its end.
//
// The index maps a 64-bit hash of the key to the open alert's ID: 1,000,000
// open alerts take about 40 MB. A hash is not the key, so an ID found by
// hash is a candidate: the statements that use it also match the row's
// source and key, and a key whose hash another open key already holds is
// kept by its full text in more (in practice never, with 64 bits and a
// random seed).
//
// The index is only ever used inside a write transaction, and is rebuilt
// from the file whenever it may be stale: when the store opens (about 4 µs
// an open alert: 4 s for a million), after a failed write, and when another connection (another process on the file, or
// someone's sqlite3 shell) has committed since this one last wrote, which
// PRAGMA data_version tells under the write lock. So the file stays the
// truth, and two processes on one file stay correct (if slow, each
// rebuilding after the other's writes).
type openKeys struct {
	seed maphash.Seed
	ids  map[uint64]int64
	more map[opKey]int64
	// next is the ID the next new alert gets. The write lock makes this
	// connection the only one inserting while it holds it.
	next int64
	// version is the connection's data_version when the index was built or
	// last checked; valid is false until it is built and after a failure.
	version int64
	valid   bool
	// hash is the key hash; tests replace it to force collisions.
	hash func(opKey) uint64
}

func newOpenKeys() *openKeys {
	k := &openKeys{seed: maphash.MakeSeed()}
	k.hash = func(key opKey) uint64 { return maphash.Comparable(k.seed, key) }
	return k
}

// get returns the ID of the open alert of key, or of another open alert
// whose key has the same hash, or 0 if no open alert can have key.
func (k *openKeys) get(key opKey) int64 {
	if id, ok := k.more[key]; ok {
		return id
	}
	return k.ids[k.hash(key)]
}

// add records that the alert id is open with key, which get has shown is
// not open.
func (k *openKeys) add(key opKey, id int64) {
	h := k.hash(key)
	if _, taken := k.ids[h]; !taken {
		k.ids[h] = id
		return
	}
	if k.more == nil {
		k.more = map[opKey]int64{}
	}
	k.more[key] = id
}

// remove records that the alert id, open with key, is resolved.
func (k *openKeys) remove(key opKey, id int64) {
	if k.more[key] == id {
		delete(k.more, key)
		return
	}
	if h := k.hash(key); k.ids[h] == id {
		delete(k.ids, h)
	}
}

const (
	qDataVersion = `PRAGMA data_version`
	qOpenAlerts  = `SELECT id, source, dedup_key FROM alerts WHERE status <> 'resolved'`
	// The next ID is past every one used: AUTOINCREMENT's record of the
	// highest ever, and the rows (a row inserted with its ID raises the
	// record too).
	qNextAlertID = `SELECT max(ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'alerts'), 0),
		ifnull((SELECT max(id) FROM alerts), 0)) + 1`
)

func init() {
	writeQueries = append(writeQueries, qDataVersion, qOpenAlerts, qNextAlertID)
}

// check makes the index true to the file, in tx (which holds the write
// lock): it rebuilds it if it is not valid or another connection has
// written since this one last checked.
func (k *openKeys) check(ctx context.Context, ws *stmts, tx *sql.Tx) error {
	var version int64
	if err := ws.queryRow(ctx, tx, qDataVersion).Scan(&version); err != nil {
		return fmt.Errorf("read data_version: %w", err)
	}
	if k.valid && version == k.version {
		return nil
	}
	k.valid = false
	ids := make(map[uint64]int64, max(len(k.ids), 1024))
	k.ids, k.more = ids, nil
	rows, err := ws.query(ctx, tx, qOpenAlerts)
	if err != nil {
		return fmt.Errorf("load the open alerts' keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key opKey
		var id int64
		if err := rows.Scan(&id, &key.source, &key.key); err != nil {
			return fmt.Errorf("load the open alerts' keys: %w", err)
		}
		k.add(key, id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load the open alerts' keys: %w", err)
	}
	if err := ws.queryRow(ctx, tx, qNextAlertID).Scan(&k.next); err != nil {
		return fmt.Errorf("read the next alert ID: %w", err)
	}
	k.version, k.valid = version, true
	return nil
}

// buildKeys builds the index of open alerts' keys from the file.
func (s *Store) buildKeys(ctx context.Context) error {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("load the open alerts' keys: begin: %w", err)
	}
	defer tx.Rollback()
	return s.keys.check(ctx, s.ws, tx)
}
