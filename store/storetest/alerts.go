package storetest

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// runAlerts runs the checks of sitrep.AlertStore.
func runAlerts(t *testing.T, h Harness) {
	t.Run("Sources", func(t *testing.T) { testSources(t, h) })
	t.Run("Dedup", func(t *testing.T) { testAlertDedup(t, h) })
	t.Run("BatchOrder", func(t *testing.T) { testAlertBatchOrder(t, h) })
	t.Run("AlertRoundTrip", func(t *testing.T) { testAlertRoundTrip(t, h) })
	t.Run("IngestRefusesBadEvents", func(t *testing.T) { testIngestRefuses(t, h) })
	t.Run("Samples", func(t *testing.T) { testAlertSamples(t, h) })
	t.Run("Storm", func(t *testing.T) { testAlertStorm(t, h) })
	t.Run("Severity", func(t *testing.T) { testAlertSeverity(t, h) })
	t.Run("TriageDesk", func(t *testing.T) { testTriageDesk(t, h) })
	t.Run("TriageService", func(t *testing.T) { testTriageService(t, h) })
	t.Run("ConcurrentIngest", func(t *testing.T) { testConcurrentIngest(t, h) })
	t.Run("TriageRace", func(t *testing.T) { testTriageRace(t, h) })
	t.Run("TriageMany", func(t *testing.T) { testTriageMany(t, h) })
	t.Run("DispatchAccount", func(t *testing.T) { testDispatchAccount(t, h) })
	t.Run("ManyAlertsOnIncident", func(t *testing.T) { testManyAlertsOnIncident(t, h) })
	t.Run("GroupFilter", func(t *testing.T) { testGroupFilter(t, h) })
	t.Run("AlertsOnIncident", func(t *testing.T) { testAlertsOnIncident(t, h) })
	t.Run("GroupDeclaredOnce", func(t *testing.T) { testGroupDeclaredOnce(t, h) })
	t.Run("Stranded", func(t *testing.T) { testStranded(t, h) })
}

// testTriageRace takes each alert off the desk from several goroutines at
// once: exactly one declaration (or attachment) wins, the others are told
// it is taken, and no incident is left without its alert.
func testTriageRace(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	people := []*sitrep.User{f.user("ann"), f.user("bob"), f.user("cy"), f.user("dee")}
	target := f.declare(people[0], "Attach target")
	before := len(f.mustIncidents())
	for round := range 5 {
		id := f.ingest("edr", trigger(fmt.Sprintf("race-%d", round)))[0].AlertID
		var wg sync.WaitGroup
		errs := make([]error, len(people))
		for i, u := range people {
			wg.Go(func() {
				if i%2 == 0 {
					_, _, errs[i] = f.svc.DeclareFromAlert(f.ctx, u, id, sitrep.DeclareInput{})
				} else {
					_, _, errs[i] = f.svc.AttachAlertTo(f.ctx, u, id, target.ID)
				}
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case sitrep.ErrorKind(err) != sitrep.EConflict:
				t.Errorf("round %d, %s: %v, want success or a conflict", round, people[i].Name, err)
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d of %d took the alert, want exactly 1", round, won, len(people))
		}
		if al := f.alert(id); al.Triage == sitrep.TriagePending || al.IncidentID == "" {
			t.Errorf("round %d: alert left %s on %q", round, al.Triage, al.IncidentID)
		}
	}
	declared := len(f.mustIncidents()) - before
	attached := len(f.incident(target.ID).Alerts)
	if declared+attached != 5 {
		t.Errorf("%d incidents declared and %d alerts attached for 5 alerts", declared, attached)
	}
}

func (f *alertFixture) mustIncidents() []*sitrep.Incident {
	f.t.Helper()
	list, err := f.store.Incidents(f.ctx, sitrep.IncidentFilter{Limit: 10000})
	if err != nil {
		f.t.Fatalf("list incidents: %v", err)
	}
	return list
}

// testDispatchAccount: the dispatch system account is made once, declares
// from an alert as Command, and hands command to the first responder who
// takes it; nobody can make a user or a token by its name.
func testDispatchAccount(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := f.svc.Dispatcher(f.ctx); err != nil {
				t.Errorf("dispatcher: %v", err)
			}
		})
	}
	wg.Wait()
	d, err := f.svc.Dispatcher(f.ctx)
	if err != nil || d.Name != sitrep.DispatchUser || d.IsAdmin() {
		t.Fatalf("dispatcher: %+v, %v", d, err)
	}
	id := f.ingest("edr", trigger("worm"))[0].AlertID
	inc, _, err := f.svc.DeclareFromAlert(f.ctx, d, id, sitrep.DeclareInput{Kind: "malware", GroupKey: "worm:fleet", Rule: "worm"})
	if err != nil {
		t.Fatalf("dispatch declares: %v", err)
	}
	if inc.Command != sitrep.DispatchUser || inc.GroupKey != "worm:fleet" || inc.Rule != "worm" {
		t.Errorf("declared by dispatch: command %s, group key %q, rule %q", inc.Command, inc.GroupKey, inc.Rule)
	}
	ann := f.user("ann")
	f.do(ann, inc.ID, sitrep.CheckIn{})
	if got := f.do(ann, inc.ID, sitrep.AcceptCommand{}); got.Command != "ann" {
		t.Errorf("after ann took command: %s", got.Command)
	}
	f.requireVerified(inc.ID)
	_, err = f.svc.CreateUser(f.ctx, f.admin, sitrep.User{Name: sitrep.DispatchUser})
	requireKind(t, "a user named dispatch", err, sitrep.EInvalid)
	_, _, err = f.svc.CreateToken(f.ctx, f.admin, sitrep.DispatchUser, "")
	requireKind(t, "a token for dispatch", err, sitrep.EForbidden)
}

// alertFixture is a fixture whose store keeps alerts.
type alertFixture struct {
	*fixture
	as sitrep.AlertStore
}

func newAlertFixture(t testing.TB, h Harness) *alertFixture {
	t.Helper()
	f := newFixture(t, h)
	as, ok := f.store.(sitrep.AlertStore)
	if !ok {
		t.Fatalf("%T does not implement sitrep.AlertStore", f.store)
	}
	return &alertFixture{fixture: f, as: as}
}

// trigger, ack and resolve make events of key.
func trigger(key string) sitrep.AlertEvent {
	return sitrep.AlertEvent{Action: sitrep.ActionTrigger, DedupKey: key, Summary: "alert " + key}
}
func ack(key string) sitrep.AlertEvent {
	return sitrep.AlertEvent{Action: sitrep.ActionAcknowledge, DedupKey: key}
}
func resolve(key string) sitrep.AlertEvent {
	return sitrep.AlertEvent{Action: sitrep.ActionResolve, DedupKey: key}
}

// batch makes a batch of events from source, each received at the next
// moment of the fixture's clock.
func (f *alertFixture) batch(source string, events ...sitrep.AlertEvent) []sitrep.Ingest {
	b := make([]sitrep.Ingest, len(events))
	for i, ev := range events {
		b[i] = sitrep.Ingest{Source: source, Event: ev, ReceivedAt: f.clock.Now()}
	}
	return b
}

// ingest stores events from source in one batch and returns the results.
func (f *alertFixture) ingest(source string, events ...sitrep.AlertEvent) []sitrep.IngestResult {
	f.t.Helper()
	res, err := f.as.IngestAlerts(f.ctx, f.batch(source, events...))
	if err != nil {
		f.t.Fatalf("ingest %d events from %s: %v", len(events), source, err)
	}
	if len(res) != len(events) {
		f.t.Fatalf("ingest %d events: got %d results", len(events), len(res))
	}
	return res
}

func (f *alertFixture) alert(id int64) *sitrep.Alert {
	f.t.Helper()
	al, err := f.as.Alert(f.ctx, id)
	if err != nil {
		f.t.Fatalf("load alert %d: %v", id, err)
	}
	return al
}

func (f *alertFixture) alerts(filter sitrep.AlertFilter) []*sitrep.Alert {
	f.t.Helper()
	list, err := f.as.Alerts(f.ctx, filter)
	if err != nil {
		f.t.Fatalf("list alerts %+v: %v", filter, err)
	}
	return list
}

func alertIDs(list []*sitrep.Alert) []int64 {
	ids := []int64{}
	for _, al := range list {
		ids = append(ids, al.ID)
	}
	return ids
}

func testSources(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	at := start.UTC().Truncate(time.Microsecond)
	edr := &sitrep.Source{Name: "edr", Kind: "generic", KeyHash: sitrep.HashToken("k1"), CreatedAt: at, CreatedBy: "admin"}
	mail := &sitrep.Source{Name: "abuse-mail", Kind: "email", KeyHash: sitrep.HashToken("k2"), Allow: []string{"10.0.0.0/8", "192.0.2.7/32"}, CreatedAt: at.Add(time.Second), CreatedBy: "ann"}
	for _, src := range []*sitrep.Source{edr, mail} {
		if err := f.as.CreateSource(f.ctx, src); err != nil {
			t.Fatalf("create source %s: %v", src.Name, err)
		}
	}
	again := *edr
	again.KeyHash = sitrep.HashToken("k3")
	requireKind(t, "create a source with a taken name", f.as.CreateSource(f.ctx, &again), sitrep.EConflict)

	list, err := f.as.Sources(f.ctx)
	if err != nil {
		t.Fatalf("list sources: %v", err)
	}
	if d := diff([]*sitrep.Source{mail, edr}, list); d != "" {
		t.Errorf("sources (-want +got):\n%s", d)
	}
	got, err := f.as.SourceByKey(f.ctx, sitrep.HashToken("k2"))
	if err != nil {
		t.Fatalf("source by key: %v", err)
	}
	if d := diff(mail, got); d != "" {
		t.Errorf("source by key (-want +got):\n%s", d)
	}
	_, err = f.as.SourceByKey(f.ctx, sitrep.HashToken("nobody's"))
	requireKind(t, "source by an unknown key", err, sitrep.ENotFound)

	// Deleting a source keeps its alerts.
	id := f.ingest("edr", trigger("disk-full"))[0].AlertID
	if err := f.as.DeleteSource(f.ctx, "edr"); err != nil {
		t.Fatalf("delete source: %v", err)
	}
	requireKind(t, "delete a deleted source", f.as.DeleteSource(f.ctx, "edr"), sitrep.ENotFound)
	_, err = f.as.SourceByKey(f.ctx, sitrep.HashToken("k1"))
	requireKind(t, "source by a deleted source's key", err, sitrep.ENotFound)
	if al := f.alert(id); al.Source != "edr" {
		t.Errorf("the alert of a deleted source has source %q", al.Source)
	}
	// The name is free again.
	if err := f.as.CreateSource(f.ctx, &again); err != nil {
		t.Errorf("create a source with a deleted source's name: %v", err)
	}
}

func testAlertDedup(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	first := f.ingest("edr", trigger("a"))[0]
	if !first.New || first.AlertID == 0 || first.Ignored {
		t.Fatalf("first trigger: %+v, want a new alert", first)
	}
	again := f.ingest("edr", trigger("a"))[0]
	if d := diff(sitrep.IngestResult{AlertID: first.AlertID}, again); d != "" {
		t.Errorf("second trigger of the key (-want +got):\n%s", d)
	}
	other := f.ingest("edr", trigger("b"))[0]
	if !other.New || other.AlertID == first.AlertID {
		t.Errorf("trigger of another key: %+v, want a new alert", other)
	}
	// A key is a key of its source.
	elsewhere := f.ingest("siem", trigger("a"))[0]
	if !elsewhere.New || elsewhere.AlertID == first.AlertID {
		t.Errorf("trigger of the key from another source: %+v, want a new alert", elsewhere)
	}
	if c := f.alert(first.AlertID).Count; c != 2 {
		t.Errorf("count after two triggers: %d, want 2", c)
	}
	if n := len(f.alerts(sitrep.AlertFilter{})); n != 3 {
		t.Errorf("%d alerts, want 3", n)
	}
}

// testAlertBatchOrder checks that the events of one batch take effect in
// batch order, though triggers of a key are collapsed into one write.
func testAlertBatchOrder(t *testing.T, h Harness) {
	type want struct {
		result int // the index of the event whose alert this is
		status string
		count  int64
	}
	for _, tc := range []struct {
		name   string
		events []sitrep.AlertEvent
		// results gives, per event, the index of the event that opened
		// its alert, -1 for an ignored event.
		results []int
		// news lists the events that opened an alert.
		news   []int
		alerts []want
	}{
		{
			name:    "trigger, resolve, trigger opens a second alert",
			events:  []sitrep.AlertEvent{trigger("a"), trigger("a"), resolve("a"), trigger("a")},
			results: []int{0, 0, 0, 3},
			news:    []int{0, 3},
			alerts:  []want{{0, sitrep.AlertResolved, 2}, {3, sitrep.AlertFiring, 1}},
		},
		{
			name:    "acknowledge keeps the alert open",
			events:  []sitrep.AlertEvent{trigger("a"), ack("a"), trigger("a"), trigger("a")},
			results: []int{0, 0, 0, 0},
			news:    []int{0},
			alerts:  []want{{0, sitrep.AlertAcknowledged, 3}},
		},
		{
			name:    "resolve and acknowledge with no open alert are ignored",
			events:  []sitrep.AlertEvent{resolve("a"), ack("b"), trigger("a"), resolve("a"), resolve("a"), ack("a")},
			results: []int{-1, -1, 2, 2, -1, -1},
			news:    []int{2},
			alerts:  []want{{2, sitrep.AlertResolved, 1}},
		},
		{
			name:    "keys interleaved",
			events:  []sitrep.AlertEvent{trigger("a"), trigger("b"), trigger("a"), resolve("b"), trigger("b"), trigger("a")},
			results: []int{0, 1, 0, 1, 4, 0},
			news:    []int{0, 1, 4},
			alerts:  []want{{0, sitrep.AlertFiring, 3}, {1, sitrep.AlertResolved, 1}, {4, sitrep.AlertFiring, 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAlertFixture(t, h)
			res := f.ingest("edr", tc.events...)
			for i, r := range res {
				want := sitrep.IngestResult{Ignored: true}
				if tc.results[i] >= 0 {
					want = sitrep.IngestResult{AlertID: res[tc.results[i]].AlertID, New: contains(tc.news, i)}
				}
				if want.AlertID == 0 && !want.Ignored {
					t.Fatalf("event %d: its alert's event %d got no alert: %+v", i, tc.results[i], res)
				}
				if d := diff(want, r); d != "" {
					t.Errorf("result of event %d (%s %s) (-want +got):\n%s", i, tc.events[i].Action, tc.events[i].DedupKey, d)
				}
			}
			for _, w := range tc.alerts {
				al := f.alert(res[w.result].AlertID)
				if al.Status != w.status || al.Count != w.count {
					t.Errorf("alert of event %d: %s with count %d, want %s with count %d", w.result, al.Status, al.Count, w.status, w.count)
				}
				if (al.Status == sitrep.AlertResolved) != (al.ResolvedAt != nil) {
					t.Errorf("alert of event %d: status %s with resolved_at %v", w.result, al.Status, al.ResolvedAt)
				}
			}
			if n := len(f.alerts(sitrep.AlertFilter{})); n != len(tc.alerts) {
				t.Errorf("%d alerts stored, want %d", n, len(tc.alerts))
			}
		})
	}
}

func contains(list []int, i int) bool {
	for _, v := range list {
		if v == i {
			return true
		}
	}
	return false
}

// testAlertRoundTrip checks every field of a stored alert.
func testAlertRoundTrip(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	f.clock.SetStep(time.Second)
	ev := sitrep.AlertEvent{
		Action: sitrep.ActionTrigger, DedupKey: "fs01-ransom", Severity: 2, Summary: "ransomware on fs01 – encrypting",
		Labels: map[string]string{"host": "fs01", "service": "smb"}, Raw: `{"host":"fs01"}`,
	}
	b := f.batch("edr", ev, ev)
	b[1].Event.Summary = "a later summary does not replace the first"
	b[1].Event.Labels = map[string]string{"host": "other"}
	b[1].Event.Raw = `{"host":"fs01","n":2}`
	res, err := f.as.IngestAlerts(f.ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	resolvedAt := f.clock.Now()
	if _, err := f.as.IngestAlerts(f.ctx, []sitrep.Ingest{{Source: "edr", Event: resolve("fs01-ransom"), ReceivedAt: resolvedAt}}); err != nil {
		t.Fatal(err)
	}
	utc := func(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
	resolved := utc(resolvedAt)
	want := &sitrep.Alert{
		ID: res[0].AlertID, Source: "edr", DedupKey: "fs01-ransom", Status: sitrep.AlertResolved, Triage: sitrep.TriagePending,
		Severity: 2, Summary: ev.Summary, Labels: ev.Labels, Count: 2,
		FirstSeen: utc(b[0].ReceivedAt), LastSeen: utc(b[1].ReceivedAt), ResolvedAt: &resolved,
		Samples: []string{b[0].Event.Raw, b[1].Event.Raw},
	}
	got := f.alert(res[0].AlertID)
	if d := diff(want, got); d != "" {
		t.Errorf("alert (-want +got):\n%s", d)
	}
	for _, tm := range []time.Time{got.FirstSeen, got.LastSeen, *got.ResolvedAt} {
		if tm.Location() != time.UTC {
			t.Errorf("time %v is in %v, want UTC", tm, tm.Location())
		}
	}
	// NUL and invalid UTF-8 in text are kept out of the columns, the same
	// way on every backend; the samples keep the payload exactly.
	odd := sitrep.AlertEvent{Action: sitrep.ActionTrigger, DedupKey: "k\x00ey\xff", Summary: "nul\x00 and \xfe", Raw: "raw\x00\xff"}
	id := f.ingest("edr", odd)[0].AlertID
	al := f.alert(id)
	if al.DedupKey != "key\uFFFD" || al.Summary != "nul and \uFFFD" || al.Count != 1 {
		t.Errorf("alert with odd text: key %q, summary %q, count %d", al.DedupKey, al.Summary, al.Count)
	}
	if len(al.Samples) != 1 || al.Samples[0] != "raw\x00\uFFFD" {
		t.Errorf("alert with odd text: samples %q", al.Samples)
	}
	if again := f.ingest("edr", odd)[0]; again.AlertID != id {
		t.Errorf("the same odd key again opened alert %d, want a count on %d", again.AlertID, id)
	}
	_, err = f.as.Alert(f.ctx, 1<<40)
	requireKind(t, "load a missing alert", err, sitrep.ENotFound)
}

func testIngestRefuses(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	for _, tc := range []struct {
		name string
		edit func(*sitrep.Ingest)
	}{
		{"no source", func(in *sitrep.Ingest) { in.Source = "" }},
		{"unknown action", func(in *sitrep.Ingest) { in.Event.Action = "escalate" }},
		{"no dedup key", func(in *sitrep.Ingest) { in.Event.DedupKey = "" }},
		{"long dedup key", func(in *sitrep.Ingest) { in.Event.DedupKey = string(make([]byte, sitrep.MaxAlertDedupKey+1)) }},
		{"severity out of range", func(in *sitrep.Ingest) { in.Event.Severity = 9 }},
		{"no time of receipt", func(in *sitrep.Ingest) { in.ReceivedAt = time.Time{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := f.batch("edr", trigger("good"), trigger("bad"))
			tc.edit(&b[1])
			_, err := f.as.IngestAlerts(f.ctx, b)
			requireKind(t, "ingest a bad event", err, sitrep.EInvalid)
		})
	}
	// Nothing of the refused batches was stored.
	if list := f.alerts(sitrep.AlertFilter{}); len(list) != 0 {
		t.Errorf("%d alerts stored from refused batches", len(list))
	}
	if res, err := f.as.IngestAlerts(f.ctx, nil); err != nil || len(res) != 0 {
		t.Errorf("ingest an empty batch: %v, %v", res, err)
	}
}

// testAlertSamples checks that an alert keeps the first samples and the
// latest, within one batch and across batches.
func testAlertSamples(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	raw := func(n int) sitrep.AlertEvent {
		ev := trigger("k")
		ev.Raw = "payload " + strconv.Itoa(n)
		return ev
	}
	want := func(ns ...int) []string {
		var s []string
		for _, n := range ns {
			s = append(s, "payload "+strconv.Itoa(n))
		}
		return s
	}
	id := f.ingest("edr", raw(1), raw(2), raw(3))[0].AlertID
	if d := diff(want(1, 2, 3), f.alert(id).Samples); d != "" {
		t.Errorf("samples after 3 (-want +got):\n%s", d)
	}
	var evs []sitrep.AlertEvent
	for n := 4; n <= 10; n++ {
		evs = append(evs, raw(n))
	}
	f.ingest("edr", evs...)
	if d := diff(want(1, 2, 8, 9, 10), f.alert(id).Samples); d != "" {
		t.Errorf("samples after 10 (-want +got):\n%s", d)
	}
	f.ingest("edr", raw(11), trigger("k")) // an event without a payload adds no sample
	f.ingest("edr", raw(12))
	if d := diff(want(1, 2, 10, 11, 12), f.alert(id).Samples); d != "" {
		t.Errorf("samples after 12 (-want +got):\n%s", d)
	}
	if c := f.alert(id).Count; c != 13 {
		t.Errorf("count %d, want 13", c)
	}
}

// testAlertStorm checks that a storm of one key stays one small row.
func testAlertStorm(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	const total, per = 100_000, 1_000
	ev := trigger("storm")
	var id int64
	for b := range total / per {
		batch := make([]sitrep.Ingest, per)
		at := f.clock.Now()
		for i := range batch {
			e := ev
			e.Raw = fmt.Sprintf(`{"n":%d}`, b*per+i)
			batch[i] = sitrep.Ingest{Source: "edr", Event: e, ReceivedAt: at}
		}
		res, err := f.as.IngestAlerts(f.ctx, batch)
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		if id == 0 {
			id = res[0].AlertID
		}
		if res[per-1].AlertID != id {
			t.Fatalf("batch %d counted on alert %d, want %d", b, res[per-1].AlertID, id)
		}
	}
	list := f.alerts(sitrep.AlertFilter{})
	if len(list) != 1 {
		t.Fatalf("%d alerts after the storm, want 1", len(list))
	}
	al := list[0]
	wantSamples := []string{`{"n":0}`, `{"n":1}`, `{"n":99997}`, `{"n":99998}`, `{"n":99999}`}
	if al.Count != total || len(al.Samples) > sitrep.MaxAlertSamples {
		t.Errorf("after the storm: count %d with %d samples, want %d with at most %d", al.Count, len(al.Samples), total, sitrep.MaxAlertSamples)
	}
	if d := diff(wantSamples, al.Samples); d != "" {
		t.Errorf("samples after the storm (-want +got):\n%s", d)
	}
}

func testAlertSeverity(t *testing.T, h Harness) {
	for _, tc := range []struct {
		name    string
		batches [][]int
		want    int
	}{
		{"escalates to the worst", [][]int{{3}, {0, 2}, {4}}, 2},
		{"within one batch", [][]int{{4, 1, 3}}, 1},
		{"unknown stays unknown", [][]int{{0}, {0, 0}}, 0},
		{"unknown first, then known", [][]int{{0}, {3}}, 3},
		{"unknown later keeps the known", [][]int{{2}, {0}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAlertFixture(t, h)
			var id int64
			for _, sevs := range tc.batches {
				var evs []sitrep.AlertEvent
				for _, s := range sevs {
					ev := trigger("k")
					ev.Severity = s
					evs = append(evs, ev)
				}
				id = f.ingest("edr", evs...)[0].AlertID
			}
			if got := f.alert(id).Severity; got != tc.want {
				t.Errorf("severity %d, want %d", got, tc.want)
			}
		})
	}
}

// testTriageMany suppresses many alerts in one write: only those still
// pending change, and the store says which.
func testTriageMany(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	res := f.ingest("edr", trigger("a"), trigger("b"), trigger("c"), trigger("d"))
	a, b, c, d := res[0].AlertID, res[1].AlertID, res[2].AlertID, res[3].AlertID
	inc := f.declare(f.admin, "Taken first")
	if err := f.as.SetTriage(f.ctx, b, sitrep.TriagePending, sitrep.TriageAttached, inc.ID); err != nil {
		t.Fatal(err)
	}
	done, err := f.as.SetTriageMany(f.ctx, []int64{a, b, c, 1 << 40}, sitrep.TriagePending, sitrep.TriageSuppressed)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(done)
	if d := diff([]int64{a, c}, done); d != "" {
		t.Errorf("changed (-want +got):\n%s", d)
	}
	for id, want := range map[int64]string{a: sitrep.TriageSuppressed, b: sitrep.TriageAttached, c: sitrep.TriageSuppressed, d: sitrep.TriagePending} {
		if al := f.alert(id); al.Triage != want {
			t.Errorf("alert %d: %s, want %s", id, al.Triage, want)
		}
	}
	if al := f.alert(b); al.IncidentID != inc.ID {
		t.Errorf("the alert taken first lost its incident: %q", al.IncidentID)
	}
	if done, err := f.as.SetTriageMany(f.ctx, nil, sitrep.TriagePending, sitrep.TriageSuppressed); err != nil || len(done) != 0 {
		t.Errorf("no alerts: %v, %v", done, err)
	}
	_, err = f.as.SetTriageMany(f.ctx, []int64{a}, sitrep.TriagePending, "shrugged")
	requireKind(t, "an invalid triage", err, sitrep.EInvalid)
}

// testTriageDesk checks the listings the triage desk uses and SetTriage.
func testTriageDesk(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	ids := map[string]int64{}
	for _, k := range []string{"a", "b", "c", "d"} {
		ids[k] = f.ingest("edr", trigger(k))[0].AlertID
	}
	f.ingest("edr", trigger("a")) // seen again: now the most recent
	f.ingest("edr", resolve("c")) // resolving does not make it seen later
	all := alertIDs(f.alerts(sitrep.AlertFilter{}))
	if d := diff([]int64{ids["a"], ids["d"], ids["c"], ids["b"]}, all); d != "" {
		t.Errorf("all alerts, most recently seen first (-want +got):\n%s", d)
	}
	if err := f.as.SetTriage(f.ctx, ids["d"], sitrep.TriagePending, sitrep.TriageSuppressed, ""); err != nil {
		t.Fatalf("suppress: %v", err)
	}
	inc := f.declare(f.admin, "Attach here")
	if err := f.as.SetTriage(f.ctx, ids["b"], "", sitrep.TriageAttached, inc.ID); err != nil {
		t.Fatalf("attach: %v", err)
	}
	for _, tc := range []struct {
		filter sitrep.AlertFilter
		want   []int64
	}{
		{sitrep.AlertFilter{Triage: sitrep.TriagePending}, []int64{ids["a"], ids["c"]}},
		{sitrep.AlertFilter{Triage: sitrep.TriagePending, Open: true}, []int64{ids["a"]}},
		{sitrep.AlertFilter{Open: true}, []int64{ids["a"], ids["d"], ids["b"]}},
		{sitrep.AlertFilter{Triage: sitrep.TriageAttached}, []int64{ids["b"]}},
		{sitrep.AlertFilter{Triage: sitrep.TriageDeclared}, []int64{}},
		{sitrep.AlertFilter{Limit: 2}, []int64{ids["a"], ids["d"]}},
		// In pages by ID, oldest first, whenever last seen.
		{sitrep.AlertFilter{AfterID: ids["a"]}, []int64{ids["b"], ids["c"], ids["d"]}},
		{sitrep.AlertFilter{AfterID: ids["a"], Limit: 2}, []int64{ids["b"], ids["c"]}},
		{sitrep.AlertFilter{AfterID: ids["a"], Triage: sitrep.TriagePending}, []int64{ids["c"]}},
		{sitrep.AlertFilter{AfterID: ids["a"], Open: true}, []int64{ids["b"], ids["d"]}},
		{sitrep.AlertFilter{AfterID: ids["d"]}, []int64{}},
	} {
		t.Run(fmt.Sprintf("%+v", tc.filter), func(t *testing.T) {
			if d := diff(tc.want, alertIDs(f.alerts(tc.filter))); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	if al := f.alert(ids["b"]); al.Triage != sitrep.TriageAttached || al.IncidentID != inc.ID {
		t.Errorf("attached alert: triage %s on %q, want attached on %s", al.Triage, al.IncidentID, inc.ID)
	}
	if al := f.alert(ids["d"]); al.Triage != sitrep.TriageSuppressed || al.IncidentID != "" {
		t.Errorf("suppressed alert: triage %s on %q", al.Triage, al.IncidentID)
	}
	requireKind(t, "set the triage of a missing alert", f.as.SetTriage(f.ctx, 1<<40, "", sitrep.TriageSuppressed, ""), sitrep.ENotFound)
	requireKind(t, "suppress an alert that is no longer pending", f.as.SetTriage(f.ctx, ids["d"], sitrep.TriagePending, sitrep.TriageSuppressed, ""), sitrep.EConflict)
	requireKind(t, "set an unknown triage", f.as.SetTriage(f.ctx, ids["a"], "", "shrugged", ""), sitrep.EInvalid)
	_, err := f.as.Alerts(f.ctx, sitrep.AlertFilter{Triage: "shrugged"})
	requireKind(t, "list an unknown triage", err, sitrep.EInvalid)
}

// testTriageService follows alerts through the Service's triage desk.
func testTriageService(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	ann := f.user("ann")
	sev := trigger("fs01-ransom")
	sev.Severity = 1
	res := f.ingest("edr", sev, trigger("fs01-ransom"), trigger("vpn-brute"), trigger("printer"))
	ransom, vpn, printer := res[0].AlertID, res[2].AlertID, res[3].AlertID

	inc, _, err := f.svc.DeclareFromAlert(f.ctx, ann, ransom, sitrep.DeclareInput{})
	if err != nil {
		t.Fatalf("declare from alert: %v", err)
	}
	if inc.Title != "alert fs01-ransom" || inc.Severity != 1 {
		t.Errorf("declared %q with severity %d, want the alert's summary and severity", inc.Title, inc.Severity)
	}
	if _, _, err := f.svc.AttachAlertTo(f.ctx, ann, vpn, inc.ID); err != nil {
		t.Fatalf("attach alert: %v", err)
	}
	_, _, err = f.svc.AttachAlertTo(f.ctx, ann, vpn, inc.ID)
	requireKind(t, "attach an alert twice", err, sitrep.EConflict)
	if err := f.svc.SuppressAlert(f.ctx, ann, printer); err != nil {
		t.Fatalf("suppress alert: %v", err)
	}
	requireKind(t, "suppress an attached alert", f.svc.SuppressAlert(f.ctx, ann, vpn), sitrep.EConflict)

	for _, tc := range []struct {
		id           int64
		triage, onto string
	}{
		{ransom, sitrep.TriageDeclared, inc.ID},
		{vpn, sitrep.TriageAttached, inc.ID},
		{printer, sitrep.TriageSuppressed, ""},
	} {
		if al := f.alert(tc.id); al.Triage != tc.triage || al.IncidentID != tc.onto {
			t.Errorf("alert %d: %s on %q, want %s on %q", tc.id, al.Triage, al.IncidentID, tc.triage, tc.onto)
		}
	}
	attached := map[int64]int{}
	for _, e := range f.entries(inc.ID) {
		if e.Type != "alert.attached" {
			continue
		}
		c, err := sitrep.DecodeChange(&e)
		if err != nil {
			t.Fatalf("decode entry %d: %v", e.Seq, err)
		}
		attached[c.(*sitrep.AlertAttached).AlertID]++
	}
	if d := diff(map[int64]int{ransom: 1, vpn: 1}, attached); d != "" {
		t.Errorf("alert.attached entries per alert (-want +got):\n%s", d)
	}
	// Repetitions after attaching count on the alert, not on the timeline.
	f.ingest("edr", trigger("fs01-ransom"), trigger("fs01-ransom"))
	if al := f.alert(ransom); al.Count != 4 || al.Triage != sitrep.TriageDeclared {
		t.Errorf("alert after repetitions: count %d, triage %s", al.Count, al.Triage)
	}
	if n := len(f.entries(inc.ID)); n != int(f.incident(inc.ID).Seq) {
		t.Errorf("timeline has %d entries, state is at %d", n, f.incident(inc.ID).Seq)
	}
	f.requireVerified(inc.ID)
}

// testConcurrentIngest ingests one new key from several goroutines at once:
// one open alert carries the summed count.
func testConcurrentIngest(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	const workers, batches, per = 8, 10, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				evs := make([]sitrep.AlertEvent, per)
				for i := range evs {
					// Every batch also opens keys of its own, so that
					// batches of different workers hold several rows.
					evs[i] = trigger("shared")
					if i%4 == 3 {
						evs[i] = trigger(fmt.Sprintf("w%d-b%d-%d", w, b, i))
					}
				}
				if _, err := f.as.IngestAlerts(f.ctx, f.batch("edr", evs...)); err != nil {
					t.Errorf("worker %d batch %d: %v", w, b, err)
					return
				}
			}
		})
	}
	wg.Wait()
	open := f.alerts(sitrep.AlertFilter{Open: true, Limit: 10000})
	var shared []*sitrep.Alert
	for _, al := range open {
		if al.DedupKey == "shared" {
			shared = append(shared, al)
		}
	}
	if len(shared) != 1 {
		t.Fatalf("%d open alerts of the shared key, want 1", len(shared))
	}
	if want := int64(workers * batches * per * 3 / 4); shared[0].Count != want {
		t.Errorf("shared alert count %d, want %d", shared[0].Count, want)
	}
	if want := 1 + workers*batches*per/4; len(open) != want {
		t.Errorf("%d open alerts, want %d", len(open), want)
	}
}

// testManyAlertsOnIncident attaches more alerts than the state lists: the
// state keeps the first ones and the count, the timeline one entry each,
// and the store lists them all by incident.
func testManyAlertsOnIncident(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	ann := f.user("ann")
	inc := f.declare(ann, "Worm across the fleet")
	n := sitrep.MaxAlertsInState + 7
	evs := make([]sitrep.AlertEvent, n)
	for i := range evs {
		evs[i] = trigger(fmt.Sprintf("worm-host-%03d", i))
	}
	res := f.ingest("edr", evs...)
	for _, r := range res {
		if _, _, err := f.svc.AttachAlertTo(f.ctx, ann, r.AlertID, inc.ID); err != nil {
			t.Fatalf("attach alert %d: %v", r.AlertID, err)
		}
	}
	got := f.incident(inc.ID)
	if len(got.Alerts) != sitrep.MaxAlertsInState || got.AlertCount != n || got.Alerts[0].ID != res[0].AlertID {
		t.Errorf("state lists %d alerts (first %d) and counts %d; want the first %d of %d", len(got.Alerts), got.Alerts[0].ID, got.AlertCount, sitrep.MaxAlertsInState, n)
	}
	if on := f.alerts(sitrep.AlertFilter{IncidentID: inc.ID, Limit: 1000}); len(on) != n {
		t.Errorf("the store lists %d alerts on %s, want %d", len(on), inc.ID, n)
	}
	f.requireVerified(inc.ID)
}

// testGroupFilter lists the incidents of one group key, open or not.
func testGroupFilter(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	d, err := f.svc.Dispatcher(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	declare := func(key string) *sitrep.Incident {
		inc, _, err := f.svc.Declare(f.ctx, d, sitrep.DeclareInput{Title: "group " + key, GroupKey: key})
		if err != nil {
			t.Fatalf("declare with group %q: %v", key, err)
		}
		return inc
	}
	a, b := declare("cluster=prod"), declare("cluster=staging")
	f.declare(f.admin, "no group")
	for _, tc := range []struct {
		filter sitrep.IncidentFilter
		want   []string
	}{
		{sitrep.IncidentFilter{GroupKey: "cluster=prod"}, []string{a.ID}},
		{sitrep.IncidentFilter{GroupKey: "cluster=staging", Open: true}, []string{b.ID}},
		{sitrep.IncidentFilter{GroupKey: "cluster=dev"}, []string{}},
	} {
		list, err := f.store.Incidents(f.ctx, tc.filter)
		if err != nil {
			t.Fatalf("list %+v: %v", tc.filter, err)
		}
		ids := []string{}
		for _, inc := range list {
			ids = append(ids, inc.ID)
		}
		if d := diff(tc.want, ids); d != "" {
			t.Errorf("incidents of %+v (-want +got):\n%s", tc.filter, d)
		}
	}
	_, _, err = f.svc.Declare(f.ctx, d, sitrep.DeclareInput{Title: "again", GroupKey: "cluster=prod"})
	requireKind(t, "a second open incident of one group", err, sitrep.EConflict)
}
