package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipeTx is a read-then-write transaction in two round trips instead of
// four: BEGIN travels with the first statement, COMMIT with the last, each
// pair pipelined in one batch. An update of an incident is exactly that
// shape (lock and read the row, decide in Go, write), and on a database a
// network hop away the round trips are most of its time.
//
// If a statement of a batch fails, the server skips the rest of it, so a
// failed write never reaches its COMMIT; end then rolls back.
type pipeTx struct {
	conn      *pgxpool.Conn
	committed bool
}

// beginWith begins a transaction and runs query in the same round trip,
// handing its one row to scan. On error the transaction is over.
func (s *Store) beginWith(ctx context.Context, scan func(pgx.Row) error, query string, args ...any) (*pipeTx, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	t := &pipeTx{conn: conn}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(query, args...)
	br := conn.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		err = scan(br.QueryRow())
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.end(ctx)
		return nil, err
	}
	return t, nil
}

// commitWith runs query and commits in one round trip.
func (t *pipeTx) commitWith(ctx context.Context, query string, args ...any) error {
	b := &pgx.Batch{}
	b.Queue(query, args...)
	b.Queue("COMMIT")
	br := t.conn.SendBatch(ctx, b)
	_, err := br.Exec()
	if err == nil {
		tag, cerr := br.Exec()
		switch {
		case cerr != nil:
			err = fmt.Errorf("commit: %w", cerr)
		case tag.String() != "COMMIT":
			// The server answers COMMIT with ROLLBACK for a transaction it
			// had already failed.
			err = errors.New("commit: the transaction was rolled back")
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		t.committed = true
	}
	return err
}

// end rolls the transaction back unless it committed, and returns the
// connection to the pool. The rollback runs even when ctx is done: the
// connection must not go back inside a transaction. If the rollback fails,
// the pool sees the connection still in a transaction and closes it, which
// ends the transaction on the server.
func (t *pipeTx) end(ctx context.Context) {
	if !t.committed {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		t.conn.Exec(rctx, "ROLLBACK")
		cancel()
	}
	t.conn.Release()
}
