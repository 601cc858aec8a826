package sitrep

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
)

// TokenPrefix starts every API token, so that secret scanners and people
// recognise one.
const TokenPrefix = "sitrep_"

// HashToken returns the stored form of a token secret. Tokens carry 256 bits
// of randomness, so one SHA-256 is enough: unlike passwords they cannot be
// guessed, and a slow hash on every request would only cost throughput.
func HashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// newTokenSecret returns a fresh random token secret.
func newTokenSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never returns an error (crypto/rand)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ValidateTokenSecret checks the form of a token secret given from outside
// (such as SITREP_BOOTSTRAP_TOKEN).
func ValidateTokenSecret(secret string) error {
	if len(secret) < 32 || len(secret) > 256 || strings.ContainsAny(secret, " \t\r\n") {
		return Invalid("token", "a token must be 32–256 characters without spaces")
	}
	return nil
}

// CreateUser adds a user; only administrators may.
func (s *Service) CreateUser(ctx context.Context, actor *User, u User) (*User, error) {
	if !actor.IsAdmin() {
		return nil, Errorf(EForbidden, "user add: only administrators add users")
	}
	if err := ValidateName("name", u.Name); err != nil {
		return nil, err
	}
	if u.Name == DispatchUser {
		return nil, Invalid("name", "%s is the name of sitrep's own dispatcher: choose another", DispatchUser)
	}
	if u.Role == "" {
		u.Role = OrgResponder
	}
	if !u.Role.Valid() {
		return nil, Invalid("role", "role %q is not valid: admin, responder or viewer", clip(string(u.Role), 20))
	}
	if u.Email != "" {
		if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email || len(u.Email) > 254 {
			return nil, Invalid("email", "%q is not an e-mail address", clip(u.Email, 80))
		}
	}
	u.CreatedAt = now(s.Clock)
	if err := s.Store.CreateUser(ctx, &u); err != nil {
		return nil, fmt.Errorf("user add: %w", err)
	}
	return &u, nil
}

// Users lists every user.
func (s *Service) Users(ctx context.Context, actor *User) ([]*User, error) {
	if actor == nil {
		return nil, Errorf(EUnauthorized, "sign in first")
	}
	return s.Store.Users(ctx)
}

// CreateToken makes a new token for user and returns its secret, which is
// shown once and stored only hashed. People make their own tokens;
// administrators make anyone's.
func (s *Service) CreateToken(ctx context.Context, actor *User, user, label string) (*Token, string, error) {
	if actor == nil {
		return nil, "", Errorf(EUnauthorized, "sign in first")
	}
	if user == "" {
		user = actor.Name
	}
	if user != actor.Name && !actor.IsAdmin() {
		return nil, "", Errorf(EForbidden, "token create: only administrators make tokens for other people")
	}
	if user == DispatchUser {
		return nil, "", Errorf(EForbidden, "token create: %s is sitrep's own dispatcher and signs in nowhere", DispatchUser)
	}
	if err := checkText("label", label, MaxName, false); err != nil {
		return nil, "", err
	}
	secret := newTokenSecret()
	t, err := s.storeToken(ctx, user, label, secret)
	return t, secret, err
}

func (s *Service) storeToken(ctx context.Context, user, label, secret string) (*Token, error) {
	hash := HashToken(secret)
	t := &Token{ID: hash[:12], User: user, Label: label, Hash: hash, CreatedAt: now(s.Clock)}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return nil, fmt.Errorf("token create: %w", err)
	}
	return t, nil
}

// Authenticate returns the user a token secret belongs to.
func (s *Service) Authenticate(ctx context.Context, secret string) (*User, error) {
	if secret == "" || len(secret) > 256 {
		return nil, Errorf(EUnauthorized, "a valid bearer token is required")
	}
	u, err := s.Store.TokenUser(ctx, HashToken(secret))
	if ErrorKind(err) == ENotFound {
		return nil, Errorf(EUnauthorized, "the bearer token is not valid")
	}
	return u, err
}

// Bootstrap creates the administrator on first start, when the store has no
// users, with a token that is returned once; secret, when not empty, is used
// as that token. It returns "" when users already exist.
func (s *Service) Bootstrap(ctx context.Context, admin, secret string) (string, error) {
	users, err := s.Store.Users(ctx)
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	if len(users) > 0 {
		return "", nil
	}
	if secret == "" {
		secret = newTokenSecret()
	} else if err := ValidateTokenSecret(secret); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	u := &User{Name: admin, Role: OrgAdmin, CreatedAt: now(s.Clock)}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	if _, err := s.storeToken(ctx, admin, "bootstrap", secret); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return secret, nil
}

// DispatchUser is the system account dispatch rules act as: it declares
// incidents (and is their Command until a responder takes command with
// accept-command), attaches alerts and suppresses them. It has no token and
// cannot sign in.
const DispatchUser = "dispatch"

// Dispatcher returns the dispatch system account, creating it on first use.
func (s *Service) Dispatcher(ctx context.Context) (*User, error) {
	u, err := s.Store.User(ctx, DispatchUser)
	if ErrorKind(err) == ENotFound {
		err = s.Store.CreateUser(ctx, &User{Name: DispatchUser, Role: OrgResponder, CreatedAt: now(s.Clock)})
		if err != nil && ErrorKind(err) != EConflict { // another replica made it first
			return nil, fmt.Errorf("create the dispatch account: %w", err)
		}
		u, err = s.Store.User(ctx, DispatchUser)
	}
	if err != nil {
		return nil, fmt.Errorf("the dispatch account: %w", err)
	}
	return u, nil
}
