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
	"github.com/sitrep-ir/sitrep/notify"
)

var _ notify.Store[*sql.Tx] = (*Store)(nil)

// NotifyDB returns the store's one write connection, for the job queue of
// notifications (River): River's own advice on SQLite is a pool of one
// connection, and sharing the store's means its writes queue behind the
// store's in the process instead of failing with SQLITE_BUSY, and its jobs
// are inserted in the store's transactions.
func (s *Store) NotifyDB() *sql.DB { return s.w }

const notificationColumns = `id, incident_id, seq, event, recipient, chain, step, round, ladder, channel, contact_id, address, format,
	message, needs_ack, status, attempts, last_error, created_at, ack_due, sent_at, acked_at, acked_by, escalated_at`

// AddContact stores c and sets its ID.
func (s *Store) AddContact(ctx context.Context, c *notify.Contact) error {
	err := s.w.QueryRowContext(ctx, `INSERT INTO notify_contacts (user_name, kind, address, format, secret, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		c.User, c.Kind, c.Address, c.Format, c.Secret, c.CreatedAt.UnixMicro()).Scan(&c.ID)
	switch {
	case foreignKeyViolated(err):
		return &sitrep.Error{Kind: sitrep.ENotFound, Field: "user", Message: fmt.Sprintf("user %s not found", c.User)}
	case uniqueViolated(err):
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "address", Message: fmt.Sprintf("%s has this %s contact already", c.User, c.Kind)}
	case err != nil:
		return fmt.Errorf("add contact of %s: %w", c.User, err)
	}
	return nil
}

// Contacts lists the contact methods of users, by user then ID.
func (s *Store) Contacts(ctx context.Context, users ...string) ([]*notify.Contact, error) {
	out := []*notify.Contact{}
	if len(users) == 0 {
		return out, nil
	}
	names, _ := json.Marshal(users)
	rows, err := s.r.QueryContext(ctx, `SELECT id, user_name, kind, address, format, secret, created_at FROM notify_contacts
		WHERE user_name IN (SELECT value FROM json_each(?)) ORDER BY user_name, id`, string(names))
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c notify.Contact
		var created int64
		if err := rows.Scan(&c.ID, &c.User, &c.Kind, &c.Address, &c.Format, &c.Secret, &created); err != nil {
			return nil, fmt.Errorf("list contacts: %w", err)
		}
		c.CreatedAt = micro(created)
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	return out, nil
}

// DeleteContact removes contact id of user.
func (s *Store) DeleteContact(ctx context.Context, user string, id int64) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM notify_contacts WHERE id = ? AND user_name = ?`, id, user)
	if err != nil {
		return fmt.Errorf("delete contact %d of %s: %w", id, user, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete contact %d of %s: %w", id, user, err)
	} else if n == 0 {
		return &sitrep.Error{Kind: sitrep.ENotFound, Field: "id", Message: fmt.Sprintf("%s has no contact %d", user, id)}
	}
	return nil
}

// ServerSecret returns the secret called name, storing fresh first if there
// is none.
func (s *Store) ServerSecret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, fresh, time.Now().UnixMicro()); err != nil {
		return nil, fmt.Errorf("server secret %s: %w", name, err)
	}
	var v []byte
	if err := s.w.QueryRowContext(ctx, `SELECT value FROM server_secrets WHERE name = ?`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("server secret %s: %w", name, err)
	}
	return v, nil
}

// Unplanned lists incidents with entries after their notification cursor.
func (s *Store) Unplanned(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT i.id FROM incidents i LEFT JOIN notify_cursors c ON c.incident_id = i.id
		WHERE i.seq > coalesce(c.seq, 0) ORDER BY i.updated_at LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list unplanned incidents: %w", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list unplanned incidents: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list unplanned incidents: %w", err)
	}
	return ids, nil
}

// Pending returns the incident's notification cursor and the entries after it.
func (s *Store) Pending(ctx context.Context, incidentID string, limit int) (int64, []sitrep.Entry, error) {
	var cursor int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce((SELECT seq FROM notify_cursors WHERE incident_id = ?), 0)`, incidentID).Scan(&cursor)
	if err != nil {
		return 0, nil, fmt.Errorf("notification cursor of %s: %w", incidentID, err)
	}
	entries, err := s.Entries(ctx, incidentID, cursor, limit)
	if err != nil {
		return 0, nil, err
	}
	return cursor, entries, nil
}

// Plan stores a planned batch and moves the incident's cursor, once.
func (s *Store) Plan(ctx context.Context, incidentID string, from, to int64, b notify.Batch, at time.Time, enqueue notify.Enqueue[*sql.Tx]) (bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("plan notifications of %s: begin: %w", incidentID, err)
	}
	defer tx.Rollback()
	var cursor int64
	err = tx.QueryRowContext(ctx, `SELECT seq FROM notify_cursors WHERE incident_id = ?`, incidentID).Scan(&cursor)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("plan notifications of %s: %w", incidentID, err)
	}
	if cursor != from {
		return false, nil
	}
	// Inserted first: an entry of the batch may answer a page of an
	// earlier one.
	ids, err := insertNotifications(ctx, tx, b.Notifications)
	if err != nil {
		return false, fmt.Errorf("plan notifications of %s: %w", incidentID, err)
	}
	for _, r := range b.Acks {
		if err := ackRule(ctx, tx, incidentID, r, at); err != nil {
			return false, fmt.Errorf("plan notifications of %s: %w", incidentID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO notify_cursors (incident_id, seq) VALUES (?, ?)
		ON CONFLICT (incident_id) DO UPDATE SET seq = excluded.seq`, incidentID, to); err != nil {
		return false, fmt.Errorf("plan notifications of %s: move the cursor: %w", incidentID, err)
	}
	if len(ids) > 0 {
		if err := enqueue(ctx, tx, ids); err != nil {
			return false, fmt.Errorf("plan notifications of %s: enqueue: %w", incidentID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("plan notifications of %s: commit: %w", incidentID, err)
	}
	return true, nil
}

func ackRule(ctx context.Context, tx *sql.Tx, incidentID string, r notify.AckRule, at time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE notifications SET status = 'acknowledged', acked_at = ?, acked_by = ?
		WHERE incident_id = ? AND needs_ack = 1 AND acked_at IS NULL
		AND (? = 0 OR seq = ?) AND (? = '' OR event = ?) AND (? = '' OR chain = ?)`,
		at.UnixMicro(), r.By, incidentID, r.Seq, r.Seq, r.Event, r.Event, r.Chain, r.Chain)
	if err != nil {
		return fmt.Errorf("acknowledge pages: %w", err)
	}
	return nil
}

// insertNotifications inserts ns, skipping those already stored, and returns
// the IDs of the new ones still queued.
func insertNotifications(ctx context.Context, tx *sql.Tx, ns []*notify.Notification) ([]int64, error) {
	var ids []int64
	for _, n := range ns {
		ladder, err := json.Marshal(n.Ladder)
		if err != nil {
			return nil, fmt.Errorf("encode ladder: %w", err)
		}
		msg, err := json.Marshal(n.Message)
		if err != nil {
			return nil, fmt.Errorf("encode message: %w", err)
		}
		var contact any
		if n.ContactID != 0 {
			contact = n.ContactID
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO notifications (incident_id, seq, event, recipient, chain, step, round, ladder,
			channel, contact_id, address, format, message, needs_ack, status, attempts, last_error, created_at, ack_due)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (incident_id, seq, chain, step, round, channel, address) DO NOTHING RETURNING id`,
			n.IncidentID, n.Seq, n.Event, n.Recipient, n.Chain, n.Step, n.Round, string(ladder),
			n.Channel, contact, n.Address, n.Format, columnText(string(msg)), n.NeedsAck, n.Status, n.Attempts, n.LastError,
			n.CreatedAt.UnixMicro(), microPtr(n.AckDue)).Scan(&n.ID)
		if errors.Is(err, sql.ErrNoRows) {
			continue // stored already: the idempotency key
		}
		if err != nil {
			return nil, fmt.Errorf("insert notification for %s: %w", n.Recipient, err)
		}
		if n.Status == notify.StatusQueued {
			ids = append(ids, n.ID)
		}
	}
	return ids, nil
}

// Notification returns notification id.
func (s *Store) Notification(ctx context.Context, id int64) (*notify.Notification, error) {
	n, err := scanNotification(s.r.QueryRowContext(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notificationNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("load notification %d: %w", id, err)
	}
	return n, nil
}

func notificationNotFound(id int64) error {
	return &sitrep.Error{Kind: sitrep.ENotFound, Field: "id", Message: fmt.Sprintf("notification %d not found", id)}
}

// IncidentNotifications lists the incident's notifications by ID.
func (s *Store) IncidentNotifications(ctx context.Context, incidentID string) ([]*notify.Notification, error) {
	return s.queryNotifications(ctx, s.r, `SELECT `+notificationColumns+` FROM notifications WHERE incident_id = ? ORDER BY id`, incidentID)
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) queryNotifications(ctx context.Context, q querier, query string, args ...any) ([]*notify.Notification, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	defer rows.Close()
	out := []*notify.Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, fmt.Errorf("list notifications: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return out, nil
}

// Sent records a delivery.
func (s *Store) Sent(ctx context.Context, id int64, at time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE notifications SET status = CASE WHEN status = 'queued' THEN 'sent' ELSE status END,
		sent_at = ?, attempts = attempts + 1, last_error = '' WHERE id = ? AND sent_at IS NULL AND status IN ('queued', 'acknowledged')`,
		at.UnixMicro(), id)
	if err != nil {
		return false, fmt.Errorf("record delivery of notification %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record delivery of notification %d: %w", id, err)
	}
	return n == 1, nil
}

// Failed records a failed attempt.
func (s *Store) Failed(ctx context.Context, id int64, reason string, final bool) error {
	_, err := s.w.ExecContext(ctx, `UPDATE notifications SET attempts = attempts + 1, last_error = ?,
		status = CASE WHEN ? AND status = 'queued' THEN 'failed' ELSE status END WHERE id = ? AND sent_at IS NULL`,
		columnText(clipBytes(reason, 1000)), final, id)
	if err != nil {
		return fmt.Errorf("record failure of notification %d: %w", id, err)
	}
	return nil
}

// Acknowledge acknowledges the page of notification id and its chain.
func (s *Store) Acknowledge(ctx context.Context, id int64, by string, at time.Time) (*notify.Notification, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("acknowledge notification %d: begin: %w", id, err)
	}
	defer tx.Rollback()
	n, err := scanNotification(tx.QueryRowContext(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notificationNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("acknowledge notification %d: %w", id, err)
	}
	if !n.NeedsAck {
		return nil, sitrep.Errorf(sitrep.EConflict, "notification %d is not a page: there is nothing to acknowledge", id)
	}
	if err := ackRule(ctx, tx, n.IncidentID, notify.AckRule{Seq: n.Seq, Chain: n.Chain, By: by}, at); err != nil {
		return nil, fmt.Errorf("acknowledge notification %d: %w", id, err)
	}
	n, err = scanNotification(tx.QueryRowContext(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("acknowledge notification %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("acknowledge notification %d: commit: %w", id, err)
	}
	return n, nil
}

// Due lists pages due for escalation, one per chain round.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]*notify.Notification, error) {
	return s.queryNotifications(ctx, s.r, `SELECT `+notificationColumns+` FROM notifications WHERE id IN (
		SELECT min(id) FROM notifications
		WHERE ack_due IS NOT NULL AND acked_at IS NULL AND escalated_at IS NULL AND ack_due <= ?
		GROUP BY incident_id, seq, chain, step, round) ORDER BY ack_due, id LIMIT ?`, now.UnixMicro(), limit)
}

// Escalate marks the round of n escalated and inserts next, once.
func (s *Store) Escalate(ctx context.Context, n *notify.Notification, at time.Time, next []*notify.Notification, enqueue notify.Enqueue[*sql.Tx]) (bool, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("escalate notification %d: begin: %w", n.ID, err)
	}
	defer tx.Rollback()
	// A round acknowledged on any channel is acknowledged: nothing to do.
	var acked int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM notifications WHERE incident_id = ? AND seq = ? AND chain = ? AND acked_at IS NOT NULL`,
		n.IncidentID, n.Seq, n.Chain).Scan(&acked); err != nil {
		return false, fmt.Errorf("escalate notification %d: %w", n.ID, err)
	}
	if acked > 0 {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE notifications SET escalated_at = ?
		WHERE incident_id = ? AND seq = ? AND chain = ? AND step = ? AND round = ? AND escalated_at IS NULL`,
		at.UnixMicro(), n.IncidentID, n.Seq, n.Chain, n.Step, n.Round)
	if err != nil {
		return false, fmt.Errorf("escalate notification %d: %w", n.ID, err)
	}
	if k, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("escalate notification %d: %w", n.ID, err)
	} else if k == 0 {
		return false, nil
	}
	ids, err := insertNotifications(ctx, tx, next)
	if err != nil {
		return false, fmt.Errorf("escalate notification %d: %w", n.ID, err)
	}
	if len(ids) > 0 {
		if err := enqueue(ctx, tx, ids); err != nil {
			return false, fmt.Errorf("escalate notification %d: enqueue: %w", n.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("escalate notification %d: commit: %w", n.ID, err)
	}
	return true, nil
}

func scanNotification(row scanner) (*notify.Notification, error) {
	var n notify.Notification
	var ladder, msg string
	var contact, ackDue, sent, acked, escalated sql.NullInt64
	var created int64
	if err := row.Scan(&n.ID, &n.IncidentID, &n.Seq, &n.Event, &n.Recipient, &n.Chain, &n.Step, &n.Round, &ladder,
		&n.Channel, &contact, &n.Address, &n.Format, &msg, &n.NeedsAck, &n.Status, &n.Attempts, &n.LastError,
		&created, &ackDue, &sent, &acked, &n.AckedBy, &escalated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(ladder), &n.Ladder); err != nil {
		return nil, fmt.Errorf("notification %d: decode ladder: %w", n.ID, err)
	}
	if err := json.Unmarshal([]byte(msg), &n.Message); err != nil {
		return nil, fmt.Errorf("notification %d: decode message: %w", n.ID, err)
	}
	n.ContactID = contact.Int64
	n.CreatedAt = micro(created)
	n.AckDue, n.SentAt, n.AckedAt, n.EscalatedAt = microNull(ackDue), microNull(sent), microNull(acked), microNull(escalated)
	return &n, nil
}

func microPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func microNull(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := micro(v.Int64)
	return &t
}

func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
