// Package pgtest gives tests a fresh PostgreSQL database on the server that
// SITREP_TEST_POSTGRES names, dropped when the test ends. Without that
// server a test is skipped, or fails when SITREP_TEST_REQUIRE_ALL=1, so that
// CI never passes by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServerDSN returns the DSN in SITREP_TEST_POSTGRES, or skips (fails) the
// test when it is not set.
func ServerDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("SITREP_TEST_POSTGRES")
	if dsn == "" {
		Unavailable(t, "SITREP_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)")
	}
	return dsn
}

// Unavailable skips the test, or fails it when SITREP_TEST_REQUIRE_ALL=1.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("SITREP_TEST_REQUIRE_ALL") == "1" {
		t.Fatalf("PostgreSQL is required (SITREP_TEST_REQUIRE_ALL=1): %s", why)
	}
	t.Skipf("skipping the PostgreSQL test: %s", why)
}

// FreshDatabase creates an empty database on the test server and returns
// its DSN. The database is dropped (with FORCE, so connections left open do
// not keep it) when the test ends; register anything that must close first
// after calling FreshDatabase, since cleanups run last first.
func FreshDatabase(t testing.TB) string {
	t.Helper()
	dsn := ServerDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		Unavailable(t, fmt.Sprintf("cannot reach the server in SITREP_TEST_POSTGRES: %v", err))
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "sitrep_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(context.Background())
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return WithDatabase(t, dsn, name)
}

// WithDatabase returns dsn (a URL or key=value form) naming database name
// instead of its own.
func WithDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("SITREP_TEST_POSTGRES is not a valid URL: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name // key=value: the last setting wins
}
