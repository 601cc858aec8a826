// Package postgres is the sitrep.Store on PostgreSQL, for several sitrep
// replicas sharing one database.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/sitrep-ir/sitrep"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the key of the advisory lock held while migrating, so
// that replicas starting at once migrate one after the other. It spells
// "sitrep:m" in ASCII.
const migrationLock int64 = 0x7369747265703a6d

// defaultMaxConns is the pool size when the DSN does not set
// pool_max_conns. pgxpool's own default (the number of CPUs, at least 4)
// is small for a server where writers of one incident wait on its row lock
// while others proceed.
const defaultMaxConns = 16

// Store is a sitrep.Store on PostgreSQL.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
}

var _ sitrep.Store = (*Store)(nil)

// Open connects to the database named by dsn (a postgres:// URL or
// key=value string; pool_max_conns sets the pool size) and brings its schema
// up to date.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message can quote the DSN, password included: say only
		// what kind of problem it is.
		return nil, errors.New("open postgres: the connection string is not valid: use postgres://user@host:5432/dbname?sslmode=disable")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	where := fmt.Sprintf("%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", where, err)
	}
	s := &Store{pool: pool, logger: logger.With("component", "store.postgres")}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", where, err)
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", where, err)
	}
	return s, nil
}

// migrate applies the embedded migrations with goose while holding a
// session advisory lock: replicas that start together wait for the first to
// finish, then find nothing left to do. pg_advisory_lock blocks in the
// server rather than polling, and the lock goes with the session if this
// process dies.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx is done.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock); err != nil {
			s.logger.Warn("release the migration lock", "err", err)
			// A session that may still hold the lock must not go back to
			// the pool.
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()

	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close() // does not close the pool
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		s.logger.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool returns the store's connection pool, for the parts of sitrep that
// share the database (such as LISTEN/NOTIFY) and for tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// constraint returns the SQLSTATE and constraint name of a PostgreSQL error,
// or empty strings for any other error. Violations are told apart by
// constraint name, which the schema sets, never by message text.
func constraint(err error) (code, name string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.ConstraintName
	}
	return "", ""
}

// SQLSTATEs the store maps to sitrep errors.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
	// badText is character_not_in_repertoire: PostgreSQL's text holds no
	// NUL character (nor invalid UTF-8, which the domain refuses anyway).
	badText = "22021"
)

// invalidText returns an EInvalid error when err is PostgreSQL refusing a
// text value, or nil.
func invalidText(err error, field string) error {
	if code, _ := constraint(err); code == badText {
		return sitrep.Invalid(field, "%s contains a NUL character, which cannot be stored", field)
	}
	return nil
}
