package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

func openTestStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// model is what the alerts of a run of batches must be: per key, the open
// alert and its count, and every alert's count and status.
type model struct {
	open   map[opKey]int64 // key → ID of its open alert
	count  map[int64]int64
	status map[int64]string
}

type step struct {
	action string
	key    opKey
}

// apply runs one event on the model and returns what the store must answer:
// the alert ID (0 when ignored) and whether the event opened it. ids maps
// the model's alert numbers (in order of opening) to the store's IDs, which
// are learnt from the store's answers to new alerts.
func (m *model) apply(st step, newID func() int64) (id int64, opened bool) {
	id, isOpen := m.open[st.key]
	switch st.action {
	case sitrep.ActionTrigger:
		if !isOpen {
			id = newID()
			m.open[st.key], m.status[id] = id, "firing"
			opened = true
		}
		m.count[id]++
		return id, opened
	case sitrep.ActionAcknowledge:
		if !isOpen {
			return 0, false
		}
		m.status[id] = "acknowledged"
		return id, false
	default:
		if !isOpen {
			return 0, false
		}
		delete(m.open, st.key)
		m.status[id] = "resolved"
		return id, false
	}
}

// TestOpenKeysAgainstModel runs random batches of triggers, acknowledges and
// resolves over a few keys of two sources, with hashes made to collide, and
// checks every answer and every alert against a model.
func TestOpenKeysAgainstModel(t *testing.T) {
	hashes := map[string]func(opKey) uint64{
		"all keys one hash":  func(opKey) uint64 { return 7 },
		"two hashes":         func(k opKey) uint64 { return uint64(len(k.key) % 2) },
		"the store's hashes": nil,
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			s := openTestStore(t, filepath.Join(t.TempDir(), "sitrep.db"))
			if hash != nil {
				s.keys.hash = hash
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			keys := []opKey{{"a", "x"}, {"a", "yy"}, {"a", "zzz"}, {"b", "x"}, {"b", "yy"}, {"a", "k5"}}
			actions := []string{sitrep.ActionTrigger, sitrep.ActionTrigger, sitrep.ActionTrigger, sitrep.ActionAcknowledge, sitrep.ActionResolve}
			m := &model{open: map[opKey]int64{}, count: map[int64]int64{}, status: map[int64]string{}}
			at := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
			for b := range 200 {
				n := 1 + rng.IntN(12)
				steps := make([]step, n)
				batch := make([]sitrep.Ingest, n)
				for i := range steps {
					steps[i] = step{actions[rng.IntN(len(actions))], keys[rng.IntN(len(keys))]}
					at = at.Add(time.Millisecond)
					batch[i] = sitrep.Ingest{Source: steps[i].key.source, ReceivedAt: at,
						Event: sitrep.AlertEvent{Action: steps[i].action, DedupKey: steps[i].key.key, Summary: "alert " + steps[i].key.key}}
				}
				res, err := s.IngestAlerts(t.Context(), batch)
				if err != nil {
					t.Fatalf("batch %d: %v", b, err)
				}
				for i, st := range steps {
					// A new alert's ID is the store's to choose: the model
					// takes it from the answer, and checks it is new.
					id, opened := m.apply(st, func() int64 {
						if _, used := m.status[res[i].AlertID]; used || res[i].AlertID == 0 {
							t.Fatalf("batch %d event %d (%s %v): opened alert %d, which is not a new ID", b, i, st.action, st.key, res[i].AlertID)
						}
						return res[i].AlertID
					})
					want := sitrep.IngestResult{AlertID: id, New: opened, Ignored: id == 0}
					if res[i] != want {
						t.Fatalf("batch %d event %d (%s %v): got %+v, want %+v", b, i, st.action, st.key, res[i], want)
					}
				}
				if b%20 == 19 {
					checkAlerts(t, s, m)
				}
			}
			checkAlerts(t, s, m)
		})
	}
}

func checkAlerts(t *testing.T, s *Store, m *model) {
	t.Helper()
	all, err := s.Alerts(t.Context(), sitrep.AlertFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(m.status) {
		t.Fatalf("the store has %d alerts, the model %d", len(all), len(m.status))
	}
	open := map[opKey]int{}
	for _, al := range all {
		if al.Count != m.count[al.ID] || al.Status != m.status[al.ID] {
			t.Errorf("alert %d (%s/%s): count %d, %s; want %d, %s", al.ID, al.Source, al.DedupKey, al.Count, al.Status, m.count[al.ID], m.status[al.ID])
		}
		if al.Status != "resolved" {
			k := opKey{al.Source, al.DedupKey}
			open[k]++
			if m.open[k] != al.ID {
				t.Errorf("alert %d of %v is open; the model's open alert of the key is %d", al.ID, k, m.open[k])
			}
		}
	}
	for k, n := range open {
		if n > 1 {
			t.Errorf("%d open alerts of %v", n, k)
		}
	}
}

// TestOpenKeysOtherConnection has another store on the same file (another
// process, as far as SQLite can tell) open and resolve alerts in between:
// each store must see the other's writes.
func TestOpenKeysOtherConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	a, b := openTestStore(t, path), openTestStore(t, path)
	ingest := func(s *Store, action, key string) sitrep.IngestResult {
		t.Helper()
		res, err := s.IngestAlerts(t.Context(), []sitrep.Ingest{{Source: "src", ReceivedAt: time.Now(),
			Event: sitrep.AlertEvent{Action: action, DedupKey: key, Summary: "alert " + key}}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	first := ingest(a, sitrep.ActionTrigger, "k")
	// b counts on a's alert rather than opening a second one.
	if got := ingest(b, sitrep.ActionTrigger, "k"); got.New || got.AlertID != first.AlertID {
		t.Fatalf("b's trigger of a's open key: %+v, want a count on alert %d", got, first.AlertID)
	}
	// b resolves it: a's next trigger opens a new alert, with a new ID.
	if got := ingest(b, sitrep.ActionResolve, "k"); got.AlertID != first.AlertID {
		t.Fatalf("b's resolve: %+v", got)
	}
	second := ingest(a, sitrep.ActionTrigger, "k")
	if !second.New || second.AlertID <= first.AlertID {
		t.Fatalf("a's trigger after b's resolve: %+v, want a new alert after %d", second, first.AlertID)
	}
	// b opens alerts of its own: a numbers its next alert after them.
	third := ingest(b, sitrep.ActionTrigger, "m")
	if fourth := ingest(a, sitrep.ActionTrigger, "n"); !fourth.New || fourth.AlertID <= third.AlertID {
		t.Fatalf("a's new alert after b's %d: %+v", third.AlertID, fourth)
	}
	al, err := a.Alert(t.Context(), first.AlertID)
	if err != nil {
		t.Fatal(err)
	}
	if al.Count != 2 || al.Status != "resolved" {
		t.Errorf("first alert: count %d, %s; want 2, resolved", al.Count, al.Status)
	}
}

// TestOpenKeysReopen rebuilds the index from the file when the store opens.
func TestOpenKeysReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	s, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var batch []sitrep.Ingest
	for i := range 300 {
		batch = append(batch, sitrep.Ingest{Source: "src", ReceivedAt: time.Now(),
			Event: sitrep.AlertEvent{Action: sitrep.ActionTrigger, DedupKey: fmt.Sprint("k", i), Summary: "alert"}})
	}
	first, err := s.IngestAlerts(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTestStore(t, path)
	again, err := s.IngestAlerts(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if again[i].New || again[i].AlertID != first[i].AlertID {
			t.Fatalf("event %d after reopening: %+v, want a count on alert %d", i, again[i], first[i].AlertID)
		}
	}
}

// BenchmarkOpenKeysRebuild measures the rebuild of the index from the file,
// as at the first write after the store opens, per open alert.
func BenchmarkOpenKeysRebuild(b *testing.B) {
	const open = 100_000
	path := filepath.Join(b.TempDir(), "sitrep.db")
	s, err := Open(b.Context(), path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	at := time.Now()
	for i := 0; i < open; i += 1000 {
		batch := make([]sitrep.Ingest, 1000)
		for j := range batch {
			batch[j] = sitrep.Ingest{Source: "src", ReceivedAt: at,
				Event: sitrep.AlertEvent{Action: sitrep.ActionTrigger, DedupKey: fmt.Sprintf("%016x", rand.Uint64()), Summary: "alert"}}
		}
		if _, err := s.IngestAlerts(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		s.keys.valid = false
		tx, err := s.w.BeginTx(b.Context(), nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.keys.check(b.Context(), s.ws, tx); err != nil {
			b.Fatal(err)
		}
		tx.Rollback()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/open, "ns/key")
}
