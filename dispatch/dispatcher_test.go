package dispatch

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/ingest"
	"github.com/sitrep-ir/sitrep/internal/pgtest"
	"github.com/sitrep-ir/sitrep/store/postgres"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// env is a dispatcher on a real SQLite store behind a real group-commit
// ingester, with its rules file in a plans directory of the test's own.
type env struct {
	t     testing.TB
	store sitrep.Store
	svc   *sitrep.Service
	in    *ingest.Ingester
	d     *Dispatcher
	file  string
	logs  *logBuffer
	reg   *prometheus.Registry
	admin *sitrep.User
}

func newEnv(t testing.TB, rules string) *env {
	t.Helper()
	return newEnvOn(t, openSQLite(t), rules)
}

// openSQLite opens a new SQLite store, closed when the test ends.
func openSQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sitrep.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eachStore runs check on a new SQLite store and on a new PostgreSQL
// database (when SITREP_TEST_POSTGRES names a server).
func eachStore(t *testing.T, check func(t *testing.T, s sitrep.Store)) {
	t.Run("sqlite", func(t *testing.T) { check(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv("SITREP_TEST_POSTGRES") == "" {
			t.Skip("SITREP_TEST_POSTGRES is not set")
		}
		s, err := postgres.Open(context.Background(), pgtest.FreshDatabase(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		check(t, s)
	})
}

// newEnvOn makes an env on store, with the rules file (not written when
// rules is "") in a fresh plans directory.
func newEnvOn(t testing.TB, store sitrep.Store, rules string) *env {
	t.Helper()
	e := &env{t: t, store: store, logs: &logBuffer{}, reg: prometheus.NewRegistry()}
	e.file = filepath.Join(t.TempDir(), FileName)
	if rules != "" {
		e.write(rules)
	}
	e.svc = sitrep.NewService(store, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if _, err := e.svc.Bootstrap(ctx, "admin", ""); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.admin, err = store.User(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	for _, src := range []sitrep.Source{{Name: "am", Kind: "alertmanager"}, {Name: "edr-prod", Kind: "generic"}, {Name: "siem", Kind: "email"}} {
		if _, _, err := e.svc.CreateSource(ctx, e.admin, src); err != nil && sitrep.ErrorKind(err) != sitrep.EConflict {
			t.Fatal(err)
		}
	}
	e.in = ingest.New(store.(sitrep.AlertStore), ingest.Options{})
	t.Cleanup(func() { e.in.Close() })
	return e
}

// start starts the dispatcher (without watching the file unless opts say).
func (e *env) start(opts Options) *Dispatcher {
	e.t.Helper()
	opts.RulesFile = e.file
	if opts.Interval == 0 {
		opts.Interval = -1
	}
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Registry = e.reg
	d, err := New(e.in, e.svc, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { d.Close() })
	e.d = d
	e.flush()
	return d
}

func (e *env) write(rules string) {
	e.t.Helper()
	if err := os.WriteFile(e.file, []byte(rules), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) flush() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.d.Flush(ctx); err != nil {
		e.t.Fatalf("flush: %v", err)
	}
}

// send ingests events of source through the dispatcher and waits until
// they are dispatched. It returns the alert of each event.
func (e *env) send(source string, events ...sitrep.AlertEvent) []int64 {
	e.t.Helper()
	res, err := e.d.Ingest(context.Background(), source, events)
	if err != nil {
		e.t.Fatalf("ingest: %v", err)
	}
	e.flush()
	ids := make([]int64, len(res))
	for i, r := range res {
		ids[i] = r.AlertID
	}
	return ids
}

func (e *env) alert(id int64) *sitrep.Alert {
	e.t.Helper()
	al, err := e.svc.Alert(context.Background(), e.admin, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return al
}

func (e *env) incidents() []*sitrep.Incident {
	e.t.Helper()
	incs, err := e.store.Incidents(context.Background(), sitrep.IncidentFilter{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return incs
}

func (e *env) incident(id string) *sitrep.Incident {
	e.t.Helper()
	inc, err := e.store.Incident(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return inc
}

// wantTriage checks an alert's triage and incident.
func (e *env) wantTriage(id int64, triage, incident string) {
	e.t.Helper()
	al := e.alert(id)
	if al.Triage != triage || al.IncidentID != incident {
		e.t.Errorf("alert %d (%s) is %s on %q, want %s on %q", id, al.Summary, al.Triage, al.IncidentID, triage, incident)
	}
}

func (e *env) decisions(action, rule string) float64 {
	return e.metric("sitrep_dispatch_decisions_total", "action", action, "rule", rule)
}

// metric returns the value of the counter or gauge name with the label
// pairs given, as the registry exports it; 0 when it has none.
func (e *env) metric(name string, labels ...string) float64 {
	e.t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// ev is a trigger with a dedup key, a summary and key=value labels.
func ev(key, summary string, labels ...string) sitrep.AlertEvent {
	l := map[string]string{}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		l[k] = v
	}
	return sitrep.AlertEvent{Action: sitrep.ActionTrigger, DedupKey: key, Summary: summary, Labels: l, Severity: 2}
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const deskRules = `rules:
  - name: disk
    match:
      kind: alertmanager
      labels: {alertname: "~Disk.*"}
    action: declare
    kind: outage
    title: "{{ .Labels.alertname }} on {{ .Labels.instance }}"
    group_by: [alertname]
  - name: noise
    match: {summary: "(?i)test alert"}
    action: suppress
  - name: edr-follow-up
    match: {source: "edr-*"}
    action: attach
    group_by: [alertname]
  - name: email-hold
    match: {kind: email}
    action: hold
`

// Each action does what it says, as the dispatch account, and declared
// incidents carry their group key and rule.
func TestDispatchActions(t *testing.T) {
	e := newEnv(t, deskRules)
	e.start(Options{})
	ctx := context.Background()

	first := e.send("am", ev("db1", "Disk on db1 fills", "alertname=DiskFull", "instance=db1"))[0]
	incs := e.incidents()
	if len(incs) != 1 {
		t.Fatalf("%d incidents after the first disk alert, want 1", len(incs))
	}
	inc := incs[0]
	if inc.Command != sitrep.DispatchUser || inc.DeclaredBy != sitrep.DispatchUser || inc.Kind != "outage" || inc.Severity != 2 ||
		inc.Title != "DiskFull on db1" || inc.Rule != "disk" || inc.GroupKey != `alertname="DiskFull"` {
		t.Errorf("declared incident: command %s, by %s, kind %s, severity %d, title %q, rule %q, group %q",
			inc.Command, inc.DeclaredBy, inc.Kind, inc.Severity, inc.Title, inc.Rule, inc.GroupKey)
	}
	e.wantTriage(first, sitrep.TriageDeclared, inc.ID)

	// The same group, another alert: attached, not declared again.
	second := e.send("am", ev("db2", "Disk on db2 fills", "alertname=DiskFull", "instance=db2"))[0]
	e.wantTriage(second, sitrep.TriageAttached, inc.ID)
	// The attach rule finds the group's incident too.
	edr := e.send("edr-prod", ev("edr-1", "Disk wiper process", "alertname=DiskFull"))[0]
	e.wantTriage(edr, sitrep.TriageAttached, inc.ID)
	// The attach rule with no open incident of its group holds.
	lone := e.send("edr-prod", ev("edr-2", "Odd process", "alertname=Other"))[0]
	e.wantTriage(lone, sitrep.TriagePending, "")
	// Suppress, hold, and no rule at all.
	noise := e.send("am", ev("t1", "This is a TEST ALERT"))[0]
	e.wantTriage(noise, sitrep.TriageSuppressed, "")
	held := e.send("siem", ev("m1", "Phishing reported", "alertname=DiskFull"))[0]
	e.wantTriage(held, sitrep.TriagePending, "")
	unmatched := e.send("am", ev("cpu", "CPU hot", "alertname=CPU"))[0]
	e.wantTriage(unmatched, sitrep.TriagePending, "")

	if n := len(e.incidents()); n != 1 {
		t.Errorf("%d incidents, want 1", n)
	}
	inc = e.incident(inc.ID)
	var attached []int64
	for _, al := range inc.Alerts {
		attached = append(attached, al.ID)
	}
	if !slices.Equal(attached, []int64{first, second, edr}) {
		t.Errorf("alerts on %s: %v, want %v", inc.ID, attached, []int64{first, second, edr})
	}
	for _, c := range []struct {
		action, rule string
		want         float64
	}{
		{"declare", "disk", 1}, {"attach", "disk", 1}, {"attach", "edr-follow-up", 1}, {"hold", "edr-follow-up", 1},
		{"suppress", "noise", 1}, {"hold", "email-hold", 1}, {"hold", "", 1}, {"error", "", 0},
	} {
		if got := e.decisions(c.action, c.rule); got != c.want {
			t.Errorf("decisions{action=%s,rule=%s} = %v, want %v", c.action, c.rule, got, c.want)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "level=INFO msg=\"dispatch declared an incident\" component=dispatch incident="+inc.ID) {
		t.Errorf("no info log of the declaration:\n%s", logs)
	}
	if !strings.Contains(logs, "level=DEBUG msg=\"dispatch decision\"") {
		t.Errorf("no debug log of decisions:\n%s", logs)
	}
	// The first responder on scene takes command from dispatch.
	ann, err := e.svc.CreateUser(ctx, e.admin, sitrep.User{Name: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, e.svc, ann, inc.ID, sitrep.CheckIn{})
	if inc = mustDo(t, e.svc, ann, inc.ID, sitrep.AcceptCommand{}); inc.Command != "ann" {
		t.Errorf("command %s after ann took it, want ann", inc.Command)
	}
}

func mustDo(t *testing.T, svc *sitrep.Service, actor *sitrep.User, id string, cmd sitrep.Command) *sitrep.Incident {
	t.Helper()
	inc, _, err := svc.Do(context.Background(), actor, id, cmd)
	if err != nil {
		t.Fatalf("%s by %s on %s: %v", cmd.Action(), actor.Name, id, err)
	}
	return inc
}

// A storm of repetitions of a declared alert makes no incident and no
// timeline entry: it counts on the alert, which the incident's view shows
// with its running count.
func TestStormOfRepeats(t *testing.T) {
	e := newEnv(t, deskRules)
	e.start(Options{})
	id := e.send("am", ev("db1", "Disk on db1 fills", "alertname=DiskFull", "instance=db1"))[0]
	inc := e.incidents()[0]
	seq := inc.Seq
	const calls, per = 20, 50
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]sitrep.AlertEvent, per)
			for i := range batch {
				batch[i] = ev("db1", "Disk on db1 fills", "alertname=DiskFull", "instance=db1")
			}
			if _, err := e.d.Ingest(context.Background(), "am", batch); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	e.flush()
	if n := len(e.incidents()); n != 1 {
		t.Errorf("%d incidents after the storm, want 1", n)
	}
	if got := e.incident(inc.ID).Seq; got != seq {
		t.Errorf("the storm added %d timeline entries", got-seq)
	}
	v, err := e.svc.IncidentView(context.Background(), e.admin, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Alerts) != 1 || v.Alerts[0].ID != id || v.Alerts[0].Count != 1+calls*per || v.Alerts[0].Status != sitrep.AlertFiring {
		t.Errorf("alerts on the incident's view: %+v; want alert %d seen %d times", v.Alerts, id, 1+calls*per)
	}
	if got := e.decisions("declare", "disk") + e.decisions("attach", "disk"); got != 1 {
		t.Errorf("%v decisions for one alert", got)
	}
}

// An alert whose group's incident has closed declares a new one.
func TestGroupIncidentClosed(t *testing.T) {
	e := newEnv(t, deskRules)
	e.start(Options{})
	ctx := context.Background()
	e.send("am", ev("db1", "Disk on db1 fills", "alertname=DiskFull", "instance=db1"))
	old := e.incidents()[0]
	ann, err := e.svc.CreateUser(ctx, e.admin, sitrep.User{Name: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	text := "done"
	for _, cmd := range []sitrep.Command{
		sitrep.CheckIn{}, sitrep.AcceptCommand{}, sitrep.LinkAsset{Kind: "host", Name: "db1"},
		sitrep.ChangePhase{Phase: sitrep.PhasePostMortem, Reason: "disk grown"},
		sitrep.EditReport{Narrative: &text, WhatWorked: &text, NeedsImprovement: &text},
		sitrep.ChangePhase{Phase: sitrep.PhaseClosed, Reason: "report complete"},
	} {
		mustDo(t, e.svc, ann, old.ID, cmd)
	}
	// The dispatcher still knows the closed incident as the group's: the
	// attach is refused, it reads again, and declares.
	id := e.send("am", ev("db3", "Disk on db3 fills", "alertname=DiskFull", "instance=db3"))[0]
	al := e.alert(id)
	if al.Triage != sitrep.TriageDeclared || al.IncidentID == old.ID || al.IncidentID == "" {
		t.Fatalf("alert after the group's incident closed: %s on %q; want declared on a new incident", al.Triage, al.IncidentID)
	}
	if inc := e.incident(al.IncidentID); inc.GroupKey != old.GroupKey || !inc.Open() {
		t.Errorf("new incident %s: group %q, phase %s", inc.ID, inc.GroupKey, inc.Phase)
	}
}

// A crash between storing alerts and dispatching them leaves them pending;
// the next start takes them up, oldest first.
func TestSweepAtStart(t *testing.T) {
	e := newEnv(t, deskRules)
	ctx := context.Background()
	res, err := e.in.Ingest(ctx, "am", []sitrep.AlertEvent{
		ev("db1", "Disk on db1 fills", "alertname=DiskFull", "instance=db1"),
		ev("db2", "Disk on db2 fills", "alertname=DiskFull", "instance=db2"),
		ev("t", "test alert"),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.start(Options{})
	incs := e.incidents()
	if len(incs) != 1 {
		t.Fatalf("%d incidents after the sweep, want 1", len(incs))
	}
	e.wantTriage(res[0].AlertID, sitrep.TriageDeclared, incs[0].ID)
	e.wantTriage(res[1].AlertID, sitrep.TriageAttached, incs[0].ID)
	e.wantTriage(res[2].AlertID, sitrep.TriageSuppressed, "")
	if !strings.Contains(e.logs.String(), "dispatching the alerts pending on the triage desk") {
		t.Errorf("the sweep was not logged:\n%s", e.logs.String())
	}
}

// New alerts that find the queue full stay pending and are counted; the
// worker sweeps the desk once the queue is empty, so none stays undecided.
func TestQueueFull(t *testing.T) {
	e := newEnv(t, deskRules)
	d, err := newDispatcher(e.in, e.svc, Options{RulesFile: e.file, Interval: -1, QueueLen: 2, Registry: e.reg})
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	t.Cleanup(func() { d.Close() })
	var events []sitrep.AlertEvent
	for i := range 10 {
		events = append(events, ev(fmt.Sprint("t", i), "test alert"))
	}
	// The worker is not running yet: two alerts fit, eight do not.
	res, err := d.Ingest(context.Background(), "am", events)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.metric("sitrep_dispatch_queue_dropped_total"); got != 8 {
		t.Errorf("dropped %v alerts, want 8", got)
	}
	d.start()
	e.flush()
	for _, r := range res {
		e.wantTriage(r.AlertID, sitrep.TriageSuppressed, "")
	}

	// Once running: alerts stored behind the dispatcher's back (as if
	// dropped) are swept when the worker finds the queue empty.
	more, err := e.in.Ingest(context.Background(), "am", []sitrep.AlertEvent{ev("late", "late test alert")})
	if err != nil {
		t.Fatal(err)
	}
	e.wantTriage(more[0].AlertID, sitrep.TriagePending, "")
	d.miss(more[0].AlertID)
	e.flush() // a flush waits for the sweep of what was missed
	e.wantTriage(more[0].AlertID, sitrep.TriageSuppressed, "")

	// More alerts missed than a page of the sweep, and more than the
	// sweep of the start takes: every one is dispatched, held ones left.
	events = events[:0]
	for i := range 2*sweepPage + 10 {
		summary := "test alert"
		if i%3 == 0 {
			summary = "CPU hot" // no rule: held
		}
		events = append(events, ev(fmt.Sprint("burst", i), summary))
	}
	burst, err := d.Ingest(context.Background(), "am", events)
	if err != nil {
		t.Fatal(err)
	}
	e.flush()
	for i, r := range burst {
		al := e.alert(r.AlertID)
		want := sitrep.TriageSuppressed
		if i%3 == 0 {
			want = sitrep.TriagePending
		}
		if al.Triage != want {
			t.Fatalf("burst alert %d: %s, want %s", i, al.Triage, want)
		}
	}
}

// A person who takes an alert first wins; dispatch leaves it alone.
func TestAlertTakenFirst(t *testing.T) {
	e := newEnv(t, deskRules)
	res, err := e.in.Ingest(context.Background(), "am", []sitrep.AlertEvent{ev("db1", "Disk on db1 fills", "alertname=DiskFull")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SuppressAlert(context.Background(), e.admin, res[0].AlertID); err != nil {
		t.Fatal(err)
	}
	e.start(Options{})
	e.wantTriage(res[0].AlertID, sitrep.TriageSuppressed, "")
	if n := len(e.incidents()); n != 0 {
		t.Errorf("dispatch declared %d incidents from an alert a person had suppressed", n)
	}
}

// Rewriting the file changes what happens to the next alert; breaking it
// keeps the last good rules and logs every problem with its line.
func TestReload(t *testing.T) {
	e := newEnv(t, "") // no file: everything is held
	d := e.start(Options{})
	first := e.send("am", ev("t1", "test alert"))[0]
	e.wantTriage(first, sitrep.TriagePending, "")
	if !strings.Contains(e.logs.String(), "no dispatch rules file") {
		t.Errorf("a start without a rules file is not logged:\n%s", e.logs.String())
	}

	e.write(deskRules)
	if err := d.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if d.Rules().Len() != 4 {
		t.Fatalf("%d rules after the reload, want 4", d.Rules().Len())
	}
	second := e.send("am", ev("t2", "test alert"))[0]
	e.wantTriage(second, sitrep.TriageSuppressed, "")

	e.write("rules:\n  - name: noise\n    match: {summary: \"(test\"}\n    action: suppress\n  - name: x\n    action: hol\n")
	err := d.Reload()
	if ps := AsProblems(err); len(ps) != 2 {
		t.Fatalf("reload of a broken file: %v; want its two problems", err)
	}
	third := e.send("am", ev("t3", "test alert"))[0]
	e.wantTriage(third, sitrep.TriageSuppressed, "")
	logs := e.logs.String()
	for _, want := range []string{"dispatch.yaml:3:22: summary: the regular expression", "dispatch.yaml:6:13: action \\\"hol\\\" is not known"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not name the problem %q:\n%s", want, logs)
		}
	}
	if got := e.metric("sitrep_dispatch_reload_errors_total"); got != 1 {
		t.Errorf("reload errors %v, want 1", got)
	}
	if d.Rules().Len() != 4 {
		t.Errorf("%d rules in use after a broken file, want the last good 4", d.Rules().Len())
	}

	// Removing the file removes the rules.
	if err := os.Remove(e.file); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil || d.Rules().Len() != 0 {
		t.Errorf("reload of a removed file: %v, %d rules; want none", err, d.Rules().Len())
	}
}

// The watcher picks up a changed file by itself.
func TestReloadByWatching(t *testing.T) {
	e := newEnv(t, "rules: []\n")
	d := e.start(Options{Interval: 10 * time.Millisecond})
	e.write(deskRules)
	deadline := time.Now().Add(20 * time.Second)
	for d.Rules().Len() != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the watcher did not load the changed file; %d rules in use", d.Rules().Len())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.metric("sitrep_dispatch_reloads_total"); got != 2 {
		t.Errorf("%v loads, want 2 (start and change)", got)
	}
}
