package storetest

import (
	"context"
	"fmt"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// BenchHarness makes stores of one backend for the benchmarks.
type BenchHarness struct {
	// New returns a fresh, empty store, closed (and its database removed)
	// when the benchmark ends.
	New func(tb testing.TB) sitrep.Store
}

// Bench runs the store benchmarks against the stores h makes. Each goes
// through sitrep.Service, so it measures what a request costs, ICS rules and
// hashing included:
//
//   - Declare: declaring an incident (counter, state and first entry).
//   - Note: appending a note to one incident's timeline.
//   - NoteParallel: notes on different incidents from parallel goroutines.
//   - Show: loading an incident with ~50 entries, roles and tasks.
//   - Timeline: reading a page of 100 entries.
//   - Verify100k: verifying a timeline of 100,000 entries; it reports the
//     peak heap seen while streaming, which stays small when the store
//     streams rather than loading the timeline.
func Bench(b *testing.B, h BenchHarness) {
	b.Run("Declare", func(b *testing.B) { benchDeclare(b, h) })
	b.Run("Note", func(b *testing.B) { benchNote(b, h) })
	b.Run("NoteParallel", func(b *testing.B) { benchNoteParallel(b, h) })
	b.Run("Show", func(b *testing.B) { benchShow(b, h) })
	b.Run("Timeline", func(b *testing.B) { benchTimeline(b, h) })
	b.Run("Verify100k", func(b *testing.B) { benchVerify(b, h, 100_000) })
}

func newBenchFixture(b *testing.B, h BenchHarness) *fixture {
	b.Helper()
	return newFixture(b, Harness{New: h.New})
}

func benchDeclare(b *testing.B, h BenchHarness) {
	f := newBenchFixture(b, h)
	ann := f.user("ann")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := f.svc.Declare(f.ctx, ann, sitrep.DeclareInput{Title: "Benchmark incident", Kind: "malware", Severity: 2}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchNote(b *testing.B, h BenchHarness) {
	f := newBenchFixture(b, h)
	ann := f.user("ann")
	inc := f.declare(ann, "Busy timeline")
	cmd := sitrep.AddNote{Text: "Contained the host; scanning the subnet next."}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := f.svc.Do(f.ctx, ann, inc.ID, cmd); err != nil {
			b.Fatal(err)
		}
	}
}

func benchNoteParallel(b *testing.B, h BenchHarness) {
	f := newBenchFixture(b, h)
	ann := f.user("ann")
	const incidents = 16
	var ids []string
	for i := range incidents {
		ids = append(ids, f.declare(ann, fmt.Sprintf("Parallel %d", i)).ID)
	}
	var next atomic.Int64
	cmd := sitrep.AddNote{Text: "Parallel note."}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := ids[int(next.Add(1)-1)%incidents]
		for pb.Next() {
			if _, _, err := f.svc.Do(f.ctx, ann, id, cmd); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// busyIncident declares an incident with a staffed organisation, tasks and
// notes: about 50 entries, like one an hour into a response.
func busyIncident(f *fixture) string {
	ann, bob, cat, dan, eve := f.user("ann"), f.user("bob"), f.user("cat"), f.user("dan"), f.user("eve")
	id := f.declare(ann, "Ransomware on the file servers").ID
	for _, u := range []*sitrep.User{bob, cat, dan, eve} {
		f.do(u, id, sitrep.CheckIn{})
	}
	f.do(ann, id, sitrep.Assign{Role: sitrep.RoleOperations, User: "bob"})
	f.do(ann, id, sitrep.Assign{Role: sitrep.RoleInformation, User: "cat"})
	f.do(ann, id, sitrep.Assign{Role: sitrep.RolePlanning, User: "dan"})
	for i := range 6 {
		f.do(bob, id, sitrep.AddTask{Section: sitrep.RoleOperations, Title: fmt.Sprintf("Reimage server %d", i+1), Assignee: "eve"})
	}
	f.do(bob, id, sitrep.LinkAsset{Kind: "host", Name: "fs-01"})
	f.do(bob, id, sitrep.LinkAsset{Kind: "service", Name: "file-shares"})
	f.do(cat, id, sitrep.Publish{Audience: "internal", Text: "File shares are down while we restore them."})
	for i := range 3 {
		f.do(eve, id, sitrep.SetTaskStatus{ID: i + 1, Status: sitrep.TaskDone})
	}
	inc := f.incident(id)
	for i := inc.Seq; i < 50; i++ {
		f.do(dan, id, sitrep.AddNote{Text: fmt.Sprintf("Status at %d: restore in progress, no new encryption seen.", i)})
	}
	return id
}

func benchShow(b *testing.B, h BenchHarness) {
	f := newBenchFixture(b, h)
	id := busyIncident(f)
	ann := f.users["ann"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.svc.Incident(f.ctx, ann, id); err != nil {
			b.Fatal(err)
		}
	}
}

func benchTimeline(b *testing.B, h BenchHarness) {
	f := newBenchFixture(b, h)
	ann := f.user("ann")
	id := f.declare(ann, "Long timeline").ID
	appendNotes(b, f, id, 1000)
	b.ReportAllocs()
	for b.Loop() {
		entries, err := f.svc.Timeline(f.ctx, ann, id, 500, 100)
		if err != nil {
			b.Fatal(err)
		}
		if len(entries) != 100 {
			b.Fatalf("got %d entries, want 100", len(entries))
		}
	}
}

// appendNotes appends n notes to incident id in batches of 1,000 entries per
// UpdateIncident, chained by the domain's own hashing and Apply: the quick
// way to a long timeline.
func appendNotes(tb testing.TB, f *fixture, id string, n int) {
	tb.Helper()
	const batch = 1000
	at := f.clock.Now().UTC()
	for done := 0; done < n; {
		size := min(batch, n-done)
		err := f.store.UpdateIncident(f.ctx, id, func(inc *sitrep.Incident) ([]sitrep.Entry, error) {
			entries := make([]sitrep.Entry, 0, size)
			for i := range size {
				at = at.Add(time.Millisecond)
				e, err := NoteEntry(inc, inc.Command, at, fmt.Sprintf("Observation %d: nothing new on the wire.", done+i+1))
				if err != nil {
					return nil, err
				}
				entries = append(entries, e)
			}
			return entries, nil
		})
		if err != nil {
			tb.Fatalf("append notes %d–%d: %v", done+1, done+size, err)
		}
		done += size
	}
}

func benchVerify(b *testing.B, h BenchHarness, n int) {
	f := newBenchFixture(b, h)
	ann := f.user("ann")
	id := f.declare(ann, "A long breach").ID
	appendNotes(b, f, id, n-1)
	watch := &heapWatch{Store: f.store}
	svc := sitrep.NewService(watch, nil)
	b.ReportAllocs()
	for b.Loop() {
		v, err := svc.Verify(context.Background(), ann, id)
		if err != nil {
			b.Fatal(err)
		}
		if !v.OK || v.Entries != int64(n) {
			b.Fatalf("verify: OK=%v, %d entries (%s); want OK with %d", v.OK, v.Entries, v.Problem, n)
		}
	}
	b.ReportMetric(float64(watch.peak)/(1<<20), "peak-heap-MiB")
}

// heapWatch samples the heap while EachEntry streams, every 5,000 entries.
type heapWatch struct {
	sitrep.Store
	peak uint64
}

func (w *heapWatch) EachEntry(ctx context.Context, id string, fn func(*sitrep.Entry) error) error {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	n := 0
	return w.Store.EachEntry(ctx, id, func(e *sitrep.Entry) error {
		if n++; n%5000 == 0 {
			metrics.Read(sample)
			w.peak = max(w.peak, sample[0].Value.Uint64())
		}
		return fn(e)
	})
}
