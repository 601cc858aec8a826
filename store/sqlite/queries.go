package sqlite

// The statements of the write connection. They are prepared once, when the
// store opens: the write connection is the only one, so preparing later,
// while a transaction holds it, would wait for itself.
const (
	qNextNumber = `INSERT INTO incident_counters (year, last) VALUES (?, 1)
		ON CONFLICT (year) DO UPDATE SET last = incident_counters.last + 1
		RETURNING last`
	qInsertIncident = `INSERT INTO incidents (id, number, title, severity, phase, kind, confidential, exercise, declared_at, updated_at, seq, head, state, group_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qLoadIncident   = `SELECT state, seq, head, updated_at FROM incidents WHERE id = ?`
	qUpdateIncident = `UPDATE incidents SET title = ?, severity = ?, phase = ?, kind = ?, confidential = ?, exercise = ?,
		updated_at = ?, seq = ?, head = ?, state = ? WHERE id = ?`
	qInsertEntry = `INSERT INTO entries (incident_id, seq, at, actor, type, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qInsertUser  = `INSERT INTO users (name, role, email, created_at) VALUES (?, ?, ?, ?)`
	qInsertToken = `INSERT INTO tokens (id, user_name, label, hash, created_at) VALUES (?, ?, ?, ?, ?)`
)

var writeQueries = []string{qNextNumber, qInsertIncident, qLoadIncident, qUpdateIncident, qInsertEntry, qInsertUser, qInsertToken}
