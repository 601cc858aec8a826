// Package storetest is the conformance suite every sitrep.Store passes. It
// drives the store through sitrep.Service, as the product does, so it checks
// the behaviour the product relies on (numbering, round trips of state and
// timeline, serialised updates, a record that verifies) and not only CRUD.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
)

// Harness makes stores of one backend for the suite.
type Harness struct {
	// New returns a fresh, empty store, closed (and its database removed)
	// when the test ends.
	New func(t testing.TB) sitrep.Store
	// Tamper alters the stored data of entry seq of the incident directly in
	// the database, getting past the append-only guard first, as someone
	// with access to the database could.
	Tamper func(t testing.TB, s sitrep.Store, incidentID string, seq int64)
}

// Run runs the conformance suite against the stores h makes.
func Run(t *testing.T, h Harness) {
	t.Run("Users", func(t *testing.T) { testUsers(t, h) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, h) })
	t.Run("Bootstrap", func(t *testing.T) { testBootstrap(t, h) })
	t.Run("DeclareNumbers", func(t *testing.T) { testDeclareNumbers(t, h) })
	t.Run("DeclareRoundTrip", func(t *testing.T) { testDeclareRoundTrip(t, h) })
	t.Run("CreateIncidentBuildError", func(t *testing.T) { testCreateIncidentBuildError(t, h) })
	t.Run("Missing", func(t *testing.T) { testMissing(t, h) })
	t.Run("FullFlow", func(t *testing.T) { testFullFlow(t, h) })
	t.Run("Tamper", func(t *testing.T) { testTamper(t, h) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, h) })
	t.Run("UpdateFailingFn", func(t *testing.T) { testUpdateFailingFn(t, h) })
	t.Run("UpdateRejectsBadEntries", func(t *testing.T) { testUpdateRejectsBadEntries(t, h) })
	t.Run("UpdateWithoutEntries", func(t *testing.T) { testUpdateWithoutEntries(t, h) })
	t.Run("Listing", func(t *testing.T) { testListing(t, h) })
	t.Run("ListingDefaultLimit", func(t *testing.T) { testListingDefaultLimit(t, h) })
	t.Run("EntriesPaging", func(t *testing.T) { testEntriesPaging(t, h) })
	t.Run("EachEntry", func(t *testing.T) { testEachEntry(t, h) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelledContext(t, h) })
	t.Run("Ping", func(t *testing.T) { testPing(t, h) })
	t.Run("VerifyWhileWriting", func(t *testing.T) { testVerifyWhileWriting(t, h) })
	t.Run("Alerts", func(t *testing.T) { runAlerts(t, h) })
	t.Run("Web", func(t *testing.T) { runWeb(t, h) })
	t.Run("Notify", func(t *testing.T) { runNotify(t, h) })
}

// Clock is a sitrep.Clock that tests move by hand. Each reading advances it
// by Step, so that things done one after the other get distinct times.
type Clock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

// NewClock returns a clock at start that advances by step at each reading.
func NewClock(start time.Time, step time.Duration) *Clock {
	return &Clock{now: start, step: step}
}

// Now returns the clock's time and advances it.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// SetStep changes how far each reading advances the clock.
func (c *Clock) SetStep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.step = d
}

// start is the suite's first moment: not in UTC and with nanoseconds, so
// that a store that keeps time zones or more than microseconds is caught.
var start = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CET", 3600))

// fixture is a store, a service on it with a hand-moved clock, and the users
// the scenario needs.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	h     Harness
	store sitrep.Store
	svc   *sitrep.Service
	clock *Clock
	admin *sitrep.User
	users map[string]*sitrep.User
}

func newFixture(t testing.TB, h Harness) *fixture {
	t.Helper()
	s := h.New(t)
	clock := NewClock(start, 1500*time.Microsecond+7*time.Nanosecond)
	svc := sitrep.NewService(s, nil)
	svc.Clock = clock
	f := &fixture{t: t, ctx: context.Background(), h: h, store: s, svc: svc, clock: clock, users: map[string]*sitrep.User{}}
	f.admin = &sitrep.User{Name: "admin", Role: sitrep.OrgAdmin}
	if _, err := svc.Bootstrap(f.ctx, "admin", ""); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	admin, err := s.User(f.ctx, "admin")
	if err != nil {
		t.Fatalf("load admin: %v", err)
	}
	f.admin = admin
	return f
}

// user creates a responder named name (once) and returns it.
func (f *fixture) user(name string) *sitrep.User {
	f.t.Helper()
	if u, ok := f.users[name]; ok {
		return u
	}
	u, err := f.svc.CreateUser(f.ctx, f.admin, sitrep.User{Name: name, Role: sitrep.OrgResponder})
	if err != nil {
		f.t.Fatalf("create user %s: %v", name, err)
	}
	f.users[name] = u
	return u
}

func (f *fixture) declare(actor *sitrep.User, title string) *sitrep.Incident {
	f.t.Helper()
	inc, _, err := f.svc.Declare(f.ctx, actor, sitrep.DeclareInput{Title: title})
	if err != nil {
		f.t.Fatalf("declare %q: %v", title, err)
	}
	return inc
}

// do runs cmd and fails the test if it is refused.
func (f *fixture) do(actor *sitrep.User, id string, cmd sitrep.Command) *sitrep.Incident {
	f.t.Helper()
	inc, _, err := f.svc.Do(f.ctx, actor, id, cmd)
	if err != nil {
		f.t.Fatalf("%s by %s on %s: %v", cmd.Action(), actor.Name, id, err)
	}
	return inc
}

// notes adds n notes by actor to incident id.
func (f *fixture) notes(actor *sitrep.User, id string, n int) {
	f.t.Helper()
	for i := range n {
		f.do(actor, id, sitrep.AddNote{Text: fmt.Sprintf("note %d", i+1)})
	}
}

func (f *fixture) verify(id string) *sitrep.Verification {
	f.t.Helper()
	v, err := f.svc.Verify(f.ctx, f.admin, id)
	if err != nil {
		f.t.Fatalf("verify %s: %v", id, err)
	}
	return v
}

func (f *fixture) requireVerified(id string) {
	f.t.Helper()
	if v := f.verify(id); !v.OK {
		f.t.Fatalf("verify %s: not OK: entry %d: %s", id, v.BrokenSeq, v.Problem)
	}
}

func (f *fixture) incident(id string) *sitrep.Incident {
	f.t.Helper()
	inc, err := f.store.Incident(f.ctx, id)
	if err != nil {
		f.t.Fatalf("load %s: %v", id, err)
	}
	return inc
}

func (f *fixture) entries(id string) []sitrep.Entry {
	f.t.Helper()
	var all []sitrep.Entry
	err := f.store.EachEntry(f.ctx, id, func(e *sitrep.Entry) error {
		all = append(all, *e)
		return nil
	})
	if err != nil {
		f.t.Fatalf("read timeline of %s: %v", id, err)
	}
	return all
}

// replay rebuilds the incident's state from its stored timeline.
func (f *fixture) replay(id string) *sitrep.Incident {
	f.t.Helper()
	inc := &sitrep.Incident{}
	for _, e := range f.entries(id) {
		if err := sitrep.Apply(inc, &e); err != nil {
			f.t.Fatalf("replay %s: %v", id, err)
		}
	}
	return inc
}

func requireKind(t testing.TB, what string, err error, want sitrep.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want %s", what, want)
	}
	if got := sitrep.ErrorKind(err); got != want {
		t.Fatalf("%s: got error kind %s (%v), want %s", what, got, err, want)
	}
}

// requireUTC fails unless every time of e is in UTC: the hash covers the
// time's text, and Go's time equality ignores the zone, so a store must give
// back UTC for replays and comparisons to agree.
func requireUTC(t testing.TB, e *sitrep.Entry) {
	t.Helper()
	if e.At.Location() != time.UTC {
		t.Errorf("entry %d: at %v is in %v, want UTC", e.Seq, e.At, e.At.Location())
	}
}

// NoteEntry appends a note.added entry by actor at at to inc, built and
// applied with the domain's own chaining (Entry.ComputeHash and
// sitrep.Apply), and returns it. Tests and benchmarks use it to hand a store
// entries directly, without the Service.
func NoteEntry(inc *sitrep.Incident, actor string, at time.Time, text string) (sitrep.Entry, error) {
	return changeEntry(inc, actor, at, &sitrep.NoteAdded{Text: text})
}

func changeEntry(inc *sitrep.Incident, actor string, at time.Time, c sitrep.Change) (sitrep.Entry, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return sitrep.Entry{}, err
	}
	e := sitrep.Entry{
		IncidentID: inc.ID, Seq: inc.Seq + 1, At: at.UTC().Truncate(time.Microsecond),
		Actor: actor, Type: c.Type(), Data: data, PrevHash: inc.Head,
	}
	e.Hash = e.ComputeHash()
	if err := sitrep.Apply(inc, &e); err != nil {
		return sitrep.Entry{}, err
	}
	return e, nil
}

var errBoom = errors.New("boom")

func diff(want, got any) string { return cmp.Diff(want, got) }
