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
	"github.com/sitrep-ir/sitrep/notify"
)

var _ notify.Store[pgx.Tx] = (*Store)(nil)

const notificationColumns = `id, incident_id, seq, event, recipient, chain, step, round, ladder, channel, contact_id, address, format,
	message, needs_ack, status, attempts, last_error, created_at, ack_due, sent_at, acked_at, acked_by, escalated_at`

// AddContact stores c and sets its ID.
func (s *Store) AddContact(ctx context.Context, c *notify.Contact) error {
	err := s.pool.QueryRow(ctx, `INSERT INTO notify_contacts (user_name, kind, address, format, secret, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		c.User, c.Kind, c.Address, c.Format, c.Secret, c.CreatedAt).Scan(&c.ID)
	code, name := constraint(err)
	switch {
	case code == foreignKeyViolation && name == "notify_contacts_user_fkey":
		return &sitrep.Error{Kind: sitrep.ENotFound, Field: "user", Message: fmt.Sprintf("user %s not found", c.User)}
	case code == uniqueViolation && name == "notify_contacts_user_address_key":
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "address", Message: fmt.Sprintf("%s has this %s contact already", c.User, c.Kind)}
	case code == badText:
		return sitrep.Invalid("address", "the address contains a NUL character")
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
	rows, err := s.pool.Query(ctx, `SELECT id, user_name, kind, address, format, secret, created_at FROM notify_contacts
		WHERE user_name = ANY($1) ORDER BY user_name, id`, users)
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c notify.Contact
		if err := rows.Scan(&c.ID, &c.User, &c.Kind, &c.Address, &c.Format, &c.Secret, &c.CreatedAt); err != nil {
			return nil, fmt.Errorf("list contacts: %w", err)
		}
		c.CreatedAt = c.CreatedAt.UTC()
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	return out, nil
}

// DeleteContact removes contact id of user.
func (s *Store) DeleteContact(ctx context.Context, user string, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM notify_contacts WHERE id = $1 AND user_name = $2`, id, user)
	if err != nil {
		return fmt.Errorf("delete contact %d of %s: %w", id, user, err)
	}
	if tag.RowsAffected() == 0 {
		return &sitrep.Error{Kind: sitrep.ENotFound, Field: "id", Message: fmt.Sprintf("%s has no contact %d", user, id)}
	}
	return nil
}

// ServerSecret returns the secret called name, storing fresh first if there
// is none. Replicas starting together all read the one that won.
func (s *Store) ServerSecret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, now())
			ON CONFLICT (name) DO NOTHING RETURNING value
		) SELECT value FROM ins UNION ALL SELECT value FROM server_secrets WHERE name = $1 LIMIT 1`, name, fresh).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("server secret %s: %w", name, err)
	}
	return v, nil
}

// Unplanned lists incidents with entries after their notification cursor.
func (s *Store) Unplanned(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT i.id FROM incidents i LEFT JOIN notify_cursors c ON c.incident_id = i.id
		WHERE i.seq > coalesce(c.seq, 0) ORDER BY i.updated_at LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list unplanned incidents: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list unplanned incidents: %w", err)
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// Pending returns the incident's notification cursor and the entries after it.
func (s *Store) Pending(ctx context.Context, incidentID string, limit int) (int64, []sitrep.Entry, error) {
	var cursor int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT seq FROM notify_cursors WHERE incident_id = $1), 0)`, incidentID).Scan(&cursor)
	if err != nil {
		return 0, nil, fmt.Errorf("notification cursor of %s: %w", incidentID, err)
	}
	entries, err := s.Entries(ctx, incidentID, cursor, limit)
	if err != nil {
		return 0, nil, err
	}
	return cursor, entries, nil
}

// inTx runs fn in a transaction and commits when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// errStale ends a transaction that found its work done by another replica.
var errStale = errors.New("stale")

// Plan stores a planned batch and moves the incident's cursor, once. The
// cursor row's lock serialises replicas planning the same incident.
func (s *Store) Plan(ctx context.Context, incidentID string, from, to int64, b notify.Batch, at time.Time, enqueue notify.Enqueue[pgx.Tx]) (bool, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO notify_cursors (incident_id, seq) VALUES ($1, 0) ON CONFLICT (incident_id) DO NOTHING`, incidentID); err != nil {
			return err
		}
		var cursor int64
		if err := tx.QueryRow(ctx, `SELECT seq FROM notify_cursors WHERE incident_id = $1 FOR UPDATE`, incidentID).Scan(&cursor); err != nil {
			return err
		}
		if cursor != from {
			return errStale
		}
		// Inserted first: an entry of the batch may answer a page of an
		// earlier one.
		ids, err := insertNotifications(ctx, tx, b.Notifications)
		if err != nil {
			return err
		}
		for _, r := range b.Acks {
			if err := ackRule(ctx, tx, incidentID, r, at); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE notify_cursors SET seq = $2 WHERE incident_id = $1`, incidentID, to); err != nil {
			return fmt.Errorf("move the cursor: %w", err)
		}
		if len(ids) > 0 {
			if err := enqueue(ctx, tx, ids); err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
		}
		return nil
	})
	if errors.Is(err, errStale) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("plan notifications of %s: %w", incidentID, err)
	}
	return true, nil
}

func ackRule(ctx context.Context, tx pgx.Tx, incidentID string, r notify.AckRule, at time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE notifications SET status = 'acknowledged', acked_at = $2, acked_by = $3
		WHERE incident_id = $1 AND needs_ack AND acked_at IS NULL
		AND ($4 = 0 OR seq = $4) AND ($5 = '' OR event = $5) AND ($6 = '' OR chain = $6)`,
		incidentID, at, r.By, r.Seq, r.Event, r.Chain)
	if err != nil {
		return fmt.Errorf("acknowledge pages: %w", err)
	}
	return nil
}

// insertNotifications inserts ns, skipping those already stored, and returns
// the IDs of the new ones still queued.
func insertNotifications(ctx context.Context, tx pgx.Tx, ns []*notify.Notification) ([]int64, error) {
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
		var contact *int64
		if n.ContactID != 0 {
			contact = &n.ContactID
		}
		err = tx.QueryRow(ctx, `INSERT INTO notifications (incident_id, seq, event, recipient, chain, step, round, ladder,
			channel, contact_id, address, format, message, needs_ack, status, attempts, last_error, created_at, ack_due)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
			ON CONFLICT ON CONSTRAINT notifications_key DO NOTHING RETURNING id`,
			n.IncidentID, n.Seq, n.Event, n.Recipient, n.Chain, n.Step, n.Round, string(ladder),
			n.Channel, contact, n.Address, n.Format, columnText(string(msg)), n.NeedsAck, n.Status, n.Attempts, n.LastError,
			n.CreatedAt, n.AckDue).Scan(&n.ID)
		if errors.Is(err, pgx.ErrNoRows) {
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
	n, err := scanNotification(s.pool.QueryRow(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	return s.queryNotifications(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE incident_id = $1 ORDER BY id`, incidentID)
}

func (s *Store) queryNotifications(ctx context.Context, query string, args ...any) ([]*notify.Notification, error) {
	rows, err := s.pool.Query(ctx, query, args...)
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
	tag, err := s.pool.Exec(ctx, `UPDATE notifications SET status = CASE WHEN status = 'queued' THEN 'sent' ELSE status END,
		sent_at = $2, attempts = attempts + 1, last_error = '' WHERE id = $1 AND sent_at IS NULL AND status IN ('queued', 'acknowledged')`,
		id, at)
	if err != nil {
		return false, fmt.Errorf("record delivery of notification %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Failed records a failed attempt.
func (s *Store) Failed(ctx context.Context, id int64, reason string, final bool) error {
	_, err := s.pool.Exec(ctx, `UPDATE notifications SET attempts = attempts + 1, last_error = $2,
		status = CASE WHEN $3 AND status = 'queued' THEN 'failed' ELSE status END WHERE id = $1 AND sent_at IS NULL`,
		id, columnText(clipBytes(reason, 1000)), final)
	if err != nil {
		return fmt.Errorf("record failure of notification %d: %w", id, err)
	}
	return nil
}

// Acknowledge acknowledges the page of notification id and its chain.
func (s *Store) Acknowledge(ctx context.Context, id int64, by string, at time.Time) (*notify.Notification, error) {
	var n *notify.Notification
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		n, err = scanNotification(tx.QueryRow(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return notificationNotFound(id)
		}
		if err != nil {
			return err
		}
		if !n.NeedsAck {
			return sitrep.Errorf(sitrep.EConflict, "notification %d is not a page: there is nothing to acknowledge", id)
		}
		if err := ackRule(ctx, tx, n.IncidentID, notify.AckRule{Seq: n.Seq, Chain: n.Chain, By: by}, at); err != nil {
			return err
		}
		n, err = scanNotification(tx.QueryRow(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = $1`, id))
		return err
	})
	if err != nil {
		if sitrep.AsError(err) != nil {
			return nil, err
		}
		return nil, fmt.Errorf("acknowledge notification %d: %w", id, err)
	}
	return n, nil
}

// Due lists pages due for escalation, one per chain round.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]*notify.Notification, error) {
	return s.queryNotifications(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id IN (
		SELECT min(id) FROM notifications
		WHERE ack_due IS NOT NULL AND acked_at IS NULL AND escalated_at IS NULL AND ack_due <= $1
		GROUP BY incident_id, seq, chain, step, round) ORDER BY ack_due, id LIMIT $2`, now, limit)
}

// Escalate marks the round of n escalated and inserts next, once. The
// UPDATE's row locks serialise replicas escalating the same round.
func (s *Store) Escalate(ctx context.Context, n *notify.Notification, at time.Time, next []*notify.Notification, enqueue notify.Enqueue[pgx.Tx]) (bool, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE notifications SET escalated_at = $6
			WHERE incident_id = $1 AND seq = $2 AND chain = $3 AND step = $4 AND round = $5 AND escalated_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM notifications a WHERE a.incident_id = $1 AND a.seq = $2 AND a.chain = $3 AND a.acked_at IS NOT NULL)`,
			n.IncidentID, n.Seq, n.Chain, n.Step, n.Round, at)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errStale
		}
		ids, err := insertNotifications(ctx, tx, next)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			if err := enqueue(ctx, tx, ids); err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
		}
		return nil
	})
	if errors.Is(err, errStale) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("escalate notification %d: %w", n.ID, err)
	}
	return true, nil
}

func scanNotification(row pgx.Row) (*notify.Notification, error) {
	var n notify.Notification
	var ladder, msg string
	var contact *int64
	if err := row.Scan(&n.ID, &n.IncidentID, &n.Seq, &n.Event, &n.Recipient, &n.Chain, &n.Step, &n.Round, &ladder,
		&n.Channel, &contact, &n.Address, &n.Format, &msg, &n.NeedsAck, &n.Status, &n.Attempts, &n.LastError,
		&n.CreatedAt, &n.AckDue, &n.SentAt, &n.AckedAt, &n.AckedBy, &n.EscalatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(ladder), &n.Ladder); err != nil {
		return nil, fmt.Errorf("notification %d: decode ladder: %w", n.ID, err)
	}
	if err := json.Unmarshal([]byte(msg), &n.Message); err != nil {
		return nil, fmt.Errorf("notification %d: decode message: %w", n.ID, err)
	}
	if contact != nil {
		n.ContactID = *contact
	}
	n.CreatedAt = n.CreatedAt.UTC()
	for _, t := range []*time.Time{n.AckDue, n.SentAt, n.AckedAt, n.EscalatedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return &n, nil
}

func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
