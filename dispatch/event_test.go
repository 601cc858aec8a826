package dispatch

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// eventRules are single rules of every kind of condition, each on the
// fields the store may change: text cut, control characters, invalid
// UTF-8, severities merged.
var eventRules = []string{
	`{name: src, match: {source: am}, action: hold}`,
	`{name: src-glob, match: {source: "a*"}, action: hold}`,
	`{name: kind, match: {kind: alertmanager}, action: hold}`,
	`{name: worst, match: {severity_at_most: 1}, action: hold}`,
	`{name: at-most-2, match: {severity_at_most: 2}, action: hold}`,
	`{name: mild, match: {severity_at_least: 3}, action: hold}`,
	`{name: label, match: {labels: {host: db1}}, action: hold}`,
	`{name: label-re, match: {labels: {host: "~db[0-9]+"}}, action: hold}`,
	`{name: label-missing, match: {labels: {env: ""}}, action: hold}`,
	`{name: label-replaced, match: {labels: {"bad\ufffd": "~.*\ufffd\ufffd.*"}}, action: hold}`,
	`{name: label-any-replaced, match: {labels: {note: "~.*\ufffd.*"}}, action: hold}`,
	`{name: label-cut, match: {labels: {long: "~.*…"}}, action: hold}`,
	`{name: label-nul, match: {labels: {nul: "a\u0000b"}}, action: hold}`,
	`{name: summary, match: {summary: "(?i)disk full"}, action: hold}`,
	`{name: summary-space, match: {summary: "^Disk full on db1$"}, action: hold}`,
	`{name: summary-replaced, match: {summary: "\ufffd"}, action: hold}`,
	`{name: summary-cut, match: {summary: "…$"}, action: hold}`,
	`{name: summary-control, match: {summary: "[\u0000-\u001f\u007f-\u009f]"}, action: hold}`,
	`{name: summary-empty, match: {summary: "^$"}, action: hold}`,
	`{name: not, match: {labels: {host: "~db.*"}, not: [{severity_at_most: 1}, {summary: "test"}]}, action: hold}`,
	`{name: group, match: {labels: {alertname: "~.+"}}, action: attach, group_by: [alertname, host, "bad\ufffd"]}`,
	`{name: title, match: {source: am}, action: declare, kind: outage, title: "{{ .DedupKey }} {{ .Summary }} {{ .Labels.host }} {{ .Severity }}", group_by: "{{ .Source }}/{{ .DedupKey }}"}`,
}

// eventCalls are calls of the intake, each an alert's opening event and
// what follows it in the same call.
var eventCalls = []struct {
	name   string
	events []sitrep.AlertEvent
}{
	{"plain", []sitrep.AlertEvent{ev("db1", "Disk full on db1", "host=db1", "alertname=DiskFull")}},
	{"spaces and controls", []sitrep.AlertEvent{
		{DedupKey: "ctl", Summary: "  Disk full\ton\x00db1\r\n\u0085 ", Severity: 1, Labels: map[string]string{"host": "db1\x00", "nul": "a\x00b"}},
	}},
	{"invalid UTF-8", []sitrep.AlertEvent{
		{DedupKey: "bad\xff\xfekey", Summary: "Disk \xff\xfe full", Severity: 3,
			Labels: map[string]string{"bad\xff": "x\xfe\xfdy", "bad\xfe": "other", "note": "\xc3", "host": "db\xe2\x82"}},
	}},
	{"too long", []sitrep.AlertEvent{
		{DedupKey: strings.Repeat("k", 300), Summary: strings.Repeat("disk full é", 200), Labels: manyLabels()},
	}},
	{"no key, no labels, no severity", []sitrep.AlertEvent{{Summary: "test alert"}}},
	{"severity out of range", []sitrep.AlertEvent{{DedupKey: "sev9", Summary: "x", Severity: 9, Labels: map[string]string{"host": "db2"}}}},
	{"empty summary", []sitrep.AlertEvent{{DedupKey: "empty", Labels: map[string]string{"host": "db3"}}}},
	{"worse severity later in the call", []sitrep.AlertEvent{
		sev(ev("worse", "Disk full on db4", "host=db4"), 3),
		sev(ev("worse", "ignored summary", "host=ignored"), 0),
		sev(ev("worse", "ignored summary", "host=ignored"), 2),
		sev(ev("worse", "ignored", "host=ignored"), 4),
	}},
	{"worse after an acknowledge", []sitrep.AlertEvent{
		sev(ev("acked", "Disk full on db5", "host=db5"), 0),
		{Action: sitrep.ActionAcknowledge, DedupKey: "acked"},
		sev(ev("acked", "later", "host=later"), 1),
	}},
	{"resolved in the call", []sitrep.AlertEvent{
		ev("gone", "Disk full on db6", "host=db6"),
		{Action: sitrep.ActionResolve, DedupKey: "gone"},
		sev(ev("gone", "Disk full again on db6", "host=db6"), 1),
	}},
	{"mild and worst", []sitrep.AlertEvent{sev(ev("mild", "Disk full on db7", "host=db7"), 4), sev(ev("worst", "test", "host=db8"), 1)}},
}

func sev(e sitrep.AlertEvent, severity int) sitrep.AlertEvent {
	e.Severity = severity
	return e
}

// manyLabels returns more labels than an alert keeps, some too long.
func manyLabels() map[string]string {
	l := map[string]string{"long": strings.Repeat("ü", 600), strings.Repeat("n", 200): "long name", "host": "db9"}
	for i := range 70 {
		l[fmt.Sprintf("l%02d", i)] = fmt.Sprint(i)
	}
	return l
}

// The alert dispatch matches, made from the event that opened it, is the
// alert as the store keeps it: the same fields, so every rule decides the
// same, with the same group key and title. SQLite, and PostgreSQL when
// SITREP_TEST_POSTGRES is set.
func TestEventMatchesAsStored(t *testing.T) {
	var rules []*Rules
	for _, r := range eventRules {
		rules = append(rules, mustParse(t, "rules:\n  - "+r+"\n"))
	}
	eachStore(t, func(t *testing.T, s sitrep.Store) { checkEventsAsStored(t, s, rules) })
}

func checkEventsAsStored(t *testing.T, store sitrep.Store, rules []*Rules) {
	e := newEnvOn(t, store, deskRules)
	d, err := newDispatcher(e.in, e.svc, Options{RulesFile: e.file, Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() }) // never started: the queue keeps what Ingest put in it
	ctx := context.Background()
	for _, call := range eventCalls {
		if _, err := d.Ingest(ctx, "am", call.events); err != nil {
			t.Fatalf("%s: %v", call.name, err)
		}
		for len(d.queue) > 0 {
			it := <-d.queue
			if it.al == nil {
				t.Fatalf("%s: alert %d queued without its event", call.name, it.id)
			}
			stored := e.alert(it.id)
			got := *it.al
			want := *stored
			want.Count, want.FirstSeen, want.LastSeen, want.ResolvedAt, want.Samples = 0, got.FirstSeen, got.LastSeen, nil, nil
			if diff := cmp.Diff(&want, &got); diff != "" {
				t.Errorf("%s: alert %d from its event differs from the stored alert (-stored +event):\n%s", call.name, it.id, diff)
			}
			matched := 0
			for _, rs := range rules {
				r, want := rs.Match(&got, "alertmanager"), rs.Match(stored, "alertmanager")
				if r != want {
					t.Errorf("%s: rule %s: from the event %v, from the stored alert %v", call.name, rs.Rules[0].Name, r != nil, want != nil)
					continue
				}
				if r == nil {
					continue
				}
				matched++
				if g, w := r.GroupKey(&got), r.GroupKey(stored); g != w {
					t.Errorf("%s: rule %s: group key %q from the event, %q from the stored alert", call.name, r.Name, g, w)
				}
				if g, w := r.IncidentTitle(&got), r.IncidentTitle(stored); g != w {
					t.Errorf("%s: rule %s: title %q from the event, %q from the stored alert", call.name, r.Name, g, w)
				}
			}
			t.Logf("%s: alert %d (severity %d, %s) matches %d of %d rules", call.name, it.id, got.Severity, got.Status, matched, len(rules))
		}
	}
}

// readCounter is a SQLite store that counts the reads of single alerts and
// the writes of triage.
type readCounter struct {
	*sqlite.Store
	reads, triageWrites atomic.Int64
}

func (c *readCounter) Alert(ctx context.Context, id int64) (*sitrep.Alert, error) {
	c.reads.Add(1)
	return c.Store.Alert(ctx, id)
}

func (c *readCounter) SetTriage(ctx context.Context, id int64, from, triage, incidentID string) error {
	c.triageWrites.Add(1)
	return c.Store.SetTriage(ctx, id, from, triage, incidentID)
}

func (c *readCounter) SetTriageMany(ctx context.Context, ids []int64, from, triage string) ([]int64, error) {
	c.triageWrites.Add(1)
	return c.Store.SetTriageMany(ctx, ids, from, triage)
}

// Alerts a rule suppresses are written many at once: a storm of them costs
// a few writes, not one each, and every one is counted once.
func TestSuppressInBatches(t *testing.T) {
	store := &readCounter{Store: openSQLite(t)}
	e := newEnvOn(t, store, deskRules)
	d, err := newDispatcher(e.in, e.svc, Options{RulesFile: e.file, Interval: -1, Registry: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	t.Cleanup(func() { d.Close() })
	const n = 1200
	events := make([]sitrep.AlertEvent, n)
	for i := range events {
		events[i] = ev(fmt.Sprint("noise", i), "test alert")
	}
	// Queued before the worker starts, so that it finds them all at once.
	res, err := d.Ingest(context.Background(), "am", events)
	if err != nil {
		t.Fatal(err)
	}
	d.start()
	e.flush()
	for _, r := range res {
		e.wantTriage(r.AlertID, sitrep.TriageSuppressed, "")
	}
	// The start's sweep and the queue each take them in writes of at most
	// suppressBatch: 3 each.
	if w := store.triageWrites.Load(); w > 2*((n+suppressBatch-1)/suppressBatch) {
		t.Errorf("%d triage writes to suppress %d alerts", w, n)
	}
	if got := e.decisions(ActionSuppress, "noise"); got != n {
		t.Errorf("%v suppressions counted, want %d", got, n)
	}
}

// New alerts that the rules hold or suppress are decided without reading
// them from the store; a declaration reads its alert once, as it records it
// on the incident.
func TestNewAlertsNotReadBack(t *testing.T) {
	store := &readCounter{Store: openSQLite(t)}
	e := newEnvOn(t, store, deskRules)
	e.start(Options{})
	before := store.reads.Load()
	held := e.send("am", ev("cpu", "CPU hot", "alertname=CPU"), ev("t1", "test alert"))
	e.send("siem", ev("m1", "Phishing reported"))
	if n := store.reads.Load() - before; n != 0 {
		t.Errorf("%d reads of alerts to hold and suppress, want none", n)
	}
	e.wantTriage(held[0], sitrep.TriagePending, "")
	e.wantTriage(held[1], sitrep.TriageSuppressed, "")

	before = store.reads.Load()
	e.send("am", ev("db1", "Disk on db1 fills", "alertname=DiskFull", "instance=db1"))
	if n := store.reads.Load() - before; n != 1 {
		t.Errorf("%d reads of an alert declared from, want 1", n)
	}
}

// Past the queue's bound of bytes new alerts are queued by their IDs and
// read from the store in turn, and dispatched all the same.
func TestQueueBytes(t *testing.T) {
	e := newEnv(t, deskRules)
	d, err := newDispatcher(e.in, e.svc, Options{RulesFile: e.file, Interval: -1, QueueBytes: 1, Registry: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	t.Cleanup(func() { d.Close() })
	res, err := d.Ingest(context.Background(), "am", []sitrep.AlertEvent{ev("t1", "test alert"), ev("t2", "test alert")})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.metric("sitrep_dispatch_queue_by_id_total"); got != 2 {
		t.Errorf("%v alerts queued by ID, want 2", got)
	}
	d.start()
	e.flush()
	for _, r := range res {
		e.wantTriage(r.AlertID, sitrep.TriageSuppressed, "")
	}
	if n := d.queuedBytes.Load(); n != 0 {
		t.Errorf("the empty queue counts %d bytes", n)
	}
}
