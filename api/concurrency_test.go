package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/pgtest"
	"github.com/sitrep-ir/sitrep/store/postgres"
)

func TestConcurrencySQLite(t *testing.T)   { testConcurrency(t, sqliteStore) }
func TestConcurrencyPostgres(t *testing.T) { testConcurrency(t, postgresStore) }

// Size of the concurrency test.
const (
	noteWriters    = 16
	notesPerWriter = 25
	responders     = 4
	extraTasks     = 5
)

// testConcurrency has many people write to one incident at once over real
// HTTP while Command assigns roles and adds tasks: every note must be on the
// timeline exactly once, and the record must verify.
func testConcurrency(t *testing.T, open storeFunc) {
	e := newEnv(t, open)
	alice := e.addUser("alice", sitrep.OrgResponder)
	id := e.declare(alice, sitrep.DeclareInput{Title: "Everyone writes at once"})
	base := "/api/v1/incidents/" + id
	var people []*caller
	for i := range responders {
		p := e.addUser(fmt.Sprintf("r%d", i), sitrep.OrgResponder)
		e.change(p, "POST", base+"/checkin", nil)
		people = append(people, p)
	}

	// post sends a change from a goroutine: it reports, never stops the test.
	// TestScenario checks every route against the document; here a sample
	// is enough, as validating is far slower than serving.
	post := func(c *caller, path string, body any, validate bool) {
		req := request{method: "POST", path: path, as: c, body: body}
		r, err := e.send(req)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return
		}
		if r.status != http.StatusOK {
			t.Errorf("%s as %s: %s", path, c.name, r)
			return
		}
		if validate {
			if err := e.validate(req, r); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
	}
	var wg sync.WaitGroup
	for w := range noteWriters {
		wg.Go(func() {
			for i := range notesPerWriter {
				post(people[w%responders], base+"/notes", map[string]string{"text": fmt.Sprintf("note %d/%d", w, i)}, i == 0)
			}
		})
	}
	wg.Go(func() {
		for i, role := range []string{"operations", "planning"} {
			post(alice, base+"/roles", map[string]string{"role": role, "user": people[i].name}, true)
		}
		for i := range extraTasks {
			post(alice, base+"/tasks", map[string]string{"section": "logistics", "title": fmt.Sprintf("task %d", i), "assignee": people[i%responders].name}, true)
		}
	})
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	seen := map[string]int{}
	tl := e.timeline(alice, id)
	for _, en := range tl {
		if en.Type == "note.added" {
			var n sitrep.NoteAdded
			if err := json.Unmarshal(en.Data, &n); err != nil {
				t.Fatal(err)
			}
			seen[n.Text]++
		}
	}
	for w := range noteWriters {
		for i := range notesPerWriter {
			if text := fmt.Sprintf("note %d/%d", w, i); seen[text] != 1 {
				t.Errorf("%q is on the timeline %d times, want once", text, seen[text])
			}
		}
	}
	if want := 1 + responders + noteWriters*notesPerWriter + 2 + extraTasks; len(tl) != want {
		t.Errorf("the timeline has %d entries, want %d", len(tl), want)
	}
	inc := e.incident(alice, id)
	if len(inc.Roles) != 2 || len(inc.Tasks) != extraTasks || inc.Seq != int64(len(tl)) {
		t.Errorf("state after the rush: %d roles, %d tasks, seq %d", len(inc.Roles), len(inc.Tasks), inc.Seq)
	}
	e.verified(alice, id)
}

// postgresStore opens a PostgreSQL store on a fresh database of the server
// SITREP_TEST_POSTGRES names (see pgtest).
func postgresStore(t testing.TB) sitrep.Store {
	t.Helper()
	dsn := pgtest.FreshDatabase(t)
	s, err := postgres.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() }) // runs before the drop: cleanups run last first
	return s
}
