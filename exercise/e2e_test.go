package exercise_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
// with scripted participants acting through the API client, and check the
// after-action report's figures exactly against what they did when.
//
// The server's clock is a ManualClock that the test moves: the service
// stamps the timeline with it and the runner fires the injects by it. The
// test moves scenario time to the next moment a participant acts or an
// inject is due, waits until the runner has fired and recorded what is due
// (watching the exercise's state and report, not sleeping), lets the
// participants act at that moment, and moves on. Every figure is thus
// known exactly, however loaded the machine. One run on the real clock
// checks what cannot depend on the machine's speed.

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
	// clock is the server's clock, moved by the test; nil on the real one.
	clock *exercise.ManualClock
}

// clockOrNil is the server's clock as app.Config takes it.
func (w *world) clockOrNil() sitrep.Clock {
	if w.clock == nil {
		return nil
	}
	return w.clock
}

const adminToken = "sitrep_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

// server is a running app that stops once, when stopped or when the test
// ends.
type server struct {
	*app.App
	once sync.Once
}

// startApp starts a server on the store db (a --db setting) with the plans
// of plans, on clock (the system's when nil).
func startApp(t *testing.T, db, plans string, clock sitrep.Clock) *server {
	t.Helper()
	a, err := app.New(context.Background(), app.Config{
		Addr: "127.0.0.1:0", DB: db, Plans: plans, BootstrapToken: adminToken, Logger: slog.New(slog.DiscardHandler),
		Clock: clock,
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
	w.app = startApp(w.t, w.db, w.plans, w.clockOrNil())
	w.admin = client.New(w.app.URL(), adminToken)
	for name, tok := range w.tokens {
		w.people[name] = client.New(w.app.URL(), tok)
	}
}

// newWorld starts a server on a SQLite file whose clock the test moves.
func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldOn(t, "sqlite:"+filepath.Join(t.TempDir(), "sitrep.db"), manualClock())
}

// manualClock is a clock standing at the present, on a whole second.
func manualClock() *exercise.ManualClock {
	return exercise.NewManualClock(time.Now().UTC().Truncate(time.Second))
}

// newWorldOn is newWorld on the store db names (a --db setting), on clock
// (the real one when nil).
func newWorldOn(t *testing.T, db string, clock *exercise.ManualClock) *world {
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
	w := &world{t: t, db: db, plans: plans, clock: clock, people: map[string]*client.Client{}, tokens: map[string]string{}}
	w.app = startApp(t, db, plans, w.clockOrNil())
	a := w.app
	w.admin = client.New(a.URL(), adminToken)
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
	sc    *exercise.Scenario
	start time.Time // scenario time 0 by the server's clock
	speed float64
	// now is the scenario time the test has moved the clock to.
	now exercise.Seconds
	// incident is the exercise's incident once the participants know it:
	// from then on the runner must have recorded the injects on it.
	incident string
}

// start starts the shipped scenario file as ann.
func (w *world) start(file string, speed float64) *run {
	w.t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "exercises", file))
	if err != nil {
		w.t.Fatal(err)
	}
	sc, problems := exercise.Parse(file, data)
	if problems != nil {
		w.t.Fatalf("parse %s: %v", file, problems)
	}
	st, err := w.people["ann"].StartExercise(context.Background(), "exercises/"+file, data, speed)
	if err != nil {
		w.t.Fatalf("start %s: %v", file, err)
	}
	if st.State != exercise.StateRunning || st.Controller != "ann" || st.Speed != speed {
		w.t.Fatalf("started %+v", st)
	}
	if w.clock != nil && !st.StartedAt.Equal(w.clock.Now()) {
		w.t.Fatalf("started at %s, want the server's clock's %s", st.StartedAt, w.clock.Now())
	}
	return &run{w: w, t: w.t, id: st.ID, sc: sc, start: st.StartedAt, speed: speed}
}

// at moves scenario time forward to s, stopping at each inject due on the
// way, and waits until the runner has done what falls due: fired the
// injects (and, once the incident is known, recorded them on its
// timeline), or ended the exercise.
func (r *run) at(s exercise.Seconds) {
	r.t.Helper()
	if s < r.now {
		r.t.Fatalf("the script goes back in time: T+%s after T+%s", s, r.now)
	}
	for _, in := range r.sc.Injects {
		if in.At > r.now && in.At < s {
			r.moveTo(in.At)
		}
	}
	r.moveTo(s)
}

func (r *run) moveTo(s exercise.Seconds) {
	r.t.Helper()
	r.now = s
	r.w.clock.Set(r.start.Add(time.Duration(float64(s.D()) / r.speed)))
	r.settle()
}

// follow tells the drill the exercise's incident, once the participants
// know it, and waits until the runner has found it and recorded on it
// what it fired.
func (r *run) follow(incident string) {
	r.t.Helper()
	r.incident = incident
	r.settle()
}

// settle waits until the runner has done what is due at the current
// scenario time.
func (r *run) settle() {
	r.t.Helper()
	var due []string
	for _, in := range r.sc.Injects {
		if in.At <= r.now {
			due = append(due, in.Name)
		}
	}
	ended := r.now >= r.sc.Duration
	r.waitFor(fmt.Sprintf("injects %v at T+%s", due, r.now), func(st *exercise.Status) bool {
		if !slices.Equal(injectNames(st.Injects), due) || st.IncidentID != r.incident {
			return false
		}
		if ended && st.State != exercise.StateEnded {
			return false
		}
		if r.incident == "" {
			return true
		}
		rep, err := r.w.people["ann"].ExerciseReport(context.Background(), r.id)
		if err != nil {
			r.t.Fatalf("report of %s: %v", r.id, err)
		}
		return rep.IncidentID == r.incident && slices.Equal(injectNames(rep.Injects), due)
	})
}

func injectNames(ins []exercise.InjectRecord) []string {
	out := []string{}
	for _, in := range ins {
		out = append(out, in.Name)
	}
	return out
}

// do has a participant act, at the current scenario time.
func (r *run) do(f func() error) {
	r.t.Helper()
	if err := f(); err != nil {
		r.t.Fatalf("T+%s: %v", r.now, err)
	}
}

// refused does f, which an ICS rule must refuse.
func (r *run) refused(rule string, f func() error) {
	r.t.Helper()
	err := f()
	if e := sitrep.AsError(err); e == nil || e.Kind != sitrep.EForbidden || e.Rule != rule {
		r.t.Fatalf("want a refusal by rule %s, got %v", rule, err)
	}
}

// waitFor polls the server until ok says what the drill waits for has
// happened. The deadline only ends a test that would otherwise hang.
func (r *run) waitFor(what string, ok func(st *exercise.Status) bool) *exercise.Status {
	r.t.Helper()
	deadline := time.Now().Add(time.Minute)
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

// inject returns the named inject as fired, which is due.
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
	deadline := time.Now().Add(time.Minute)
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

// report moves scenario time to the end and returns the after-action
// report, checked against its Markdown form.
func (r *run) report() *exercise.Report {
	r.t.Helper()
	r.at(r.sc.Duration)
	rep := r.endReport()
	if rep.EndReason != sitrep.ExerciseCompleted || rep.Elapsed != rep.Duration {
		r.t.Errorf("ended %s at T+%s, want completed at T+%s", rep.EndReason, rep.Elapsed, rep.Duration)
	}
	if rep.EndedAt == nil || !rep.EndedAt.Equal(r.w.clock.Now()) {
		r.t.Errorf("ended at %v, want %s", rep.EndedAt, r.w.clock.Now())
	}
	// Every inject fired at its moment.
	for i, in := range rep.Injects {
		if in.Name != r.sc.Injects[i].Name || in.FiredAt == nil || *in.FiredAt != in.At {
			r.t.Errorf("inject %d: %s fired at T+%v, want %s at T+%s", i, in.Name, in.FiredAt, r.sc.Injects[i].Name, in.At)
		}
	}
	return rep
}

// endReport returns the after-action report of the exercise, which has
// ended, checked against its Markdown form.
func (r *run) endReport() *exercise.Report {
	r.t.Helper()
	rep, err := r.w.people["ann"].ExerciseReport(context.Background(), r.id)
	if err != nil {
		r.t.Fatal(err)
	}
	md, err := r.w.people["ann"].ExerciseReportMarkdown(context.Background(), r.id)
	if err != nil {
		r.t.Fatal(err)
	}
	if !strings.Contains(md, "**EXERCISE** "+r.id) || !strings.Contains(md, "# After-action report: "+r.sc.Title) {
		r.t.Errorf("the Markdown report does not say EXERCISE %s of %q:\n%s", r.id, r.sc.Title, md)
	}
	r.t.Logf("after-action report:\n%s", md)
	return rep
}

// T is a scenario time of the drills' scripts: T(1, 30) is T+1h30m.
func T(hours, minutes int) exercise.Seconds { return exercise.Seconds(hours*3600 + minutes*60) }

func milestone(rep *exercise.Report, name string) exercise.Milestone {
	for _, m := range rep.Milestones {
		if m.Name == name {
			return m
		}
	}
	return exercise.Milestone{}
}

// reached checks that a milestone was reached at a scenario time, by who.
func reached(t *testing.T, rep *exercise.Report, name string, at exercise.Seconds, who string) {
	t.Helper()
	m := milestone(rep, name)
	if m.At == nil || *m.At != at || m.By != who {
		t.Errorf("milestone %s: %+v, want reached at T+%s by %s", name, m, at, who)
	}
}

func expectation(t *testing.T, rep *exercise.Report, name string) exercise.ExpectationResult {
	t.Helper()
	for _, x := range rep.Expectations {
		if x.Name == name {
			return x
		}
	}
	t.Errorf("no expectation %s in the report", name)
	return exercise.ExpectationResult{}
}

// expectDone checks that an expectation was done by who at a scenario
// time, with the state that follows from its deadline.
func expectDone(t *testing.T, rep *exercise.Report, name, who string, at exercise.Seconds, state string) {
	t.Helper()
	x := expectation(t, rep, name)
	if x.DoneAt == nil || *x.DoneAt != at || x.By != who || x.State != state || x.From == nil || x.Took == nil || *x.Took != at-*x.From {
		t.Errorf("expectation %s: %s by %q at T+%v (from T+%v, took %v); want %s by %q at T+%s", name, x.State, x.By, x.DoneAt, x.From, x.Took, state, who, at)
	}
}

func expectState(t *testing.T, rep *exercise.Report, name, want string) {
	t.Helper()
	if x := expectation(t, rep, name); x.State != want {
		t.Errorf("expectation %s: %s, want %s", name, x.State, want)
	}
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

// targetMet checks a target met by the milestone it measures, taking took
// scenario seconds, with state.
func targetMet(t *testing.T, rep *exercise.Report, name, ms string, took exercise.Seconds, state string) {
	t.Helper()
	tr := target(t, rep, name)
	m := milestone(rep, ms)
	if tr.MetAt == nil || m.At == nil || *tr.MetAt != *m.At || tr.Took == nil || *tr.Took != took || *tr.Took != *m.At-tr.From || tr.State != state {
		t.Errorf("target %s: %+v, want %s at %v, taking %s", name, tr, state, m.At, took)
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

func checkedIn(rep *exercise.Report) []string {
	var out []string
	for _, p := range rep.Participants {
		out = append(out, fmt.Sprintf("%s T+%s", p.User, p.CheckedIn))
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

	r.at(0)
	edr := r.inject("edr-detection")
	r.at(T(0, 2)) // the storm, before anyone declares
	r.at(T(0, 4))
	var id string
	r.do(func() error {
		res, err := ann.DeclareFromAlert(ctx, edr.AlertID, sitrep.DeclareInput{Kind: "malware"})
		if err == nil {
			id = res.Incident.ID
		}
		return err
	})
	r.follow(id)
	r.at(T(0, 6))
	r.do(func() error { _, err := bob.CheckIn(ctx, id); return err })
	r.at(T(0, 8))
	r.do(func() error { _, err := ann.Assign(ctx, id, sitrep.RoleInformation, "bob"); return err })
	r.at(T(0, 9))
	r.do(func() error { _, err := cy.CheckIn(ctx, id); return err })
	r.refused("freelancing", func() error { _, err := cy.Assign(ctx, id, sitrep.RoleOperations, "cy"); return err })

	r.at(T(0, 30)) // the manager calls
	r.refused("exercise", func() error { _, err := bob.Publish(ctx, id, "press", "No comment."); return err })
	r.at(T(0, 50)) // after the backup team's question; containment is late
	r.do(func() error {
		_, err := bob.Publish(ctx, id, "internal", "Payroll is not affected; FIN-LAPTOP-7 is being isolated.")
		return err
	})
	r.do(func() error {
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
	r.at(T(0, 55))
	r.do(func() error {
		_, err := ann.SetTaskStatus(ctx, id, isolate, sitrep.TaskDone, "EDR containment on")
		return err
	})

	rep := r.report()
	if rep.IncidentID != id || rep.PlanApplied != "malware" || rep.Declare != exercise.DeclareManual || !inc.Exercise {
		t.Errorf("report of %s with plan %q declared by %s (incident exercise: %t)", rep.IncidentID, rep.PlanApplied, rep.Declare, inc.Exercise)
	}
	reached(t, rep, exercise.MilestoneDeclared, T(0, 4), "ann")
	reached(t, rep, exercise.MilestoneCommand, T(0, 4), "ann")
	reached(t, rep, exercise.MilestoneInformationOfficer, T(0, 8), "bob")
	reached(t, rep, exercise.MilestoneFirstInternal, T(0, 50), "bob")
	if m := milestone(rep, exercise.MilestoneContained); m.At != nil {
		t.Errorf("contained at T+%s, but the drill never left containment", *m.At)
	}
	expectDone(t, rep, "declared", "ann", T(0, 4), exercise.StateMet)
	expectDone(t, rep, "two-on-scene", "", T(0, 6), exercise.StateMet)
	expectDone(t, rep, "io-named", "bob", T(0, 8), exercise.StateMet)
	expectDone(t, rep, "finance-told", "bob", T(0, 50), exercise.StateMet)
	expectDone(t, rep, "contained", "ann", T(0, 50), exercise.StateLate) // within 45m
	expectDone(t, rep, "isolated", "ann", T(0, 55), exercise.StateMet)
	targetMet(t, rep, sitrep.TargetDeclare, exercise.MilestoneDeclared, T(0, 4), exercise.StateMet)
	targetMet(t, rep, sitrep.TargetInformationOfficer, exercise.MilestoneInformationOfficer, T(0, 4), exercise.StateMet)
	targetMet(t, rep, sitrep.TargetFirstInternalUpdate, exercise.MilestoneFirstInternal, T(0, 46), exercise.StateMet)
	if tr := target(t, rep, sitrep.TargetContained); tr.State != exercise.StateMissed || tr.Target != 3600 {
		t.Errorf("contained target %+v: want missed (1h, never past containment in 2h)", tr)
	}
	want := exercise.Summary{ExpectationsMet: 5, ExpectationsLate: 1, TargetsMet: 3, TargetsMissed: 1, ChecklistOpen: 5, Refusals: 2}
	if rep.Summary != want {
		t.Errorf("summary %+v, want %+v", rep.Summary, want)
	}
	if got := checkedIn(rep); !slices.Equal(got, []string{"ann T+4m", "bob T+6m", "cy T+9m"}) {
		t.Errorf("participants checked in %v", got)
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
	datacenterDrill(t, newWorldOn(t, pgtest.FreshDatabase(t), manualClock()))
}

func datacenterDrill(t *testing.T, w *world) {
	ctx := context.Background()
	ann, bob, cy, dee := w.people["ann"], w.people["bob"], w.people["cy"], w.people["dee"]
	r := w.start("datacenter-outage.yaml", 1800)

	r.at(0)
	siteDown := r.inject("site-down")
	id := r.incidentOf(siteDown.AlertID)
	r.follow(id)
	r.at(T(0, 1)) // the storm
	r.at(T(0, 3))
	r.do(func() error { _, err := ann.CheckIn(ctx, id); return err })
	r.do(func() error { _, err := ann.AcceptCommand(ctx, id); return err })
	r.at(T(0, 4))
	r.do(func() error { _, err := bob.CheckIn(ctx, id); return err })
	r.do(func() error { _, err := ann.Assign(ctx, id, sitrep.RoleInformation, "bob"); return err })
	r.do(func() error { _, err := dee.CheckIn(ctx, id); return err })
	r.refused("freelancing", func() error {
		_, err := dee.AddTask(ctx, id, sitrep.AddTask{Section: sitrep.RoleOperations, Title: "Drive to DC1 and look"})
		return err
	})

	r.at(T(0, 5)) // facilities call
	r.at(T(0, 12))
	r.do(func() error { _, err := cy.CheckIn(ctx, id); return err })
	r.do(func() error { _, err := ann.Assign(ctx, id, sitrep.RoleSafety, "cy"); return err })
	r.at(T(0, 15)) // support asks what to tell customers
	r.at(T(0, 25))
	r.do(func() error { _, err := ann.ChangePhase(ctx, id, sitrep.PhaseContainment, "failing over"); return err })
	r.at(T(0, 40)) // staff told late
	r.do(func() error {
		_, err := bob.Publish(ctx, id, "internal", "DC1 is down; services are failing over. Nobody goes to the site.")
		return err
	})
	r.at(T(0, 45))
	gen := r.inject("generator-failed")
	if got := r.incidentOf(gen.AlertID); got != id {
		t.Errorf("the generator's alert went to %s, want the site's incident %s", got, id)
	}

	rep := r.report()
	if rep.IncidentID != id || rep.PlanApplied != "datacenter-outage" || rep.Declare != exercise.DeclareDispatch {
		t.Errorf("report of %s with plan %q declared by %s", rep.IncidentID, rep.PlanApplied, rep.Declare)
	}
	reached(t, rep, exercise.MilestoneDeclared, 0, sitrep.DispatchUser)
	reached(t, rep, exercise.MilestoneCommand, T(0, 3), "ann")
	reached(t, rep, exercise.MilestoneInformationOfficer, T(0, 4), "bob")
	reached(t, rep, exercise.MilestoneFirstInternal, T(0, 40), "bob")
	expectDone(t, rep, "declared", sitrep.DispatchUser, 0, exercise.StateMet)
	expectDone(t, rep, "command-taken", "ann", T(0, 3), exercise.StateMet)
	expectDone(t, rep, "io-named", "bob", T(0, 4), exercise.StateMet)
	expectDone(t, rep, "safety-named", "cy", T(0, 12), exercise.StateMet)
	expectDone(t, rep, "staff-told", "bob", T(0, 40), exercise.StateLate) // within 20m of T+15m
	expectDone(t, rep, "failover", "ann", T(0, 25), exercise.StateMet)
	targetMet(t, rep, sitrep.TargetDeclare, exercise.MilestoneDeclared, 0, exercise.StateMet)
	targetMet(t, rep, sitrep.TargetCommand, exercise.MilestoneCommand, T(0, 3), exercise.StateMet)
	targetMet(t, rep, sitrep.TargetInformationOfficer, exercise.MilestoneInformationOfficer, T(0, 4), exercise.StateMet)
	targetMet(t, rep, sitrep.TargetFirstInternalUpdate, exercise.MilestoneFirstInternal, T(0, 40), exercise.StateLate)
	if tr := target(t, rep, sitrep.TargetContained); tr.MetAt != nil || tr.State == exercise.StateMet {
		t.Errorf("contained target %+v: want not met", tr)
	}
	if got := checkedIn(rep); !slices.Equal(got, []string{"ann T+3m", "bob T+4m", "cy T+12m", "dee T+4m"}) {
		t.Errorf("participants checked in %v", got)
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
	r.follow(id)
	if _, err := dee.Exercise(ctx, r.id); sitrep.ErrorKind(err) != sitrep.ENotFound {
		t.Errorf("dee, not named on the confidential exercise, sees it: %v", err)
	}
	r.at(T(0, 2))
	r.do(func() error { _, err := ann.NameMember(ctx, id, "bob"); return err })
	r.do(func() error { _, err := ann.NameMember(ctx, id, "cy"); return err })
	r.do(func() error { _, err := bob.CheckIn(ctx, id); return err })
	r.at(T(0, 3))
	r.do(func() error { _, err := cy.CheckIn(ctx, id); return err })
	r.at(T(0, 4))
	r.do(func() error { _, err := ann.Assign(ctx, id, sitrep.RoleInformation, "bob"); return err })
	r.refused("freelancing", func() error { _, err := cy.Assign(ctx, id, sitrep.RoleLiaison, "cy"); return err })
	r.at(T(0, 5))
	bucket := r.inject("bucket-public")
	r.at(T(0, 6))
	r.do(func() error { _, err := ann.AttachAlert(ctx, bucket.AlertID, id); return err })

	r.at(T(0, 20)) // the reporter calls
	r.refused("exercise", func() error {
		_, err := bob.Publish(ctx, id, "press", "We are investigating.")
		return err
	})
	r.at(T(0, 25))
	r.do(func() error {
		_, err := bob.Publish(ctx, id, "executives", "A reporter asks about customer data; holding line: we are investigating.")
		return err
	})
	r.at(T(2, 30)) // after the regulator's question; containment is late
	r.do(func() error {
		_, err := ann.ChangePhase(ctx, id, sitrep.PhaseContainment, "bucket made private")
		return err
	})

	rep := r.report()
	if rep.Declare != exercise.DeclareStart || rep.PlanApplied != "data-breach" {
		t.Errorf("declared by %s with plan %q", rep.Declare, rep.PlanApplied)
	}
	reached(t, rep, exercise.MilestoneDeclared, 0, "ann")
	reached(t, rep, exercise.MilestoneCommand, 0, "ann")
	reached(t, rep, exercise.MilestoneInformationOfficer, T(0, 4), "bob")
	reached(t, rep, exercise.MilestoneFirstInternal, T(0, 25), "bob")
	expectDone(t, rep, "io-named", "bob", T(0, 4), exercise.StateMet)
	expectDone(t, rep, "three-on-scene", "", T(0, 3), exercise.StateMet)
	expectDone(t, rep, "executives-briefed", "bob", T(0, 25), exercise.StateMet)
	expectDone(t, rep, "access-closed", "ann", T(2, 30), exercise.StateLate) // within 2h
	expectState(t, rep, "liaison-named", exercise.StateMissed)
	want := exercise.Summary{ExpectationsMet: 3, ExpectationsLate: 1, ExpectationsMissed: 1, TargetsMet: 4, Refusals: 2}
	if rep.Summary.ExpectationsMet != want.ExpectationsMet || rep.Summary.ExpectationsLate != want.ExpectationsLate ||
		rep.Summary.ExpectationsMissed != want.ExpectationsMissed || rep.Summary.ExpectationsOpen != 0 || rep.Summary.Refusals != want.Refusals {
		t.Errorf("summary %+v: want the liaison missed and containment late", rep.Summary)
	}
	targetMet(t, rep, sitrep.TargetCommand, exercise.MilestoneCommand, 0, exercise.StateMet)
	targetMet(t, rep, sitrep.TargetInformationOfficer, exercise.MilestoneInformationOfficer, T(0, 4), exercise.StateMet)
	targetMet(t, rep, sitrep.TargetFirstInternalUpdate, exercise.MilestoneFirstInternal, T(0, 25), exercise.StateMet)
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

// TestRealTimeDrill runs a scenario on the real clock, sped up as
// --speed asks, with nobody acting, and checks only what the machine's
// speed cannot change: the run ends, completed; its report names the
// scenario; every inject fired, in order, none early.
func TestRealTimeDrill(t *testing.T) {
	t.Parallel()
	w := newWorldOn(t, "sqlite:"+filepath.Join(t.TempDir(), "sitrep.db"), nil)
	speed, err := exercise.ParseSpeed("3600x")
	if err != nil {
		t.Fatal(err)
	}
	r := w.start("datacenter-outage.yaml", speed) // 2h in 2s
	r.waitFor("the end", func(st *exercise.Status) bool { return st.State == exercise.StateEnded })
	rep := r.endReport()
	if rep.Scenario != r.sc.Name || rep.Title != r.sc.Title || rep.EndReason != sitrep.ExerciseCompleted || rep.Elapsed != r.sc.Duration {
		t.Errorf("report of %q (%q), ended %s at T+%s; want %q completed at T+%s", rep.Scenario, rep.Title, rep.EndReason, rep.Elapsed, r.sc.Name, r.sc.Duration)
	}
	// Whether dispatch's incident is found before the end depends on the
	// machine: the report comes from its timeline or, without one, from
	// what the runner sent. Either lists every inject.
	if got, want := injectNames(rep.Injects), scenarioInjects(r.sc); !slices.Equal(got, want) {
		t.Errorf("injects fired %v, want %v", got, want)
	}
	var last exercise.Seconds
	for _, in := range rep.Injects {
		if in.FiredAt == nil || *in.FiredAt+1 < in.At || *in.FiredAt < last {
			t.Errorf("inject %s due at T+%s fired at T+%v, after one at T+%s", in.Name, in.At, in.FiredAt, last)
			continue
		}
		last = *in.FiredAt
	}
}

// scenarioInjects names the scenario's injects, in order.
func scenarioInjects(sc *exercise.Scenario) []string {
	out := []string{}
	for _, in := range sc.Injects {
		out = append(out, in.Name)
	}
	return out
}

// TestRestartEndsExercise: a server that stops ends the exercises it runs,
// on their record; the next server reads their state and report from it.
func TestRestartEndsExercise(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	r := w.start("pii-breach-researcher.yaml", 1)
	st := r.waitFor("the incident", func(st *exercise.Status) bool { return st.IncidentID != "" })
	r.follow(st.IncidentID) // the first inject, at T+0, is on the record
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
