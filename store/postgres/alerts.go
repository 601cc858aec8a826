package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sitrep-ir/sitrep"
)

var _ sitrep.AlertStore = (*Store)(nil)

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
	_, err = s.pool.Exec(ctx,
		`INSERT INTO sources (name, kind, key_hash, allow, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)`,
		sitrep.ColumnString(src.Name), src.Kind, src.KeyHash, string(allow), src.CreatedAt, sitrep.ColumnString(src.CreatedBy))
	switch code, name := constraint(err); {
	case code == uniqueViolation && name == "sources_pkey":
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "name", Message: fmt.Sprintf("source %s already exists", src.Name)}
	case code == uniqueViolation && name == "sources_key_hash_key":
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "key", Message: fmt.Sprintf("source %s: its key is taken", src.Name)}
	case err != nil:
		return fmt.Errorf("create source %s: %w", src.Name, err)
	}
	return nil
}

const selectSources = `SELECT name, kind, key_hash, allow, created_at, created_by FROM sources`

// Sources lists sources ordered by name.
func (s *Store) Sources(ctx context.Context) ([]*sitrep.Source, error) {
	rows, err := s.pool.Query(ctx, selectSources+` ORDER BY name COLLATE "C"`)
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
	src, err := scanSource(s.pool.QueryRow(ctx, selectSources+` WHERE key_hash = $1`, sitrep.ColumnString(hash)))
	if errors.Is(err, pgx.ErrNoRows) {
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
	tag, err := s.pool.Exec(ctx, `DELETE FROM sources WHERE name = $1`, sitrep.ColumnString(name))
	if err != nil {
		return fmt.Errorf("delete source %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return &sitrep.Error{Kind: sitrep.ENotFound, Field: "name", Message: fmt.Sprintf("source %s not found", name)}
	}
	return nil
}

func scanSource(row pgx.Row) (*sitrep.Source, error) {
	var src sitrep.Source
	var allow string
	if err := row.Scan(&src.Name, &src.Kind, &src.KeyHash, &allow, &src.CreatedAt, &src.CreatedBy); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(allow), &src.Allow); err != nil {
		return nil, fmt.Errorf("source %s: decode allowed ranges: %w", src.Name, err)
	}
	if len(src.Allow) == 0 {
		src.Allow = nil
	}
	src.CreatedAt = src.CreatedAt.UTC()
	return &src, nil
}

// The ingest statements. qUpsertAlerts opens alerts or counts on the open
// ones with the same keys, one row per element of its arrays (the keys must
// differ): its conflict target repeats the WHERE of the partial unique
// index alerts_open_key, so resolved alerts never conflict, and a replica
// inserting a key that another has just inserted waits for that
// transaction and then counts on its row. The rows are written in the
// order of the arrays. xmax is 0 only in a row version this statement
// inserted.
const (
	qUpsertAlerts = `INSERT INTO alerts (source, dedup_key, status, triage, severity, summary, labels, count, first_seen, last_seen, samples)
		SELECT source, dedup_key, 'firing', 'pending', severity, summary, labels, count, first_seen, last_seen, samples
		FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[], $5::text[], $6::bigint[], $7::timestamptz[], $8::timestamptz[], $9::text[])
			AS t(source, dedup_key, severity, summary, labels, count, first_seen, last_seen, samples)
		ON CONFLICT (source, dedup_key) WHERE status <> 'resolved' DO UPDATE SET
			count = alerts.count + excluded.count,
			last_seen = greatest(alerts.last_seen, excluded.last_seen),
			severity = CASE WHEN excluded.severity = 0 THEN alerts.severity
				WHEN alerts.severity = 0 THEN excluded.severity
				ELSE least(alerts.severity, excluded.severity) END,
			samples = CASE WHEN excluded.samples = '[]' THEN alerts.samples
				ELSE alert_samples_merge(alerts.samples, excluded.samples, $10, $11) END
		RETURNING source, dedup_key, id, (xmax = 0) AS inserted`
	qAckAlert = `UPDATE alerts SET status = 'acknowledged'
		WHERE source = $1 AND dedup_key = $2 AND status <> 'resolved' RETURNING id`
	qResolveAlert = `UPDATE alerts SET status = 'resolved', resolved_at = $3
		WHERE source = $1 AND dedup_key = $2 AND status <> 'resolved' RETURNING id`
)

// maxUpsertRows bounds the rows of one upsert statement.
const maxUpsertRows = 1000

// SQLSTATEs after which an ingest transaction is tried again.
const (
	deadlockDetected     = "40P01"
	serializationFailure = "40001"
)

// IngestAlerts stores a batch of events in one transaction. Triggers of one
// key are collapsed into one upsert first (see sitrep.PlanIngest), so that a
// storm costs one row write per batch, and the upserts of different keys go
// in one statement. The writes are sorted by key, which keeps each key's
// events in batch order and makes every replica lock rows in one order, so
// that concurrent batches do not deadlock. The whole transaction (BEGIN,
// the writes, COMMIT) travels as one pipelined batch: one round trip,
// however many events.
func (s *Store) IngestAlerts(ctx context.Context, batch []sitrep.Ingest) ([]sitrep.IngestResult, error) {
	plan, err := sitrep.PlanIngest(batch)
	if err != nil {
		return nil, err
	}
	if len(plan.Ops) == 0 {
		return plan.Results(), nil
	}
	ops := slices.Clone(plan.Ops)
	slices.SortStableFunc(ops, func(a, b *sitrep.IngestOp) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Key, b.Key))
	})
	steps := ingestSteps(ops)
	for attempt := 1; ; attempt++ {
		err = s.ingest(ctx, steps)
		code, _ := constraint(err)
		if (code != deadlockDetected && code != serializationFailure) || attempt == 3 {
			break
		}
		s.logger.Warn("ingest alerts: trying again", "attempt", attempt, "err", err)
	}
	if err != nil {
		return nil, fmt.Errorf("ingest %d alert events: %w", len(batch), err)
	}
	return plan.Results(), nil
}

// ingestSteps groups ops (sorted by key) into statements: runs of triggers
// of different keys make one upsert each; an acknowledge or resolve is a
// statement of its own.
func ingestSteps(ops []*sitrep.IngestOp) [][]*sitrep.IngestOp {
	var steps [][]*sitrep.IngestOp
	start := 0
	for i, op := range ops {
		prev := ops[max(i-1, 0)]
		sameKey := i > start && prev.Source == op.Source && prev.Key == op.Key
		if i > start && (op.Action != sitrep.ActionTrigger || prev.Action != sitrep.ActionTrigger || sameKey || i-start == maxUpsertRows) {
			steps = append(steps, ops[start:i])
			start = i
		}
	}
	return append(steps, ops[start:])
}

func (s *Store) ingest(ctx context.Context, steps [][]*sitrep.IngestOp) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// A failed statement made the server skip the rest of the
			// batch, COMMIT included; end the transaction before the
			// connection goes back (the pool would close it otherwise).
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
		conn.Release()
	}()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, step := range steps {
		switch op := step[0]; op.Action {
		case sitrep.ActionTrigger:
			b.Queue(qUpsertAlerts, upsertArgs(step)...)
		case sitrep.ActionAcknowledge:
			b.Queue(qAckAlert, op.Source, op.Key)
		case sitrep.ActionResolve:
			b.Queue(qResolveAlert, op.Source, op.Key, op.Last)
		}
	}
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	for _, step := range steps {
		op := step[0]
		if op.Action == sitrep.ActionTrigger {
			if err := readUpserted(br, step); err != nil {
				return err
			}
			continue
		}
		var id int64
		switch err := br.QueryRow().Scan(&id); {
		case errors.Is(err, pgx.ErrNoRows):
			op.AlertID, op.Inserted, op.Ignored = 0, false, true
		case err != nil:
			return fmt.Errorf("%s %s/%.40q: %w", op.Action, op.Source, op.Key, err)
		default:
			op.AlertID, op.Inserted, op.Ignored = id, false, false
		}
	}
	tag, err := br.Exec()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if tag.String() != "COMMIT" {
		// The server answers COMMIT with ROLLBACK for a transaction it had
		// already failed.
		return errors.New("commit: the transaction was rolled back")
	}
	return nil
}

// upsertArgs returns the arguments of qUpsertAlerts for ops: one array per
// column.
func upsertArgs(ops []*sitrep.IngestOp) []any {
	n := len(ops)
	sources, keys, summaries, labels, samples := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	severities, counts := make([]int16, n), make([]int64, n)
	firsts, lasts := make([]time.Time, n), make([]time.Time, n)
	for i, op := range ops {
		sources[i], keys[i], severities[i], summaries[i], labels[i] = op.Source, op.Key, int16(op.Severity), op.Summary, op.Labels
		counts[i], firsts[i], lasts[i], samples[i] = op.Count, op.First, op.Last, op.Samples
	}
	return []any{sources, keys, severities, summaries, labels, counts, firsts, lasts, samples, sitrep.AlertFirstSamples, sitrep.MaxAlertSamples}
}

// readUpserted reads the rows an upsert of ops returned. PostgreSQL returns
// them in the order of the arrays, but does not promise it: each row is
// matched by its key.
func readUpserted(br pgx.BatchResults, ops []*sitrep.IngestOp) error {
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("upsert %d alerts: %w", len(ops), err)
	}
	defer rows.Close()
	n := 0
	for ; rows.Next(); n++ {
		var source, key string
		var id int64
		var inserted bool
		if err := rows.Scan(&source, &key, &id, &inserted); err != nil {
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
		op.AlertID, op.Inserted, op.Ignored = id, inserted, false
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("upsert %d alerts: %w", len(ops), err)
	}
	if n != len(ops) {
		return fmt.Errorf("upsert %d alerts: %d rows returned", len(ops), n)
	}
	return nil
}

const selectAlerts = `SELECT id, source, dedup_key, status, triage, severity, summary, labels, count,
	first_seen, last_seen, resolved_at, incident_id, samples FROM alerts`

// Alert returns one alert. ENotFound if none.
func (s *Store) Alert(ctx context.Context, id int64) (*sitrep.Alert, error) {
	al, err := scanAlert(s.pool.QueryRow(ctx, selectAlerts+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	var where []string
	args := []any{limit}
	if f.Triage != "" {
		args = append(args, f.Triage)
		where = append(where, fmt.Sprintf(`triage = $%d`, len(args)))
	}
	if f.Open {
		where = append(where, `status <> 'resolved'`)
	}
	if f.IncidentID != "" {
		args = append(args, f.IncidentID)
		where = append(where, fmt.Sprintf(`incident_id = $%d`, len(args)))
	}
	order := ` ORDER BY last_seen DESC, id DESC LIMIT $1`
	if f.AfterID > 0 {
		args = append(args, f.AfterID)
		where = append(where, fmt.Sprintf(`id > $%d`, len(args)))
		order = ` ORDER BY id LIMIT $1`
	}
	q := selectAlerts
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += order
	return s.listAlerts(ctx, "list alerts", q, args...)
}

// listAlerts runs a query of selectAlerts; what names it in errors.
func (s *Store) listAlerts(ctx context.Context, what, q string, args ...any) ([]*sitrep.Alert, error) {
	rows, err := s.pool.Query(ctx, q, args...)
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
	var incident *string
	if incidentID != "" {
		incidentID = sitrep.ColumnString(incidentID)
		incident = &incidentID
	}
	tag, err := s.pool.Exec(ctx, `UPDATE alerts SET triage = $1, incident_id = $2 WHERE id = $3 AND ($4 = '' OR triage = $4)`, triage, incident, id, from)
	if err != nil {
		return fmt.Errorf("set triage of alert %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
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
	rows, err := s.pool.Query(ctx, `UPDATE alerts SET triage = $1, incident_id = NULL
		WHERE triage = $2 AND id = ANY($3) RETURNING id`, triage, from, ids)
	if err != nil {
		return nil, fmt.Errorf("set triage of %d alerts: %w", len(ids), err)
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("set triage of %d alerts: %w", len(ids), err)
	}
	if done == nil {
		done = []int64{}
	}
	return done, nil
}

func scanAlert(row pgx.Row) (*sitrep.Alert, error) {
	var al sitrep.Alert
	var labels, samples string
	var severity int16
	var incident *string
	err := row.Scan(&al.ID, &al.Source, &al.DedupKey, &al.Status, &al.Triage, &severity, &al.Summary, &labels, &al.Count,
		&al.FirstSeen, &al.LastSeen, &al.ResolvedAt, &incident, &samples)
	if err != nil {
		return nil, err
	}
	al.Severity = int(severity)
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
	al.FirstSeen, al.LastSeen = al.FirstSeen.UTC(), al.LastSeen.UTC()
	if al.ResolvedAt != nil {
		t := al.ResolvedAt.UTC()
		al.ResolvedAt = &t
	}
	if incident != nil {
		al.IncidentID = *incident
	}
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
