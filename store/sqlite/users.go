package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sitrep-ir/sitrep"
)

// CreateUser stores a new user. EConflict if the name is taken.
func (s *Store) CreateUser(ctx context.Context, u *sitrep.User) error {
	_, err := s.ws.exec(ctx, nil, qInsertUser,
		u.Name, string(u.Role), u.Email, u.CreatedAt.UnixMicro())
	if uniqueViolated(err) {
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "name", Message: fmt.Sprintf("user %s already exists", u.Name)}
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

// User returns the named user. ENotFound if there is none.
func (s *Store) User(ctx context.Context, name string) (*sitrep.User, error) {
	u, err := scanUser(s.rs.queryRow(ctx, nil,
		`SELECT name, role, email, created_at FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &sitrep.Error{Kind: sitrep.ENotFound, Field: "name", Message: fmt.Sprintf("user %s not found", name)}
	}
	if err != nil {
		return nil, fmt.Errorf("load user %s: %w", name, err)
	}
	return u, nil
}

// Users lists all users ordered by name.
func (s *Store) Users(ctx context.Context) ([]*sitrep.User, error) {
	rows, err := s.rs.query(ctx, nil, `SELECT name, role, email, created_at FROM users ORDER BY name`)
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
	_, err := s.ws.exec(ctx, nil, qInsertToken,
		t.ID, t.User, t.Label, t.Hash, t.CreatedAt.UnixMicro())
	switch {
	case foreignKeyViolated(err): // tokens has one foreign key: its user
		return &sitrep.Error{Kind: sitrep.ENotFound, Field: "user", Message: fmt.Sprintf("user %s not found", t.User)}
	case uniqueViolated(err):
		return &sitrep.Error{Kind: sitrep.EConflict, Field: "token", Message: fmt.Sprintf("token %s already exists", t.ID)}
	case err != nil:
		return fmt.Errorf("create token for %s: %w", t.User, err)
	}
	return nil
}

// TokenUser returns the user owning the token with this hash. ENotFound if no
// token has it.
func (s *Store) TokenUser(ctx context.Context, hash string) (*sitrep.User, error) {
	u, err := scanUser(s.rs.queryRow(ctx, nil,
		`SELECT u.name, u.role, u.email, u.created_at
		 FROM tokens t JOIN users u ON u.name = t.user_name
		 WHERE t.hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		// The message does not echo the hash: credential material stays out
		// of messages and logs.
		return nil, &sitrep.Error{Kind: sitrep.ENotFound, Field: "token", Message: "token not found"}
	}
	if err != nil {
		return nil, fmt.Errorf("load token user: %w", err)
	}
	return u, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (*sitrep.User, error) {
	var u sitrep.User
	var role string
	var created int64
	if err := row.Scan(&u.Name, &role, &u.Email, &created); err != nil {
		return nil, err
	}
	u.Role = sitrep.OrgRole(role)
	u.CreatedAt = micro(created)
	return &u, nil
}
