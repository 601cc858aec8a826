// Package sqlite is the embedded sitrep.Store: one SQLite file, in WAL mode,
// written through a single connection and read through a small pool.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sitrep-ir/sitrep"
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeoutMS is how long a connection waits for another process's lock on
// the file before giving up with SQLITE_BUSY.
const busyTimeoutMS = 10000

// writeCacheKiB is the page cache of the write connection, in KiB. Every
// index of the alerts table grows at its end, so the pages a write goes
// through are few; 32 MiB measured no faster, for 31 MB more resident.
const writeCacheKiB = 16 << 10

// walLimitBytes is the size a WAL file is truncated to after a checkpoint.
const walLimitBytes = 16 << 20

// readConns is the size of the read pool. WAL lets readers proceed while the
// writer writes, so a few connections serve concurrent page loads.
const readConns = 4

// Store is a sitrep.Store on a SQLite file.
//
// SQLite allows one writer at a time. Rather than letting several pooled
// connections race for the write lock (and fail with SQLITE_BUSY under load),
// every write goes through one dedicated connection, whose transactions begin
// IMMEDIATE so that the write lock is taken up front, never upgraded
// mid-transaction. Reads use a separate pool opened query-only.
type Store struct {
	w      *sql.DB // the one write connection
	r      *sql.DB // the read pool
	ws, rs *stmts  // prepared statements of w and r
	path   string
	logger *slog.Logger

	// keysMu guards keys, the index of open alerts' keys, which only
	// IngestAlerts uses (see openKeys).
	keysMu sync.Mutex
	keys   *openKeys
}

var _ sitrep.Store = (*Store)(nil)

// Open opens the SQLite database at path (such as ./sitrep.db), creating the
// file if it is missing, and brings its schema up to date.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, errors.New("open sqlite: the database path is empty")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file:") {
		// An in-memory database would be one per connection, and a URI would
		// bypass the settings below: both would silently break the store.
		return nil, fmt.Errorf("open sqlite: %q is not a file path: give a path such as ./sitrep.db", path)
	}
	s := &Store{path: path, logger: logger.With("component", "store.sqlite"), keys: newOpenKeys()}

	// synchronous=NORMAL in WAL mode syncs the WAL at checkpoints, not at
	// every commit: a committed transaction survives a crash of the process
	// (the WAL is in the OS's hands), and only an operating-system crash or
	// power loss can lose the last commits. FULL would cost an fsync per
	// write for that last case.
	w, err := sql.Open("sqlite", dsn(path, "_txlock=immediate",
		"_pragma=journal_mode(WAL)", "_pragma=synchronous(NORMAL)"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s.w = w
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// temp_store=MEMORY keeps statement journals in memory: every insert
	// of a multi-statement transaction opens one so that it can be undone
	// alone, and in a temporary file that cost a system call per page (a
	// fifth of the CPU of an intake batch). The write connection's page
	// cache is larger than the default 2 MiB, as it holds the B-tree pages
	// every write goes through (the table and each of its indexes);
	// journal_size_limit truncates a WAL that a long read let grow, once a
	// checkpoint has copied it back. They are set once the schema is in
	// place: cache_size reads the schema, and reading it while another
	// process switches a new file to WAL can fail at once with
	// SQLITE_BUSY, whatever the busy timeout. The write connection is never
	// replaced (see the pool settings above), so they hold for its life.
	for _, p := range []string{`PRAGMA temp_store = MEMORY`,
		fmt.Sprintf(`PRAGMA cache_size = %d`, -writeCacheKiB),
		fmt.Sprintf(`PRAGMA journal_size_limit = %d`, walLimitBytes)} {
		if _, err := w.ExecContext(ctx, p); err != nil {
			w.Close()
			return nil, fmt.Errorf("open sqlite %s: %s: %w", path, p, err)
		}
	}
	if s.ws, err = newStmts(ctx, w, writeQueries...); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// The index of open alerts' keys is built now rather than at the first
	// write, which would wait for it (about 4 µs an open alert).
	if err := s.buildKeys(ctx); err != nil {
		s.ws.close()
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}

	r, err := sql.Open("sqlite", dsn(path, "_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	s.r, s.rs = r, &stmts{db: r, m: map[string]*sql.Stmt{}}
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}

// dsn returns the driver's name for the file at path with the settings every
// connection shares and extra ones. The path is given as a file: URI so that
// characters such as '?' and '#' in it are not taken for URI syntax.
func dsn(path string, extra ...string) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	params := append([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMS),
		"_pragma=foreign_keys(1)",
	}, extra...)
	return "file:" + escaped + "?" + strings.Join(params, "&")
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Ping reports whether both the write connection and the read pool answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Close closes the read pool and the write connection.
func (s *Store) Close() error {
	var errs []error
	if s.rs != nil {
		errs = append(errs, s.rs.close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.ws != nil {
		errs = append(errs, s.ws.close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite %s: %w", s.path, err)
	}
	return nil
}

// uniqueViolated reports whether err is a UNIQUE or PRIMARY KEY violation.
// SQLite names the constraint only in its message text, so callers tell which
// one was broken from the statement they ran.
func uniqueViolated(err error) bool {
	code := sqliteCode(err)
	return code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || code == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// foreignKeyViolated reports whether err is a FOREIGN KEY violation.
func foreignKeyViolated(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}
