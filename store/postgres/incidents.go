package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sitrep-ir/sitrep"
)

// defaultListLimit is how many incidents Incidents returns when the filter
// sets no limit.
const defaultListLimit = 500

// defaultEntriesLimit is how many entries Entries returns for a limit of 0.
const defaultEntriesLimit = 10000

// insertEntries appends entries, given as one array per column, in one
// statement whatever their number. The writes use it as a data-modifying
// WITH clause, which PostgreSQL runs whether or not the statement reads it,
// ahead of notifyTimeline.
const insertEntries = `INSERT INTO entries (incident_id, seq, at, actor, type, data, prev_hash, hash)
	SELECT $1::text, * FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])`

// CreateIncident allocates the next incident number of year, calls build with
// it and stores the incident and its first entries in one transaction. The
// counter row stays locked until the transaction ends, so replicas declaring
// at once get consecutive numbers, and a failed build gives its number back.
func (s *Store) CreateIncident(ctx context.Context, year int, build func(number int) (*sitrep.Incident, []sitrep.Entry, error)) error {
	if year < 1 || year > 9999 {
		return sitrep.Invalid("year", "year %d is out of range", year)
	}
	var number int
	tx, err := s.beginWith(ctx, func(row pgx.Row) error { return row.Scan(&number) },
		`INSERT INTO incident_counters (year, last) VALUES ($1, 1)
		 ON CONFLICT (year) DO UPDATE SET last = incident_counters.last + 1
		 RETURNING last`, year)
	if err != nil {
		return fmt.Errorf("create incident: next number of %d: %w", year, err)
	}
	defer tx.end(ctx)

	inc, entries, err := build(number)
	if err != nil {
		return err
	}
	if inc == nil {
		return fmt.Errorf("create incident %d of %d: build returned no incident", number, year)
	}
	if len(entries) == 0 {
		return fmt.Errorf("create incident %s: build returned no entries: an incident starts with its declaration", inc.ID)
	}
	if err := sitrep.CheckAppend(inc.ID, 0, "", inc, entries); err != nil {
		return fmt.Errorf("create incident %s: %w", inc.ID, err)
	}
	state, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("create incident %s: encode state: %w", inc.ID, err)
	}
	last := &entries[len(entries)-1]
	cols := entryColumns(entries)
	err = tx.commitWith(ctx, `WITH incident AS (
			INSERT INTO incidents (id, number, title, severity, phase, kind, confidential, exercise, declared_at, updated_at, seq, head, state, group_key)
			VALUES ($1, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
		), appended AS (`+insertEntries+`) `+notifyTimeline(22),
		inc.ID, cols.seq, cols.at, cols.actor, cols.typ, cols.data, cols.prev, cols.hash,
		number, columnText(inc.Title), inc.Severity, string(inc.Phase), inc.Kind, inc.Confidential, inc.Exercise,
		inc.DeclaredAt, last.At, last.Seq, last.Hash, string(state), nullString(inc.GroupKey), timelinePayload(inc.ID, last.Seq))
	if err != nil {
		return s.writeError(err, inc.ID, fmt.Sprintf("create incident %s", inc.ID))
	}
	return nil
}

// UpdateIncident runs fn on the incident's state while holding the incident's
// row lock (SELECT … FOR UPDATE), then stores the state and the entries fn
// returns in the same transaction. Writers of one incident queue on its row;
// writers of different incidents proceed in parallel.
//
// When fn returns no entries nothing is stored: every change of an incident
// comes with its entry, so a change without one would not be on the record.
func (s *Store) UpdateIncident(ctx context.Context, id string, fn func(*sitrep.Incident) ([]sitrep.Entry, error)) error {
	var inc *sitrep.Incident
	tx, err := s.beginWith(ctx, func(row pgx.Row) (err error) {
		inc, err = scanIncident(row)
		return err
	}, `SELECT state, seq, head, updated_at FROM incidents WHERE id = $1 FOR UPDATE`, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(id)
	}
	if err != nil {
		return fmt.Errorf("update incident %s: load: %w", id, err)
	}
	defer tx.end(ctx)

	seq, head := inc.Seq, inc.Head
	entries, err := fn(inc)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if err := sitrep.CheckAppend(id, seq, head, inc, entries); err != nil {
		return fmt.Errorf("update incident %s: %w", id, err)
	}
	state, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("update incident %s: encode state: %w", id, err)
	}
	last := &entries[len(entries)-1]
	cols := entryColumns(entries)
	// One statement for the entries, the new state and the notification to
	// the other replicas, sent with COMMIT.
	err = tx.commitWith(ctx, `WITH incident AS (
			UPDATE incidents SET title = $9, severity = $10, phase = $11, kind = $12, confidential = $13, exercise = $14,
				updated_at = $15, seq = $16, head = $17, state = $18
			WHERE id = $1
		), appended AS (`+insertEntries+`) `+notifyTimeline(19),
		id, cols.seq, cols.at, cols.actor, cols.typ, cols.data, cols.prev, cols.hash,
		columnText(inc.Title), inc.Severity, string(inc.Phase), inc.Kind, inc.Confidential, inc.Exercise,
		last.At, last.Seq, last.Hash, string(state), timelinePayload(id, last.Seq))
	if err != nil {
		return s.writeError(err, id, fmt.Sprintf("update incident %s", id))
	}
	return nil
}

// writeError maps a failed write of incident id to a sitrep error by the
// constraint it broke.
func (s *Store) writeError(err error, id, op string) error {
	code, name := constraint(err)
	switch {
	case code == uniqueViolation && name == "incidents_pkey":
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "id", Message: fmt.Sprintf("incident %s already exists", id)}
	case code == uniqueViolation && name == "entries_pkey":
		// Writers of one incident are serialised, so this is a caller's
		// bug, not a race.
		return &sitrep.Error{Kind: sitrep.EConflict, Message: fmt.Sprintf("an entry of %s already exists with that sequence number", id)}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// columns holds entries as one slice per column, for unnest.
type columns struct {
	seq                          []int64
	at                           []time.Time
	actor, typ, data, prev, hash []string
}

func entryColumns(entries []sitrep.Entry) columns {
	n := len(entries)
	c := columns{
		seq: make([]int64, n), at: make([]time.Time, n), actor: make([]string, n), typ: make([]string, n),
		data: make([]string, n), prev: make([]string, n), hash: make([]string, n),
	}
	for i := range entries {
		e := &entries[i]
		c.seq[i], c.at[i], c.actor[i], c.typ[i] = e.Seq, e.At, e.Actor, e.Type
		c.data[i], c.prev[i], c.hash[i] = string(e.Data), e.PrevHash, e.Hash
	}
	return c
}

// Incident returns the incident's current state. ENotFound if none.
func (s *Store) Incident(ctx context.Context, id string) (*sitrep.Incident, error) {
	inc, err := scanIncident(s.pool.QueryRow(ctx,
		`SELECT state, seq, head, updated_at FROM incidents WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("load incident %s: %w", id, err)
	}
	return inc, nil
}

// Incidents lists incidents, most recently declared first.
func (s *Store) Incidents(ctx context.Context, f sitrep.IncidentFilter) ([]*sitrep.Incident, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	q := `SELECT state, seq, head, updated_at FROM incidents`
	args := []any{limit}
	var where []string
	if f.Open {
		where = append(where, `phase <> 'closed'`)
	}
	if f.GroupKey != "" {
		args = append(args, columnText(f.GroupKey))
		where = append(where, fmt.Sprintf(`group_key = $%d`, len(args)))
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY declared_at DESC, number DESC LIMIT $1`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	defer rows.Close()
	list := []*sitrep.Incident{}
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("list incidents: %w", err)
		}
		list = append(list, inc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return list, nil
}

// scanIncident decodes a row of state, seq, head, updated_at. The columns are
// the truth for the chain position: they are what the last append wrote.
func scanIncident(row pgx.Row) (*sitrep.Incident, error) {
	var state []byte
	var seq int64
	var head string
	var updated time.Time
	if err := row.Scan(&state, &seq, &head, &updated); err != nil {
		return nil, err
	}
	inc := &sitrep.Incident{}
	if err := json.Unmarshal(state, inc); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	inc.Seq, inc.Head, inc.UpdatedAt = seq, head, updated.UTC()
	return inc, nil
}

const selectEntries = `SELECT seq, at, actor, type, data, prev_hash, hash FROM entries WHERE incident_id = $1`

// Entries returns up to limit entries after seq after, in order; a limit of 0
// or less means 10,000.
func (s *Store) Entries(ctx context.Context, id string, after int64, limit int) ([]sitrep.Entry, error) {
	if limit <= 0 {
		limit = defaultEntriesLimit
	}
	rows, err := s.pool.Query(ctx, selectEntries+` AND seq > $2 ORDER BY seq LIMIT $3`, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("load timeline of %s: %w", id, err)
	}
	defer rows.Close()
	entries := []sitrep.Entry{}
	for rows.Next() {
		var e sitrep.Entry
		if err := scanEntry(rows, id, &e); err != nil {
			return nil, fmt.Errorf("load timeline of %s: %w", id, err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load timeline of %s: %w", id, err)
	}
	if len(entries) == 0 {
		if err := s.exists(ctx, id); err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// EachEntry calls fn with every entry of the incident in order and stops at
// fn's first error, which it returns as is. The rows come from one query
// read as they arrive: pgx decodes a row at a time from its connection's
// buffer, so a timeline of any length is never held in memory at once.
func (s *Store) EachEntry(ctx context.Context, id string, fn func(*sitrep.Entry) error) error {
	rows, err := s.pool.Query(ctx, selectEntries+` ORDER BY seq`, id)
	if err != nil {
		return fmt.Errorf("read timeline of %s: %w", id, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		e := &sitrep.Entry{}
		if err := scanEntry(rows, id, e); err != nil {
			return fmt.Errorf("read timeline of %s: %w", id, err)
		}
		n++
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read timeline of %s: %w", id, err)
	}
	if n == 0 {
		return s.exists(ctx, id)
	}
	return nil
}

func scanEntry(rows pgx.Rows, id string, e *sitrep.Entry) error {
	var data string
	if err := rows.Scan(&e.Seq, &e.At, &e.Actor, &e.Type, &data, &e.PrevHash, &e.Hash); err != nil {
		return err
	}
	e.IncidentID = id
	e.At = e.At.UTC()
	e.Data = json.RawMessage(data)
	return nil
}

// exists returns ENotFound unless the incident exists.
func (s *Store) exists(ctx context.Context, id string) error {
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM incidents WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(id)
	}
	if err != nil {
		return fmt.Errorf("load incident %s: %w", id, err)
	}
	return nil
}

// columnText returns s for a column that copies a field of the state: without
// NUL characters, which PostgreSQL's text cannot hold. The state keeps the
// field exactly (JSON escapes NUL); the copy only serves listings. Both
// backends do the same so that they agree.
func columnText(s string) string { return strings.ReplaceAll(s, "\x00", "") }

func notFound(id string) error {
	return &sitrep.Error{Kind: sitrep.ENotFound, Field: "id", Message: fmt.Sprintf("incident %s not found", id)}
}

// nullString is s as text, or NULL when s is empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return columnText(s)
}
