package ingest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// openStore opens a real SQLite store in the test's temporary directory.
func openStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "sitrep.db")
	}
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func trigger(key string) sitrep.AlertEvent {
	return sitrep.AlertEvent{Action: sitrep.ActionTrigger, DedupKey: key, Summary: "alert " + key}
}

// waitFor waits until the ingester holds n events not yet committed.
func waitFor(t *testing.T, in *Ingester, n int64) {
	t.Helper()
	for in.waiting.Load() != n {
		if t.Context().Err() != nil {
			t.Fatalf("the ingester holds %d events, want %d", in.waiting.Load(), n)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrentCallers has many goroutines ingest at once: every event
// acknowledged is stored, counted on the alert of its key.
func TestConcurrentCallers(t *testing.T) {
	s := openStore(t, "")
	in := New(s, Options{MaxBatch: 64})
	defer in.Close()
	const workers, calls, per = 16, 20, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for c := range calls {
				evs := []sitrep.AlertEvent{trigger("shared"), trigger(fmt.Sprintf("w%d", w%4)), trigger(fmt.Sprintf("w%d-c%d", w, c))}
				for len(evs) < per {
					evs = append(evs, trigger("shared"))
				}
				res, err := in.Ingest(t.Context(), "edr", evs)
				if err != nil {
					t.Errorf("worker %d call %d: %v", w, c, err)
					return
				}
				if len(res) != per || res[0].AlertID == 0 || res[0].AlertID != res[3].AlertID || !res[2].New {
					t.Errorf("worker %d call %d: results %+v", w, c, res)
					return
				}
			}
		})
	}
	wg.Wait()
	alerts, err := s.Alerts(t.Context(), sitrep.AlertFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, al := range alerts {
		counts[al.DedupKey] = al.Count
	}
	want := map[string]int64{"shared": workers * calls * (per - 2)}
	for w := range workers {
		want[fmt.Sprintf("w%d", w%4)] += calls
		for c := range calls {
			want[fmt.Sprintf("w%d-c%d", w, c)] = 1
		}
	}
	if d := cmp.Diff(want, counts); d != "" {
		t.Errorf("counts per key (-want +got):\n%s", d)
	}
}

// TestStoreErrorFailsTheBatch closes the store under the ingester: the
// commit fails and every caller of the batch is told so.
func TestStoreErrorFailsTheBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sitrep.db")
	s := openStore(t, path)
	const callers = 5
	in := New(s, Options{MaxBatch: callers, MaxDelay: time.Hour, firstCalls: callers})
	defer in.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			_, errs[i] = in.Ingest(t.Context(), "edr", []sitrep.AlertEvent{trigger(fmt.Sprint(i))})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Errorf("caller %d was told its events are stored", i)
		}
	}
	if list, err := openStore(t, path).Alerts(t.Context(), sitrep.AlertFilter{}); err != nil || len(list) != 0 {
		t.Errorf("after the failed batch: %d alerts, %v", len(list), err)
	}
}

// TestCloseFlushes closes the ingester while calls wait for a batch that
// would wait an hour: Close stores them, then refuses more.
func TestCloseFlushes(t *testing.T) {
	s := openStore(t, "")
	in := New(s, Options{MaxDelay: time.Hour, firstCalls: 1000})
	const callers = 4
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			_, errs[i] = in.Ingest(t.Context(), "edr", []sitrep.AlertEvent{trigger("k"), trigger("k")})
		})
	}
	waitFor(t, in, 2*callers)
	if err := in.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	list, err := s.Alerts(t.Context(), sitrep.AlertFilter{})
	if err != nil || len(list) != 1 || list[0].Count != 2*callers {
		t.Fatalf("after close: %+v, %v; want one alert counted %d times", list, err, 2*callers)
	}
	if _, err := in.Ingest(t.Context(), "edr", []sitrep.AlertEvent{trigger("k")}); !errors.Is(err, ErrClosed) {
		t.Errorf("ingest after close: %v, want ErrClosed", err)
	}
	if err := in.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// TestCancelledWhileQueued cancels a call that waits for its batch: it
// returns the context's error and nothing of it is stored, while the other
// calls of the batch are.
func TestCancelledWhileQueued(t *testing.T) {
	s := openStore(t, "")
	in := New(s, Options{MaxDelay: time.Hour, firstCalls: 1000})
	ctx, cancel := context.WithCancel(t.Context())
	var cancelled error
	var wg sync.WaitGroup
	wg.Go(func() { _, cancelled = in.Ingest(ctx, "edr", []sitrep.AlertEvent{trigger("gone")}) })
	wg.Go(func() {
		if _, err := in.Ingest(t.Context(), "edr", []sitrep.AlertEvent{trigger("kept")}); err != nil {
			t.Errorf("the other call: %v", err)
		}
	})
	waitFor(t, in, 2)
	cancel()
	waitFor(t, in, 1)
	in.Close()
	wg.Wait()
	if !errors.Is(cancelled, context.Canceled) {
		t.Errorf("cancelled call: %v, want context.Canceled", cancelled)
	}
	list, err := s.Alerts(t.Context(), sitrep.AlertFilter{})
	if err != nil || len(list) != 1 || list[0].DedupKey != "kept" {
		t.Errorf("stored: %+v, %v; want only the alert of the call not cancelled", list, err)
	}
}

func TestRefusesBadCalls(t *testing.T) {
	s := openStore(t, "")
	in := New(s, Options{})
	defer in.Close()
	many := make([]sitrep.AlertEvent, MaxEventsPerCall+1)
	for i := range many {
		many[i] = trigger("k")
	}
	for _, tc := range []struct {
		name   string
		source string
		events []sitrep.AlertEvent
	}{
		{"unknown action", "edr", []sitrep.AlertEvent{trigger("k"), {Action: "escalate", DedupKey: "k"}}},
		{"bad source name", "EDR!", []sitrep.AlertEvent{trigger("k")}},
		{"too many events", "edr", many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := in.Ingest(t.Context(), tc.source, tc.events)
			if sitrep.ErrorKind(err) != sitrep.EInvalid {
				t.Errorf("got %v, want an EInvalid error", err)
			}
		})
	}
	// Normalize mends what it can: no action is a trigger, no key is derived.
	res, err := in.Ingest(t.Context(), "edr", []sitrep.AlertEvent{{Summary: "disk full on db1"}})
	if err != nil || len(res) != 1 || !res[0].New {
		t.Fatalf("ingest a bare event: %+v, %v", res, err)
	}
	al, err := s.Alert(t.Context(), res[0].AlertID)
	if err != nil || al.DedupKey != sitrep.DeriveDedupKey("disk full on db1", nil) {
		t.Errorf("bare event stored as %+v, %v", al, err)
	}
	list, err := s.Alerts(t.Context(), sitrep.AlertFilter{})
	if err != nil || len(list) != 1 {
		t.Errorf("%d alerts stored, want only the bare event's: %v", len(list), err)
	}
}

// TestLoneSenderNotHeld: a batch waits for more calls only while it has
// fewer than the batch before; a lone sender's calls commit at once, even
// with a MaxDelay of an hour.
func TestLoneSenderNotHeld(t *testing.T) {
	s := openStore(t, "")
	in := New(s, Options{MaxDelay: time.Hour})
	defer in.Close()
	for i := range 5 {
		res, err := in.Ingest(t.Context(), "edr", []sitrep.AlertEvent{trigger(fmt.Sprint(i))})
		if err != nil || len(res) != 1 || !res[0].New {
			t.Fatalf("call %d: %+v, %v", i, res, err)
		}
	}
}
