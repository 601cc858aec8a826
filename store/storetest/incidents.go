package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

func testDeclareNumbers(t *testing.T, h Harness) {
	f := newFixture(t, h)
	ann := f.user("ann")
	y2027 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Time // zero: wherever the clock is
		want string
	}{
		{want: "IR-2026-0001"},
		{want: "IR-2026-0002"},
		{at: y2027, want: "IR-2027-0001"},
		{want: "IR-2027-0002"},
		{at: start.Add(time.Hour), want: "IR-2026-0003"},
	}
	for i, s := range steps {
		if !s.at.IsZero() {
			f.clock.Set(s.at)
		}
		inc := f.declare(ann, fmt.Sprintf("incident %d", i+1))
		if inc.ID != s.want {
			t.Errorf("declaration %d got ID %s, want %s", i+1, inc.ID, s.want)
		}
	}
}

func testDeclareRoundTrip(t *testing.T, h Harness) {
	f := newFixture(t, h)
	ann := f.user("ann")
	cases := []sitrep.DeclareInput{
		{Title: "Ransomware on the file server", Kind: "malware", Severity: 1, Confidential: true},
		{Title: "Rehearsal: lost laptop", Kind: "data-breach", Severity: 4, Exercise: true},
		{Title: "Unicode ✓ \"quotes\" \\ and <tags> & \u2028 \t tab"},
	}
	for _, in := range cases {
		t.Run(in.Title, func(t *testing.T) {
			inc, entries, err := f.svc.Declare(f.ctx, ann, in)
			if err != nil {
				t.Fatalf("declare: %v", err)
			}
			got := f.incident(inc.ID)
			if d := diff(inc, got); d != "" {
				t.Errorf("incident (-declared +loaded):\n%s", d)
			}
			if got.DeclaredAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
				t.Errorf("times not in UTC: declared_at %v, updated_at %v", got.DeclaredAt.Location(), got.UpdatedAt.Location())
			}
			stored, err := f.store.Entries(f.ctx, inc.ID, 0, 100)
			if err != nil {
				t.Fatalf("entries: %v", err)
			}
			if d := diff(entries, stored); d != "" {
				t.Errorf("entries (-declared +loaded):\n%s", d)
			}
			for i := range stored {
				requireUTC(t, &stored[i])
				if h := stored[i].ComputeHash(); h != stored[i].Hash {
					t.Errorf("entry %d: loaded entry hashes to %s, stored hash is %s", stored[i].Seq, h, stored[i].Hash)
				}
			}
			f.requireVerified(inc.ID)
		})
	}
}

func testCreateIncidentBuildError(t *testing.T, h Harness) {
	f := newFixture(t, h)
	called := 0
	err := f.store.CreateIncident(f.ctx, 2026, func(number int) (*sitrep.Incident, []sitrep.Entry, error) {
		called++
		if number != 1 {
			t.Errorf("first number of 2026 is %d, want 1", number)
		}
		return nil, nil, errBoom
	})
	if err != errBoom {
		t.Fatalf("CreateIncident returned %v, want build's error as is", err)
	}
	if called != 1 {
		t.Fatalf("build called %d times, want 1", called)
	}
	list, err := f.store.Incidents(f.ctx, sitrep.IncidentFilter{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("a failed build stored %d incidents", len(list))
	}
	// The failed transaction did not use up a number.
	if inc := f.declare(f.user("ann"), "after a failed build"); inc.ID != "IR-2026-0001" {
		t.Errorf("declared %s after a failed build, want IR-2026-0001", inc.ID)
	}

	t.Run("entries that do not start the timeline", func(t *testing.T) {
		var id string
		err := f.store.CreateIncident(f.ctx, 2026, func(number int) (*sitrep.Incident, []sitrep.Entry, error) {
			id = sitrep.FormatID(2026, number)
			inc := &sitrep.Incident{ID: id}
			decl, err := changeEntry(inc, "ann", start, &sitrep.Declared{Title: "t", Kind: "unknown", Severity: 3})
			if err != nil {
				return nil, nil, err
			}
			decl.Seq = 2 // not the first entry
			decl.Hash = decl.ComputeHash()
			inc.Seq, inc.Head = 2, decl.Hash
			return inc, []sitrep.Entry{decl}, nil
		})
		if err == nil {
			t.Fatalf("CreateIncident stored a timeline starting at entry 2")
		}
		if _, err := f.store.Incident(f.ctx, id); sitrep.ErrorKind(err) != sitrep.ENotFound {
			t.Errorf("the refused incident %s was stored (err %v)", id, err)
		}
	})
}

func testMissing(t *testing.T, h Harness) {
	f := newFixture(t, h)
	const id = "IR-2026-0404"
	f.declare(f.user("ann"), "an incident that exists")
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"Incident", func() error { _, err := f.store.Incident(f.ctx, id); return err }},
		{"Entries", func() error { _, err := f.store.Entries(f.ctx, id, 0, 10); return err }},
		{"EachEntry", func() error {
			return f.store.EachEntry(f.ctx, id, func(*sitrep.Entry) error { return nil })
		}},
		{"UpdateIncident", func() error {
			return f.store.UpdateIncident(f.ctx, id, func(*sitrep.Incident) ([]sitrep.Entry, error) {
				t.Errorf("fn called for a missing incident")
				return nil, nil
			})
		}},
		{"Service.Do", func() error {
			_, _, err := f.svc.Do(f.ctx, f.admin, id, sitrep.CheckIn{})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			requireKind(t, tc.name, err, sitrep.ENotFound)
			if e := sitrep.AsError(err); e.Message == "" {
				t.Errorf("%s: not-found error has no message", tc.name)
			}
		})
	}
}

// testFullFlow runs an incident from declaration to close through the
// Service, with every kind of change the product makes, and checks that the
// stored record verifies and replays to the stored state.
func testFullFlow(t *testing.T, h Harness) {
	f := newFixture(t, h)
	ann, bob, cat, dan := f.user("ann"), f.user("bob"), f.user("cat"), f.user("dan")
	inc := f.declare(ann, "Malware on the build farm")
	id := inc.ID

	f.do(bob, id, sitrep.CheckIn{})
	f.do(cat, id, sitrep.CheckIn{})
	f.do(dan, id, sitrep.CheckIn{})
	f.do(ann, id, sitrep.Assign{Role: sitrep.RoleOperations, User: "bob"})
	f.do(ann, id, sitrep.Assign{Role: sitrep.RoleInformation, User: "cat"})
	f.do(bob, id, sitrep.AddTask{Section: sitrep.RoleOperations, Title: "Isolate build-07", Assignee: "dan"})
	f.do(ann, id, sitrep.AddTask{Section: sitrep.RolePlanning, Title: "Keep the timeline"})
	f.do(dan, id, sitrep.SetTaskStatus{ID: 1, Status: sitrep.TaskDone})
	f.do(dan, id, sitrep.AddNote{Text: "build-07 is off the network"})
	f.do(cat, id, sitrep.Publish{Audience: "internal", Text: "Builds are paused while we clean up."})
	f.do(bob, id, sitrep.LinkAsset{Kind: "host", Name: "build-07"})
	kind := "malware"
	f.do(ann, id, sitrep.Edit{Kind: &kind, Reason: "confirmed by the AV vendor"})

	// Freelancing is refused, and the refusal is itself on the record.
	if _, _, err := f.svc.Do(f.ctx, dan, id, sitrep.Assign{Role: sitrep.RoleSafety, User: "cat"}); sitrep.ErrorKind(err) != sitrep.EForbidden {
		t.Fatalf("dan assigning a role: got %v, want a refusal", err)
	}

	f.do(ann, id, sitrep.OfferCommand{To: "bob", Briefing: "Build-07 isolated; scanning the rest."})
	f.do(bob, id, sitrep.AcceptCommand{})
	for _, u := range []*sitrep.User{ann, cat, dan} {
		f.do(u, id, sitrep.Acknowledge{})
	}
	f.do(bob, id, sitrep.CheckOut{User: "dan"})
	f.do(bob, id, sitrep.SetTaskStatus{ID: 2, Status: sitrep.TaskCancelled, Reason: "the record keeps itself"})
	for _, p := range []sitrep.Phase{sitrep.PhaseContainment, sitrep.PhaseEradication, sitrep.PhaseRecovery, sitrep.PhasePostMortem} {
		f.do(bob, id, sitrep.ChangePhase{Phase: p, Reason: "moving on to " + string(p)})
	}
	narrative, worked, improve := "A dropper came in through a build dependency.", "Isolation within minutes.", "Pin dependencies."
	f.do(bob, id, sitrep.EditReport{Narrative: &narrative, WhatWorked: &worked, NeedsImprovement: &improve,
		FollowUps: &[]sitrep.FollowUp{{Action: "Pin every build dependency", Owner: "cat"}}})
	final := f.do(bob, id, sitrep.ChangePhase{Phase: sitrep.PhaseClosed, Reason: "report complete"})

	stored := f.incident(id)
	if d := diff(final, stored); d != "" {
		t.Errorf("stored state differs from the state Do returned (-returned +stored):\n%s", d)
	}
	if d := diff(f.replay(id), stored); d != "" {
		t.Errorf("stored state differs from the replayed timeline (-replayed +stored):\n%s", d)
	}
	v := f.verify(id)
	if !v.OK {
		t.Fatalf("verify: entry %d: %s", v.BrokenSeq, v.Problem)
	}
	if v.Entries != stored.Seq || v.Head != stored.Head {
		t.Errorf("verify saw %d entries ending %s, the incident records %d ending %s", v.Entries, v.Head, stored.Seq, stored.Head)
	}

	entries := f.entries(id)
	types := map[string]int{}
	for i := range entries {
		types[entries[i].Type]++
		requireUTC(t, &entries[i])
	}
	for _, typ := range []string{"incident.declared", "resource.checked_in", "role.assigned", "task.created",
		"task.status_changed", "note.added", "communication.published", "asset.linked", "incident.edited",
		"rule.refused", "command.offered", "command.transferred", "command.acknowledged", "resource.checked_out",
		"phase.changed", "report.edited"} {
		if types[typ] == 0 {
			t.Errorf("the timeline has no %s entry", typ)
		}
	}
	if stored.Phase != sitrep.PhaseClosed || stored.Command != "bob" || stored.ClosedAt == nil {
		t.Errorf("final state: phase %s, command %s, closed_at %v; want closed, bob, set", stored.Phase, stored.Command, stored.ClosedAt)
	}
}

func testTamper(t *testing.T, h Harness) {
	f := newFixture(t, h)
	ann := f.user("ann")
	inc := f.declare(ann, "Evidence")
	f.notes(ann, inc.ID, 9)
	other := f.declare(ann, "Untouched")
	f.notes(ann, other.ID, 3)
	f.requireVerified(inc.ID)

	h.Tamper(t, f.store, inc.ID, 5)

	v := f.verify(inc.ID)
	if v.OK || v.BrokenSeq != 5 {
		t.Errorf("verify after tampering with entry 5: OK=%v, broken entry %d (%s); want not OK at entry 5", v.OK, v.BrokenSeq, v.Problem)
	}
	f.requireVerified(other.ID)
}

// testConcurrency appends notes to one incident from many goroutines at once,
// and to other incidents beside them: updates of one incident must
// serialise, so every note is on the timeline once, with no gap in the
// sequence and an unbroken chain.
func testConcurrency(t *testing.T, h Harness) {
	const (
		writers   = 12
		perWriter = 10
		others    = 3
		perOther  = 8
	)
	f := newFixture(t, h)
	var people []*sitrep.User
	for i := range writers {
		people = append(people, f.user(fmt.Sprintf("responder-%02d", i)))
	}
	inc := f.declare(people[0], "Everyone at once")
	for _, u := range people[1:] {
		f.do(u, inc.ID, sitrep.CheckIn{})
	}
	var otherIDs []string
	for i := range others {
		otherIDs = append(otherIDs, f.declare(people[i], fmt.Sprintf("Beside it %d", i)).ID)
	}
	before := f.incident(inc.ID).Seq

	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter+others*perOther)
	for w, u := range people {
		wg.Go(func() {
			for i := range perWriter {
				text := fmt.Sprintf("writer %d note %d", w, i)
				if _, _, err := f.svc.Do(f.ctx, u, inc.ID, sitrep.AddNote{Text: text}); err != nil {
					errs <- fmt.Errorf("%s: %w", text, err)
				}
			}
		})
	}
	for o, id := range otherIDs {
		wg.Go(func() {
			for i := range perOther {
				if _, _, err := f.svc.Do(f.ctx, people[o], id, sitrep.AddNote{Text: fmt.Sprintf("other %d", i)}); err != nil {
					errs <- fmt.Errorf("%s note %d: %w", id, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	entries := f.entries(inc.ID)
	want := int(before) + writers*perWriter
	if len(entries) != want {
		t.Errorf("the timeline has %d entries, want %d", len(entries), want)
	}
	seen := map[string]int{}
	for i, e := range entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d: the sequence has a gap or a repeat", i+1, e.Seq)
		}
		if e.Type == "note.added" {
			c, err := sitrep.DecodeChange(&e)
			if err != nil {
				t.Fatalf("decode entry %d: %v", e.Seq, err)
			}
			seen[c.(*sitrep.NoteAdded).Text]++
		}
	}
	for w := range writers {
		for i := range perWriter {
			text := fmt.Sprintf("writer %d note %d", w, i)
			if seen[text] != 1 {
				t.Errorf("%q is on the timeline %d times, want once", text, seen[text])
			}
		}
	}
	f.requireVerified(inc.ID)
	for _, id := range otherIDs {
		if got := len(f.entries(id)); got != 1+perOther {
			t.Errorf("%s has %d entries, want %d", id, got, 1+perOther)
		}
		f.requireVerified(id)
	}
}

func testUpdateFailingFn(t *testing.T, h Harness) {
	f := newFixture(t, h)
	ann := f.user("ann")
	inc := f.declare(ann, "Unchanged")
	f.notes(ann, inc.ID, 2)
	before := f.incident(inc.ID)

	err := f.store.UpdateIncident(f.ctx, inc.ID, func(cur *sitrep.Incident) ([]sitrep.Entry, error) {
		e, err := NoteEntry(cur, "ann", start.Add(time.Hour), "never stored")
		if err != nil {
			t.Fatalf("build note: %v", err)
		}
		cur.Title = "changed by a failing fn"
		_ = e
		return []sitrep.Entry{e}, errBoom
	})
	if err != errBoom {
		t.Fatalf("UpdateIncident returned %v, want fn's error as is", err)
	}
	if d := diff(before, f.incident(inc.ID)); d != "" {
		t.Errorf("a failing fn changed the incident (-before +after):\n%s", d)
	}
	if n := len(f.entries(inc.ID)); n != int(before.Seq) {
		t.Errorf("a failing fn left %d entries, want %d", n, before.Seq)
	}

	// A refusal by an ICS rule stores the refusal, not the change.
	if _, _, err := f.svc.Do(f.ctx, f.user("bob"), inc.ID, sitrep.AddNote{Text: "not checked in"}); sitrep.ErrorKind(err) != sitrep.EForbidden {
		t.Fatalf("note by someone not checked in: got %v, want a refusal", err)
	}
	entries := f.entries(inc.ID)
	if last := entries[len(entries)-1]; last.Type != "rule.refused" {
		t.Errorf("last entry after a refusal is %s, want rule.refused", last.Type)
	}
	f.requireVerified(inc.ID)
}

// testUpdateRejectsBadEntries hands the store entries that do not continue
// the stored timeline: it must refuse them and store nothing.
func testUpdateRejectsBadEntries(t *testing.T, h Harness) {
	f := newFixture(t, h)
	ann := f.user("ann")
	inc := f.declare(ann, "Guarded")
	f.notes(ann, inc.ID, 2)
	before := f.incident(inc.ID)

	for _, tc := range []struct {
		name  string
		spoil func(cur *sitrep.Incident, e *sitrep.Entry)
	}{
		{"seq skips one", func(cur *sitrep.Incident, e *sitrep.Entry) {
			e.Seq++
			e.Hash = e.ComputeHash()
			cur.Seq, cur.Head = e.Seq, e.Hash
		}},
		{"seq repeats the last", func(cur *sitrep.Incident, e *sitrep.Entry) {
			e.Seq--
			e.Hash = e.ComputeHash()
			cur.Seq, cur.Head = e.Seq, e.Hash
		}},
		{"prev_hash is not the head", func(cur *sitrep.Incident, e *sitrep.Entry) {
			e.PrevHash = sitrep.HashToken("elsewhere")
			e.Hash = e.ComputeHash()
			cur.Head = e.Hash
		}},
		{"hash does not match the content", func(cur *sitrep.Incident, e *sitrep.Entry) {
			e.Data = []byte(`{"text":"swapped after hashing"}`)
		}},
		{"another incident's entry", func(cur *sitrep.Incident, e *sitrep.Entry) {
			e.IncidentID = "IR-2026-0999"
			e.Hash = e.ComputeHash()
			cur.Head = e.Hash
		}},
		{"state behind the entries", func(cur *sitrep.Incident, e *sitrep.Entry) {
			cur.Seq--
		}},
		{"state the database refuses", func(cur *sitrep.Incident, e *sitrep.Entry) {
			cur.Severity = 99 // past the schema's check: the write itself fails
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.store.UpdateIncident(f.ctx, inc.ID, func(cur *sitrep.Incident) ([]sitrep.Entry, error) {
				e, err := NoteEntry(cur, "ann", start.Add(time.Hour), "spoiled")
				if err != nil {
					t.Fatalf("build note: %v", err)
				}
				tc.spoil(cur, &e)
				return []sitrep.Entry{e}, nil
			})
			if err == nil {
				t.Fatalf("UpdateIncident stored an entry whose %s", tc.name)
			}
			if d := diff(before, f.incident(inc.ID)); d != "" {
				t.Errorf("a refused update changed the incident (-before +after):\n%s", d)
			}
			if n := len(f.entries(inc.ID)); n != int(before.Seq) {
				t.Errorf("a refused update left %d entries, want %d", n, before.Seq)
			}
		})
	}
	f.requireVerified(inc.ID)

	t.Run("good entries in one batch", func(t *testing.T) {
		err := f.store.UpdateIncident(f.ctx, inc.ID, func(cur *sitrep.Incident) ([]sitrep.Entry, error) {
			var batch []sitrep.Entry
			for i := range 3 {
				e, err := NoteEntry(cur, "ann", start.Add(time.Hour), fmt.Sprintf("batch %d", i))
				if err != nil {
					return nil, err
				}
				batch = append(batch, e)
			}
			return batch, nil
		})
		if err != nil {
			t.Fatalf("append a batch of 3: %v", err)
		}
		if got := f.incident(inc.ID).Seq; got != before.Seq+3 {
			t.Errorf("seq after a batch of 3 is %d, want %d", got, before.Seq+3)
		}
		f.requireVerified(inc.ID)
	})
}

func testUpdateWithoutEntries(t *testing.T, h Harness) {
	f := newFixture(t, h)
	inc := f.declare(f.user("ann"), "Nothing to add")
	before := f.incident(inc.ID)
	err := f.store.UpdateIncident(f.ctx, inc.ID, func(*sitrep.Incident) ([]sitrep.Entry, error) { return nil, nil })
	if err != nil {
		t.Fatalf("UpdateIncident with no entries: %v", err)
	}
	if d := diff(before, f.incident(inc.ID)); d != "" {
		t.Errorf("an update with no entries changed the incident (-before +after):\n%s", d)
	}
	f.requireVerified(inc.ID)
}

func ids(list []*sitrep.Incident) []string {
	out := []string{}
	for _, inc := range list {
		out = append(out, inc.ID)
	}
	return out
}

func testListing(t *testing.T, h Harness) {
	f := newFixture(t, h)
	ann := f.user("ann")
	var declared []string
	for i := range 4 {
		declared = append(declared, f.declare(ann, fmt.Sprintf("incident %d", i+1)).ID)
	}
	// Two declared in the same microsecond: the later number is the later one.
	f.clock.SetStep(0)
	declared = append(declared, f.declare(ann, "same moment a").ID, f.declare(ann, "same moment b").ID)
	f.clock.SetStep(time.Millisecond)
	// Notes on an old incident do not move it up: the order is by declaration.
	f.notes(ann, declared[0], 2)
	f.closeIncident(declared[1])

	newestFirst := make([]string, len(declared))
	for i, id := range declared {
		newestFirst[len(declared)-1-i] = id
	}
	var open []string
	for _, id := range newestFirst {
		if id != declared[1] {
			open = append(open, id)
		}
	}
	for _, tc := range []struct {
		name   string
		filter sitrep.IncidentFilter
		want   []string
	}{
		{"all", sitrep.IncidentFilter{}, newestFirst},
		{"open", sitrep.IncidentFilter{Open: true}, open},
		{"limit", sitrep.IncidentFilter{Limit: 2}, newestFirst[:2]},
		{"open with limit", sitrep.IncidentFilter{Open: true, Limit: 5}, open[:5]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, err := f.store.Incidents(f.ctx, tc.filter)
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if d := diff(tc.want, ids(list)); d != "" {
				t.Errorf("incidents (-want +got):\n%s", d)
			}
			for _, inc := range list {
				if d := diff(f.incident(inc.ID), inc); d != "" {
					t.Errorf("%s as listed differs from as loaded (-loaded +listed):\n%s", inc.ID, d)
				}
			}
		})
	}
}

// closeIncident closes id at the store level with a phase change built by
// the domain's own Apply: the full way through the Service is in FullFlow.
func (f *fixture) closeIncident(id string) {
	f.t.Helper()
	err := f.store.UpdateIncident(f.ctx, id, func(inc *sitrep.Incident) ([]sitrep.Entry, error) {
		e, err := changeEntry(inc, inc.Command, f.clock.Now(), &sitrep.PhaseChanged{From: inc.Phase, To: sitrep.PhaseClosed, Reason: "listing test"})
		return []sitrep.Entry{e}, err
	})
	if err != nil {
		f.t.Fatalf("close %s: %v", id, err)
	}
}

func testListingDefaultLimit(t *testing.T, h Harness) {
	if testing.Short() {
		t.Skip("declares 501 incidents")
	}
	f := newFixture(t, h)
	ann := f.user("ann")
	var first string
	for i := range 501 {
		id := f.declare(ann, fmt.Sprintf("incident %d", i+1)).ID
		if i == 0 {
			first = id
		}
	}
	list, err := f.store.Incidents(f.ctx, sitrep.IncidentFilter{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list) != 500 {
		t.Fatalf("listed %d incidents, want the default limit of 500", len(list))
	}
	if got := list[0].ID; got != "IR-2026-0501" {
		t.Errorf("first listed is %s, want the newest, IR-2026-0501", got)
	}
	for _, inc := range list {
		if inc.ID == first {
			t.Errorf("the oldest incident %s is listed: the limit cut the wrong end", first)
		}
	}
}

func testEntriesPaging(t *testing.T, h Harness) {
	f := newFixture(t, h)
	ann := f.user("ann")
	inc := f.declare(ann, "Paged")
	f.notes(ann, inc.ID, 20) // 21 entries
	for _, tc := range []struct {
		after     int64
		limit     int
		wantFirst int64
		wantN     int
	}{
		{0, 5, 1, 5},
		{5, 5, 6, 5},
		{18, 5, 19, 3},
		{20, 5, 21, 1},
		{21, 5, 0, 0},
		{100, 5, 0, 0},
		{0, 1000, 1, 21},
		{10, 0, 11, 11}, // a limit of 0 is the store's default, not nothing
	} {
		t.Run(fmt.Sprintf("after %d limit %d", tc.after, tc.limit), func(t *testing.T) {
			got, err := f.store.Entries(f.ctx, inc.ID, tc.after, tc.limit)
			if err != nil {
				t.Fatalf("entries: %v", err)
			}
			if got == nil {
				t.Errorf("entries is nil, want an empty list")
			}
			if len(got) != tc.wantN {
				t.Fatalf("got %d entries, want %d", len(got), tc.wantN)
			}
			for i := range got {
				if want := tc.wantFirst + int64(i); got[i].Seq != want {
					t.Errorf("entry %d has seq %d, want %d", i, got[i].Seq, want)
				}
				requireUTC(t, &got[i])
			}
		})
	}
}

func testEachEntry(t *testing.T, h Harness) {
	f := newFixture(t, h)
	ann := f.user("ann")
	inc := f.declare(ann, "Streamed")
	f.notes(ann, inc.ID, 11) // 12 entries
	all, err := f.store.Entries(f.ctx, inc.ID, 0, 100)
	if err != nil {
		t.Fatalf("entries: %v", err)
	}

	t.Run("order", func(t *testing.T) {
		if d := diff(all, f.entries(inc.ID)); d != "" {
			t.Errorf("EachEntry differs from Entries (-Entries +EachEntry):\n%s", d)
		}
	})

	t.Run("early stop", func(t *testing.T) {
		errStop := errors.New("stop here")
		var seen []int64
		err := f.store.EachEntry(f.ctx, inc.ID, func(e *sitrep.Entry) error {
			seen = append(seen, e.Seq)
			if e.Seq == 7 {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("EachEntry returned %v, want fn's error", err)
		}
		if d := diff([]int64{1, 2, 3, 4, 5, 6, 7}, seen); d != "" {
			t.Errorf("entries seen (-want +got):\n%s", d)
		}
	})

}

// testCancelledContext abandons updates, before they start and while fn
// runs (as when a client goes away): each reports an error and stores
// nothing, and the store serves the next request.
func testCancelledContext(t *testing.T, h Harness) {
	f := newFixture(t, h)
	ann := f.user("ann")
	inc := f.declare(ann, "Abandoned requests")
	before := f.incident(inc.ID)

	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		err := f.store.UpdateIncident(ctx, inc.ID, func(cur *sitrep.Incident) ([]sitrep.Entry, error) {
			e, err := NoteEntry(cur, "ann", start.Add(time.Hour), "never stored")
			return []sitrep.Entry{e}, err
		})
		if err == nil {
			t.Errorf("UpdateIncident with a cancelled context succeeded")
		}
		err = f.store.CreateIncident(ctx, 2026, func(int) (*sitrep.Incident, []sitrep.Entry, error) {
			return nil, nil, errBoom
		})
		if err == nil {
			t.Errorf("CreateIncident with a cancelled context succeeded")
		}
	})

	t.Run("during fn", func(t *testing.T) {
		ctx, cancel := context.WithCancel(f.ctx)
		defer cancel()
		err := f.store.UpdateIncident(ctx, inc.ID, func(cur *sitrep.Incident) ([]sitrep.Entry, error) {
			e, err := NoteEntry(cur, "ann", start.Add(time.Hour), "never stored")
			cancel()
			return []sitrep.Entry{e}, err
		})
		if err == nil {
			t.Errorf("UpdateIncident whose context was cancelled during fn succeeded")
		}
	})

	if d := diff(before, f.incident(inc.ID)); d != "" {
		t.Errorf("abandoned updates changed the incident (-before +after):\n%s", d)
	}
	if n := len(f.entries(inc.ID)); n != int(before.Seq) {
		t.Errorf("abandoned updates left %d entries, want %d", n, before.Seq)
	}
	f.do(ann, inc.ID, sitrep.AddNote{Text: "the store still works"})
	f.requireVerified(inc.ID)
}

func testPing(t *testing.T, h Harness) {
	s := h.New(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("ping a new store: %v", err)
	}
}

// testVerifyWhileWriting verifies an incident again and again while notes
// are appended to it: entries appended after the state was read are not a
// break in the record.
func testVerifyWhileWriting(t *testing.T, h Harness) {
	f := newFixture(t, h)
	inc := f.declare(f.admin, "Verified while written")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 150 {
			if _, _, err := f.svc.Do(f.ctx, f.admin, inc.ID, sitrep.AddNote{Text: fmt.Sprintf("note %d", i)}); err != nil {
				t.Errorf("note %d: %v", i, err)
				return
			}
		}
	}()
	for verified := 0; ; verified++ {
		select {
		case <-done:
			f.requireVerified(inc.ID)
			return
		default:
		}
		v, err := f.svc.Verify(f.ctx, f.admin, inc.ID)
		if err != nil {
			t.Fatalf("verify %d: %v", verified, err)
		}
		if !v.OK {
			t.Fatalf("verify %d while notes are added: entry %d: %s", verified, v.BrokenSeq, v.Problem)
		}
	}
}
