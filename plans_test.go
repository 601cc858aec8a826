package sitrep_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/plan"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// manualClock is moved by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// planWorld is a service on a real SQLite file with the plans of dir, and
// the people who respond.
type planWorld struct {
	t     *testing.T
	svc   *sitrep.Service
	clock *manualClock
	lib   *plan.Library
	users map[string]*sitrep.User
}

func newPlanWorld(t *testing.T, dir string) *planWorld {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sitrep.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	lib, err := plan.NewLibrary(dir, nil)
	if err != nil {
		t.Fatalf("plans of %s: %v", dir, err)
	}
	w := &planWorld{t: t, svc: sitrep.NewService(store, nil), clock: &manualClock{t: time.Date(2026, 5, 7, 3, 0, 0, 0, time.UTC)}, lib: lib, users: map[string]*sitrep.User{}}
	w.svc.Clock = w.clock
	w.svc.Plans = lib
	for _, name := range []string{"alice", "bob", "carol"} {
		u := &sitrep.User{Name: name, Role: sitrep.OrgResponder, CreatedAt: w.clock.Now()}
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		w.users[name] = u
	}
	return w
}

func (w *planWorld) declare(by string, in sitrep.DeclareInput) *sitrep.Incident {
	w.t.Helper()
	inc, _, err := w.svc.Declare(context.Background(), w.users[by], in)
	if err != nil {
		w.t.Fatalf("declare %+v: %v", in, err)
	}
	return inc
}

func (w *planWorld) do(by, id string, cmd sitrep.Command) *sitrep.Incident {
	w.t.Helper()
	inc, _, err := w.svc.Do(context.Background(), w.users[by], id, cmd)
	if err != nil {
		w.t.Fatalf("%s %s: %v", by, cmd.Action(), err)
	}
	return inc
}

// types lists the incident's entry types after entry after.
func (w *planWorld) types(id string, after int64) []string {
	w.t.Helper()
	es, err := w.svc.Store.Entries(context.Background(), id, after, 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Type)
	}
	return out
}

func (w *planWorld) verify(id string) {
	w.t.Helper()
	v, err := w.svc.Verify(context.Background(), w.users["alice"], id)
	if err != nil || !v.OK {
		w.t.Fatalf("verify %s: %+v, %v", id, v, err)
	}
}

func roles(ps []sitrep.Position) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Role)
	}
	return out
}

func taskTitles(inc *sitrep.Incident) []string {
	var out []string
	for _, t := range inc.Tasks {
		out = append(out, t.Section+": "+t.Title)
	}
	return out
}

func state(ts []sitrep.TargetStatus, name string) string {
	for _, s := range ts {
		if s.Name == name {
			return s.State
		}
	}
	return "absent"
}

// TestDeclareAppliesPlan runs a PII breach with the starter plan: the
// declaration applies it, phases open their checklists once, and the
// incident is measured against the plan's targets.
func TestDeclareAppliesPlan(t *testing.T) {
	w := newPlanWorld(t, "plans")
	spec := w.lib.Current().ForKind("data-breach")
	inc := w.declare("alice", sitrep.DeclareInput{Title: "Customer table for sale", Kind: "data-breach"})

	// The plan's defaults: severity 1, confidential.
	if inc.Severity != 1 || !inc.Confidential || inc.LegalHold {
		t.Errorf("declared at severity %d, confidential %v, legal hold %v; want 1, true, false", inc.Severity, inc.Confidential, inc.LegalHold)
	}
	p := inc.Plan
	if p == nil || p.Name != "data-breach" || p.SHA256 != spec.Version.SHA256 || p.Commit != spec.Version.Commit || p.Modified != spec.Version.Modified {
		t.Fatalf("plan on the incident = %+v; want data-breach at version %+v", p, spec.Version)
	}
	if got, want := roles(inc.OpenPositions()), []string{"information", "liaison", "finance", "operations", "planning", "forensics"}; !slices.Equal(got, want) {
		t.Errorf("open positions = %v, want %v", got, want)
	}
	if got := w.types(inc.ID, 0); !slices.Equal(got[:3], []string{"incident.declared", "plan.applied", "plan.checklist_opened"}) || len(got) != 3+4 {
		t.Errorf("declaration entries = %v; want declared, plan applied, the checklist and its 4 tasks", got)
	}
	for _, task := range inc.Tasks {
		if task.Status != sitrep.TaskOpen || task.Assignee != "" || task.CreatedBy != "alice" {
			t.Errorf("checklist task %+v: want open, in its section, created by the declarer", task)
		}
	}
	if inc.Tasks[0].Section != "forensics" || inc.Tasks[3].Title != "Engage outside counsel and the forensic retainer under privilege" {
		t.Errorf("identification tasks = %v", taskTitles(inc))
	}

	// Staffing closes positions and meets targets.
	declared := inc.DeclaredAt
	w.do("alice", inc.ID, sitrep.NameMember{User: "bob"})
	w.do("bob", inc.ID, sitrep.CheckIn{})
	w.clock.add(10 * time.Minute)
	inc = w.do("alice", inc.ID, sitrep.Assign{Role: "information", User: "bob"})
	if slices.Contains(roles(inc.OpenPositions()), "information") {
		t.Error("information is still an open position once bob holds it")
	}
	w.clock.add(60 * time.Minute)
	w.do("bob", inc.ID, sitrep.Publish{Audience: "internal", Text: "We are investigating a possible breach."})

	// Each phase opens its checklist the first time the incident enters it.
	inc = w.do("alice", inc.ID, sitrep.ChangePhase{Phase: sitrep.PhaseContainment, Reason: "access confirmed"})
	if got := len(inc.Tasks); got != 4+3 {
		t.Errorf("%d tasks after entering containment, want 7: %v", got, taskTitles(inc))
	}
	inc = w.do("alice", inc.ID, sitrep.ChangePhase{Phase: sitrep.PhaseIdentification, Reason: "a second exposed bucket"})
	inc = w.do("alice", inc.ID, sitrep.ChangePhase{Phase: sitrep.PhaseContainment, Reason: "bucket closed"})
	if got := len(inc.Tasks); got != 7 {
		t.Errorf("going back and forth repeated a checklist: %d tasks", got)
	}
	w.clock.add(2 * time.Hour)
	inc = w.do("alice", inc.ID, sitrep.ChangePhase{Phase: sitrep.PhaseEradication, Reason: "access closed, secrets rotated"})

	// The alert that started it was first seen 40 minutes before the
	// declaration: the 30-minute declare target was missed.
	first := declared.Add(-40 * time.Minute)
	inc = w.do("alice", inc.ID, sitrep.AttachAlert{Alert: &sitrep.Alert{ID: 7, Source: "dlp", DedupKey: "k", Summary: "bulk export", Severity: 1, Count: 1, FirstSeen: first, LastSeen: first}})

	ts := inc.TargetStatus(w.clock.Now())
	want := map[string]string{
		"declare":               sitrep.TargetMissed,
		"command":               sitrep.TargetMet,
		"information_officer":   sitrep.TargetMet,
		"first_internal_update": sitrep.TargetMissed,
		"contained":             sitrep.TargetMet,
	}
	for name, st := range want {
		if got := state(ts, name); got != st {
			t.Errorf("target %s is %s, want %s (%+v)", name, got, st, ts)
		}
	}
	if ts[0].Name != "declare" || !ts[0].From.Equal(first) || !ts[0].MetAt.Equal(declared) {
		t.Errorf("declare target = %+v; want from the alert's first sighting to the declaration", ts[0])
	}
	w.verify(inc.ID)
}

// TestPlanTargetsPendingAndOverdue: a target not met is pending until it is
// due and overdue after.
func TestPlanTargetsPendingAndOverdue(t *testing.T) {
	w := newPlanWorld(t, "plans")
	inc := w.declare("alice", sitrep.DeclareInput{Title: "Site A dark", Kind: "datacenter-outage"})
	at := func(d time.Duration) []sitrep.TargetStatus { return inc.TargetStatus(inc.DeclaredAt.Add(d)) }
	if got := state(at(10*time.Minute), "information_officer"); got != sitrep.TargetPending {
		t.Errorf("information officer target at 10m = %s, want pending (15m)", got)
	}
	if got := state(at(16*time.Minute), "information_officer"); got != sitrep.TargetOverdue {
		t.Errorf("information officer target at 16m = %s, want overdue", got)
	}
	if got := state(at(0), "declare"); got != "absent" {
		t.Errorf("declare target without an alert = %s; it cannot be measured", got)
	}
	if !slices.Contains(roles(inc.OpenPositions()), "logistics") || !slices.Contains(roles(inc.OpenPositions()), "safety") {
		t.Errorf("a severity 1 datacenter outage staffs logistics and safety: %v", roles(inc.OpenPositions()))
	}
}

// TestPlanLegalHoldAndSeverity: the subpoena plan places a legal hold at
// declaration; a lower severity than a role's leaves it to Command; a kind
// without a plan runs without one.
func TestPlanLegalHoldAndSeverity(t *testing.T) {
	w := newPlanWorld(t, "plans")
	inc := w.declare("alice", sitrep.DeclareInput{Title: "Grand jury subpoena", Kind: "subpoena"})
	if !inc.LegalHold || !inc.Confidential || inc.Plan.Name != "legal-request" {
		t.Errorf("subpoena: legal hold %v, confidential %v, plan %v; want both under legal-request", inc.LegalHold, inc.Confidential, inc.Plan)
	}
	if _, _, err := w.svc.Do(context.Background(), w.users["alice"], inc.ID, sitrep.UnlinkAsset{Kind: "host", Name: "x", Reason: "r"}); sitrep.AsError(err) == nil || sitrep.AsError(err).Rule != "legal-hold" {
		t.Errorf("removing under the plan's legal hold: %v; want refused by the legal-hold rule", err)
	}
	w.verify(inc.ID)

	low := w.declare("alice", sitrep.DeclareInput{Title: "Worm on two lab hosts", Kind: "worm", Severity: 3})
	if got := roles(low.OpenPositions()); !slices.Equal(got, []string{"operations", "information"}) {
		t.Errorf("severity 3 worm positions = %v; want only the roles staffed at every severity", got)
	}
	for _, task := range low.Tasks {
		if task.Title == "Set up the shift rota and the next briefing time" {
			t.Error("a severity-1 task was created on a severity 3 incident")
		}
	}

	none := w.declare("alice", sitrep.DeclareInput{Title: "Something odd"})
	if none.Plan != nil || len(none.Tasks) != 0 || none.OpenPositions() != nil || none.TargetStatus(time.Now()) != nil {
		t.Errorf("an incident of a kind no plan answers got %+v", none.Plan)
	}
	if got := w.types(none.ID, 0); !slices.Equal(got, []string{"incident.declared"}) {
		t.Errorf("entries = %v", got)
	}
}

// TestPlanAssigneeAndDispatch: a checklist task goes to its assignee when
// they are on scene; a dispatch declaration meets the command target when
// a responder takes command.
func TestPlanAssigneeAndDispatch(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "phish.yaml"), []byte(`title: Phishing
kinds: [phishing]
severity: 3
checklists:
  identification:
    - task: Pull the message from every mailbox
      section: operations
      assignee: alice
  containment:
    - task: Block the sender
      section: operations
      assignee: carol
targets:
  command: 10m
`), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newPlanWorld(t, dir)
	ctx := context.Background()
	disp, err := w.svc.Dispatcher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inc, _, err := w.svc.Declare(ctx, disp, sitrep.DeclareInput{Title: "Phish reported 40 times", Kind: "phishing", Rule: "phish-reports"})
	if err != nil {
		t.Fatal(err)
	}
	if inc.Tasks[0].Assignee != "" {
		t.Errorf("a task went to alice, who is not on scene: %+v", inc.Tasks[0])
	}
	if got := state(inc.TargetStatus(inc.DeclaredAt), "command"); got != sitrep.TargetPending {
		t.Errorf("command target of a dispatch declaration = %s, want pending", got)
	}
	w.clock.add(4 * time.Minute)
	w.do("alice", inc.ID, sitrep.CheckIn{})
	inc = w.do("alice", inc.ID, sitrep.AcceptCommand{})
	if got := state(inc.TargetStatus(w.clock.Now()), "command"); got != sitrep.TargetMet {
		t.Errorf("command target after alice took command = %s, want met", got)
	}
	w.do("carol", inc.ID, sitrep.CheckIn{})
	inc = w.do("alice", inc.ID, sitrep.ChangePhase{Phase: sitrep.PhaseContainment, Reason: "message identified"})
	if last := inc.Tasks[len(inc.Tasks)-1]; last.Title != "Block the sender" || last.Assignee != "carol" {
		t.Errorf("containment task = %+v; want it given to carol, on scene", last)
	}
	w.verify(inc.ID)
}

// ingestAlert stores one alert of source first seen at at, as the intake
// does, and returns its ID.
func (w *planWorld) ingestAlert(source, key string, at time.Time) int64 {
	w.t.Helper()
	ctx := context.Background()
	as := w.svc.Store.(sitrep.AlertStore)
	if _, err := as.Sources(ctx); err != nil {
		w.t.Fatal(err)
	}
	if err := as.CreateSource(ctx, &sitrep.Source{Name: source, Kind: "generic", KeyHash: "hash-of-" + source, CreatedAt: at, CreatedBy: "alice"}); err != nil && sitrep.ErrorKind(err) != sitrep.EConflict {
		w.t.Fatal(err)
	}
	ev := sitrep.AlertEvent{DedupKey: key, Severity: 2, Summary: "bulk export of the customer table by " + key}
	ev.Normalize()
	res, err := as.IngestAlerts(ctx, []sitrep.Ingest{{Source: source, Event: ev, ReceivedAt: at}})
	if err != nil {
		w.t.Fatal(err)
	}
	return res[0].AlertID
}

// TestDeclareFromAlertMeasuresDeclareTarget: an incident declared from an
// alert, by a person at the triage desk or by a dispatch rule, measures the
// declare target from the alert's first sighting, recorded with the plan at
// the declaration; an alert stored by a replica whose clock runs ahead counts
// as seen at the declaration; a later alert first seen after the declaration
// does not move it.
func TestDeclareFromAlertMeasuresDeclareTarget(t *testing.T) {
	w := newPlanWorld(t, "plans")
	ctx := context.Background()
	disp, err := w.svc.Dispatcher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		by    *sitrep.User
		delay time.Duration
		want  string
	}{
		{"a responder at the desk within the target", w.users["alice"], 20 * time.Minute, sitrep.TargetMet},
		{"a dispatch rule after the target", disp, 45 * time.Minute, sitrep.TargetMissed},
		{"an alert stored by a clock ahead", disp, -2 * time.Second, sitrep.TargetMet},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := w.clock.Now()
			id := w.ingestAlert("dlp", fmt.Sprintf("export-%d", i), seen)
			w.clock.add(tt.delay)
			if tt.delay < 0 {
				seen = w.clock.Now()
			}
			inc, entries, err := w.svc.DeclareFromAlert(ctx, tt.by, id, sitrep.DeclareInput{Kind: "data-breach", GroupKey: fmt.Sprintf("g%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			if entries[1].Type != "plan.applied" || !strings.Contains(string(entries[1].Data), `"first_alert":`) {
				t.Errorf("entry 2 = %s %s; want the plan applied with the alert's first sighting", entries[1].Type, entries[1].Data)
			}
			ts := inc.TargetStatus(w.clock.Now())
			if len(ts) == 0 || ts[0].Name != sitrep.TargetDeclare {
				t.Fatalf("targets %+v: want the declare target first", ts)
			}
			if d := ts[0]; d.State != tt.want || !d.From.Equal(seen) || d.MetAt == nil || !d.MetAt.Equal(inc.DeclaredAt) {
				t.Errorf("declare target = %+v; want %s, from %v to the declaration at %v", d, tt.want, seen, inc.DeclaredAt)
			}

			w.clock.add(time.Minute)
			later := w.ingestAlert("dlp", fmt.Sprintf("later-%d", i), w.clock.Now())
			inc, _, err = w.svc.AttachAlertTo(ctx, tt.by, later, inc.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d := inc.TargetStatus(w.clock.Now())[0]; !d.From.Equal(seen) || d.State != tt.want {
				t.Errorf("after a later alert the declare target = %+v; want it unchanged", d)
			}
			if v, err := w.svc.Verify(ctx, tt.by, inc.ID); err != nil || !v.OK {
				t.Errorf("verify %s: %+v, %v", inc.ID, v, err)
			}
		})
	}
}
