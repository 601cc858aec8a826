package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	_ "modernc.org/sqlite"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/store/sqlite"
	"github.com/sitrep-ir/sitrep/store/storetest"
)

// harness makes each store a new file in the test's temporary directory.
var harness = storetest.Harness{
	New: func(t testing.TB) sitrep.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sitrep.db"), nil)
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close store: %v", err)
			}
		})
		return s
	},
	Tamper: func(t testing.TB, s sitrep.Store, id string, seq int64) {
		tamper(t, s.(*sqlite.Store).Path(), id, seq)
	},
}

// tamper edits an entry as an attacker with the file would: through a
// connection of their own, dropping the append-only triggers first.
func tamper(t testing.TB, path, id string, seq int64) {
	t.Helper()
	db := rawDB(t, path)
	if _, err := db.Exec(`DROP TRIGGER entries_no_update`); err != nil {
		t.Fatalf("tamper: drop the trigger: %v", err)
	}
	res, err := db.Exec(`UPDATE entries SET data = '{"text":"nothing to see here"}' WHERE incident_id = ? AND seq = ?`, id, seq)
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tamper: entry %d of %s not found", seq, id)
	}
}

func TestConformance(t *testing.T) { storetest.Run(t, harness) }

func TestOpenCreatesAndReopens(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	t.Chdir(dir)
	// A relative path with characters that mean something in a URI.
	const path = "./data dir?#%/sitrep.db"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data dir?#%", "sitrep.db")); err != nil {
		t.Fatalf("the database file was not created where asked: %v", err)
	}
	svc := sitrep.NewService(s, nil)
	secret, err := svc.Bootstrap(ctx, "admin", "")
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	admin, err := svc.Authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	inc, _, err := svc.Declare(ctx, admin, sitrep.DeclareInput{Title: "Survives a restart"})
	if err != nil {
		t.Fatalf("declare: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s, err = sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	svc = sitrep.NewService(s, nil)
	got, err := svc.Incident(ctx, admin, inc.ID)
	if err != nil {
		t.Fatalf("load after reopen: %v", err)
	}
	if d := cmp.Diff(inc, got); d != "" {
		t.Errorf("incident after reopen (-before +after):\n%s", d)
	}
	if again, err := svc.Bootstrap(ctx, "admin", ""); err != nil || again != "" {
		t.Errorf("bootstrap after reopen: %q, %v; want nothing done", again, err)
	}

	var mode string
	if err := rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal mode is %s, want wal", mode)
	}
}

func TestOpenRefusesNonFiles(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db?mode=memory", filepath.Join(t.TempDir(), "missing-dir", "sitrep.db")} {
		t.Run(path, func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), path, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", path)
			}
		})
	}
}

// TestEntriesAreAppendOnly checks the guard that makes an edit of the record
// take a deliberate act (dropping a trigger) rather than a stray UPDATE.
func TestEntriesAreAppendOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	s, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc := sitrep.NewService(s, nil)
	if _, err := svc.Bootstrap(t.Context(), "admin", ""); err != nil {
		t.Fatal(err)
	}
	admin, _ := s.User(t.Context(), "admin")
	inc, _, err := svc.Declare(t.Context(), admin, sitrep.DeclareInput{Title: "Evidence"})
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	for _, q := range []string{
		`UPDATE entries SET data = '{}' WHERE incident_id = ?`,
		`DELETE FROM entries WHERE incident_id = ?`,
	} {
		t.Run(q[:6], func(t *testing.T) {
			if _, err := db.Exec(q, inc.ID); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want the append-only refusal", q, err)
			}
		})
	}
	if v, err := svc.Verify(t.Context(), admin, inc.ID); err != nil || !v.OK {
		t.Errorf("verify after refused edits: %+v, %v", v, err)
	}
}

// TestTwoStoresOneFile runs two stores on one file, as two processes would:
// their writes serialise through SQLite's lock and none is lost.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sitrep.db")
	var stores []*sqlite.Store
	for range 2 {
		s, err := sqlite.Open(ctx, path, nil)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	svc0 := sitrep.NewService(stores[0], nil)
	if _, err := svc0.Bootstrap(ctx, "admin", ""); err != nil {
		t.Fatal(err)
	}
	admin, err := stores[1].User(ctx, "admin")
	if err != nil {
		t.Fatalf("the second store does not see the first's user: %v", err)
	}
	inc, _, err := svc0.Declare(ctx, admin, sitrep.DeclareInput{Title: "Shared"})
	if err != nil {
		t.Fatal(err)
	}
	const perStore = 25
	var wg sync.WaitGroup
	for i, s := range stores {
		svc := sitrep.NewService(s, nil)
		wg.Go(func() {
			for n := range perStore {
				if _, _, err := svc.Do(ctx, admin, inc.ID, sitrep.AddNote{Text: fmt.Sprintf("store %d note %d", i, n)}); err != nil {
					t.Errorf("store %d note %d: %v", i, n, err)
				}
			}
		})
	}
	wg.Wait()
	v, err := svc0.Verify(ctx, admin, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK || v.Entries != 1+2*perStore {
		t.Errorf("verify: OK=%v with %d entries (%s); want OK with %d", v.OK, v.Entries, v.Problem, 1+2*perStore)
	}
}

func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, storetest.BenchHarness{New: harness.New})
}

// TestStartTogether opens one new file from several stores at once, as
// processes started together would: all of them open, and the schema is
// created once.
func TestStartTogether(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	const n = 4
	stores := make([]*sqlite.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = sqlite.Open(t.Context(), path, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d: open: %v", i, err)
			continue
		}
		defer stores[i].Close()
		if err := stores[i].Ping(t.Context()); err != nil {
			t.Errorf("store %d: ping: %v", i, err)
		}
	}
}

// TestSchemaNewerThanBinary refuses a file that a newer sitrep migrated:
// this one cannot know what the newer schema means.
func TestSchemaNewerThanBinary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	s, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := rawDB(t, path).Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99999, '99999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(t.Context(), path, nil); err == nil || !strings.Contains(err.Error(), "newer") {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open of a newer schema: %v; want a refusal naming it newer", err)
	}
}
