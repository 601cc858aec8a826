package exercise_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/app"
	"github.com/sitrep-ir/sitrep/client"
	"github.com/sitrep-ir/sitrep/dispatch"
	"github.com/sitrep-ir/sitrep/exercise"
	"github.com/sitrep-ir/sitrep/internal/pgtest"
)

// The end-to-end tests run each shipped scenario on a real server (the app
// on 127.0.0.1, a real SQLite file, the starter plans and a dispatch rule)
// at high speed, with scripted participants acting through the API client,
// and check the after-action report's figures against what they did when.
//
// Participants act as soon as they see what they react to, so how long
// they take depends on the machine; each figure is checked against the
// scenario times just before and just after the action that sets it, and
// an expectation's state against the figure. No test times anything.

// dispatchRules declares the datacenter outage from its alerts, grouped by
// site, as docs/exercises.md shows.
const dispatchRules = `rules:
  - name: site-down
    match:
      labels:
        alertname: SiteDown
        site: "~.+"
    action: declare
    kind: datacenter-outage
    title: "{{ .Labels.site }} is down"
    group_by: [site]
`

// world is a running server and the people of the drills, each with a
// client of their own.
type world struct {
	t      *testing.T
	app    *server
	db     string // the store: a --db setting
	plans  string // the plans directory
	admin  *client.Client
	people map[string]*client.Client
	tokens map[string]string
}

const adminToken = "sitrep_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

// server is a running app that stops once, when stopped or when the test
// ends.
type server struct {
	*app.App
	once sync.Once
}

// startApp starts a server on the store db (a --db setting) with the plans
// of plans.
func startApp(t *testing.T, db, plans string) *server {
	t.Helper()
	a, err := app.New(context.Background(), app.Config{
		Addr: "127.0.0.1:0", DB: db, Plans: plans, BootstrapToken: adminToken, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	s := &server{App: a}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *server) stop(t *testing.T) {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// restart stops the server and starts another on the same store; the
// people keep their tokens.
func (w *world) restart() {
	w.t.Helper()
	w.app.stop(w.t)
	w.app = startApp(w.t, w.db, w.plans)
	w.admin = client.New(w.app.URL(), adminToken)
	for name, tok := range w.tokens {
		w.people[name] = client.New(w.app.URL(), tok)
	}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldOn(t, "sqlite:"+filepath.Join(t.TempDir(), "sitrep.db"))
}

// newWorldOn is newWorld on the store db names (a --db setting).
func newWorldOn(t *testing.T, db string) *world {
	t.Helper()
	plans := t.TempDir()
	files, _ := filepath.Glob(filepath.Join("..", "plans", "*.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plans, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(plans, dispatch.FileName), []byte(dispatchRules), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := startApp(t, db, plans)
	w := &world{t: t, app: a, db: db, plans: plans, admin: client.New(a.URL(), adminToken), people: map[string]*client.Client{}, tokens: map[string]string{}}
	for _, name := range []string{"ann", "bob", "cy", "dee"} {
		if _, err := w.admin.CreateUser(ctx, name, sitrep.OrgResponder, ""); err != nil {
			t.Fatal(err)
		}
		tok, err := w.admin.CreateToken(ctx, name, "drill")
		if err != nil {
			t.Fatal(err)
		}
		w.people[name] = client.New(a.URL(), tok.Secret)
		w.tokens[name] = tok.Secret
	}
	return w
}

// run is one exercise as the participants see it.
type run struct {
	w     *world
	t     *testing.T
	id    string
	start time.Time
	speed float64
}

// start starts the shipped scenario file as ann.
func (w *world) start(file string, speed float64) *run {
	w.t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "exercises", file))
	if err != nil {
		w.t.Fatal(err)
	}
	st, err := w.people["ann"].StartExercise(context.Background(), "exercises/"+file, data, speed)
	if err != nil {
		w.t.Fatalf("start %s: %v", file, err)
	}
	if st.State != exercise.StateRunning || st.Controller != "ann" || st.Speed != speed {
		w.t.Fatalf("started %+v", st)
	}
	return &run{w: w, t: w.t, id: st.ID, start: st.StartedAt, speed: speed}
}

// bounds are the scenario times just before and just after an action,
// widened by a second for rounding.
type bounds struct{ lo, hi exercise.Seconds }

func (r *run) now() float64 { return time.Since(r.start).Seconds() * r.speed }

// act does f as a participant and returns when, in scenario time, it was
// done.
func (r *run) act(f func() error) bounds {
	r.t.Helper()
	lo := r.now()
	if err := f(); err != nil {
		r.t.Fatalf("T+%.0fs: %v", lo, err)
	}
	return bounds{exercise.Seconds(math.Floor(lo)) - 1, exercise.Seconds(math.Ceil(r.now())) + 1}
}

// refused does f, which an ICS rule must refuse.
func (r *run) refused(rule string, f func() error) {
	r.t.Helper()
	err := f()
	if e := sitrep.AsError(err); e == nil || e.Kind != sitrep.EForbidden || e.Rule != rule {
		r.t.Fatalf("want a refusal by rule %s, got %v", rule, err)
	}
}

// waitFor polls the server until ok says what the participants wait for
// has happened: as fast as the sped-up scenario needs, no longer than
// the exercise could run.
func (r *run) waitFor(what string, ok func(st *exercise.Status) bool) *exercise.Status {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := r.w.people["ann"].Exercise(context.Background(), r.id)
		if err != nil {
			r.t.Fatalf("exercise %s: %v", r.id, err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("waited in vain for %s: %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inject waits for the named inject and returns it as fired.
func (r *run) inject(name string) exercise.InjectRecord {
	r.t.Helper()
	st := r.waitFor("inject "+name, func(st *exercise.Status) bool {
		return slices.ContainsFunc(st.Injects, func(in exercise.InjectRecord) bool { return in.Name == name })
	})
	i := slices.IndexFunc(st.Injects, func(in exercise.InjectRecord) bool { return in.Name == name })
	return st.Injects[i]
}

// incidentOf waits until the alert is on an incident and returns it.
func (r *run) incidentOf(alertID int64) string {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		al, err := r.w.people["ann"].Alert(context.Background(), alertID)
		if err != nil {
			r.t.Fatal(err)
		}
		if al.IncidentID != "" {
			return al.IncidentID
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("alert %d reached no incident: %+v", alertID, al)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// report waits for the end and returns the after-action report, checked
// against its Markdown form.
func (r *run) report() *exercise.Report {
	r.t.Helper()
	r.waitFor("the end", func(st *exercise.Status) bool { return st.State == exercise.StateEnded })
	rep, err := r.w.people["ann"].ExerciseReport(context.Background(), r.id)
	if err != nil {
		r.t.Fatal(err)
	}
	md, err := r.w.people["ann"].ExerciseReportMarkdown(context.Background(), r.id)
	if err != nil {
		r.t.Fatal(err)
	}
	if !strings.Contains(md, "**EXERCISE** "+r.id) || !strings.Contains(md, "# After-action report: ") {
		r.t.Errorf("the Markdown report does not say EXERCISE %s:\n%s", r.id, md)
	}
	if rep.EndReason != sitrep.ExerciseCompleted || rep.Elapsed != rep.Duration {
		r.t.Errorf("ended %s at T+%s, want completed at T+%s", rep.EndReason, rep.Elapsed, rep.Duration)
	}
	r.t.Logf("after-action report:\n%s", md)
	return rep
}

// within checks a figure of the report against the bounds of the action
// that sets it.
func within(t *testing.T, what string, got *exercise.Seconds, b bounds) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: not reached, want between T+%s and T+%s", what, b.lo, b.hi)
		return
	}
	if *got < b.lo || *got > b.hi {
		t.Errorf("%s at T+%s, want between T+%s and T+%s", what, *got, b.lo, b.hi)
	}
}

func milestone(rep *exercise.Report, name string) exercise.Milestone {
	for _, m := range rep.Milestones {
		if m.Name == name {
			return m
		}
	}
	return exercise.Milestone{}
}

// expectDone checks that an expectation was done by who within the bounds
// of the action that did it, and that its state says whether that was in
// time.
func expectDone(t *testing.T, rep *exercise.Report, name, who string, b bounds) {
	t.Helper()
	for _, x := range rep.Expectations {
		if x.Name != name {
			continue
		}
		within(t, "expectation "+name, x.DoneAt, b)
		if x.DoneAt == nil {
			return
		}
		want := exercise.StateMet
		if *x.DoneAt > *x.Due {
			want = exercise.StateLate
		}
		if x.State != want || x.By != who || *x.Took != *x.DoneAt-*x.From {
			t.Errorf("expectation %s: %s by %s, took %s; want %s by %s", name, x.State, x.By, *x.Took, want, who)
		}
		return
	}
	t.Errorf("no expectation %s in the report", name)
}

func expectState(t *testing.T, rep *exercise.Report, name, want string) {
	t.Helper()
	for _, x := range rep.Expectations {
		if x.Name == name {
			if x.State != want {
				t.Errorf("expectation %s: %s, want %s", name, x.State, want)
			}
			return
		}
	}
	t.Errorf("no expectation %s in the report", name)
}

func target(t *testing.T, rep *exercise.Report, name string) exercise.TargetResult {
	t.Helper()
	for _, tr := range rep.Targets {
		if tr.Name == name {
			return tr
		}
	}
	t.Errorf("no target %s in the report: %+v", name, rep.Targets)
	return exercise.TargetResult{}
}

// targetMet checks a target met by the milestone it measures.
func targetMet(t *testing.T, rep *exercise.Report, name, ms string) {
	t.Helper()
	tr := target(t, rep, name)
	m := milestone(rep, ms)
	if tr.MetAt == nil || m.At == nil || *tr.MetAt != *m.At || *tr.Took != *m.At-tr.From {
		t.Errorf("target %s: %+v, want met at %v", name, tr, m.At)
		return
	}
	want := exercise.StateMet
	if *tr.Took > tr.Target {
		want = exercise.StateLate
	}
	if tr.State != want {
		t.Errorf("target %s: %s, want %s", name, tr.State, want)
	}
}

func refusals(rep *exercise.Report) []string {
	var out []string
	for _, rf := range rep.Refusals {
		out = append(out, fmt.Sprintf("%s %s %d", rf.Rule, rf.User, rf.Count))
	}
	slices.Sort(out)
	return out
}

func checkVerified(t *testing.T, c *client.Client, id string) {
	t.Helper()
	v, err := c.Verify(context.Background(), id)
	if err != nil || !v.OK {
		t.Errorf("verify %s: %+v %v", id, v, err)
	}
}

// TestMalwareDrill: the desk declares from the EDR's alert.
func TestMalwareDrill(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	ann, bob, cy := w.people["ann"], w.people["bob"], w.people["cy"]
	r := w.start("malware-finance-laptop.yaml", 1800)

	edr := r.inject("edr-detection")
	var id string
	declared := r.act(func() error {
		res, err := ann.DeclareFromAlert(ctx, edr.AlertID, sitrep.DeclareInput{Kind: "malware"})
		if err == nil {
			id = res.Incident.ID
		}
		return err
	})
	checkedIn := r.act(func() error { _, err := bob.CheckIn(ctx, id); return err })
	named := r.act(func() error { _, err := ann.Assign(ctx, id, sitrep.RoleInformation, "bob"); return err })
	r.act(func() error { _, err := cy.CheckIn(ctx, id); return err })
	r.refused("freelancing", func() error { _, err := cy.Assign(ctx, id, sitrep.RoleOperations, "cy"); return err })

	r.inject("manager-call")
	r.refused("exercise", func() error { _, err := bob.Publish(ctx, id, "press", "No comment."); return err })
	told := r.act(func() error {
		_, err := bob.Publish(ctx, id, "internal", "Payroll is not affected; FIN-LAPTOP-7 is being isolated.")
		return err
	})
	contained := r.act(func() error {
		_, err := ann.ChangePhase(ctx, id, sitrep.PhaseContainment, "isolating the laptop")
		return err
	})
	inc, err := ann.Incident(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	isolate := 0
	for _, tk := range inc.Tasks {
		if strings.HasPrefix(tk.Title, "Isolate the host") {
			isolate = tk.ID
		}
	}
	isolated := r.act(func() error {
		_, err := ann.SetTaskStatus(ctx, id, isolate, sitrep.TaskDone, "EDR containment on")
		return err
	})

	rep := r.report()
	if rep.IncidentID != id || rep.PlanApplied != "malware" || rep.Declare != exercise.DeclareManual || !inc.Exercise {
		t.Errorf("report of %s with plan %q declared by %s (incident exercise: %t)", rep.IncidentID, rep.PlanApplied, rep.Declare, inc.Exercise)
	}
	within(t, "declared", milestone(rep, exercise.MilestoneDeclared).At, declared)
	if m := milestone(rep, exercise.MilestoneCommand); m.By != "ann" || *m.At != *milestone(rep, exercise.MilestoneDeclared).At {
		t.Errorf("command %+v: want ann, from the declaration", m)
	}
	within(t, "information officer", milestone(rep, exercise.MilestoneInformationOfficer).At, named)
	within(t, "first internal update", milestone(rep, exercise.MilestoneFirstInternal).At, told)
	if m := milestone(rep, exercise.MilestoneContained); m.At != nil {
		t.Errorf("contained at T+%s, but the drill never left containment", *m.At)
	}
	expectDone(t, rep, "declared", "ann", declared)
	expectDone(t, rep, "two-on-scene", "", checkedIn)
	expectDone(t, rep, "io-named", "bob", named)
	expectDone(t, rep, "finance-told", "bob", told)
	expectDone(t, rep, "contained", "ann", contained)
	expectDone(t, rep, "isolated", "ann", isolated)
	targetMet(t, rep, sitrep.TargetDeclare, exercise.MilestoneDeclared)
	targetMet(t, rep, sitrep.TargetInformationOfficer, exercise.MilestoneInformationOfficer)
	targetMet(t, rep, sitrep.TargetFirstInternalUpdate, exercise.MilestoneFirstInternal)
	if tr := target(t, rep, sitrep.TargetContained); tr.State != exercise.StateMissed || tr.Target != 3600 {
		t.Errorf("contained target %+v: want missed (1h, never past containment in 2h)", tr)
	}
	// Checklists: identification's 3 and containment's 3 opened, the
	// isolation done.
	if c := rep.Checklist; c.Done != 1 || len(c.Open) != 5 || !slices.Equal(c.NotReached, []sitrep.Phase{sitrep.PhaseEradication, sitrep.PhaseRecovery, sitrep.PhasePostMortem}) {
		t.Errorf("checklist %+v", c)
	}
	if got := refusals(rep); !slices.Equal(got, []string{"exercise bob 1", "freelancing cy 1"}) {
		t.Errorf("refusals %v", got)
	}
	// Five injects fired; the storm counted on the first alert.
	if len(rep.Injects) != 5 || rep.Injects[1].AlertID != edr.AlertID {
		t.Errorf("injects %+v", rep.Injects)
	}
	al, err := ann.Alert(ctx, edr.AlertID)
	if err != nil || al.Count != 501 || al.Source != sitrep.ExerciseSource || al.IncidentID != id {
		t.Errorf("the EDR alert after its storm: %+v %v: want 501 on %s", al, err, id)
	}
	if len(rep.Participants) != 3 {
		t.Errorf("participants %+v", rep.Participants)
	}
	checkVerified(t, ann, id)

	// The server's counts of real incidents leave the exercise out.
	resp, err := http.Get(w.app.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `sitrep_timeline_entries_total{exercise="true",type="incident.declared"} 1`) ||
		strings.Contains(string(body), `sitrep_timeline_entries_total{exercise="false",type="incident.declared"}`) {
		t.Errorf("metrics do not tell the exercise's declaration apart:\n%s", grep(string(body), "sitrep_timeline_entries_total"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDatacenterDrill: a dispatch rule declares from the first alert; the
// first responder takes command from dispatch.
func TestDatacenterDrill(t *testing.T) {
	t.Parallel()
	datacenterDrill(t, newWorld(t))
}

// TestDatacenterDrillPostgres runs the same drill on PostgreSQL.
func TestDatacenterDrillPostgres(t *testing.T) {
	t.Parallel()
	datacenterDrill(t, newWorldOn(t, pgtest.FreshDatabase(t)))
}

func datacenterDrill(t *testing.T, w *world) {
	ctx := context.Background()
	ann, bob, cy, dee := w.people["ann"], w.people["bob"], w.people["cy"], w.people["dee"]
	r := w.start("datacenter-outage.yaml", 1800)

	siteDown := r.inject("site-down")
	id := r.incidentOf(siteDown.AlertID)
	seen := exercise.Seconds(math.Ceil(r.now())) + 1
	r.act(func() error { _, err := ann.CheckIn(ctx, id); return err })
	command := r.act(func() error { _, err := ann.AcceptCommand(ctx, id); return err })
	r.act(func() error { _, err := bob.CheckIn(ctx, id); return err })
	named := r.act(func() error { _, err := ann.Assign(ctx, id, sitrep.RoleInformation, "bob"); return err })
	r.act(func() error { _, err := dee.CheckIn(ctx, id); return err })
	r.refused("freelancing", func() error {
		_, err := dee.AddTask(ctx, id, sitrep.AddTask{Section: sitrep.RoleOperations, Title: "Drive to DC1 and look"})
		return err
	})

	r.inject("facilities-call")
	r.act(func() error { _, err := cy.CheckIn(ctx, id); return err })
	safety := r.act(func() error { _, err := ann.Assign(ctx, id, sitrep.RoleSafety, "cy"); return err })
	r.inject("support-pressure")
	told := r.act(func() error {
		_, err := bob.Publish(ctx, id, "internal", "DC1 is down; services are failing over. Nobody goes to the site.")
		return err
	})
	failover := r.act(func() error { _, err := ann.ChangePhase(ctx, id, sitrep.PhaseContainment, "failing over"); return err })
	gen := r.inject("generator-failed")
	if got := r.incidentOf(gen.AlertID); got != id {
		t.Errorf("the generator's alert went to %s, want the site's incident %s", got, id)
	}

	rep := r.report()
	if rep.IncidentID != id || rep.PlanApplied != "datacenter-outage" || rep.Declare != exercise.DeclareDispatch {
		t.Errorf("report of %s with plan %q declared by %s", rep.IncidentID, rep.PlanApplied, rep.Declare)
	}
	decl := milestone(rep, exercise.MilestoneDeclared)
	within(t, "declared", decl.At, bounds{*siteDown.FiredAt - 1, seen})
	if decl.By != sitrep.DispatchUser {
		t.Errorf("declared by %q, want dispatch", decl.By)
	}
	if m := milestone(rep, exercise.MilestoneCommand); m.By != "ann" {
		t.Errorf("command taken by %q, want ann", m.By)
	}
	within(t, "command", milestone(rep, exercise.MilestoneCommand).At, command)
	within(t, "information officer", milestone(rep, exercise.MilestoneInformationOfficer).At, named)
	within(t, "first internal update", milestone(rep, exercise.MilestoneFirstInternal).At, told)
	expectDone(t, rep, "command-taken", "ann", command)
	expectDone(t, rep, "io-named", "bob", named)
	expectDone(t, rep, "safety-named", "cy", safety)
	expectDone(t, rep, "staff-told", "bob", told)
	expectDone(t, rep, "failover", "ann", failover)
	targetMet(t, rep, sitrep.TargetDeclare, exercise.MilestoneDeclared)
	targetMet(t, rep, sitrep.TargetCommand, exercise.MilestoneCommand)
	targetMet(t, rep, sitrep.TargetInformationOfficer, exercise.MilestoneInformationOfficer)
	targetMet(t, rep, sitrep.TargetFirstInternalUpdate, exercise.MilestoneFirstInternal)
	if tr := target(t, rep, sitrep.TargetContained); tr.MetAt != nil || tr.State == exercise.StateMet {
		t.Errorf("contained target %+v: want not met", tr)
	}
	if got := refusals(rep); !slices.Equal(got, []string{"freelancing dee 1"}) {
		t.Errorf("refusals %v", got)
	}
	al, err := ann.Alert(ctx, siteDown.AlertID)
	if err != nil || al.Count != 201 {
		t.Errorf("the site's alert after its storm: %+v %v: want 201", al, err)
	}
	checkVerified(t, ann, id)
}

// TestBreachDrill: the exercise declares at its start with ann as
// Command; the incident is confidential to the people named on it.
func TestBreachDrill(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	ann, bob, cy, dee := w.people["ann"], w.people["bob"], w.people["cy"], w.people["dee"]
	r := w.start("pii-breach-researcher.yaml", 2700)
	st := r.waitFor("the incident", func(st *exercise.Status) bool { return st.IncidentID != "" })
	id := st.IncidentID
	if _, err := dee.Exercise(ctx, r.id); sitrep.ErrorKind(err) != sitrep.ENotFound {
		t.Errorf("dee, not named on the confidential exercise, sees it: %v", err)
	}
	r.act(func() error { _, err := ann.NameMember(ctx, id, "bob"); return err })
	r.act(func() error { _, err := ann.NameMember(ctx, id, "cy"); return err })
	r.act(func() error { _, err := bob.CheckIn(ctx, id); return err })
	three := r.act(func() error { _, err := cy.CheckIn(ctx, id); return err })
	named := r.act(func() error { _, err := ann.Assign(ctx, id, sitrep.RoleInformation, "bob"); return err })
	r.refused("freelancing", func() error { _, err := cy.Assign(ctx, id, sitrep.RoleLiaison, "cy"); return err })
	bucket := r.inject("bucket-public")
	r.act(func() error { _, err := ann.AttachAlert(ctx, bucket.AlertID, id); return err })

	r.inject("reporter-call")
	r.refused("exercise", func() error {
		_, err := bob.Publish(ctx, id, "press", "We are investigating.")
		return err
	})
	briefed := r.act(func() error {
		_, err := bob.Publish(ctx, id, "executives", "A reporter asks about customer data; holding line: we are investigating.")
		return err
	})
	contained := r.act(func() error {
		_, err := ann.ChangePhase(ctx, id, sitrep.PhaseContainment, "bucket made private")
		return err
	})

	rep := r.report()
	if rep.Declare != exercise.DeclareStart || rep.PlanApplied != "data-breach" {
		t.Errorf("declared by %s with plan %q", rep.Declare, rep.PlanApplied)
	}
	if m := milestone(rep, exercise.MilestoneDeclared); m.By != "ann" || m.At == nil || *m.At > 2 {
		t.Errorf("declared %+v: want by ann at the start", m)
	}
	within(t, "information officer", milestone(rep, exercise.MilestoneInformationOfficer).At, named)
	within(t, "first internal update", milestone(rep, exercise.MilestoneFirstInternal).At, briefed)
	expectDone(t, rep, "io-named", "bob", named)
	expectDone(t, rep, "three-on-scene", "", three)
	expectDone(t, rep, "executives-briefed", "bob", briefed)
	expectDone(t, rep, "access-closed", "ann", contained)
	expectState(t, rep, "liaison-named", exercise.StateMissed)
	if rep.Summary.ExpectationsMissed != 1 {
		t.Errorf("summary %+v: want the liaison missed", rep.Summary)
	}
	targetMet(t, rep, sitrep.TargetCommand, exercise.MilestoneCommand)
	targetMet(t, rep, sitrep.TargetInformationOfficer, exercise.MilestoneInformationOfficer)
	targetMet(t, rep, sitrep.TargetFirstInternalUpdate, exercise.MilestoneFirstInternal)
	for _, tr := range rep.Targets {
		if tr.Name == sitrep.TargetDeclare {
			t.Errorf("a declare target measured for an exercise that declares at its start: %+v", tr)
		}
	}
	if got := refusals(rep); !slices.Equal(got, []string{"exercise bob 1", "freelancing cy 1"}) {
		t.Errorf("refusals %v", got)
	}
	inc, err := ann.Incident(ctx, id)
	if err != nil || !inc.Exercise || !inc.Confidential || len(inc.Alerts) != 1 {
		t.Errorf("incident %+v %v: want a confidential exercise with the bucket's alert", inc, err)
	}
	for _, c := range inc.Communications {
		if !c.Exercise || sitrep.IsExternalAudience(c.Audience) {
			t.Errorf("communication %+v: an exercise's are marked and internal", c)
		}
	}
	if _, err := dee.ExerciseReport(ctx, r.id); sitrep.ErrorKind(err) != sitrep.ENotFound {
		t.Errorf("dee reads the confidential exercise's report: %v", err)
	}
	checkVerified(t, ann, id)
}

// TestRestartEndsExercise: a server that stops ends the exercises it runs,
// on their record; the next server reads their state and report from it.
func TestRestartEndsExercise(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	r := w.start("pii-breach-researcher.yaml", 1)
	st := r.waitFor("the incident", func(st *exercise.Status) bool { return st.IncidentID != "" })
	w.restart()
	got, err := w.people["ann"].Exercise(ctx, r.id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != exercise.StateEnded || got.EndReason != sitrep.ExerciseServerStopped || got.IncidentID != st.IncidentID || len(got.Injects) != 1 {
		t.Errorf("after a restart: %+v; want ended server-stopped with its first inject", got)
	}
	rep, err := w.people["ann"].ExerciseReport(ctx, r.id)
	if err != nil {
		t.Fatal(err)
	}
	if rep.EndReason != sitrep.ExerciseServerStopped || rep.EndedAt == nil || rep.IncidentID != st.IncidentID || len(rep.Expectations) != 5 {
		t.Errorf("report after a restart: %+v", rep)
	}
	if _, err := w.people["ann"].StopExercise(ctx, r.id); sitrep.ErrorKind(err) != sitrep.EConflict {
		t.Errorf("stopping an exercise no server runs: %v, want a conflict", err)
	}
	if _, err := w.people["dee"].Exercise(ctx, r.id); sitrep.ErrorKind(err) != sitrep.ENotFound {
		t.Errorf("dee reads the confidential exercise from the record: %v", err)
	}
	checkVerified(t, w.people["ann"], st.IncidentID)
}
