package sqlite

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migration is one embedded schema change.
type migration struct {
	version int64
	name    string
	up      string
}

// migrate brings the schema up to date in one IMMEDIATE transaction: the
// write lock is taken before the version is read, so processes opening one
// file at once apply each migration exactly once (the second finds nothing
// left to do), and a failure leaves the file as it was. goose, which the
// PostgreSQL store uses under an advisory lock, reads the version outside
// any lock and SQLite has no advisory lock to put around it: two processes
// starting on a new file both applied the first migration, and one failed.
//
// The files keep goose's annotations, so they read the same in both stores:
// the statements between "-- +goose Up" and "-- +goose Down" are the change.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read the schema version: %w", err)
	}
	if latest := ms[len(ms)-1].version; current > latest {
		return fmt.Errorf("migrate: the database's schema is version %d, newer than this sitrep knows (%d): run a newer sitrep", current, latest)
	}
	var applied []migration
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		start := time.Now()
		if _, err := tx.ExecContext(ctx, m.up); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("migrate: record %s: %w", m.name, err)
		}
		s.logger.Debug("migration ran", "file", m.name, "took", time.Since(start))
		applied = append(applied, m)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	for _, m := range applied {
		s.logger.Info("migration applied", "version", m.version, "file", m.name)
	}
	return nil
}

// loadMigrations reads the migrations in dir of fsys, named
// NNNNN_description.sql, in order of version.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	files, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, f := range files {
		if f.IsDir() || !strings.HasSuffix(f.Name(), ".sql") {
			continue
		}
		text, err := fs.ReadFile(fsys, path.Join(dir, f.Name()))
		if err != nil {
			return nil, err
		}
		m, err := parseMigration(f.Name(), string(text))
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations in %s", dir)
	}
	slices.SortFunc(ms, func(a, b migration) int { return int(a.version - b.version) })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// parseMigration reads one migration file: its version from the name, its
// change from the Up section.
func parseMigration(name, text string) (migration, error) {
	prefix, _, ok := strings.Cut(name, "_")
	version, err := strconv.ParseInt(prefix, 10, 64)
	if !ok || err != nil || version <= 0 {
		return migration{}, fmt.Errorf("migration %s: the name must start with a positive version and '_', such as 00002_alerts.sql", name)
	}
	var up strings.Builder
	section := ""
	for line := range strings.Lines(text) {
		if d, ok := strings.CutPrefix(strings.TrimSpace(line), "-- +goose "); ok {
			switch d = strings.TrimSpace(d); d {
			case "Up", "Down":
				section = d
			case "StatementBegin", "StatementEnd":
				// SQLite takes a whole script, triggers included.
			default:
				return migration{}, fmt.Errorf("migration %s: the annotation %q is not supported: each migration runs in the one transaction", name, d)
			}
			continue
		}
		if section == "Up" {
			up.WriteString(line)
		}
	}
	if strings.TrimSpace(up.String()) == "" {
		return migration{}, fmt.Errorf("migration %s: no statements after \"-- +goose Up\"", name)
	}
	return migration{version: version, name: name, up: up.String()}, nil
}
