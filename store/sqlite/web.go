package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sitrep-ir/sitrep"
)

var _ sitrep.SessionStore = (*Store)(nil)

// The session statements of the write connection, prepared with the others
// when the store opens (see queries.go).
const (
	qSetPasswordHash  = `UPDATE users SET password_hash = ? WHERE name = ?`
	qDeleteUserSess   = `DELETE FROM sessions WHERE user_name = ?`
	qInsertSession    = `INSERT INTO sessions (hash, user_name, created_at, last_seen) VALUES (?, ?, ?, ?)`
	qTouchSession     = `UPDATE sessions SET last_seen = max(last_seen, ?) WHERE hash = ?`
	qDeleteSession    = `DELETE FROM sessions WHERE hash = ?`
	qDeleteExpiredSes = `DELETE FROM sessions WHERE last_seen < ? OR created_at < ?`
)

func init() {
	writeQueries = append(writeQueries, qSetPasswordHash, qDeleteUserSess, qInsertSession, qTouchSession, qDeleteSession, qDeleteExpiredSes)
}

// SetPasswordHash stores a user's password hash and ends their sessions.
// ENotFound if the user does not exist.
func (s *Store) SetPasswordHash(ctx context.Context, user, hash string) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set password of %s: begin: %w", user, err)
	}
	defer tx.Rollback()
	res, err := s.ws.exec(ctx, tx, qSetPasswordHash, hash, user)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", user, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set password of %s: %w", user, err)
	} else if n == 0 {
		return &sitrep.Error{Kind: sitrep.ENotFound, Field: "name", Message: fmt.Sprintf("user %s not found", user)}
	}
	if _, err := s.ws.exec(ctx, tx, qDeleteUserSess, user); err != nil {
		return fmt.Errorf("set password of %s: end sessions: %w", user, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set password of %s: commit: %w", user, err)
	}
	return nil
}

// PasswordHash returns a user and their password hash ("" when none is
// set). ENotFound if the user does not exist.
func (s *Store) PasswordHash(ctx context.Context, user string) (*sitrep.User, string, error) {
	var u sitrep.User
	var role, hash string
	var created int64
	err := s.rs.queryRow(ctx, nil, `SELECT name, role, email, created_at, password_hash FROM users WHERE name = ?`, user).
		Scan(&u.Name, &role, &u.Email, &created, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", &sitrep.Error{Kind: sitrep.ENotFound, Field: "name", Message: fmt.Sprintf("user %s not found", user)}
	}
	if err != nil {
		return nil, "", fmt.Errorf("load password of %s: %w", user, err)
	}
	u.Role, u.CreatedAt = sitrep.OrgRole(role), micro(created)
	return &u, hash, nil
}

// CreateSession stores a new session. ENotFound if its user does not exist;
// EConflict if the hash is taken.
func (s *Store) CreateSession(ctx context.Context, sess *sitrep.Session) error {
	_, err := s.ws.exec(ctx, nil, qInsertSession, sess.Hash, sess.User, sess.CreatedAt.UnixMicro(), sess.LastSeen.UnixMicro())
	switch {
	case foreignKeyViolated(err): // sessions has one foreign key: its user
		return &sitrep.Error{Kind: sitrep.ENotFound, Field: "user", Message: fmt.Sprintf("user %s not found", sess.User)}
	case uniqueViolated(err):
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "session", Message: "the session already exists"}
	case err != nil:
		return fmt.Errorf("create session for %s: %w", sess.User, err)
	}
	return nil
}

// Session returns the session with this hash and its user. ENotFound if none.
func (s *Store) Session(ctx context.Context, hash string) (*sitrep.Session, *sitrep.User, error) {
	var u sitrep.User
	var role string
	var userCreated, created, seen int64
	sess := &sitrep.Session{Hash: hash}
	err := s.rs.queryRow(ctx, nil,
		`SELECT u.name, u.role, u.email, u.created_at, s.created_at, s.last_seen
		 FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.hash = ?`, hash).
		Scan(&u.Name, &role, &u.Email, &userCreated, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		// The message does not echo the hash: credential material stays out
		// of messages and logs.
		return nil, nil, &sitrep.Error{Kind: sitrep.ENotFound, Field: "session", Message: "session not found"}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load session: %w", err)
	}
	u.Role, u.CreatedAt = sitrep.OrgRole(role), micro(userCreated)
	sess.User, sess.CreatedAt, sess.LastSeen = u.Name, micro(created), micro(seen)
	return sess, &u, nil
}

// TouchSession records a use of a session; it never moves last_seen back.
func (s *Store) TouchSession(ctx context.Context, hash string, at time.Time) error {
	if _, err := s.ws.exec(ctx, nil, qTouchSession, at.UnixMicro(), hash); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if _, err := s.ws.exec(ctx, nil, qDeleteSession, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions idle since before idleBefore or
// created before createdBefore.
func (s *Store) DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	res, err := s.ws.exec(ctx, nil, qDeleteExpiredSes, idleBefore.UnixMicro(), createdBefore.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}
