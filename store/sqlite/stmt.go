package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// stmts caches prepared statements of one *sql.DB by query text. The driver
// prepares (parses and plans) a statement on every call made with the query
// text; profiles of a timeline append showed that parsing at a quarter of
// its CPU time. A *sql.Stmt is prepared once per connection and reused.
//
// A cache made with fixed queries is prepared at once and prepares nothing
// later (see queries.go); other caches prepare on first use.
type stmts struct {
	db    *sql.DB
	fixed bool
	mu    sync.Mutex
	m     map[string]*sql.Stmt
}

func newStmts(ctx context.Context, db *sql.DB, fixed ...string) (*stmts, error) {
	c := &stmts{db: db, m: map[string]*sql.Stmt{}}
	for _, q := range fixed {
		if _, err := c.get(ctx, q); err != nil {
			c.close()
			return nil, fmt.Errorf("prepare %.40q…: %w", q, err)
		}
	}
	c.fixed = len(fixed) > 0
	return c, nil
}

func (c *stmts) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	if c.fixed {
		return nil, fmt.Errorf("statement %.40q… was not prepared when the store opened", query)
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.m[query] = st
	return st, nil
}

func (c *stmts) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// exec runs query on the pool (or in tx when tx is not nil).
func (c *stmts) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if tx != nil {
		st = tx.StmtContext(ctx, st)
	}
	return st.ExecContext(ctx, args...)
}

func (c *stmts) query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	st, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if tx != nil {
		st = tx.StmtContext(ctx, st)
	}
	return st.QueryContext(ctx, args...)
}

// queryRow is QueryRowContext on a prepared statement. A failure to prepare
// surfaces from the unprepared query, which fails the same way, since
// *sql.Row cannot be made to carry an error.
func (c *stmts) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	st, err := c.get(ctx, query)
	if err != nil {
		if tx != nil {
			return tx.QueryRowContext(ctx, query, args...)
		}
		return c.db.QueryRowContext(ctx, query, args...)
	}
	if tx != nil {
		st = tx.StmtContext(ctx, st)
	}
	return st.QueryRowContext(ctx, args...)
}
