package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"modernc.org/sqlite"

	"github.com/sitrep-ir/sitrep"
)

var _ sitrep.AlertStore = (*Store)(nil)

// The alert statements of the write connection, prepared with the others
// when the store opens (see queries.go).
const (
	qInsertSource = `INSERT INTO sources (name, kind, key_hash, allow, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)`
	qDeleteSource = `DELETE FROM sources WHERE name = ?`
	qAckAlert     = `UPDATE alerts SET status = 'acknowledged'
		WHERE source = ? AND dedup_key = ? AND status <> 'resolved' RETURNING id`
	qResolveAlert = `UPDATE alerts SET status = 'resolved', resolved_at = ?
		WHERE source = ? AND dedup_key = ? AND status <> 'resolved' RETURNING id`
	qSetTriage = `UPDATE alerts SET triage = ?, incident_id = ? WHERE id = ? AND (? = '' OR triage = ?)`
)

// upsertAlerts returns the statement that opens n alerts or counts on the
// open ones with the same keys, in one statement (the keys must differ).
// The conflict target repeats the WHERE of the partial unique index
// alerts_open_key, so resolved alerts never conflict. An open alert's count
// is at least 1, so a returned count equals the inserted one only when the
// row is new.
func upsertAlerts(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO alerts (source, dedup_key, status, triage, severity, summary, labels, count, first_seen, last_seen, samples) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`(?, ?, 'firing', 'pending', ?, ?, ?, ?, ?, ?, ?)`)
	}
	b.WriteString(`
		ON CONFLICT (source, dedup_key) WHERE status <> 'resolved' DO UPDATE SET
			count = alerts.count + excluded.count,
			last_seen = max(alerts.last_seen, excluded.last_seen),
			severity = CASE WHEN excluded.severity = 0 THEN alerts.severity
				WHEN alerts.severity = 0 THEN excluded.severity
				ELSE min(alerts.severity, excluded.severity) END,
			samples = CASE WHEN excluded.samples = '[]' THEN alerts.samples
				ELSE ` + samplesFunc + `(alerts.samples, excluded.samples) END
		RETURNING source, dedup_key, id, count`)
	return b.String()
}

// upsertSizes are the row counts of the prepared upsert statements, largest
// first: a batch's new keys go in as few statements as these make (at most
// one of each size below 128). One statement of many rows costs far less
// than as many statements of one (each statement opens and closes a cursor
// on the table and each index).
var upsertSizes = []int{128, 64, 32, 16, 8, 4, 2, 1}

// qUpsertAlerts holds the upsert statement of each of upsertSizes.
var qUpsertAlerts = map[int]string{}

// samplesFunc is the SQL function that merges an open alert's samples with
// a batch's, in Go (sitrep.MergeAlertSamples), so that both follow one rule.
const samplesFunc = "sitrep_alert_samples"

func init() {
	writeQueries = append(writeQueries, qInsertSource, qDeleteSource, qAckAlert, qResolveAlert, qSetTriage)
	for _, n := range upsertSizes {
		qUpsertAlerts[n] = upsertAlerts(n)
		writeQueries = append(writeQueries, qUpsertAlerts[n])
	}
	// The driver adds the function to every connection it opens.
	if err := sqlite.RegisterDeterministicScalarFunction(samplesFunc, 2, sqlMergeSamples); err != nil {
		panic(fmt.Sprintf("register %s: %v", samplesFunc, err))
	}
}

// defaultAlertsLimit and maxAlertsLimit bound an alert listing.
const (
	defaultAlertsLimit = 500
	maxAlertsLimit     = 10000
)

// CreateSource stores a source. EConflict if the name is taken.
func (s *Store) CreateSource(ctx context.Context, src *sitrep.Source) error {
	allow, err := json.Marshal(nonNil(src.Allow))
	if err != nil {
		return fmt.Errorf("create source %s: %w", src.Name, err)
	}
	_, err = s.ws.exec(ctx, nil, qInsertSource,
		src.Name, src.Kind, src.KeyHash, string(allow), src.CreatedAt.UnixMicro(), src.CreatedBy)
	if uniqueViolated(err) {
		// The key hash is unique too, but it hashes 128 random bits: a
		// clash is the name.
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "name", Message: fmt.Sprintf("source %s already exists", src.Name)}
	}
	if err != nil {
		return fmt.Errorf("create source %s: %w", src.Name, err)
	}
	return nil
}

const selectSources = `SELECT name, kind, key_hash, allow, created_at, created_by FROM sources`

// Sources lists sources ordered by name.
func (s *Store) Sources(ctx context.Context) ([]*sitrep.Source, error) {
	rows, err := s.rs.query(ctx, nil, selectSources+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	defer rows.Close()
	sources := []*sitrep.Source{}
	for rows.Next() {
		src, err := scanSource(rows)
		if err != nil {
			return nil, fmt.Errorf("list sources: %w", err)
		}
		sources = append(sources, src)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	return sources, nil
}

// SourceByKey returns the source whose key hashes to hash. ENotFound if none.
func (s *Store) SourceByKey(ctx context.Context, hash string) (*sitrep.Source, error) {
	src, err := scanSource(s.rs.queryRow(ctx, nil, selectSources+` WHERE key_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		// The message does not echo the hash: credential material stays
		// out of messages and logs.
		return nil, &sitrep.Error{Kind: sitrep.ENotFound, Field: "key", Message: "source key not found"}
	}
	if err != nil {
		return nil, fmt.Errorf("load source by key: %w", err)
	}
	return src, nil
}

// DeleteSource removes a source; its alerts stay. ENotFound if none.
func (s *Store) DeleteSource(ctx context.Context, name string) error {
	res, err := s.ws.exec(ctx, nil, qDeleteSource, name)
	if err != nil {
		return fmt.Errorf("delete source %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete source %s: %w", name, err)
	} else if n == 0 {
		return &sitrep.Error{Kind: sitrep.ENotFound, Field: "name", Message: fmt.Sprintf("source %s not found", name)}
	}
	return nil
}

func scanSource(row scanner) (*sitrep.Source, error) {
	var src sitrep.Source
	var allow string
	var created int64
	if err := row.Scan(&src.Name, &src.Kind, &src.KeyHash, &allow, &created, &src.CreatedBy); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(allow), &src.Allow); err != nil {
		return nil, fmt.Errorf("source %s: decode allowed ranges: %w", src.Name, err)
	}
	if len(src.Allow) == 0 {
		src.Allow = nil
	}
	src.CreatedAt = micro(created)
	return &src, nil
}

// IngestAlerts stores a batch of events in one transaction. Triggers of one
// key are collapsed into one upsert first (see sitrep.PlanIngest), so that a
// storm costs one row write per batch, not one per event, and the upserts
// of different keys go in statements of many rows. The one write
// connection makes the transaction the only writer, so its reads and
// writes of a key cannot interleave with another's.
func (s *Store) IngestAlerts(ctx context.Context, batch []sitrep.Ingest) ([]sitrep.IngestResult, error) {
	plan, err := sitrep.PlanIngest(batch)
	if err != nil {
		return nil, err
	}
	if len(plan.Ops) == 0 {
		return plan.Results(), nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ingest %d alert events: begin: %w", len(batch), err)
	}
	defer tx.Rollback()
	w := &ingestWriter{s: s, tx: tx, inRows: map[opKey]bool{}}
	for _, op := range plan.Ops {
		if op.Action == sitrep.ActionTrigger {
			err = w.upsert(ctx, op)
		} else {
			err = w.change(ctx, op)
		}
		if err != nil {
			return nil, fmt.Errorf("ingest %d alert events: %w", len(batch), err)
		}
	}
	if err := w.flush(ctx); err != nil {
		return nil, fmt.Errorf("ingest %d alert events: %w", len(batch), err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ingest %d alert events: commit: %w", len(batch), err)
	}
	return plan.Results(), nil
}

type opKey struct{ source, key string }

// ingestWriter runs a batch's writes in its transaction. Triggers wait in
// rows until a statement of many rows takes them; a key already waiting, or
// an acknowledge or resolve, writes what waits first, so that each key's
// writes keep their order.
type ingestWriter struct {
	s      *Store
	tx     *sql.Tx
	rows   []*sitrep.IngestOp
	inRows map[opKey]bool
	args   []any
}

func (w *ingestWriter) upsert(ctx context.Context, op *sitrep.IngestOp) error {
	k := opKey{op.Source, op.Key}
	if w.inRows[k] {
		if err := w.flush(ctx); err != nil {
			return err
		}
	}
	w.rows = append(w.rows, op)
	w.inRows[k] = true
	if len(w.rows) == upsertSizes[0] {
		return w.flush(ctx)
	}
	return nil
}

// flush upserts the waiting rows.
func (w *ingestWriter) flush(ctx context.Context) error {
	rows := w.rows
	for len(rows) > 0 {
		n := upsertSizes[len(upsertSizes)-1]
		for _, size := range upsertSizes {
			if size <= len(rows) {
				n = size
				break
			}
		}
		if err := w.upsertRows(ctx, rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	w.rows = w.rows[:0]
	clear(w.inRows)
	return nil
}

// upsertRows runs the upsert statement of len(ops) rows.
func (w *ingestWriter) upsertRows(ctx context.Context, ops []*sitrep.IngestOp) error {
	st, err := w.s.ws.get(ctx, qUpsertAlerts[len(ops)])
	if err != nil {
		return err
	}
	w.args = w.args[:0]
	for _, op := range ops {
		w.args = append(w.args, op.Source, op.Key, op.Severity, op.Summary, op.Labels, op.Count,
			op.First.UnixMicro(), op.Last.UnixMicro(), op.Samples)
	}
	rows, err := w.tx.StmtContext(ctx, st).QueryContext(ctx, w.args...)
	if err != nil {
		return fmt.Errorf("upsert %d alerts: %w", len(ops), err)
	}
	defer rows.Close()
	// SQLite returns the rows of an INSERT in the order of its VALUES,
	// but does not promise it: each row is matched by its key.
	n := 0
	for ; rows.Next(); n++ {
		var source, key string
		var id, count int64
		if err := rows.Scan(&source, &key, &id, &count); err != nil {
			return fmt.Errorf("upsert %d alerts: %w", len(ops), err)
		}
		op := ops[min(n, len(ops)-1)]
		if op.Source != source || op.Key != key {
			i := slices.IndexFunc(ops, func(o *sitrep.IngestOp) bool { return o.Source == source && o.Key == key })
			if i < 0 {
				return fmt.Errorf("upsert %d alerts: a returned row has key %s/%.40q, which was not written", len(ops), source, key)
			}
			op = ops[i]
		}
		op.AlertID, op.Inserted = id, count == op.Count
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("upsert %d alerts: %w", len(ops), err)
	}
	if n != len(ops) {
		return fmt.Errorf("upsert %d alerts: %d rows returned", len(ops), n)
	}
	return nil
}

// change acknowledges or resolves the open alert of op's key, once the
// triggers before it are written.
func (w *ingestWriter) change(ctx context.Context, op *sitrep.IngestOp) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	q, args := qAckAlert, []any{op.Source, op.Key}
	if op.Action == sitrep.ActionResolve {
		q, args = qResolveAlert, []any{op.Last.UnixMicro(), op.Source, op.Key}
	}
	st, err := w.s.ws.get(ctx, q)
	if err != nil {
		return err
	}
	var id int64
	switch err := w.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...).Scan(&id); {
	case errors.Is(err, sql.ErrNoRows):
		op.Ignored = true
	case err != nil:
		return fmt.Errorf("%s %s/%.40q: %w", op.Action, op.Source, op.Key, err)
	default:
		op.AlertID = id
	}
	return nil
}

const selectAlerts = `SELECT id, source, dedup_key, status, triage, severity, summary, labels, count,
	first_seen, last_seen, resolved_at, incident_id, samples FROM alerts`

// Alert returns one alert. ENotFound if none.
func (s *Store) Alert(ctx context.Context, id int64) (*sitrep.Alert, error) {
	al, err := scanAlert(s.rs.queryRow(ctx, nil, selectAlerts+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, alertNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("load alert %d: %w", id, err)
	}
	return al, nil
}

// Alerts lists alerts, most recently seen first.
func (s *Store) Alerts(ctx context.Context, f sitrep.AlertFilter) ([]*sitrep.Alert, error) {
	if f.Triage != "" && !validTriage(f.Triage) {
		return nil, sitrep.Invalid("triage", "triage %q is not valid: pending, declared, attached or suppressed", f.Triage)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultAlertsLimit
	}
	limit = min(limit, maxAlertsLimit)
	// Each filter combination is its own fixed text, so that the read
	// pool's statement cache stays small.
	var where []string
	var args []any
	if f.Triage != "" {
		where, args = append(where, `triage = ?`), append(args, f.Triage)
	}
	if f.Open {
		where = append(where, `status <> 'resolved'`)
	}
	if f.IncidentID != "" {
		where, args = append(where, `incident_id = ?`), append(args, f.IncidentID)
	}
	q := selectAlerts
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY last_seen DESC, id DESC LIMIT ?`
	rows, err := s.rs.query(ctx, nil, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	alerts := []*sitrep.Alert{}
	for rows.Next() {
		al, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		alerts = append(alerts, al)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return alerts, nil
}

// SetTriage records the triage decision on an alert, only if its triage
// is from (any when from is ""). ENotFound if none, EConflict if its triage
// is not from.
func (s *Store) SetTriage(ctx context.Context, id int64, from, triage, incidentID string) error {
	if !validTriage(triage) || (from != "" && !validTriage(from)) {
		return sitrep.Invalid("triage", "triage %q is not valid: pending, declared, attached or suppressed", triage)
	}
	var incident any
	if incidentID != "" {
		incident = incidentID
	}
	res, err := s.ws.exec(ctx, nil, qSetTriage, triage, incident, id, from, from)
	if err != nil {
		return fmt.Errorf("set triage of alert %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set triage of alert %d: %w", id, err)
	} else if n == 0 {
		al, err := s.Alert(ctx, id)
		if err != nil {
			return err
		}
		return sitrep.TriageConflict(al)
	}
	return nil
}

func scanAlert(row scanner) (*sitrep.Alert, error) {
	var al sitrep.Alert
	var labels, samples string
	var first, last int64
	var resolved sql.NullInt64
	var incident sql.NullString
	err := row.Scan(&al.ID, &al.Source, &al.DedupKey, &al.Status, &al.Triage, &al.Severity, &al.Summary, &labels, &al.Count,
		&first, &last, &resolved, &incident, &samples)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(labels), &al.Labels); err != nil {
		return nil, fmt.Errorf("alert %d: decode labels: %w", al.ID, err)
	}
	if al.Labels == nil {
		al.Labels = map[string]string{}
	}
	if err := json.Unmarshal([]byte(samples), &al.Samples); err != nil {
		return nil, fmt.Errorf("alert %d: decode samples: %w", al.ID, err)
	}
	if len(al.Samples) == 0 {
		al.Samples = nil
	}
	al.FirstSeen, al.LastSeen = micro(first), micro(last)
	if resolved.Valid {
		t := micro(resolved.Int64)
		al.ResolvedAt = &t
	}
	al.IncidentID = incident.String
	return &al, nil
}

func alertNotFound(id int64) error {
	return &sitrep.Error{Kind: sitrep.ENotFound, Field: "id", Message: fmt.Sprintf("alert %d not found", id)}
}

func validTriage(t string) bool {
	switch t {
	case sitrep.TriagePending, sitrep.TriageDeclared, sitrep.TriageAttached, sitrep.TriageSuppressed:
		return true
	}
	return false
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// sqlMergeSamples is sitrep.MergeAlertSamples on JSON text, as samplesFunc.
func sqlMergeSamples(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	var lists [2][]string
	for i, a := range args {
		var text []byte
		switch v := a.(type) {
		case string:
			text = []byte(v)
		case []byte:
			text = v
		default:
			return nil, fmt.Errorf("%s: argument %d is %T, not JSON text", samplesFunc, i+1, a)
		}
		if err := json.Unmarshal(text, &lists[i]); err != nil {
			return nil, fmt.Errorf("%s: argument %d: %w", samplesFunc, i+1, err)
		}
	}
	b, err := json.Marshal(nonNil(sitrep.MergeAlertSamples(lists[0], lists[1])))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", samplesFunc, err)
	}
	return string(b), nil
}
