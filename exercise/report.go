package exercise

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// Report is the after-action report of an exercise: what the participants
// did, measured in scenario time against the scenario's expected actions
// and the plan's targets. It is computed from the incident's timeline (see
// Compute), so anyone can recompute it from the record.
type Report struct {
	Exercise string `json:"exercise"`
	Scenario string `json:"scenario"`
	Title    string `json:"title"`
	// Plan is the plan rehearsed; PlanApplied the plan the incident ran
	// with and its version ("" when it ran with none).
	Plan        string  `json:"plan"`
	PlanApplied string  `json:"plan_applied,omitempty"`
	PlanVersion string  `json:"plan_version,omitempty"`
	IncidentID  string  `json:"incident_id,omitempty"`
	Speed       float64 `json:"speed"`
	Declare     string  `json:"declare"`
	// StartedAt is when scenario time 0 was, in real time; EndedAt when
	// the exercise ended, nil when it has not (yet, or on record).
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// EndReason is one of sitrep's Exercise… reasons, "running" while the
	// exercise runs, or "not-ended" when the record holds no end (the
	// server running it stopped without writing one).
	EndReason string `json:"end_reason"`
	// Duration is the scenario's length, Elapsed the scenario time at the
	// end of the exercise (or now).
	Duration Seconds `json:"duration"`
	Elapsed  Seconds `json:"elapsed"`

	Participants []Participant       `json:"participants"`
	Milestones   []Milestone         `json:"milestones"`
	Phases       []PhaseTime         `json:"phases"`
	Expectations []ExpectationResult `json:"expectations"`
	Targets      []TargetResult      `json:"targets"`
	Checklist    ChecklistResult     `json:"checklist"`
	Refusals     []Refusals          `json:"refusals"`
	Injects      []InjectRecord      `json:"injects"`
	// Summary counts what the report found.
	Summary Summary `json:"summary"`
	// Notes are remarks on the run: the incident ran with another plan,
	// no incident was declared, the record holds no end.
	Notes []string `json:"notes"`
}

// Summary counts the report's findings.
type Summary struct {
	ExpectationsMet    int `json:"expectations_met"`
	ExpectationsLate   int `json:"expectations_late"`
	ExpectationsMissed int `json:"expectations_missed"`
	ExpectationsOpen   int `json:"expectations_open"`
	TargetsMet         int `json:"targets_met"`
	TargetsMissed      int `json:"targets_missed"`
	ChecklistOpen      int `json:"checklist_open"`
	Refusals           int `json:"refusals"`
}

// Participant is a person who checked in to the exercise's incident.
type Participant struct {
	User string `json:"user"`
	// Roles are those held at the end of the exercise, command first.
	Roles []string `json:"roles"`
	// CheckedIn is when they first checked in, in scenario time.
	CheckedIn Seconds `json:"checked_in"`
}

// The milestones of a response, in the order they usually come.
const (
	MilestoneDeclared           = "declared"
	MilestoneCommand            = "command"
	MilestoneInformationOfficer = "information_officer"
	MilestoneFirstInternal      = "first_internal_update"
	MilestoneContained          = "contained"
)

var milestoneTitles = map[string]string{
	MilestoneDeclared:           "Incident declared",
	MilestoneCommand:            "Command held by a person",
	MilestoneInformationOfficer: "Information Officer named",
	MilestoneFirstInternal:      "First internal update",
	MilestoneContained:          "Contained (past containment)",
}

// Milestone is when a moment of the response was reached, in scenario
// time: since the start, since the first inject and since the declaration.
// The times are nil when it was not reached.
type Milestone struct {
	Name             string   `json:"name"`
	Title            string   `json:"title"`
	At               *Seconds `json:"at,omitempty"`
	SinceFirstInject *Seconds `json:"since_first_inject,omitempty"`
	SinceDeclared    *Seconds `json:"since_declared,omitempty"`
	By               string   `json:"by,omitempty"`
}

// PhaseTime is the time the incident spent in one phase, in scenario time,
// over every time it was in it.
type PhaseTime struct {
	Phase    sitrep.Phase `json:"phase"`
	Duration Seconds      `json:"duration"`
	// Entered counts the times the incident entered the phase (more than
	// once after going back).
	Entered int `json:"entered"`
	// Current is true for the phase the incident was in at the end.
	Current bool `json:"current,omitempty"`
}

// States of expectations and targets.
const (
	StateMet          = "met"           // done by the deadline
	StateLate         = "late"          // done, after the deadline
	StateMissed       = "missed"        // not done, and the deadline passed
	StateOpen         = "open"          // not done; the exercise ended before the deadline
	StateNotTriggered = "not-triggered" // what the deadline runs from never happened
)

// ExpectationResult is how one expected action went.
type ExpectationResult struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	State string `json:"state"`
	// From is when the deadline started running and Due the deadline, in
	// scenario time (nil when not triggered); DoneAt when the action was
	// taken, by whom.
	After  string   `json:"after"`
	From   *Seconds `json:"from,omitempty"`
	Due    *Seconds `json:"due,omitempty"`
	DoneAt *Seconds `json:"done_at,omitempty"`
	By     string   `json:"by,omitempty"`
	// Took is DoneAt - From: how long the participants took.
	Took *Seconds `json:"took,omitempty"`
}

// TargetResult is how the response did against one of the plan's time
// targets, in scenario time.
type TargetResult struct {
	Name   string   `json:"name"`
	Title  string   `json:"title"`
	Target Seconds  `json:"target"`
	From   Seconds  `json:"from"`
	Due    Seconds  `json:"due"`
	MetAt  *Seconds `json:"met_at,omitempty"`
	Took   *Seconds `json:"took,omitempty"`
	State  string   `json:"state"`
}

// ChecklistResult is what became of the plan's checklists.
type ChecklistResult struct {
	Done      int `json:"done"`
	Cancelled int `json:"cancelled"`
	// Open are the items of the checklists opened (the phases reached)
	// still open at the end.
	Open []ChecklistItem `json:"open"`
	// NotReached are the phases whose checklist never opened.
	NotReached []sitrep.Phase `json:"not_reached"`
}

// ChecklistItem is one task of a plan's checklist.
type ChecklistItem struct {
	Task     int          `json:"task"`
	Phase    sitrep.Phase `json:"phase"`
	Title    string       `json:"title"`
	Section  string       `json:"section"`
	Assignee string       `json:"assignee,omitempty"`
}

// Refusals are the requests an ICS rule refused one person: freelancing,
// communications by someone who is not the voice, external audiences.
type Refusals struct {
	Rule    string   `json:"rule"`
	User    string   `json:"user"`
	Count   int      `json:"count"`
	Actions []string `json:"actions"`
	// First is the first refusal's message.
	First string `json:"first"`
}

// InjectRecord is an inject as it fired.
type InjectRecord struct {
	Name    string   `json:"name"`
	At      Seconds  `json:"at"`
	FiredAt *Seconds `json:"fired_at,omitempty"` // scenario time it went out
	AlertID int64    `json:"alert_id,omitempty"`
	Summary string   `json:"summary,omitempty"`
	To      string   `json:"to,omitempty"`
	From    string   `json:"from,omitempty"`
	Text    string   `json:"text,omitempty"`
}

// errNoExercise says a timeline holds no exercise.
var errNoExercise = errors.New("the timeline holds no exercise.started entry")

// Compute computes the after-action report of the exercise whose entries
// (the whole timeline of its incident, in order) are given. It measures up
// to the exercise.ended entry; without one, up to now (a running
// exercise, or one whose server stopped). It uses only the record: the
// scenario in exercise.started, the plan in plan.applied, and what the
// participants did.
func Compute(entries []sitrep.Entry, now time.Time) (*Report, error) {
	var started *sitrep.ExerciseStarted
	for i := range entries {
		if entries[i].Type == (&sitrep.ExerciseStarted{}).Type() {
			c, err := sitrep.DecodeChange(&entries[i])
			if err != nil {
				return nil, err
			}
			started = c.(*sitrep.ExerciseStarted)
			break
		}
	}
	if started == nil {
		return nil, errNoExercise
	}
	sc, err := DecodeSpec(started.Spec)
	if err != nil {
		return nil, fmt.Errorf("the scenario recorded by exercise.started: %w", err)
	}
	c := newComputation(sc, started.Exercise, started.Speed, started.StartedAt)
	c.r.IncidentID = entries[0].IncidentID
	c.end, c.r.EndReason = now, "not-ended"
	for i := range entries {
		e := &entries[i]
		ch, err := sitrep.DecodeChange(e)
		if err != nil {
			return nil, err
		}
		if err := c.entry(e, ch); err != nil {
			return nil, err
		}
		if end, ok := ch.(*sitrep.ExerciseEnded); ok && end.Exercise == started.Exercise {
			c.end, c.r.EndReason = end.EndedAt, end.Reason
			t := end.EndedAt
			c.r.EndedAt = &t
			break
		}
	}
	if c.r.EndReason == "not-ended" {
		c.note("The record holds no end of this exercise: it is still running, or the server running it stopped (a restart ends running exercises).")
	}
	c.finish()
	return c.r, nil
}

// computation is the state of Compute as it walks the timeline.
type computation struct {
	sc    *Scenario
	r     *Report
	speed float64
	start time.Time
	end   time.Time
	// inc is the incident's state as replayed up to the current entry.
	inc *sitrep.Incident

	firstInject *time.Time
	firstAlert  *time.Time
	declared    *time.Time
	milestones  map[string]reached
	phaseSince  time.Time
	phases      map[sitrep.Phase]*PhaseTime
	expect      []*expectState
	planTasks   map[int]sitrep.Phase // task ID → phase of its checklist
	openingPh   sitrep.Phase
	opening     int // task.created entries still to come of a checklist
	injectAt    map[string]time.Time
	refusals    map[[2]string]*Refusals
	appliedPlan *sitrep.PlanApplied
}

// reached is when a milestone was reached, and by whom.
type reached struct {
	at time.Time
	by string
}

type expectState struct {
	e    Expectation
	from *time.Time // when the deadline started running
	done *time.Time
	by   string
	// since is when a state expectation's state came to hold (nil while it
	// does not), sinceBy whom it names.
	since   *time.Time
	sinceBy string
}

func newComputation(sc *Scenario, id string, speed float64, start time.Time) *computation {
	if speed <= 0 || math.IsNaN(speed) || math.IsInf(speed, 0) {
		speed = 1
	}
	c := &computation{
		sc: sc, speed: speed, start: start, inc: &sitrep.Incident{},
		milestones: map[string]reached{}, phases: map[sitrep.Phase]*PhaseTime{},
		planTasks: map[int]sitrep.Phase{}, injectAt: map[string]time.Time{}, refusals: map[[2]string]*Refusals{},
		r: &Report{
			Exercise: id, Scenario: sc.Name, Title: sc.Title, Plan: sc.Plan, Speed: speed, Declare: sc.Declare,
			StartedAt: start, Duration: sc.Duration,
			Participants: []Participant{}, Milestones: []Milestone{}, Phases: []PhaseTime{}, Expectations: []ExpectationResult{},
			Targets: []TargetResult{}, Checklist: ChecklistResult{Open: []ChecklistItem{}, NotReached: []sitrep.Phase{}},
			Refusals: []Refusals{}, Injects: []InjectRecord{}, Notes: []string{},
		},
	}
	for _, e := range sc.Expect {
		st := &expectState{e: e}
		if e.After == AfterStart {
			t := start
			st.from = &t
		}
		c.expect = append(c.expect, st)
	}
	return c
}

func (c *computation) note(format string, args ...any) {
	c.r.Notes = append(c.r.Notes, fmt.Sprintf(format, args...))
}

// at converts a real time to scenario time since the start.
func (c *computation) at(t time.Time) Seconds {
	return Seconds(math.Round(t.Sub(c.start).Seconds() * c.speed))
}

func (c *computation) atp(t time.Time) *Seconds {
	s := c.at(t)
	return &s
}

// span converts a real duration to scenario time.
func (c *computation) span(from, to time.Time) *Seconds {
	s := Seconds(math.Round(to.Sub(from).Seconds() * c.speed))
	return &s
}

// entry takes one entry of the timeline into account: ch is its change.
func (c *computation) entry(e *sitrep.Entry, ch sitrep.Change) error {
	before := c.inc
	after, err := replay(before, e)
	if err != nil {
		return err
	}
	switch ch := ch.(type) {
	case *sitrep.Declared:
		t := e.At
		c.declared = &t
		c.phaseSince = e.At
		c.enterPhase(sitrep.PhaseIdentification)
		c.reach(MilestoneDeclared, e.At, e.Actor)
		if e.Actor != sitrep.DispatchUser {
			c.reach(MilestoneCommand, e.At, e.Actor)
		}
		for _, st := range c.expect {
			if st.e.After == AfterDeclared {
				st.from = &t
			}
		}
	case *sitrep.PlanApplied:
		c.appliedPlan = ch
	case *sitrep.ChecklistOpened:
		c.openingPh, c.opening = ch.Phase, ch.Tasks
	case *sitrep.TaskCreated:
		if c.opening > 0 {
			c.planTasks[ch.ID] = c.openingPh
			c.opening--
		}
	case *sitrep.CommandTransferred:
		if ch.To != sitrep.DispatchUser {
			c.reach(MilestoneCommand, e.At, ch.To)
		}
	case *sitrep.RoleAssigned:
		if ch.Role == sitrep.RoleInformation {
			c.reach(MilestoneInformationOfficer, e.At, ch.User)
		}
	case *sitrep.Published:
		if !sitrep.IsExternalAudience(ch.Audience) {
			c.reach(MilestoneFirstInternal, e.At, e.Actor)
		}
	case *sitrep.PhaseChanged:
		c.leavePhase(ch.From, e.At)
		c.enterPhase(ch.To)
		if ch.To.Index() > sitrep.PhaseContainment.Index() && ch.To != sitrep.PhaseClosed {
			c.reach(MilestoneContained, e.At, e.Actor)
		}
	case *sitrep.Refused:
		k := [2]string{ch.Rule, e.Actor}
		rf := c.refusals[k]
		if rf == nil {
			rf = &Refusals{Rule: ch.Rule, User: e.Actor, First: ch.Message}
			c.refusals[k] = rf
		}
		rf.Count++
		if !slices.Contains(rf.Actions, ch.Action) {
			rf.Actions = append(rf.Actions, ch.Action)
		}
	case *sitrep.ExerciseInjected:
		fired := ch.FiredAt
		c.injectAt[ch.Inject] = fired
		if c.firstInject == nil || fired.Before(*c.firstInject) {
			c.firstInject = &fired
		}
		if ch.AlertID != 0 && (c.firstAlert == nil || fired.Before(*c.firstAlert)) {
			c.firstAlert = &fired
		}
		c.r.Injects = append(c.r.Injects, InjectRecord{Name: ch.Inject, At: Seconds(ch.At), FiredAt: c.atp(fired), AlertID: ch.AlertID, Summary: ch.Summary, To: ch.To, From: ch.From, Text: ch.Text})
		for _, st := range c.expect {
			if st.e.After == ch.Inject && st.from == nil {
				st.from = &fired
			}
		}
	}
	c.expectations(e, ch, before, after)
	c.inc = after
	return nil
}

// replay applies e to a copy of inc.
func replay(inc *sitrep.Incident, e *sitrep.Entry) (*sitrep.Incident, error) {
	next := cloneIncident(inc)
	if err := sitrep.Apply(next, e); err != nil {
		return nil, fmt.Errorf("replay the timeline: %w", err)
	}
	return next, nil
}

// cloneIncident copies the parts of the state that Apply changes in place.
func cloneIncident(inc *sitrep.Incident) *sitrep.Incident {
	n := *inc
	n.Roles = slices.Clone(inc.Roles)
	n.Resources = slices.Clone(inc.Resources)
	n.Members = slices.Clone(inc.Members)
	n.Tasks = slices.Clone(inc.Tasks)
	n.Assets = slices.Clone(inc.Assets)
	n.Communications = slices.Clone(inc.Communications)
	n.Alerts = slices.Clone(inc.Alerts)
	if inc.Announcement != nil {
		a := *inc.Announcement
		a.Acks, a.Pending = slices.Clone(a.Acks), slices.Clone(a.Pending)
		n.Announcement = &a
	}
	if inc.Plan != nil {
		p := *inc.Plan
		p.Opened = slices.Clone(p.Opened)
		p.Met = make(map[string]time.Time, len(inc.Plan.Met))
		for k, v := range inc.Plan.Met {
			p.Met[k] = v
		}
		n.Plan = &p
	}
	return &n
}

func (c *computation) reach(name string, at time.Time, by string) {
	if _, ok := c.milestones[name]; !ok {
		c.milestones[name] = reached{at, by}
	}
}

func (c *computation) enterPhase(p sitrep.Phase) {
	pt := c.phases[p]
	if pt == nil {
		pt = &PhaseTime{Phase: p}
		c.phases[p] = pt
	}
	pt.Entered++
}

func (c *computation) leavePhase(p sitrep.Phase, at time.Time) {
	if pt := c.phases[p]; pt != nil {
		pt.Duration += *c.span(c.phaseSince, at)
	}
	c.phaseSince = at
}

// expectations checks the expected actions against entry e. A state
// expectation (declared, command held, people checked in, role delegated,
// phase reached) is met when its state holds while its deadline runs: at
// the trigger if it held already, else when it came about. An event
// expectation is met by an entry at or after the trigger that is the
// action, taken in the role asked for (with the roles as they were before
// the entry).
func (c *computation) expectations(e *sitrep.Entry, ch sitrep.Change, before, after *sitrep.Incident) {
	for _, st := range c.expect {
		if st.done != nil {
			continue
		}
		x := st.e
		if stateAction(x.Do) {
			ok, by := stateHolds(x, after, e.Actor)
			switch {
			case ok && st.since == nil:
				t := e.At
				st.since, st.sinceBy = &t, by
			case !ok:
				st.since = nil
			}
			if st.from != nil && st.since != nil {
				t := *st.since
				if t.Before(*st.from) {
					t = *st.from
				}
				st.done, st.by = &t, st.sinceBy
			}
			continue
		}
		if st.from == nil || e.At.Before(*st.from) {
			continue
		}
		if eventMatches(x, e, ch, before, after) {
			t := e.At
			st.done, st.by = &t, e.Actor
		}
	}
}

func stateAction(do string) bool {
	switch do {
	case DoDeclare, DoCommand, DoCheckIn, DoAssign, DoPhase:
		return true
	}
	return false
}

// stateHolds reports whether the state meets a state expectation, and whom
// it names: the declarer, the Commander, the person given the role, or the
// actor of the entry that brought it about.
func stateHolds(x Expectation, inc *sitrep.Incident, actor string) (bool, string) {
	if inc.ID == "" {
		return false, ""
	}
	switch x.Do {
	case DoDeclare:
		return true, inc.DeclaredBy
	case DoCommand:
		return inc.Command != sitrep.DispatchUser, inc.Command
	case DoCheckIn:
		n := 0
		for _, u := range inc.OnScene() {
			if u != sitrep.DispatchUser {
				n++
			}
		}
		return n >= x.Count, ""
	case DoAssign:
		for _, r := range inc.Roles {
			if r.Role == x.Role {
				return true, r.User
			}
		}
	case DoPhase:
		return inc.Phase.Index() >= x.Phase.Index(), actor
	}
	return false, ""
}

// eventMatches reports whether entry e is the action an event expectation
// asks for, taken in the role it asks for.
func eventMatches(x Expectation, e *sitrep.Entry, ch sitrep.Change, before, after *sitrep.Incident) bool {
	if x.By != "" && before.Holder(x.By) != e.Actor {
		return false
	}
	switch ch := ch.(type) {
	case *sitrep.Published:
		return x.Do == DoPublish && (x.Audience == "" || x.Audience == ch.Audience)
	case *sitrep.CommandTransferred:
		return x.Do == DoTransfer && ch.From != sitrep.DispatchUser
	case *sitrep.TaskStatusChanged:
		if x.Do != DoTaskDone || ch.Status != sitrep.TaskDone {
			return false
		}
		for _, t := range after.Tasks {
			if t.ID == ch.ID {
				return contains(t.Title, x.Contains)
			}
		}
	case *sitrep.NoteAdded:
		return x.Do == DoNote && contains(ch.Text, x.Contains)
	case *sitrep.AssetLinked:
		return x.Do == DoAsset && (x.Kind == "" || x.Kind == ch.Kind)
	}
	return false
}

func contains(s, sub string) bool {
	return sub == "" || strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// finish closes the walk at c.end and fills the report.
func (c *computation) finish() {
	r := c.r
	r.Elapsed = min(max(c.at(c.end), 0), r.Duration)
	if c.declared == nil {
		c.note("No incident was declared.")
	}
	if ap := c.appliedPlan; ap != nil {
		r.PlanApplied = ap.Name
		r.PlanVersion = shortVersion(ap.SHA256, ap.Commit, ap.Modified)
		if ap.Name != c.sc.Plan {
			c.note("The incident ran with plan %s, not plan %s, which the scenario rehearses: check the kind the incident was declared with.", ap.Name, c.sc.Plan)
		}
	} else if c.declared != nil {
		c.note("The incident ran with no plan: no plan answers the kind it was declared with; the plan's targets and checklists could not be measured.")
	}

	// Milestones, in their order.
	// An alert fired before the incident existed is recorded after its
	// declaration: the first inject is known only now.
	for _, name := range []string{MilestoneDeclared, MilestoneCommand, MilestoneInformationOfficer, MilestoneFirstInternal, MilestoneContained} {
		m := Milestone{Name: name, Title: milestoneTitles[name]}
		if re, ok := c.milestones[name]; ok {
			m.At, m.By = c.atp(re.at), re.by
			if c.firstInject != nil && !re.at.Before(*c.firstInject) {
				m.SinceFirstInject = c.span(*c.firstInject, re.at)
			}
			if c.declared != nil {
				m.SinceDeclared = c.span(*c.declared, re.at)
			}
		}
		r.Milestones = append(r.Milestones, m)
	}

	// Phases: the current one runs to the end.
	if c.declared != nil {
		cur := c.inc.Phase
		if cur != sitrep.PhaseClosed {
			c.leavePhase(cur, c.end)
		}
		for _, p := range sitrep.Phases {
			if pt := c.phases[p]; pt != nil && p != sitrep.PhaseClosed {
				pt.Current = p == cur
				r.Phases = append(r.Phases, *pt)
			}
		}
	}

	// Expected actions.
	for _, st := range c.expect {
		x := st.e
		res := ExpectationResult{Name: x.Name, Title: expectationTitle(x), After: x.After}
		switch {
		case st.from == nil:
			res.State = StateNotTriggered
		default:
			res.From = c.atp(*st.from)
			due := *res.From + x.Within
			res.Due = &due
			deadline := st.from.Add(time.Duration(float64(x.Within.D()) / c.speed))
			switch {
			case st.done != nil:
				res.DoneAt, res.By = c.atp(*st.done), st.by
				took := *res.DoneAt - *res.From
				res.Took = &took
				res.State = StateMet
				if *res.Took > x.Within {
					res.State = StateLate
				}
			case c.end.After(deadline):
				res.State = StateMissed
			default:
				res.State = StateOpen
			}
		}
		switch res.State {
		case StateMet:
			r.Summary.ExpectationsMet++
		case StateLate:
			r.Summary.ExpectationsLate++
		case StateOpen:
			r.Summary.ExpectationsOpen++
		default:
			r.Summary.ExpectationsMissed++
		}
		r.Expectations = append(r.Expectations, res)
	}

	// The plan's targets, in scenario time.
	if ap := c.appliedPlan; ap != nil && c.declared != nil {
		t := ap.Targets
		target := func(name, title string, secs int64, from *time.Time, milestone string) {
			if secs <= 0 || from == nil {
				return
			}
			tr := TargetResult{Name: name, Title: title, Target: Seconds(secs), From: c.at(*from)}
			tr.Due = tr.From + tr.Target
			deadline := from.Add(time.Duration(float64(secs) * float64(time.Second) / c.speed))
			if m, ok := c.milestones[milestone]; ok {
				tr.MetAt = c.atp(m.at)
				took := *tr.MetAt - tr.From
				tr.Took = &took
				tr.State = StateMet
				if took > tr.Target {
					tr.State = StateLate
				}
			} else if c.end.After(deadline) {
				tr.State = StateMissed
			} else {
				tr.State = StateOpen
			}
			if tr.State == StateMet {
				r.Summary.TargetsMet++
			} else if tr.State != StateOpen {
				r.Summary.TargetsMissed++
			}
			r.Targets = append(r.Targets, tr)
		}
		if c.sc.Declare != DeclareStart {
			target(sitrep.TargetDeclare, "Declared, from the first alert", t.Declare, c.firstAlert, MilestoneDeclared)
		}
		target(sitrep.TargetCommand, "Command held by a person, from the declaration", t.Command, c.declared, MilestoneCommand)
		target(sitrep.TargetInformationOfficer, "Information Officer named, from the declaration", t.InformationOfficer, c.declared, MilestoneInformationOfficer)
		target(sitrep.TargetFirstInternalUpdate, "First internal update, from the declaration", t.FirstInternalUpdate, c.declared, MilestoneFirstInternal)
		target(sitrep.TargetContained, "Contained, from the declaration", t.Contained, c.declared, MilestoneContained)
	}

	// Checklists.
	if c.inc.Plan != nil {
		for _, tk := range c.inc.Tasks {
			ph, ok := c.planTasks[tk.ID]
			if !ok {
				continue
			}
			switch tk.Status {
			case sitrep.TaskDone:
				r.Checklist.Done++
			case sitrep.TaskCancelled:
				r.Checklist.Cancelled++
			default:
				r.Checklist.Open = append(r.Checklist.Open, ChecklistItem{Task: tk.ID, Phase: ph, Title: tk.Title, Section: tk.Section, Assignee: tk.Assignee})
			}
		}
		for _, p := range sitrep.Phases {
			if p == sitrep.PhaseClosed || slices.Contains(c.inc.Plan.Opened, p) {
				continue
			}
			if slices.ContainsFunc(c.inc.Plan.Tasks, func(t sitrep.PlanTask) bool { return t.Phase == p }) {
				r.Checklist.NotReached = append(r.Checklist.NotReached, p)
			}
		}
	}
	r.Summary.ChecklistOpen = len(r.Checklist.Open)

	// Participants.
	for _, res := range c.inc.Resources {
		if res.User == sitrep.DispatchUser {
			continue
		}
		roles := c.inc.RolesOf(res.User)
		if roles == nil {
			roles = []string{}
		}
		r.Participants = append(r.Participants, Participant{User: res.User, Roles: roles, CheckedIn: c.at(res.FirstCheckIn)})
	}

	// Refusals, by rule and person, most first.
	for _, rf := range c.refusals {
		r.Refusals = append(r.Refusals, *rf)
		r.Summary.Refusals += rf.Count
	}
	slices.SortFunc(r.Refusals, func(a, b Refusals) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Rule+" "+a.User, b.Rule+" "+b.User)
	})
}

// expectationTitle is the expectation's title, or one made from its action.
func expectationTitle(x Expectation) string {
	if x.Title != "" {
		return x.Title
	}
	by := ""
	if x.By != "" {
		by = " by " + x.By
	}
	switch x.Do {
	case DoDeclare:
		return "Incident declared"
	case DoCommand:
		return "Command held by a person"
	case DoCheckIn:
		if x.Count > 1 {
			return fmt.Sprintf("%d people checked in", x.Count)
		}
		return "Someone checked in"
	case DoAssign:
		return "Role " + x.Role + " assigned"
	case DoPublish:
		if x.Audience != "" {
			return "Update published to " + x.Audience + by
		}
		return "Update published" + by
	case DoPhase:
		return "Phase " + string(x.Phase) + " reached"
	case DoTransfer:
		return "Command transferred" + by
	case DoTaskDone:
		if x.Contains != "" {
			return fmt.Sprintf("Task %q done%s", x.Contains, by)
		}
		return "A task done" + by
	case DoNote:
		if x.Contains != "" {
			return fmt.Sprintf("Note about %q%s", x.Contains, by)
		}
		return "A note written" + by
	case DoAsset:
		if x.Kind != "" {
			return "A " + x.Kind + " linked" + by
		}
		return "An asset linked" + by
	}
	return x.Do
}

func shortVersion(sha, commit string, modified bool) string {
	s := "sha256:" + clip12(sha)
	if commit != "" {
		s += " (git " + clip12(commit)
		if modified {
			s += ", modified"
		}
		s += ")"
	}
	return s
}

func clip12(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
