package sitrep

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"
	"unicode/utf8"
)

// Web sessions: people sign in to the web UI with a password and get a
// session, a random secret in a cookie. Like tokens, only the secret's
// SHA-256 is stored. Programs keep using bearer tokens.

// Session lifetimes: a session ends after SessionIdle without use, and
// SessionMaxAge after sign-in however much it is used.
const (
	SessionIdle   = 12 * time.Hour
	SessionMaxAge = 7 * 24 * time.Hour
)

// sessionTouchEvery is how stale a session's last use may be before a
// request records a new one: one write per person per minute rather than
// one per page load, which matters on SQLite's single writer.
const sessionTouchEvery = time.Minute

// Password limits, in bytes. The lower bound refuses the trivially guessed;
// the upper bounds the work of hashing what a client sends.
const (
	MinPassword = 8
	MaxPassword = 256
)

// Session is a signed-in browser.
type Session struct {
	// Hash is the SHA-256 (hex) of the session secret, which only the
	// browser holds.
	Hash      string
	User      string
	CreatedAt time.Time
	LastSeen  time.Time
}

// Expires returns when the session ends unless it is used again.
func (s *Session) Expires() time.Time {
	idle := s.LastSeen.Add(SessionIdle)
	if abs := s.CreatedAt.Add(SessionMaxAge); abs.Before(idle) {
		return abs
	}
	return idle
}

// SessionStore keeps password hashes and web sessions. Both stores
// implement it.
type SessionStore interface {
	// SetPasswordHash stores the password hash of a user and ends every
	// session of that user, in one transaction. ENotFound if the user does
	// not exist.
	SetPasswordHash(ctx context.Context, user, hash string) error
	// PasswordHash returns the user and their password hash, "" when none
	// was set. ENotFound if the user does not exist.
	PasswordHash(ctx context.Context, user string) (*User, string, error)
	// CreateSession stores a new session. ENotFound if its user does not
	// exist; EConflict if a session with the same hash exists.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session with this hash and its user. ENotFound if
	// there is none.
	Session(ctx context.Context, hash string) (*Session, *User, error)
	// TouchSession records a use of the session at at. A missing session
	// is not an error.
	TouchSession(ctx context.Context, hash string, at time.Time) error
	// DeleteSession ends a session. A missing session is not an error.
	DeleteSession(ctx context.Context, hash string) error
	// DeleteExpiredSessions removes the sessions last used before
	// idleBefore or created before createdBefore, and returns how many.
	DeleteExpiredSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error)
}

// sessions returns the session store, or an error when the store keeps none.
func (s *Service) sessions() (SessionStore, error) {
	ss, ok := s.Store.(SessionStore)
	if !ok {
		return nil, &Error{Kind: EInternal, Message: "this store keeps no sessions"}
	}
	return ss, nil
}

// ValidatePassword checks a new password: MinPassword to MaxPassword bytes
// of UTF-8. Passphrases are welcome; nothing else is demanded of them.
func ValidatePassword(password string) error {
	switch {
	case len(password) < MinPassword:
		return Invalid("password", "the password is %d bytes long; use at least %d (a passphrase of a few words is best)", len(password), MinPassword)
	case len(password) > MaxPassword:
		return Invalid("password", "the password is %d bytes long; the limit is %d", len(password), MaxPassword)
	case !utf8.ValidString(password):
		return Invalid("password", "the password is not valid UTF-8")
	}
	return nil
}

// SetPassword sets the password with which name signs in to the web UI.
// People set their own; administrators set anyone's. hash turns the
// password into its stored form (argon2id, outside the domain, which
// imports only the standard library); it runs only once the request is
// allowed and valid. Every session of name ends.
func (s *Service) SetPassword(ctx context.Context, actor *User, name, password string, hash func(string) (string, error)) error {
	if actor == nil {
		return Errorf(EUnauthorized, "user passwd: sign in first")
	}
	if name != actor.Name && !actor.IsAdmin() {
		return Errorf(EForbidden, "user passwd: only administrators set other people's passwords")
	}
	if err := ValidateName("name", name); err != nil {
		return err
	}
	if name == DispatchUser {
		return Errorf(EForbidden, "user passwd: %s is sitrep's own dispatcher and signs in nowhere", DispatchUser)
	}
	if err := ValidatePassword(password); err != nil {
		return err
	}
	ss, err := s.sessions()
	if err != nil {
		return err
	}
	if _, _, err := ss.PasswordHash(ctx, name); err != nil {
		return fmt.Errorf("user passwd: %w", err)
	}
	h, err := hash(password)
	if err != nil {
		return fmt.Errorf("user passwd: %w", err)
	}
	if err := ss.SetPasswordHash(ctx, name, h); err != nil {
		return fmt.Errorf("user passwd: %w", err)
	}
	s.Logger.Info("password set", "user", name, "by", actor.Name)
	return nil
}

// ErrSignIn is the one answer to a failed sign-in, whichever part was
// wrong, so that it does not tell which user names exist.
func ErrSignIn() error {
	return Errorf(EUnauthorized, "the user name or the password is wrong")
}

// SignIn checks name's password with verify (nil error for a match) and
// starts a session, returning its secret for the cookie. When the user does
// not exist or has no password, verify still runs, against dummy, so that
// a failed sign-in takes as long whichever part was wrong. Every failure is
// ErrSignIn.
func (s *Service) SignIn(ctx context.Context, name, password, dummy string, verify func(hash, password string) error) (*User, string, error) {
	if ValidateName("name", name) != nil || name == DispatchUser || len(password) > MaxPassword {
		return nil, "", ErrSignIn()
	}
	ss, err := s.sessions()
	if err != nil {
		return nil, "", err
	}
	u, hash, err := ss.PasswordHash(ctx, name)
	if err != nil && ErrorKind(err) != ENotFound {
		return nil, "", fmt.Errorf("sign in: %w", err)
	}
	if u == nil || hash == "" {
		_ = verify(dummy, password)
		return nil, "", ErrSignIn()
	}
	if err := verify(hash, password); err != nil {
		return nil, "", ErrSignIn()
	}
	secret, err := s.StartSession(ctx, u)
	if err != nil {
		return nil, "", err
	}
	return u, secret, nil
}

// StartSession starts a session for u and returns its secret: 256 random
// bits, stored only as a hash.
func (s *Service) StartSession(ctx context.Context, u *User) (string, error) {
	ss, err := s.sessions()
	if err != nil {
		return "", err
	}
	b := make([]byte, 32)
	rand.Read(b) // never returns an error (crypto/rand)
	secret := base64.RawURLEncoding.EncodeToString(b)
	at := now(s.Clock)
	if err := ss.CreateSession(ctx, &Session{Hash: HashToken(secret), User: u.Name, CreatedAt: at, LastSeen: at}); err != nil {
		return "", fmt.Errorf("start session: %w", err)
	}
	return secret, nil
}

// SessionUser returns the user of a live session. An unknown or expired
// session is EUnauthorized; an expired one is removed. Use is recorded at
// most once a minute.
func (s *Service) SessionUser(ctx context.Context, secret string) (*User, error) {
	if secret == "" || len(secret) > 256 {
		return nil, Errorf(EUnauthorized, "sign in first")
	}
	ss, err := s.sessions()
	if err != nil {
		return nil, err
	}
	hash := HashToken(secret)
	sess, u, err := ss.Session(ctx, hash)
	if ErrorKind(err) == ENotFound {
		return nil, Errorf(EUnauthorized, "your session has ended: sign in again")
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	at := now(s.Clock)
	if !at.Before(sess.Expires()) {
		if err := ss.DeleteSession(ctx, hash); err != nil {
			s.Logger.Warn("remove an expired session", "user", sess.User, "err", err)
		}
		return nil, Errorf(EUnauthorized, "your session has expired: sign in again")
	}
	if at.Sub(sess.LastSeen) >= sessionTouchEvery {
		if err := ss.TouchSession(ctx, hash, at); err != nil {
			// The request can go on: the session is valid, only its idle
			// clock was not moved.
			s.Logger.Warn("record a session's use", "user", sess.User, "err", err)
		}
	}
	return u, nil
}

// EndSession signs a session out. An unknown secret is not an error.
func (s *Service) EndSession(ctx context.Context, secret string) error {
	if secret == "" || len(secret) > 256 {
		return nil
	}
	ss, err := s.sessions()
	if err != nil {
		return err
	}
	if err := ss.DeleteSession(ctx, HashToken(secret)); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return nil
}

// ExpireSessions removes the sessions that have ended and returns how many.
func (s *Service) ExpireSessions(ctx context.Context) (int64, error) {
	ss, err := s.sessions()
	if err != nil {
		return 0, err
	}
	at := now(s.Clock)
	n, err := ss.DeleteExpiredSessions(ctx, at.Add(-SessionIdle), at.Add(-SessionMaxAge))
	if err != nil {
		return 0, fmt.Errorf("expire sessions: %w", err)
	}
	return n, nil
}
