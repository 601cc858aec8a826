package exercise

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/plan"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// manualClock is moved by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// drill is a service on a real SQLite file with the starter plans and a
// clock the test moves, and the people of a drill.
type drill struct {
	t     *testing.T
	svc   *sitrep.Service
	store interface {
		sitrep.Store
		sitrep.AlertStore
	}
	clock *manualClock
	t0    time.Time
	users map[string]*sitrep.User
}

func newDrill(t *testing.T) *drill {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sitrep.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	lib, err := plan.NewLibrary(filepath.Join("..", "plans"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 7, 14, 5, 0, 0, time.UTC)
	d := &drill{t: t, svc: sitrep.NewService(store, nil), store: store, clock: &manualClock{t: t0}, t0: t0, users: map[string]*sitrep.User{}}
	d.svc.Clock = d.clock
	d.svc.Plans = lib
	for _, name := range []string{"ann", "bob", "cy"} {
		u := &sitrep.User{Name: name, Role: sitrep.OrgResponder, CreatedAt: t0}
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		d.users[name] = u
	}
	return d
}

// at moves the clock to scenario second s at speed 60: real second s/60
// after t0.
func (d *drill) at(s int) { d.clock.set(d.t0.Add(time.Duration(s) * time.Second / 60)) }

func (d *drill) do(by, id string, cmd sitrep.Command) error {
	_, _, err := d.svc.Do(context.Background(), d.users[by], id, cmd)
	return err
}

func (d *drill) must(by, id string, cmd sitrep.Command) {
	d.t.Helper()
	if err := d.do(by, id, cmd); err != nil {
		d.t.Fatalf("%s %s: %v", by, cmd.Action(), err)
	}
}

func (d *drill) record(id string, cs ...sitrep.Change) {
	d.t.Helper()
	if _, _, err := d.svc.RecordExercise(context.Background(), d.users["ann"], id, cs...); err != nil {
		d.t.Fatal(err)
	}
}

func (d *drill) entries(id string) []sitrep.Entry {
	d.t.Helper()
	es, err := d.svc.Store.Entries(context.Background(), id, 0, 10000)
	if err != nil {
		d.t.Fatal(err)
	}
	return es
}

const drillScenario = `title: Ransomware drill
plan: malware
declare: manual
duration: 1h
injects:
  - {name: edr, at: 0s, alert: {summary: Ransomware on FIN-LAPTOP-7, severity: 2, labels: {host: FIN-LAPTOP-7}}}
  - {name: call, at: 10m, message: {to: information, from: Head of Finance, text: Is payroll affected?}}
  - {name: never, at: 59m, message: {to: command, text: too late to matter}}
expect:
  - {name: declared, do: declare, within: 15m}
  - {name: io, do: assign, role: information, within: 5m}
  - {name: told, do: publish, audience: internal, by: information, after: call, within: 10m}
  - {name: two, do: checkin, count: 2, within: 5m}
  - {name: contained, do: phase, phase: containment, within: 30m}
  - {name: note, do: note, contains: payroll, after: never, within: 1m}
  - {name: asset, do: asset, kind: host, within: 50m}
`

func secs(s int) *Seconds { v := Seconds(s); return &v }

// TestCompute runs a drill at 60x by hand, one real second a scenario
// minute, and checks every figure of the report against what was done
// when.
func TestCompute(t *testing.T) {
	d := newDrill(t)
	ctx := context.Background()
	sc, ps := Parse("drill.yaml", []byte(drillScenario))
	if ps != nil {
		t.Fatal(ps)
	}
	const id = "EX-00000000aa"
	// T+0: the EDR alert goes in through the intake.
	res, err := d.store.IngestAlerts(ctx, []sitrep.Ingest{{Source: sitrep.ExerciseSource, ReceivedAt: d.t0, Event: sitrep.AlertEvent{
		Action: sitrep.ActionTrigger, DedupKey: id + "/edr", Severity: 2, Summary: "Ransomware on FIN-LAPTOP-7",
		Labels: map[string]string{"host": "FIN-LAPTOP-7", sitrep.ExerciseLabel: id}, OccurredAt: d.t0, Raw: "{}",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	// T+2m: ann declares from the desk: the malware plan applies.
	d.at(120)
	inc, _, err := d.svc.DeclareFromAlert(ctx, d.users["ann"], res[0].AlertID, sitrep.DeclareInput{Kind: "malware"})
	if err != nil {
		t.Fatal(err)
	}
	if !inc.Exercise || inc.Plan == nil || inc.Plan.Name != "malware" {
		t.Fatalf("declared %+v: want an exercise run with the malware plan", inc)
	}
	d.record(inc.ID, &sitrep.ExerciseStarted{Exercise: id, Scenario: sc.Name, Title: sc.Title, Plan: sc.Plan, Speed: 60, StartedAt: d.t0, SHA256: sc.SHA256, Spec: sc.Spec()},
		&sitrep.ExerciseInjected{Exercise: id, Inject: "edr", At: 0, FiredAt: d.t0, AlertID: res[0].AlertID, Summary: "Ransomware on FIN-LAPTOP-7"})
	// T+3m bob checks in; T+8m ann names him Information Officer: late.
	d.at(180)
	d.must("bob", inc.ID, sitrep.CheckIn{})
	d.at(480)
	d.must("ann", inc.ID, sitrep.Assign{Role: sitrep.RoleInformation, User: "bob"})
	// T+10m the call; T+11m cy checks in and freelances, twice.
	d.at(600)
	d.record(inc.ID, &sitrep.ExerciseInjected{Exercise: id, Inject: "call", At: 600, FiredAt: d.t0.Add(10 * time.Second), To: "information", From: "Head of Finance", Text: "Is payroll affected?"})
	d.at(660)
	d.must("cy", inc.ID, sitrep.CheckIn{})
	if err := d.do("cy", inc.ID, sitrep.Assign{Role: sitrep.RoleOperations, User: "cy"}); sitrep.ErrorKind(err) != sitrep.EForbidden {
		t.Fatalf("cy freelancing: %v", err)
	}
	if err := d.do("cy", inc.ID, sitrep.AddTask{Section: sitrep.RoleOperations, Title: "reimage"}); sitrep.ErrorKind(err) != sitrep.EForbidden {
		t.Fatalf("cy freelancing: %v", err)
	}
	// T+14m ann speaks though bob is the voice; T+15m bob tells the press
	// (an exercise: refused) and, T+16m, Finance.
	d.at(840)
	if err := d.do("ann", inc.ID, sitrep.Publish{Audience: "internal", Text: "payroll is fine"}); sitrep.ErrorKind(err) != sitrep.EForbidden {
		t.Fatalf("ann publishing: %v", err)
	}
	d.at(900)
	if err := d.do("bob", inc.ID, sitrep.Publish{Audience: "press", Text: "no comment"}); sitrep.ErrorKind(err) != sitrep.EForbidden {
		t.Fatalf("bob to the press: %v", err)
	}
	d.at(960)
	d.must("bob", inc.ID, sitrep.Publish{Audience: "internal", Text: "Payroll is not affected."})
	// T+20m containment; T+25m a task of its checklist done; T+40m back
	// to identification; T+45m containment again.
	d.at(1200)
	d.must("ann", inc.ID, sitrep.ChangePhase{Phase: sitrep.PhaseContainment, Reason: "isolating"})
	d.at(1500)
	after, _ := d.svc.Store.Incident(ctx, inc.ID)
	isolate := 0
	for _, tk := range after.Tasks {
		if strings.HasPrefix(tk.Title, "Isolate the host") {
			isolate = tk.ID
		}
	}
	d.must("ann", inc.ID, sitrep.SetTaskStatus{ID: isolate, Status: sitrep.TaskDone})
	d.at(2400)
	d.must("ann", inc.ID, sitrep.ChangePhase{Phase: sitrep.PhaseIdentification, Reason: "second host?"})
	d.at(2700)
	d.must("ann", inc.ID, sitrep.ChangePhase{Phase: sitrep.PhaseContainment, Reason: "no, the same"})
	// T+59m the last inject; T+1h the end.
	d.at(3540)
	d.record(inc.ID, &sitrep.ExerciseInjected{Exercise: id, Inject: "never", At: 3540, FiredAt: d.t0.Add(59 * time.Second), To: "command", Text: "too late to matter"})
	d.at(3600)
	d.record(inc.ID, &sitrep.ExerciseEnded{Exercise: id, Reason: sitrep.ExerciseCompleted, EndedAt: d.clock.Now(), Elapsed: 3600})
	// What happens after the end does not count.
	d.at(3660)
	d.must("ann", inc.ID, sitrep.LinkAsset{Kind: "host", Name: "FIN-LAPTOP-7"})

	rep, err := Compute(d.entries(inc.ID), d.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ended := d.t0.Add(time.Minute)
	want := &Report{
		Exercise: id, Scenario: "drill", Title: "Ransomware drill", Plan: "malware", PlanApplied: "malware", PlanVersion: rep.PlanVersion,
		IncidentID: inc.ID, Speed: 60, Declare: DeclareManual, StartedAt: d.t0, EndedAt: &ended, EndReason: sitrep.ExerciseCompleted,
		Duration: 3600, Elapsed: 3600,
		Participants: []Participant{{User: "ann", Roles: []string{"command"}, CheckedIn: 120}, {User: "bob", Roles: []string{"information"}, CheckedIn: 180}, {User: "cy", Roles: []string{}, CheckedIn: 660}},
		Milestones: []Milestone{
			{Name: MilestoneDeclared, Title: "Incident declared", At: secs(120), SinceFirstInject: secs(120), SinceDeclared: secs(0), By: "ann"},
			{Name: MilestoneCommand, Title: "Command held by a person", At: secs(120), SinceFirstInject: secs(120), SinceDeclared: secs(0), By: "ann"},
			{Name: MilestoneInformationOfficer, Title: "Information Officer named", At: secs(480), SinceFirstInject: secs(480), SinceDeclared: secs(360), By: "bob"},
			{Name: MilestoneFirstInternal, Title: "First internal update", At: secs(960), SinceFirstInject: secs(960), SinceDeclared: secs(840), By: "bob"},
			{Name: MilestoneContained, Title: "Contained (past containment)"},
		},
		Phases: []PhaseTime{
			{Phase: sitrep.PhaseIdentification, Duration: 1080 + 300, Entered: 2},
			{Phase: sitrep.PhaseContainment, Duration: 1200 + 900, Entered: 2, Current: true},
		},
		Expectations: []ExpectationResult{
			{Name: "declared", Title: "Incident declared", State: StateMet, After: "edr", From: secs(0), Due: secs(900), DoneAt: secs(120), By: "ann", Took: secs(120)},
			{Name: "io", Title: "Role information assigned", State: StateLate, After: AfterDeclared, From: secs(120), Due: secs(420), DoneAt: secs(480), By: "bob", Took: secs(360)},
			{Name: "told", Title: "Update published to internal by information", State: StateMet, After: "call", From: secs(600), Due: secs(1200), DoneAt: secs(960), By: "bob", Took: secs(360)},
			{Name: "two", Title: "2 people checked in", State: StateMet, After: AfterDeclared, From: secs(120), Due: secs(420), DoneAt: secs(180), Took: secs(60)},
			{Name: "contained", Title: "Phase containment reached", State: StateMet, After: AfterDeclared, From: secs(120), Due: secs(1920), DoneAt: secs(1200), By: "ann", Took: secs(1080)},
			{Name: "note", Title: `Note about "payroll"`, State: StateOpen, After: "never", From: secs(3540), Due: secs(3600)},
			{Name: "asset", Title: "A host linked", State: StateMissed, After: AfterDeclared, From: secs(120), Due: secs(3120)},
		},
		Targets: []TargetResult{
			{Name: sitrep.TargetDeclare, Title: "Declared, from the first alert", Target: 1800, From: 0, Due: 1800, MetAt: secs(120), Took: secs(120), State: StateMet},
			{Name: sitrep.TargetInformationOfficer, Title: "Information Officer named, from the declaration", Target: 7200, From: 120, Due: 7320, MetAt: secs(480), Took: secs(360), State: StateMet},
			{Name: sitrep.TargetFirstInternalUpdate, Title: "First internal update, from the declaration", Target: 7200, From: 120, Due: 7320, MetAt: secs(960), Took: secs(840), State: StateMet},
			{Name: sitrep.TargetContained, Title: "Contained, from the declaration", Target: 3600, From: 120, Due: 3720, State: StateOpen},
		},
		Checklist: ChecklistResult{Done: 1, Open: rep.Checklist.Open, NotReached: []sitrep.Phase{sitrep.PhaseEradication, sitrep.PhaseRecovery, sitrep.PhasePostMortem}},
		Refusals: []Refusals{
			{Rule: "freelancing", User: "cy", Count: 2, Actions: []string{"assign", "task add"}, First: rep.Refusals[0].First},
			{Rule: "exercise", User: "bob", Count: 1, Actions: []string{"update"}, First: "update: " + inc.ID + " is an exercise, and exercises never reach an external audience (press)"},
			{Rule: "one-voice", User: "ann", Count: 1, Actions: []string{"update"}, First: rep.Refusals[2].First},
		},
		Injects: []InjectRecord{
			{Name: "edr", At: 0, FiredAt: secs(0), AlertID: res[0].AlertID, Summary: "Ransomware on FIN-LAPTOP-7"},
			{Name: "call", At: 600, FiredAt: secs(600), To: "information", From: "Head of Finance", Text: "Is payroll affected?"},
			{Name: "never", At: 3540, FiredAt: secs(3540), To: "command", Text: "too late to matter"},
		},
		Summary: Summary{ExpectationsMet: 4, ExpectationsLate: 1, ExpectationsMissed: 1, ExpectationsOpen: 1, TargetsMet: 3, ChecklistOpen: 5, Refusals: 4},
		Notes:   []string{},
	}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	// The checklist items left open: identification's three, and
	// containment's but the isolation.
	var open []string
	for _, it := range rep.Checklist.Open {
		open = append(open, string(it.Phase)+": "+it.Section)
	}
	if got := strings.Join(open, "; "); got != "identification: operations; identification: planning; identification: operations; containment: operations; containment: operations" {
		t.Errorf("open items: %s", got)
	}
	md := rep.Markdown()
	for _, s := range []string{
		"# After-action report: Ransomware drill", "**EXERCISE** EX-00000000aa", "on incident " + inc.ID,
		"| Speed | 60x: 1h of scenario time in 1m0s of real time |",
		"- Expected actions: 4 met, 1 late, 1 missed, 1 still open at the end.",
		"| Information Officer named | T+8m | 8m | 6m | bob |",
		"| Contained (past containment) | not reached | | | |",
		"| Role information assigned (`io`) | declared | T+7m | T+8m | 6m | bob | **late** |",
		"| A host linked (`asset`) | declared | T+52m | — | — |  | **missed** |",
		"| identification | 23m | 2× |", "| containment (at the end) | 35m | 2× |",
		"| freelancing | cy | 2 | assign, task add |",
		"Checklists of phases not reached: eradication, recovery, post-mortem.",
		"| call | T+10m | T+10m | message to information from Head of Finance: Is payroll affected? |",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("the Markdown lacks %q:\n%s", s, md)
		}
	}
}

// TestComputeWithoutEnd measures a record without an end (the server
// running the exercise stopped) up to now, and says so.
func TestComputeWithoutEnd(t *testing.T) {
	d := newDrill(t)
	sc, _ := Parse("start.yaml", []byte("title: T\nplan: malware\nduration: 1h\nexpect: [{name: io, do: assign, role: information, within: 10m}]\n"))
	inc, _, err := d.svc.Declare(context.Background(), d.users["ann"], sitrep.DeclareInput{Title: "T", Kind: "malware", Exercise: true})
	if err != nil {
		t.Fatal(err)
	}
	d.record(inc.ID, &sitrep.ExerciseStarted{Exercise: "EX-00000000bb", Scenario: sc.Name, Title: sc.Title, Plan: sc.Plan, Speed: 60, StartedAt: d.t0, Spec: sc.Spec()})
	rep, err := Compute(d.entries(inc.ID), d.t0.Add(5*time.Minute)) // T+5h at 60x
	if err != nil {
		t.Fatal(err)
	}
	if rep.EndReason != "not-ended" || rep.EndedAt != nil || rep.Elapsed != 3600 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "no end") {
		t.Errorf("report without an end: reason %q, ended %v, elapsed %s, notes %q", rep.EndReason, rep.EndedAt, rep.Elapsed, rep.Notes)
	}
	if rep.Expectations[0].State != StateMissed {
		t.Errorf("io: %s, want missed (due T+10m, now T+5h)", rep.Expectations[0].State)
	}
	if _, err := Compute(d.entries(inc.ID)[:1], d.t0); err == nil {
		t.Errorf("a timeline without exercise.started computed a report")
	}
}
