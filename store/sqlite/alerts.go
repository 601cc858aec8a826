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
	"time"

	"modernc.org/sqlite"

	"github.com/sitrep-ir/sitrep"
)

var _ sitrep.AlertStore = (*Store)(nil)

// The alert statements of the write connection, prepared with the others
// when the store opens (see queries.go).
const (
	qInsertSource = `INSERT INTO sources (name, kind, key_hash, allow, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)`
	qDeleteSource = `DELETE FROM sources WHERE name = ?`
	// qUpsertAlert opens an alert or counts on the open one with the same
	// key. The conflict target repeats the WHERE of the partial unique index
	// alerts_open_key, so resolved alerts never conflict. An open alert's
	// count is at least 1, so the returned count equals the inserted one
	// only when the row is new.
	qUpsertAlert = `INSERT INTO alerts (source, dedup_key, status, triage, severity, summary, labels, count, first_seen, last_seen, samples)
		VALUES (?, ?, 'firing', 'pending', ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source, dedup_key) WHERE status <> 'resolved' DO UPDATE SET
			count = alerts.count + excluded.count,
			last_seen = max(alerts.last_seen, excluded.last_seen),
			severity = CASE WHEN excluded.severity = 0 THEN alerts.severity
				WHEN alerts.severity = 0 THEN excluded.severity
				ELSE min(alerts.severity, excluded.severity) END,
			samples = CASE WHEN excluded.samples = '[]' THEN alerts.samples
				ELSE ` + samplesFunc + `(alerts.samples, excluded.samples) END
		RETURNING id, count`
	qAckAlert = `UPDATE alerts SET status = 'acknowledged'
		WHERE source = ? AND dedup_key = ? AND status <> 'resolved' RETURNING id`
	qResolveAlert = `UPDATE alerts SET status = 'resolved', resolved_at = ?
		WHERE source = ? AND dedup_key = ? AND status <> 'resolved' RETURNING id`
	qSetTriage = `UPDATE alerts SET triage = ?, incident_id = ? WHERE id = ? AND (? = '' OR triage = ?)`
)

// samplesFunc is the SQL function that merges an open alert's samples with
// a batch's, in Go (mergeSamples), so that both follow one rule.
const samplesFunc = "sitrep_alert_samples"

func init() {
	writeQueries = append(writeQueries, qInsertSource, qDeleteSource, qUpsertAlert, qAckAlert, qResolveAlert, qSetTriage)
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
// key are collapsed into one upsert first (see planIngest), so that a storm
// costs one row write per batch, not one per event. The one write
// connection makes the transaction the only writer, so its reads and
// writes of a key cannot interleave with another's.
func (s *Store) IngestAlerts(ctx context.Context, batch []sitrep.Ingest) ([]sitrep.IngestResult, error) {
	ops, err := planIngest(batch)
	if err != nil {
		return nil, err
	}
	results := make([]sitrep.IngestResult, len(batch))
	if len(ops) == 0 {
		return results, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("ingest %d alert events: begin: %w", len(batch), err)
	}
	defer tx.Rollback()
	upsert, ack, resolve, err := s.ingestStmts(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("ingest %d alert events: %w", len(batch), err)
	}
	for _, op := range ops {
		var id int64
		switch op.action {
		case sitrep.ActionTrigger:
			var count int64
			err = upsert.QueryRowContext(ctx, op.source, op.key, op.severity, op.summary, op.labels, op.count,
				op.first.UnixMicro(), op.last.UnixMicro(), op.samples).Scan(&id, &count)
			if err == nil {
				op.answer(results, id, count == op.count)
			}
		case sitrep.ActionAcknowledge:
			err = ack.QueryRowContext(ctx, op.source, op.key).Scan(&id)
		case sitrep.ActionResolve:
			err = resolve.QueryRowContext(ctx, op.last.UnixMicro(), op.source, op.key).Scan(&id)
		}
		switch {
		case op.action != sitrep.ActionTrigger && errors.Is(err, sql.ErrNoRows):
			op.ignore(results)
		case err != nil:
			return nil, fmt.Errorf("ingest %d alert events: %s %s/%.40q: %w", len(batch), op.action, op.source, op.key, err)
		case op.action != sitrep.ActionTrigger:
			op.answer(results, id, false)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("ingest %d alert events: commit: %w", len(batch), err)
	}
	return results, nil
}

// ingestStmts returns the ingest statements bound to tx.
func (s *Store) ingestStmts(ctx context.Context, tx *sql.Tx) (upsert, ack, resolve *sql.Stmt, err error) {
	var st [3]*sql.Stmt
	for i, q := range []string{qUpsertAlert, qAckAlert, qResolveAlert} {
		p, err := s.ws.get(ctx, q)
		if err != nil {
			return nil, nil, nil, err
		}
		st[i] = tx.StmtContext(ctx, p)
	}
	return st[0], st[1], st[2], nil
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

// alertOp is one write of an ingest batch: the triggers of one key that no
// acknowledge or resolve of that key separates, collapsed into one upsert,
// or one acknowledge or resolve.
type alertOp struct {
	action      string
	source, key string
	events      []int // indexes in the batch, in batch order
	count       int64
	severity    int // the worst (lowest) non-zero severity of the triggers
	summary     string
	labels      string // JSON of the first trigger's labels
	first, last time.Time
	samples     string // JSON of the kept raw payloads
	raws        []string
}

// answer records the results of op's events: the first trigger of a group
// opened the alert if it was new; the others counted on it.
func (op *alertOp) answer(results []sitrep.IngestResult, id int64, inserted bool) {
	for n, i := range op.events {
		results[i] = sitrep.IngestResult{AlertID: id, New: inserted && n == 0}
	}
}

func (op *alertOp) ignore(results []sitrep.IngestResult) {
	for _, i := range op.events {
		results[i] = sitrep.IngestResult{Ignored: true}
	}
}

// planIngest checks a batch and turns it into writes, in an order that
// keeps each key's events in batch order: the triggers of a key collapse
// into one write until an acknowledge or resolve of the key comes, after
// which a trigger starts a new write (and, after a resolve, a new alert).
func planIngest(batch []sitrep.Ingest) ([]*alertOp, error) {
	type key struct{ source, key string }
	var ops []*alertOp
	open := map[key]*alertOp{} // the trigger group each key collects into
	for i := range batch {
		in := &batch[i]
		if err := checkIngest(i, in); err != nil {
			return nil, err
		}
		ev := &in.Event
		k := key{columnString(in.Source), columnString(ev.DedupKey)}
		seen := in.ReceivedAt.UTC().Truncate(time.Microsecond)
		if ev.Action != sitrep.ActionTrigger {
			delete(open, k)
			ops = append(ops, &alertOp{action: ev.Action, source: k.source, key: k.key, events: []int{i}, last: seen})
			continue
		}
		op := open[k]
		if op == nil {
			labels, err := json.Marshal(ev.Labels)
			if err != nil {
				return nil, fmt.Errorf("ingest event %d: encode labels: %w", i, err)
			}
			if ev.Labels == nil {
				labels = []byte("{}")
			}
			op = &alertOp{action: ev.Action, source: k.source, key: k.key, summary: columnString(ev.Summary),
				labels: string(labels), first: seen, last: seen}
			open[k] = op
			ops = append(ops, op)
		}
		op.events = append(op.events, i)
		op.count++
		op.first, op.last = minTime(op.first, seen), maxTime(op.last, seen)
		if ev.Severity != 0 && (op.severity == 0 || ev.Severity < op.severity) {
			op.severity = ev.Severity
		}
		op.raws = addSample(op.raws, ev.Raw)
	}
	for _, op := range ops {
		if op.action != sitrep.ActionTrigger {
			continue
		}
		b, err := json.Marshal(nonNil(op.raws))
		if err != nil {
			return nil, fmt.Errorf("ingest: encode samples: %w", err)
		}
		op.samples, op.raws = string(b), nil
	}
	return ops, nil
}

// checkIngest refuses an event the store cannot keep as asked. The intake
// normalises events before they get here, so this catches a caller's bug.
func checkIngest(i int, in *sitrep.Ingest) error {
	field := func(name string) string { return fmt.Sprintf("batch[%d].%s", i, name) }
	ev := &in.Event
	switch {
	case in.Source == "":
		return sitrep.Invalid(field("source"), "event %d of the batch names no source", i)
	case ev.Action != sitrep.ActionTrigger && ev.Action != sitrep.ActionAcknowledge && ev.Action != sitrep.ActionResolve:
		return sitrep.Invalid(field("action"), "event %d: action %.20q is not trigger, acknowledge or resolve", i, ev.Action)
	case ev.DedupKey == "" || len(ev.DedupKey) > sitrep.MaxAlertDedupKey:
		return sitrep.Invalid(field("dedup_key"), "event %d: the dedup key must be 1–%d bytes, not %d", i, sitrep.MaxAlertDedupKey, len(ev.DedupKey))
	case ev.Severity < 0 || ev.Severity > sitrep.MaxSeverity:
		return sitrep.Invalid(field("severity"), "event %d: severity %d is not 0–%d", i, ev.Severity, sitrep.MaxSeverity)
	case in.ReceivedAt.IsZero():
		return sitrep.Invalid(field("received_at"), "event %d has no time of receipt", i)
	}
	return nil
}

// columnString returns s as a text column keeps it: without NUL characters
// and with invalid UTF-8 replaced, which PostgreSQL's text refuses. Both
// backends do the same so that they agree on keys and summaries.
func columnString(s string) string {
	return strings.ToValidUTF8(columnText(s), "\uFFFD")
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// firstSamples is how many of the first raw payloads an alert keeps; the
// rest of its MaxAlertSamples are the latest ones.
const firstSamples = 2

// addSample adds raw to the kept samples: the first firstSamples payloads
// stay, and the newest replace the oldest of the rest.
func addSample(samples []string, raw string) []string {
	if raw == "" {
		return samples
	}
	if len(samples) < sitrep.MaxAlertSamples {
		return append(samples, raw)
	}
	copy(samples[firstSamples:], samples[firstSamples+1:])
	samples[len(samples)-1] = raw
	return samples
}

// mergeSamples adds the samples of a later batch to an alert's.
func mergeSamples(old, later []string) []string {
	old = slices.Clip(old)
	for _, raw := range later {
		old = addSample(old, raw)
	}
	return old
}

// sqlMergeSamples is mergeSamples on JSON text, as samplesFunc.
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
	b, err := json.Marshal(nonNil(mergeSamples(lists[0], lists[1])))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", samplesFunc, err)
	}
	return string(b), nil
}
