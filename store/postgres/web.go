package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sitrep-ir/sitrep"
)

var _ sitrep.SessionStore = (*Store)(nil)

// SetPasswordHash stores a user's password hash and ends their sessions, in
// one transaction. ENotFound if the user does not exist.
func (s *Store) SetPasswordHash(ctx context.Context, user, hash string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE name = $2`, hash, user)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &sitrep.Error{Kind: sitrep.ENotFound, Field: "name", Message: fmt.Sprintf("user %s not found", user)}
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_name = $1`, user)
		return err
	})
	if sitrep.AsError(err) != nil {
		return err
	}
	if e := invalidText(err, "password"); e != nil {
		return e
	}
	if err != nil {
		return fmt.Errorf("set password of %s: %w", user, err)
	}
	return nil
}

// PasswordHash returns a user and their password hash ("" when none is
// set). ENotFound if the user does not exist.
func (s *Store) PasswordHash(ctx context.Context, user string) (*sitrep.User, string, error) {
	var u sitrep.User
	var role, hash string
	var created time.Time
	err := s.pool.QueryRow(ctx, `SELECT name, role, email, created_at, password_hash FROM users WHERE name = $1`, user).
		Scan(&u.Name, &role, &u.Email, &created, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", &sitrep.Error{Kind: sitrep.ENotFound, Field: "name", Message: fmt.Sprintf("user %s not found", user)}
	}
	if err != nil {
		return nil, "", fmt.Errorf("load password of %s: %w", user, err)
	}
	u.Role, u.CreatedAt = sitrep.OrgRole(role), created.UTC()
	return &u, hash, nil
}

// CreateSession stores a new session. ENotFound if its user does not exist;
// EConflict if the hash is taken.
func (s *Store) CreateSession(ctx context.Context, sess *sitrep.Session) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO sessions (hash, user_name, created_at, last_seen) VALUES ($1, $2, $3, $4)`,
		sess.Hash, sess.User, sess.CreatedAt, sess.LastSeen)
	switch code, name := constraint(err); {
	case code == foreignKeyViolation && name == "sessions_user_fkey":
		return &sitrep.Error{Kind: sitrep.ENotFound, Field: "user", Message: fmt.Sprintf("user %s not found", sess.User)}
	case code == uniqueViolation && name == "sessions_pkey":
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
	var userCreated, created, seen time.Time
	err := s.pool.QueryRow(ctx,
		`SELECT u.name, u.role, u.email, u.created_at, s.created_at, s.last_seen
		 FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.hash = $1`, hash).
		Scan(&u.Name, &role, &u.Email, &userCreated, &created, &seen)
	if errors.Is(err, pgx.ErrNoRows) {
		// The message does not echo the hash: credential material stays out
		// of messages and logs.
		return nil, nil, &sitrep.Error{Kind: sitrep.ENotFound, Field: "session", Message: "session not found"}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load session: %w", err)
	}
	u.Role, u.CreatedAt = sitrep.OrgRole(role), userCreated.UTC()
	return &sitrep.Session{Hash: hash, User: u.Name, CreatedAt: created.UTC(), LastSeen: seen.UTC()}, &u, nil
}

// TouchSession records a use of a session; it never moves last_seen back.
func (s *Store) TouchSession(ctx context.Context, hash string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen = greatest(last_seen, $1) WHERE hash = $2`, at, hash); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions idle since before idleBefore or
// created before createdBefore.
func (s *Store) DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE last_seen < $1 OR created_at < $2`, idleBefore, createdBefore)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}
