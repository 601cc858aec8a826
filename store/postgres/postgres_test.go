package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/pgtest"
	"github.com/sitrep-ir/sitrep/store/postgres"
	"github.com/sitrep-ir/sitrep/store/storetest"
)

func serverDSN(t testing.TB) string { return pgtest.ServerDSN(t) }

func freshDatabase(t testing.TB) string { return pgtest.FreshDatabase(t) }

func withDatabase(t testing.TB, dsn, name string) string { return pgtest.WithDatabase(t, dsn, name) }

func openStore(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var harness = storetest.Harness{
	New: func(t testing.TB) sitrep.Store { return openStore(t, freshDatabase(t)) },
	Tamper: func(t testing.TB, s sitrep.Store, id string, seq int64) {
		t.Helper()
		// As the database's owner would: switch the guard off, then edit.
		ctx := context.Background()
		conn, err := s.(*postgres.Store).Pool().Acquire(ctx)
		if err != nil {
			t.Fatalf("tamper: %v", err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, `ALTER TABLE entries DISABLE TRIGGER entries_append_only`); err != nil {
			t.Fatalf("tamper: disable the trigger: %v", err)
		}
		tag, err := conn.Exec(ctx, `UPDATE entries SET data = '{"text":"nothing to see here"}' WHERE incident_id = $1 AND seq = $2`, id, seq)
		if err != nil {
			t.Fatalf("tamper: %v", err)
		}
		if tag.RowsAffected() != 1 {
			t.Fatalf("tamper: entry %d of %s not found", seq, id)
		}
	},
}

func TestConformance(t *testing.T) {
	requireServer(t) // skip once, not in every case
	storetest.Run(t, harness)
}

// requireServer skips (or fails) the test unless the test server answers.
func requireServer(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, serverDSN(t))
	if err != nil {
		pgtest.Unavailable(t, fmt.Sprintf("cannot reach the server in SITREP_TEST_POSTGRES: %v", err))
	}
	conn.Close(ctx)
}

// TestReplicasStartTogether opens several stores on one new database at
// once, as replicas starting together would: the advisory lock lets one
// migrate while the others wait, and all of them work afterwards.
func TestReplicasStartTogether(t *testing.T) {
	dsn := freshDatabase(t)
	const replicas = 4
	stores := make([]*postgres.Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), dsn, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: open: %v", i, err)
		}
		defer stores[i].Close()
	}
	svc := sitrep.NewService(stores[0], nil)
	if _, err := svc.Bootstrap(t.Context(), "admin", ""); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	admin, err := stores[1].User(t.Context(), "admin")
	if err != nil {
		t.Fatalf("replica 1 does not see replica 0's user: %v", err)
	}
	// Replicas declaring at once share one counter.
	ids := make([]string, replicas)
	for i, s := range stores {
		wg.Go(func() {
			inc, _, err := sitrep.NewService(s, nil).Declare(t.Context(), admin, sitrep.DeclareInput{Title: fmt.Sprintf("from replica %d", i)})
			if err != nil {
				t.Errorf("replica %d: declare: %v", i, err)
				return
			}
			ids[i] = inc.ID
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("two replicas declared %s", id)
		}
		seen[id] = true
	}
	year := time.Now().UTC().Year()
	for n := 1; n <= replicas; n++ {
		if id := sitrep.FormatID(year, n); !seen[id] {
			t.Errorf("no replica declared %s: got %v", id, ids)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dsn := serverDSN(t)
	for _, tc := range []struct {
		name, dsn string
	}{
		{"not a DSN", "postgres://%zz"},
		{"no such database", withDatabase(t, dsn, "sitrep_test_does_not_exist")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			s, err := postgres.Open(ctx, tc.dsn, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded")
			}
		})
	}
	t.Run("password stays out of the error", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), "postgres://u:hunter2@127.0.0.1:5432/x?sslmode=bogus", nil)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open: %v; want an error without the password", err)
		}
	})
}

// TestEntriesAreAppendOnly checks the guard that makes an edit of the record
// take a deliberate act (disabling a trigger) rather than a stray UPDATE.
func TestEntriesAreAppendOnly(t *testing.T) {
	s := openStore(t, freshDatabase(t))
	svc := sitrep.NewService(s, nil)
	ctx := t.Context()
	if _, err := svc.Bootstrap(ctx, "admin", ""); err != nil {
		t.Fatal(err)
	}
	admin, _ := s.User(ctx, "admin")
	inc, _, err := svc.Declare(ctx, admin, sitrep.DeclareInput{Title: "Evidence"})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE entries SET data = '{}' WHERE incident_id = $1`,
		`DELETE FROM entries WHERE incident_id = $1`,
		`TRUNCATE entries CASCADE`,
	} {
		t.Run(q[:8], func(t *testing.T) {
			var args []any
			if strings.Contains(q, "$1") {
				args = append(args, inc.ID)
			}
			if _, err := s.Pool().Exec(ctx, q, args...); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want the append-only refusal", q, err)
			}
		})
	}
	if v, err := svc.Verify(ctx, admin, inc.ID); err != nil || !v.OK {
		t.Errorf("verify after refused edits: %+v, %v", v, err)
	}
}

func BenchmarkStore(b *testing.B) {
	requireServer(b)
	storetest.Bench(b, storetest.BenchHarness{New: harness.New})
}
