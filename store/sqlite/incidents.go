package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// defaultListLimit is how many incidents Incidents returns when the filter
// sets no limit.
const defaultListLimit = 500

// defaultEntriesLimit is how many entries Entries returns for a limit of 0.
const defaultEntriesLimit = 10000

// CreateIncident allocates the next incident number of year, calls build with
// it and stores the incident and its first entries in one transaction.
func (s *Store) CreateIncident(ctx context.Context, year int, build func(number int) (*sitrep.Incident, []sitrep.Entry, error)) error {
	if year < 1 || year > 9999 {
		return sitrep.Invalid("year", "year %d is out of range", year)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create incident: begin: %w", err)
	}
	defer tx.Rollback()

	var number int
	err = s.ws.queryRow(ctx, tx, qNextNumber, year).Scan(&number)
	if err != nil {
		return fmt.Errorf("create incident: next number of %d: %w", year, err)
	}
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
	_, err = s.ws.exec(ctx, tx, qInsertIncident,
		inc.ID, number, columnText(inc.Title), inc.Severity, string(inc.Phase), inc.Kind, inc.Confidential, inc.Exercise,
		inc.DeclaredAt.UnixMicro(), last.At.UnixMicro(), last.Seq, last.Hash, string(state), nullString(inc.GroupKey))
	if uniqueViolated(err) {
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "id", Message: fmt.Sprintf("incident %s already exists", inc.ID)}
	}
	if err != nil {
		return fmt.Errorf("create incident %s: %w", inc.ID, err)
	}
	if err := s.insertEntries(ctx, tx, entries); err != nil {
		return fmt.Errorf("create incident %s: %w", inc.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create incident %s: commit: %w", inc.ID, err)
	}
	return nil
}

// UpdateIncident runs fn on the incident's state inside a write transaction
// and stores the state and the entries fn returns. The one write connection
// and BEGIN IMMEDIATE serialise updates, within this process and across
// processes sharing the file. fn must not write to the store itself: the
// write connection is busy with this transaction.
//
// When fn returns no entries nothing is stored: every change of an incident
// comes with its entry, so a change without one would not be on the record.
func (s *Store) UpdateIncident(ctx context.Context, id string, fn func(*sitrep.Incident) ([]sitrep.Entry, error)) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update incident %s: begin: %w", id, err)
	}
	defer tx.Rollback()

	inc, err := scanIncident(s.ws.queryRow(ctx, tx, qLoadIncident, id))
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(id)
	}
	if err != nil {
		return fmt.Errorf("update incident %s: load: %w", id, err)
	}
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
	if err := s.insertEntries(ctx, tx, entries); err != nil {
		return fmt.Errorf("update incident %s: %w", id, err)
	}
	last := &entries[len(entries)-1]
	_, err = s.ws.exec(ctx, tx, qUpdateIncident,
		columnText(inc.Title), inc.Severity, string(inc.Phase), inc.Kind, inc.Confidential, inc.Exercise,
		last.At.UnixMicro(), last.Seq, last.Hash, string(state), id)
	if err != nil {
		return fmt.Errorf("update incident %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update incident %s: commit: %w", id, err)
	}
	return nil
}

func (s *Store) insertEntries(ctx context.Context, tx *sql.Tx, entries []sitrep.Entry) error {
	st, err := s.ws.get(ctx, qInsertEntry)
	if err != nil {
		return fmt.Errorf("append entries: %w", err)
	}
	st = tx.StmtContext(ctx, st)
	for i := range entries {
		e := &entries[i]
		_, err := st.ExecContext(ctx, e.IncidentID, e.Seq, e.At.UnixMicro(), e.Actor, e.Type, string(e.Data), e.PrevHash, e.Hash)
		if uniqueViolated(err) {
			// Updates are serialised, so this is a caller's bug, not a race.
			return &sitrep.Error{Kind: sitrep.EConflict, Message: fmt.Sprintf("entry %d of %s already exists", e.Seq, e.IncidentID)}
		}
		if err != nil {
			return fmt.Errorf("append entry %d: %w", e.Seq, err)
		}
	}
	return nil
}

// Incident returns the incident's current state. ENotFound if none.
func (s *Store) Incident(ctx context.Context, id string) (*sitrep.Incident, error) {
	inc, err := scanIncident(s.rs.queryRow(ctx, nil,
		`SELECT state, seq, head, updated_at FROM incidents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	// Each filter combination is its own fixed text, so that the read
	// pool's statement cache stays small.
	q := `SELECT state, seq, head, updated_at FROM incidents`
	var where []string
	var args []any
	if f.Open {
		where = append(where, `phase <> 'closed'`)
	}
	if f.GroupKey != "" {
		where, args = append(where, `group_key = ?`), append(args, f.GroupKey)
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY declared_at DESC, number DESC LIMIT ?`
	rows, err := s.rs.query(ctx, nil, q, append(args, limit)...)
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
func scanIncident(row scanner) (*sitrep.Incident, error) {
	var state []byte
	var seq, updated int64
	var head string
	if err := row.Scan(&state, &seq, &head, &updated); err != nil {
		return nil, err
	}
	inc := &sitrep.Incident{}
	if err := json.Unmarshal(state, inc); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	inc.Seq, inc.Head, inc.UpdatedAt = seq, head, micro(updated)
	return inc, nil
}

// Entries returns up to limit entries after seq after, in order; a limit of 0
// or less means 10,000.
func (s *Store) Entries(ctx context.Context, id string, after int64, limit int) ([]sitrep.Entry, error) {
	if limit <= 0 {
		limit = defaultEntriesLimit
	}
	rows, err := s.rs.query(ctx, nil,
		selectEntries+` AND seq > ? ORDER BY seq LIMIT ?`, id, after, limit)
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

// EachEntry calls fn with every entry of the incident in order, reading them
// from one cursor, and stops at fn's first error, which it returns as is.
func (s *Store) EachEntry(ctx context.Context, id string, fn func(*sitrep.Entry) error) error {
	rows, err := s.rs.query(ctx, nil,
		selectEntries+` ORDER BY seq`, id)
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

const selectEntries = `SELECT seq, at, actor, type, data, prev_hash, hash FROM entries WHERE incident_id = ?`

func scanEntry(rows *sql.Rows, id string, e *sitrep.Entry) error {
	var at int64
	var data []byte
	if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Type, &data, &e.PrevHash, &e.Hash); err != nil {
		return err
	}
	e.IncidentID = id
	e.At = micro(at)
	e.Data = data
	return nil
}

// exists returns ENotFound unless the incident exists.
func (s *Store) exists(ctx context.Context, id string) error {
	var one int
	err := s.rs.queryRow(ctx, nil, `SELECT 1 FROM incidents WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
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

// micro returns the UTC time of unix microseconds us: UTC so that
// Entry.ComputeHash gives the stored hash.
func micro(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullString is s, or NULL when s is empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
