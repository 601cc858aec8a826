package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
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
		WHERE id = ? AND source = ? AND dedup_key = ? AND status <> 'resolved'`
	qResolveAlert = `UPDATE alerts SET status = 'resolved', resolved_at = ?
		WHERE id = ? AND source = ? AND dedup_key = ? AND status <> 'resolved'`
	qSetTriage = `UPDATE alerts SET triage = ?, incident_id = ? WHERE id = ? AND (? = '' OR triage = ?)`
	// The IDs come as a JSON array, so that one prepared statement takes
	// any number of them.
	qSetTriageMany = `UPDATE alerts SET triage = ?, incident_id = NULL
		WHERE triage = ? AND id IN (SELECT value FROM json_each(?)) RETURNING id`
)

// insertAlerts returns the statement that opens n new alerts, each with the
// ID the store gave it (see openKeys).
func insertAlerts(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO alerts (id, source, dedup_key, status, triage, severity, summary, labels, count, first_seen, last_seen, samples) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`(?, ?, ?, 'firing', 'pending', ?, ?, ?, ?, ?, ?, ?)`)
	}
	return b.String()
}

// countAlerts returns the statement that counts triggers on n open alerts,
// named by ID, and returns the keys it counted. A row counts only if its
// source and key are the trigger's: the ID came from a hash of them, and
// several triggers may name one ID.
func countAlerts(n int) string {
	var b strings.Builder
	b.WriteString(`WITH v (id, source, dedup_key, severity, count, last_seen, samples) AS (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`(?, ?, ?, ?, ?, ?, ?)`)
	}
	b.WriteString(`)
		UPDATE alerts SET
			count = alerts.count + v.count,
			last_seen = max(alerts.last_seen, v.last_seen),
			severity = CASE WHEN v.severity = 0 THEN alerts.severity
				WHEN alerts.severity = 0 THEN v.severity
				ELSE min(alerts.severity, v.severity) END,
			samples = CASE WHEN v.samples = '[]' THEN alerts.samples
				ELSE ` + samplesFunc + `(alerts.samples, v.samples) END
		FROM v
		WHERE alerts.id = v.id AND alerts.source = v.source AND alerts.dedup_key = v.dedup_key
			AND alerts.status <> 'resolved'
		RETURNING alerts.source, alerts.dedup_key`)
	return b.String()
}

// rowSizes are the row counts of the prepared insert and count statements,
// largest first: a batch's writes go in as few statements as these make (at
// most one of each size below 128). One statement of many rows costs far
// less than as many statements of one (each statement opens and closes a
// cursor on the table and each index).
var rowSizes = []int{128, 64, 32, 16, 8, 4, 2, 1}

// qInsertAlerts and qCountAlerts hold the statements of each of rowSizes.
var qInsertAlerts, qCountAlerts = map[int]string{}, map[int]string{}

// samplesFunc is the SQL function that merges an open alert's samples with
// a batch's, in Go (sitrep.MergeAlertSamples), so that both follow one rule.
const samplesFunc = "sitrep_alert_samples"

func init() {
	writeQueries = append(writeQueries, qInsertSource, qDeleteSource, qAckAlert, qResolveAlert, qSetTriage, qSetTriageMany)
	for _, n := range rowSizes {
		qInsertAlerts[n], qCountAlerts[n] = insertAlerts(n), countAlerts(n)
		writeQueries = append(writeQueries, qInsertAlerts[n], qCountAlerts[n])
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
// key are collapsed into one write first (see sitrep.PlanIngest), so that a
// storm costs one row write per batch, not one per event; the index of open
// keys (see openKeys) tells which keys are new, and the inserts of new
// alerts and the counts on open ones go in statements of many rows. The one
// write connection makes the transaction the only writer, so its reads and
// writes of a key cannot interleave with another's.
func (s *Store) IngestAlerts(ctx context.Context, batch []sitrep.Ingest) ([]sitrep.IngestResult, error) {
	plan, err := sitrep.PlanIngest(batch)
	if err != nil {
		return nil, err
	}
	if len(plan.Ops) == 0 {
		return plan.Results(), nil
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	if err := s.ingest(ctx, plan.Ops); err != nil {
		// What the index learnt may not be what the file kept.
		s.keys.valid = false
		return nil, fmt.Errorf("ingest %d alert events: %w", len(batch), err)
	}
	return plan.Results(), nil
}

func (s *Store) ingest(ctx context.Context, ops []*sitrep.IngestOp) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := s.keys.check(ctx, s.ws, tx); err != nil {
		return err
	}
	w := &ingestWriter{s: s, tx: tx, keys: s.keys, waiting: map[opKey]bool{}}
	for _, op := range ops {
		if op.Action == sitrep.ActionTrigger {
			err = w.trigger(ctx, op)
		} else {
			err = w.change(ctx, op)
		}
		if err != nil {
			return err
		}
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

type opKey struct{ source, key string }

// ingestWriter runs a batch's writes in its transaction. Triggers wait
// until a statement of many rows takes them: those of new keys to be
// inserted, those of open keys to be counted. A key already waiting, or an
// acknowledge or resolve, writes what waits first, so that each key's writes
// keep their order.
type ingestWriter struct {
	s               *Store
	tx              *sql.Tx
	keys            *openKeys
	inserts, counts []*sitrep.IngestOp
	waiting         map[opKey]bool
	args            []any
}

func (w *ingestWriter) trigger(ctx context.Context, op *sitrep.IngestOp) error {
	k := opKey{op.Source, op.Key}
	if w.waiting[k] {
		if err := w.flush(ctx); err != nil {
			return err
		}
	}
	w.waiting[k] = true
	if id := w.keys.get(k); id != 0 {
		op.AlertID = id
		w.counts = append(w.counts, op)
	} else {
		w.open(k, op)
	}
	if len(w.inserts) == rowSizes[0] || len(w.counts) == rowSizes[0] {
		return w.flush(ctx)
	}
	return nil
}

// open makes op a new alert of key k, which is not open.
func (w *ingestWriter) open(k opKey, op *sitrep.IngestOp) {
	op.AlertID, op.Inserted = w.keys.next, true
	w.keys.next++
	w.keys.add(k, op.AlertID)
	w.inserts = append(w.inserts, op)
}

// flush writes the waiting triggers: counts first, since a count whose ID
// was another key's (the hashes of two keys met) makes a new alert.
func (w *ingestWriter) flush(ctx context.Context) error {
	for counts := w.counts; len(counts) > 0; {
		n := rowsFor(len(counts))
		if err := w.countRows(ctx, counts[:n]); err != nil {
			return err
		}
		counts = counts[n:]
	}
	w.counts = w.counts[:0]
	for inserts := w.inserts; len(inserts) > 0; {
		n := rowsFor(len(inserts))
		if err := w.insertRows(ctx, inserts[:n]); err != nil {
			return err
		}
		inserts = inserts[n:]
	}
	w.inserts = w.inserts[:0]
	clear(w.waiting)
	return nil
}

// rowsFor returns the largest of rowSizes not above n.
func rowsFor(n int) int {
	for _, size := range rowSizes {
		if size <= n {
			return size
		}
	}
	return 1
}

func (w *ingestWriter) insertRows(ctx context.Context, ops []*sitrep.IngestOp) error {
	w.args = w.args[:0]
	for _, op := range ops {
		w.args = append(w.args, op.AlertID, op.Source, op.Key, op.Severity, op.Summary, op.Labels, op.Count,
			op.First.UnixMicro(), op.Last.UnixMicro(), op.Samples)
	}
	if _, err := w.s.ws.exec(ctx, w.tx, qInsertAlerts[len(ops)], w.args...); err != nil {
		return fmt.Errorf("insert %d alerts: %w", len(ops), err)
	}
	return nil
}

// countRows counts the triggers of ops on their open alerts. An op whose
// alert was not its key's opens a new alert, inserted with the others.
func (w *ingestWriter) countRows(ctx context.Context, ops []*sitrep.IngestOp) error {
	w.args = w.args[:0]
	for _, op := range ops {
		w.args = append(w.args, op.AlertID, op.Source, op.Key, op.Severity, op.Count, op.Last.UnixMicro(), op.Samples)
	}
	rows, err := w.s.ws.query(ctx, w.tx, qCountAlerts[len(ops)], w.args...)
	if err != nil {
		return fmt.Errorf("count on %d alerts: %w", len(ops), err)
	}
	defer rows.Close()
	counted := make(map[opKey]bool, len(ops))
	for rows.Next() {
		var k opKey
		if err := rows.Scan(&k.source, &k.key); err != nil {
			return fmt.Errorf("count on %d alerts: %w", len(ops), err)
		}
		counted[k] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count on %d alerts: %w", len(ops), err)
	}
	for _, op := range ops {
		if k := (opKey{op.Source, op.Key}); !counted[k] {
			w.open(k, op)
		}
	}
	return nil
}

// change acknowledges or resolves the open alert of op's key, once the
// triggers before it are written.
func (w *ingestWriter) change(ctx context.Context, op *sitrep.IngestOp) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	k := opKey{op.Source, op.Key}
	id := w.keys.get(k)
	if id == 0 {
		op.Ignored = true
		return nil
	}
	q, args := qAckAlert, []any{id, op.Source, op.Key}
	if op.Action == sitrep.ActionResolve {
		q, args = qResolveAlert, []any{op.Last.UnixMicro(), id, op.Source, op.Key}
	}
	res, err := w.s.ws.exec(ctx, w.tx, q, args...)
	if err != nil {
		return fmt.Errorf("%s %s/%.40q: %w", op.Action, op.Source, op.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s %s/%.40q: %w", op.Action, op.Source, op.Key, err)
	}
	if n == 0 {
		// The ID was another key's, whose hash is the same.
		op.Ignored = true
		return nil
	}
	op.AlertID = id
	if op.Action == sitrep.ActionResolve {
		w.keys.remove(k, id)
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
	order := ` ORDER BY last_seen DESC, id DESC LIMIT ?`
	if f.AfterID > 0 {
		where, args = append(where, `id > ?`), append(args, f.AfterID)
		order = ` ORDER BY id LIMIT ?`
	}
	q := selectAlerts
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += order
	return s.listAlerts(ctx, "list alerts", q, append(args, limit)...)
}

// listAlerts runs a query of selectAlerts on the read pool; what names it in
// errors.
func (s *Store) listAlerts(ctx context.Context, what, q string, args ...any) ([]*sitrep.Alert, error) {
	rows, err := s.rs.query(ctx, nil, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	alerts := []*sitrep.Alert{}
	for rows.Next() {
		al, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		alerts = append(alerts, al)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
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

// SetTriageMany records one triage decision on many alerts, each only if its
// triage is from, and returns the IDs of those it changed.
func (s *Store) SetTriageMany(ctx context.Context, ids []int64, from, triage string) ([]int64, error) {
	if !validTriage(triage) || !validTriage(from) {
		return nil, sitrep.Invalid("triage", "triage %q or %q is not valid: pending, declared, attached or suppressed", from, triage)
	}
	if len(ids) > sitrep.MaxTriageMany {
		return nil, sitrep.Invalid("ids", "%d alerts at once, more than the %d allowed", len(ids), sitrep.MaxTriageMany)
	}
	if len(ids) == 0 {
		return []int64{}, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("set triage of %d alerts: %w", len(ids), err)
	}
	rows, err := s.ws.query(ctx, nil, qSetTriageMany, triage, from, string(list))
	if err != nil {
		return nil, fmt.Errorf("set triage of %d alerts: %w", len(ids), err)
	}
	defer rows.Close()
	done := make([]int64, 0, len(ids))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("set triage of %d alerts: %w", len(ids), err)
		}
		done = append(done, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("set triage of %d alerts: %w", len(ids), err)
	}
	return done, nil
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
