package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sitrep-ir/sitrep"
)

// CreateUser stores a new user. EConflict if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u *sitrep.User) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO users (name, role, email, created_at) VALUES ($1, $2, $3, $4)`,
		u.Name, string(u.Role), u.Email, u.CreatedAt)
	if code, name := constraint(err); code == uniqueViolation && name == "users_pkey" {
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "name", Message: fmt.Sprintf("user %s already exists", u.Name)}
	}
	if e := invalidText(err, "user"); e != nil {
		return e
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

// User returns the named user. ENotFound if there is none.
func (s *Store) User(ctx context.Context, name string) (*sitrep.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx,
		`SELECT name, role, email, created_at FROM users WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &sitrep.Error{Kind: sitrep.ENotFound, Field: "name", Message: fmt.Sprintf("user %s not found", name)}
	}
	if err != nil {
		return nil, fmt.Errorf("load user %s: %w", name, err)
	}
	return u, nil
}

// Users lists all users ordered by name.
func (s *Store) Users(ctx context.Context) ([]*sitrep.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, role, email, created_at FROM users ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	users := []*sitrep.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// CreateToken stores a token for an existing user. ENotFound if the user does
// not exist; EConflict if a token with the same ID or hash exists.
func (s *Store) CreateToken(ctx context.Context, t *sitrep.Token) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO tokens (id, user_name, label, hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		t.ID, t.User, t.Label, t.Hash, t.CreatedAt)
	switch code, name := constraint(err); {
	case code == foreignKeyViolation && name == "tokens_user_fkey":
		return &sitrep.Error{Kind: sitrep.ENotFound, Field: "user", Message: fmt.Sprintf("user %s not found", t.User)}
	case code == uniqueViolation && (name == "tokens_pkey" || name == "tokens_hash_key"):
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "token", Message: fmt.Sprintf("token %s already exists", t.ID)}
	case code == badText:
		return invalidText(err, "label")
	case err != nil:
		return fmt.Errorf("create token for %s: %w", t.User, err)
	}
	return nil
}

// TokenUser returns the user owning the token with this hash. ENotFound if no
// token has it.
func (s *Store) TokenUser(ctx context.Context, hash string) (*sitrep.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx,
		`SELECT u.name, u.role, u.email, u.created_at
		 FROM tokens t JOIN users u ON u.name = t.user_name
		 WHERE t.hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		// The message does not echo the hash: credential material stays out
		// of messages and logs.
		return nil, &sitrep.Error{Kind: sitrep.ENotFound, Field: "token", Message: "token not found"}
	}
	if err != nil {
		return nil, fmt.Errorf("load token user: %w", err)
	}
	return u, nil
}

func scanUser(row pgx.Row) (*sitrep.User, error) {
	var u sitrep.User
	var role string
	var created time.Time
	if err := row.Scan(&u.Name, &role, &u.Email, &created); err != nil {
		return nil, err
	}
	u.Role = sitrep.OrgRole(role)
	u.CreatedAt = created.UTC()
	return &u, nil
}
