package exercise

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/plan"
)

// Ingester is sitrep.Ingester: what stores alert events durably.
type Ingester = sitrep.Ingester

// Options configure a Runner.
type Options struct {
	// Service runs the incidents. Required; its store must keep alerts.
	Service *sitrep.Service
	// Intake stores the alert injects, as every way in does. Required for
	// scenarios with alerts.
	Intake Ingester
	// Plans returns the plans in force. Required.
	Plans func() *plan.Set
	// Declares, when set, tells whether the dispatch rules in use declare
	// an incident for an alert, and of which kind. Start refuses a
	// declare: dispatch scenario none of whose alerts a rule declares
	// from, which would otherwise wait for a declaration that never comes.
	Declares func(al *sitrep.Alert) (kind string, ok bool)
	// Logger receives the runner's logs; nil discards them.
	Logger *slog.Logger
	// MaxRunning bounds the exercises running at once (DefaultMaxRunning).
	MaxRunning int
	// Keep bounds the ended exercises kept in memory for status and
	// reports (DefaultKeep); older ones are found again from the record.
	Keep int
	// Poll is how often a running exercise looks for its incident and
	// whether it closed (DefaultPoll), in real time.
	Poll time.Duration
	// Clock is what scenario time runs on: the injects fire and the
	// exercise ends when it reaches their moment. Nil: the service's clock
	// when it is a Clock (a ManualClock in tests, so that the service's
	// timeline and the injects agree on the time), else MonotonicClock.
	Clock Clock
}

// Defaults of Options.
const (
	DefaultMaxRunning = 16
	DefaultKeep       = 200
	DefaultPoll       = 100 * time.Millisecond
)

// States of an exercise.
const (
	StateRunning = "running"
	StateEnded   = "ended"
)

// Status is an exercise as it stands: the API's answer to its state.
type Status struct {
	ID         string  `json:"id"`
	Scenario   string  `json:"scenario"`
	Title      string  `json:"title"`
	Plan       string  `json:"plan"`
	Declare    string  `json:"declare"`
	Speed      float64 `json:"speed"`
	Controller string  `json:"controller"`
	State      string  `json:"state"`
	// EndReason says why it ended: one of sitrep's Exercise… reasons.
	EndReason string     `json:"end_reason,omitempty"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// Elapsed and Duration are scenario time, in seconds.
	Elapsed  Seconds `json:"elapsed"`
	Duration Seconds `json:"duration"`
	// IncidentID is the exercise's incident, once declared.
	IncidentID string `json:"incident_id,omitempty"`
	// Injects are those fired so far, in order.
	Injects []InjectRecord `json:"injects"`
	// Next is the scenario time of the next inject, nil when none is left.
	Next *Seconds `json:"next,omitempty"`
	// Problem says what went wrong running it, if anything did: an inject
	// the intake refused, an incident that is not an exercise.
	Problem string `json:"problem,omitempty"`
}

// Runner runs exercises in the server: each in its own goroutine, on the
// real intake and the real service, faster than real time if asked. It
// keeps their state in memory for the running process; what matters goes
// on the incident's timeline, so a report can be computed after a restart,
// which ends the exercises that were running.
type Runner struct {
	svc      *sitrep.Service
	alerts   sitrep.AlertStore
	intake   Ingester
	plans    func() *plan.Set
	declares func(*sitrep.Alert) (string, bool)
	log      *slog.Logger
	max      int
	keep     int
	poll     time.Duration
	clock    Clock

	mu     sync.Mutex
	runs   map[string]*run
	order  []string // IDs in start order, for Keep
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// NewRunner returns a Runner. It panics when a required option is missing:
// a programming error of the caller.
func NewRunner(opts Options) *Runner {
	if opts.Service == nil || opts.Plans == nil {
		panic("exercise.NewRunner: Service and Plans are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxRunning <= 0 {
		opts.MaxRunning = DefaultMaxRunning
	}
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Clock == nil {
		opts.Clock = MonotonicClock{}
		if c, ok := opts.Service.Clock.(Clock); ok {
			opts.Clock = c
		}
	}
	alerts, _ := opts.Service.Store.(sitrep.AlertStore)
	r := &Runner{
		svc: opts.Service, alerts: alerts, intake: opts.Intake, plans: opts.Plans, declares: opts.Declares,
		log: opts.Logger.With("component", "exercise"), max: opts.MaxRunning, keep: opts.Keep, poll: opts.Poll,
		clock: opts.Clock,
		runs:  map[string]*run{},
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// run is one exercise in this process.
type run struct {
	r          *Runner
	id         string
	sc         *Scenario
	speed      float64
	controller *sitrep.User
	startedAt  time.Time // scenario time 0, by the service's clock
	start      time.Time // the same moment by the runner's Clock, for timers
	stopBy     chan string
	done       chan struct{}

	mu        sync.Mutex
	incident  string
	recorded  bool // exercise.started is on the timeline
	fired     []firedInject
	written   int // fired injects on the timeline
	next      int // index of the next inject to fire
	state     string
	endReason string
	endedAt   *time.Time
	elapsed   Seconds
	problem   string
}

type firedInject struct {
	in      *Inject
	at      time.Time
	alertID int64
}

// ParseSpeed reads a speed as people give it: 10x, 10×, 10 or 1.5x.
func ParseSpeed(s string) (float64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(t, "x"), "X"), "×")
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, sitrep.Invalid("speed", "speed %q is not valid: write how much faster than real time to run, such as 10x", clipText(s, 20))
	}
	if v < MinSpeed || v > MaxSpeed {
		return 0, sitrep.Invalid("speed", "speed %gx is out of range: %gx (real time) to %gx", v, MinSpeed, MaxSpeed)
	}
	return v, nil
}

// Start validates a scenario (file names it in problems) against the plans
// in force and the users of the server, and starts running it at speed
// (1 when 0) with actor as its controller. EInvalid lists every problem of
// the scenario, one per line, as file:line:col: message.
func (r *Runner) Start(ctx context.Context, actor *sitrep.User, file string, src []byte, speed float64) (*Status, error) {
	if actor == nil {
		return nil, sitrep.Errorf(sitrep.EUnauthorized, "exercise: sign in first")
	}
	if actor.Role == sitrep.OrgViewer {
		return nil, sitrep.Errorf(sitrep.EForbidden, "exercise: %s is a viewer and viewers cannot run exercises", actor.Name)
	}
	if speed == 0 {
		speed = 1
	}
	if _, err := ParseSpeed(strconv.FormatFloat(speed, 'g', -1, 64)); err != nil {
		return nil, err
	}
	if file == "" {
		file = "scenario.yaml"
	}
	if len(file) > 256 || strings.ContainsFunc(file, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, sitrep.Invalid("file", "file: the scenario's file name must be one line of at most 256 bytes")
	}
	sc, problems := Parse(file, src)
	if problems == nil {
		plans := r.plans()
		problems = Check(sc, plans)
		if problems == nil {
			problems = r.checkParticipants(ctx, sc)
		}
		if problems == nil {
			problems = r.checkDispatch(sc, plans)
		}
	}
	if problems != nil {
		return nil, &sitrep.Error{Kind: sitrep.EInvalid, Field: "scenario", Message: problems.Error()}
	}
	if sc.Alerts() && (r.intake == nil || r.alerts == nil) {
		return nil, sitrep.Errorf(sitrep.EConflict, "exercise: this server has no intake to send the scenario's alerts through")
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	ru := &run{
		r: r, id: id, sc: sc, speed: speed, controller: actor, state: StateRunning,
		stopBy: make(chan string, 1), done: make(chan struct{}),
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, sitrep.Errorf(sitrep.EConflict, "exercise: the server is stopping")
	}
	running := 0
	for _, o := range r.runs {
		if o.running() {
			running++
		}
	}
	if running >= r.max {
		r.mu.Unlock()
		return nil, sitrep.Errorf(sitrep.EConflict, "exercise: %d exercises are running, the most this server runs at once: stop one or wait", running)
	}
	ru.startedAt = r.svc.Clock.Now().UTC().Truncate(time.Microsecond)
	ru.start = r.clock.Now()
	r.runs[id] = ru
	r.order = append(r.order, id)
	r.forgetOld()
	r.wg.Add(1)
	r.mu.Unlock()
	r.log.Info("exercise started", "exercise", id, "scenario", sc.Name, "plan", sc.Plan, "speed", speed, "by", actor.Name)
	if sc.Declare == DeclareStart {
		if err := ru.declare(ctx); err != nil {
			ru.finish(ctx, ExerciseFailed(err))
			r.wg.Done()
			close(ru.done)
			return nil, err
		}
	}
	go ru.loop()
	return ru.status(), nil
}

// ExerciseFailed is the end reason of an exercise that could not run.
func ExerciseFailed(err error) string { return "failed: " + clipText(sitrep.ErrorMessage(err), 200) }

// forgetOld drops the oldest ended exercises beyond Keep. r.mu is held.
func (r *Runner) forgetOld() {
	for len(r.order) > r.keep {
		dropped := false
		for i, id := range r.order {
			if ru := r.runs[id]; ru != nil && !ru.running() {
				delete(r.runs, id)
				r.order = slices.Delete(r.order, i, i+1)
				dropped = true
				break
			}
		}
		if !dropped {
			return
		}
	}
}

func newID() (string, error) {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("exercise ID: %w", err)
	}
	return "EX-" + hex.EncodeToString(b), nil
}

func (r *Runner) checkParticipants(ctx context.Context, sc *Scenario) Problems {
	var ps Problems
	for i, u := range sc.Participants {
		if _, err := r.svc.Store.User(ctx, u); err != nil {
			ps = append(ps, sc.ParticipantProblem(i))
		}
	}
	return ps
}

// checkDispatch refuses a declare: dispatch scenario when the dispatch rules
// in use declare from none of its alerts, or declare another plan's kind.
func (r *Runner) checkDispatch(sc *Scenario, plans *plan.Set) Problems {
	if sc.Declare != DeclareDispatch || r.declares == nil {
		return nil
	}
	p := plans.Plan(sc.Plan)
	var kinds []string
	for i := range sc.Injects {
		in := &sc.Injects[i]
		if in.Alert == nil || in.Alert.Action == sitrep.ActionResolve {
			continue
		}
		al := &sitrep.Alert{Source: sitrep.ExerciseSource, DedupKey: in.Alert.DedupKey, Status: sitrep.AlertFiring, Triage: sitrep.TriagePending,
			Severity: in.Alert.Severity, Summary: in.Alert.Summary, Labels: in.Alert.Labels, Count: 1}
		kind, ok := r.declares(al)
		if !ok {
			continue
		}
		if p != nil && slices.Contains(p.Kinds, kind) {
			return nil
		}
		kinds = append(kinds, kind)
	}
	if len(kinds) > 0 {
		return Problems{sc.problem("declare", "the dispatch rules in use declare incidents of kind %s from this scenario's alerts, which plan %s does not answer (%s): the incident would not run with the plan rehearsed", strings.Join(slices.Compact(kinds), ", "), sc.Plan, strings.Join(p.Kinds, ", "))}
	}
	return Problems{sc.problem("declare", "no dispatch rule in use declares an incident from this scenario's alerts (they come from source %s with their labels): add a rule to dispatch.yaml that matches them, or use declare: manual and declare from the triage desk", sitrep.ExerciseSource)}
}

// declare declares the exercise's incident with the controller as Command
// (declare: start).
func (ru *run) declare(ctx context.Context) error {
	sc := ru.sc
	in := sitrep.DeclareInput{Title: sc.Title, Kind: sc.KindToDeclare(ru.r.plans()), Severity: sc.Severity, Exercise: true}
	inc, _, err := ru.r.svc.Declare(ctx, ru.controller, in)
	if err != nil {
		return fmt.Errorf("exercise %s: declare: %w", ru.id, err)
	}
	ru.mu.Lock()
	ru.incident = inc.ID
	ru.mu.Unlock()
	return ru.sync(ctx)
}

func (ru *run) running() bool {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	return ru.state == StateRunning
}

// realAt is when scenario time s falls, by the runner's Clock.
func (ru *run) realAt(s Seconds) time.Time {
	return ru.start.Add(time.Duration(float64(s.D()) / ru.speed))
}

// loop fires the injects on time, follows the incident and ends the
// exercise at its length, when stopped, when the incident closes, or when
// the server stops.
func (ru *run) loop() {
	defer ru.r.wg.Done()
	defer close(ru.done)
	ctx := ru.r.ctx
	clock := ru.r.clock
	ticker := time.NewTicker(ru.r.poll)
	defer ticker.Stop()
	end := ru.realAt(ru.sc.Duration)
	var timer Timer
	defer func() { timer.Stop() }()
	for {
		next := end
		if ru.next < len(ru.sc.Injects) {
			next = ru.realAt(ru.sc.Injects[ru.next].At)
		}
		if timer != nil {
			timer.Stop()
		}
		timer = clock.NewTimer(next.Sub(clock.Now()))
		select {
		case <-timer.C():
			for ru.next < len(ru.sc.Injects) && !clock.Now().Before(ru.realAt(ru.sc.Injects[ru.next].At)) {
				ru.fire(ctx, &ru.sc.Injects[ru.next])
				ru.mu.Lock()
				ru.next++
				ru.mu.Unlock()
			}
			if err := ru.sync(ctx); err != nil {
				ru.fail(err)
			}
			if ru.next >= len(ru.sc.Injects) && !clock.Now().Before(end) {
				ru.finish(ctx, sitrep.ExerciseCompleted)
				return
			}
		case <-ticker.C:
			if err := ru.sync(ctx); err != nil {
				ru.fail(err)
			}
			if ru.closed(ctx) {
				ru.finish(ctx, sitrep.ExerciseClosed)
				return
			}
		case by := <-ru.stopBy:
			ru.r.log.Info("exercise stopped", "exercise", ru.id, "by", by)
			ru.finish(ctx, sitrep.ExerciseStopped)
			return
		case <-ctx.Done():
			ru.finish(context.Background(), sitrep.ExerciseServerStopped)
			return
		}
	}
}

// fire sends one inject: an alert through the intake, or a message kept
// for the timeline.
func (ru *run) fire(ctx context.Context, in *Inject) {
	f := firedInject{in: in, at: ru.r.svc.Clock.Now().UTC().Truncate(time.Microsecond)}
	if a := in.Alert; a != nil {
		labels := make(map[string]string, len(a.Labels)+1)
		for k, v := range a.Labels {
			labels[k] = v
		}
		labels[sitrep.ExerciseLabel] = ru.id
		action := a.Action
		if action == "" {
			action = sitrep.ActionTrigger
		}
		raw, _ := json.Marshal(map[string]string{"exercise": ru.id, "inject": in.Name, "summary": a.Summary})
		ev := sitrep.AlertEvent{Action: action, DedupKey: ru.id + "/" + a.DedupKey, Severity: a.Severity, Summary: a.Summary, Labels: labels, OccurredAt: f.at, Raw: string(raw)}
		events := make([]sitrep.AlertEvent, max(a.Repeat, 1))
		for i := range events {
			events[i] = ev
		}
		res, err := ru.r.intake.Ingest(ctx, sitrep.ExerciseSource, events)
		if err != nil {
			ru.fail(fmt.Errorf("inject %s: the intake refused its alert: %w", in.Name, err))
			return
		}
		if len(res) > 0 {
			f.alertID = res[0].AlertID
		}
	}
	ru.mu.Lock()
	ru.fired = append(ru.fired, f)
	ru.mu.Unlock()
	ru.r.log.Debug("exercise inject", "exercise", ru.id, "inject", in.Name, "at", in.At.String())
}

// fail notes what went wrong; the exercise runs on.
func (ru *run) fail(err error) {
	ru.r.log.Warn("exercise", "exercise", ru.id, "err", err)
	ru.mu.Lock()
	ru.problem = clipText(sitrep.ErrorMessage(err), 500)
	if sitrep.ErrorKind(err) == sitrep.EInternal {
		ru.problem = clipText(err.Error(), 500)
	}
	ru.mu.Unlock()
}

// sync finds the incident once an alert inject is on one, and writes to
// its timeline what is not there yet: the start, the participants, and
// the injects fired.
func (ru *run) sync(ctx context.Context) error {
	ru.mu.Lock()
	incident, recorded := ru.incident, ru.recorded
	fired := slices.Clone(ru.fired)
	written := ru.written
	ru.mu.Unlock()
	if incident == "" {
		for _, f := range fired {
			if f.alertID == 0 {
				continue
			}
			al, err := ru.r.alerts.Alert(ctx, f.alertID)
			if err != nil {
				return fmt.Errorf("look for the exercise's incident: %w", err)
			}
			if al.IncidentID != "" {
				incident = al.IncidentID
				break
			}
		}
		if incident == "" {
			return nil
		}
		ru.mu.Lock()
		ru.incident = incident
		ru.mu.Unlock()
		ru.r.log.Info("exercise incident declared", "exercise", ru.id, "incident", incident)
	}
	var changes []sitrep.Change
	if !recorded {
		changes = append(changes, &sitrep.ExerciseStarted{
			Exercise: ru.id, Scenario: ru.sc.Name, Title: ru.sc.Title, Plan: ru.sc.Plan, Speed: ru.speed,
			StartedAt: ru.startedAt, SHA256: ru.sc.SHA256, Spec: ru.sc.Spec(),
		})
		changes = append(changes, &sitrep.MemberNamed{User: ru.controller.Name})
		for _, u := range ru.sc.Participants {
			changes = append(changes, &sitrep.MemberNamed{User: u})
		}
	}
	for _, f := range fired[written:] {
		changes = append(changes, ru.injected(f))
	}
	if len(changes) == 0 {
		return nil
	}
	if _, _, err := ru.r.svc.RecordExercise(ctx, ru.controller, incident, changes...); err != nil {
		return err
	}
	ru.mu.Lock()
	ru.recorded = true
	ru.written = len(fired)
	ru.mu.Unlock()
	return nil
}

func (ru *run) injected(f firedInject) *sitrep.ExerciseInjected {
	c := &sitrep.ExerciseInjected{Exercise: ru.id, Inject: f.in.Name, At: int64(f.in.At), FiredAt: f.at, AlertID: f.alertID}
	if a := f.in.Alert; a != nil {
		c.Summary = a.Summary
	}
	if m := f.in.Message; m != nil {
		c.To, c.From, c.Text = m.To, m.From, m.Text
	}
	return c
}

// closed reports whether the exercise's incident has closed.
func (ru *run) closed(ctx context.Context) bool {
	ru.mu.Lock()
	incident := ru.incident
	ru.mu.Unlock()
	if incident == "" {
		return false
	}
	inc, err := ru.r.svc.Store.Incident(ctx, incident)
	return err == nil && !inc.Open()
}

// finish ends the exercise: what was fired goes on the timeline, then its
// end.
func (ru *run) finish(ctx context.Context, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := ru.sync(ctx); err != nil && !errors.Is(err, context.Canceled) {
		ru.fail(err)
	}
	now := ru.r.svc.Clock.Now().UTC().Truncate(time.Microsecond)
	elapsed := min(Seconds(math.Round(now.Sub(ru.startedAt).Seconds()*ru.speed)), ru.sc.Duration)
	if reason == sitrep.ExerciseCompleted {
		elapsed = ru.sc.Duration
	}
	ru.mu.Lock()
	incident, recorded := ru.incident, ru.recorded
	ru.mu.Unlock()
	if incident != "" && recorded {
		end := &sitrep.ExerciseEnded{Exercise: ru.id, Reason: reason, EndedAt: now, Elapsed: int64(elapsed)}
		if _, _, err := ru.r.svc.RecordExercise(ctx, ru.controller, incident, end); err != nil {
			ru.fail(fmt.Errorf("record the end: %w", err))
		}
	}
	ru.mu.Lock()
	ru.state, ru.endReason, ru.endedAt, ru.elapsed = StateEnded, reason, &now, elapsed
	ru.mu.Unlock()
	ru.r.log.Info("exercise ended", "exercise", ru.id, "reason", reason, "incident", incident)
}

func (ru *run) status() *Status {
	ru.mu.Lock()
	defer ru.mu.Unlock()
	s := &Status{
		ID: ru.id, Scenario: ru.sc.Name, Title: ru.sc.Title, Plan: ru.sc.Plan, Declare: ru.sc.Declare, Speed: ru.speed,
		Controller: ru.controller.Name, State: ru.state, EndReason: ru.endReason, StartedAt: ru.startedAt, EndedAt: ru.endedAt,
		Duration: ru.sc.Duration, IncidentID: ru.incident, Injects: []InjectRecord{}, Problem: ru.problem,
	}
	if ru.state == StateRunning {
		el := ru.r.clock.Now().Sub(ru.start)
		s.Elapsed = min(Seconds(el.Seconds()*ru.speed), ru.sc.Duration)
		if ru.next < len(ru.sc.Injects) {
			n := ru.sc.Injects[ru.next].At
			s.Next = &n
		}
	} else {
		s.Elapsed = ru.elapsed
	}
	for _, f := range ru.fired {
		fa := Seconds(math.Round(f.at.Sub(ru.startedAt).Seconds() * ru.speed))
		rec := InjectRecord{Name: f.in.Name, At: f.in.At, FiredAt: &fa, AlertID: f.alertID}
		if a := f.in.Alert; a != nil {
			rec.Summary = a.Summary
		}
		if m := f.in.Message; m != nil {
			rec.To, rec.From, rec.Text = m.To, m.From, m.Text
		}
		s.Injects = append(s.Injects, rec)
	}
	return s
}

// get returns the exercise run by this process, or nil.
func (r *Runner) get(id string) *run {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[id]
}

// mayFollow reports whether actor may see an exercise that has no
// incident yet: its controller, a participant, or an administrator.
func (ru *run) mayFollow(actor *sitrep.User) bool {
	return actor.IsAdmin() || actor.Name == ru.controller.Name || slices.Contains(ru.sc.Participants, actor.Name)
}

// visible checks that actor may see the exercise: whoever may see its
// incident, or before there is one, its controller, participants and
// administrators. Others are told it is not found.
func (r *Runner) visible(ctx context.Context, actor *sitrep.User, ru *run) error {
	ru.mu.Lock()
	incident := ru.incident
	ru.mu.Unlock()
	if incident == "" {
		if !ru.mayFollow(actor) {
			return notFound(ru.id)
		}
		return nil
	}
	if _, err := r.svc.Incident(ctx, actor, incident); err != nil {
		if sitrep.ErrorKind(err) == sitrep.ENotFound {
			return notFound(ru.id)
		}
		return err
	}
	return nil
}

func notFound(id string) error {
	return &sitrep.Error{Kind: sitrep.ENotFound, Field: "id", Message: fmt.Sprintf("exercise %s not found", id)}
}

// Status returns the state of an exercise. One this process does not run
// (another replica's, or one from before a restart) is read from the
// record. ENotFound when there is none the actor may see.
func (r *Runner) Status(ctx context.Context, actor *sitrep.User, id string) (*Status, error) {
	if actor == nil {
		return nil, sitrep.Errorf(sitrep.EUnauthorized, "exercise: sign in first")
	}
	if err := sitrep.ValidateExerciseID(id); err != nil {
		return nil, err
	}
	if ru := r.get(id); ru != nil {
		if err := r.visible(ctx, actor, ru); err != nil {
			return nil, err
		}
		return ru.status(), nil
	}
	rep, _, err := r.fromRecord(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	return statusOf(rep), nil
}

// statusOf makes the status of an exercise from its report.
func statusOf(rep *Report) *Status {
	s := &Status{
		ID: rep.Exercise, Scenario: rep.Scenario, Title: rep.Title, Plan: rep.Plan, Declare: rep.Declare, Speed: rep.Speed,
		State: StateEnded, EndReason: rep.EndReason, StartedAt: rep.StartedAt, EndedAt: rep.EndedAt,
		Elapsed: rep.Elapsed, Duration: rep.Duration, IncidentID: rep.IncidentID, Injects: rep.Injects,
	}
	if rep.EndReason == "not-ended" {
		s.Problem = "the record holds no end of this exercise, and no running server runs it: the server that ran it stopped"
	}
	return s
}

// Stop ends a running exercise: its controller, the Command of its
// incident, or an administrator may. It returns once the end is on the
// record. EConflict when it has ended already.
func (r *Runner) Stop(ctx context.Context, actor *sitrep.User, id string) (*Status, error) {
	if actor == nil {
		return nil, sitrep.Errorf(sitrep.EUnauthorized, "exercise: sign in first")
	}
	if err := sitrep.ValidateExerciseID(id); err != nil {
		return nil, err
	}
	ru := r.get(id)
	if ru == nil {
		if _, _, err := r.fromRecord(ctx, actor, id); err != nil {
			return nil, err
		}
		return nil, sitrep.Errorf(sitrep.EConflict, "exercise stop: %s does not run on this server (it ended, or another server runs it)", id)
	}
	if err := r.visible(ctx, actor, ru); err != nil {
		return nil, err
	}
	ru.mu.Lock()
	incident := ru.incident
	ru.mu.Unlock()
	allowed := actor.IsAdmin() || actor.Name == ru.controller.Name
	if !allowed && incident != "" {
		if inc, err := r.svc.Store.Incident(ctx, incident); err == nil && inc.Command == actor.Name {
			allowed = true
		}
	}
	if !allowed {
		return nil, sitrep.Errorf(sitrep.EForbidden, "exercise stop: only %s, who started %s, Command of its incident or an administrator stops it", ru.controller.Name, id)
	}
	if st := ru.status(); st.State != StateRunning {
		return nil, sitrep.Errorf(sitrep.EConflict, "exercise stop: %s had ended already (%s)", id, st.EndReason)
	}
	select {
	case ru.stopBy <- actor.Name:
	default: // a stop is on its way already
	}
	select {
	case <-ru.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	st := ru.status()
	if st.EndReason != sitrep.ExerciseStopped {
		return nil, sitrep.Errorf(sitrep.EConflict, "exercise stop: %s had ended already (%s)", id, st.EndReason)
	}
	return st, nil
}

// Report returns the after-action report of an exercise, computed from its
// incident's timeline; for an exercise whose incident was never declared,
// from what this process knows. ENotFound when there is none the actor may
// see.
func (r *Runner) Report(ctx context.Context, actor *sitrep.User, id string) (*Report, error) {
	if actor == nil {
		return nil, sitrep.Errorf(sitrep.EUnauthorized, "exercise: sign in first")
	}
	if err := sitrep.ValidateExerciseID(id); err != nil {
		return nil, err
	}
	ru := r.get(id)
	if ru == nil {
		rep, _, err := r.fromRecord(ctx, actor, id)
		return rep, err
	}
	if err := r.visible(ctx, actor, ru); err != nil {
		return nil, err
	}
	ru.mu.Lock()
	incident, recorded := ru.incident, ru.recorded
	ru.mu.Unlock()
	if incident == "" || !recorded {
		return ru.undeclaredReport(), nil
	}
	entries, err := r.timeline(ctx, actor, incident)
	if err != nil {
		return nil, err
	}
	rep, err := Compute(entries, r.svc.Clock.Now())
	if err != nil {
		return nil, fmt.Errorf("exercise %s: %w", id, err)
	}
	if ru.running() {
		rep.EndReason = StateRunning
		rep.Notes = slices.DeleteFunc(rep.Notes, func(n string) bool { return strings.HasPrefix(n, "The record holds no end") })
		rep.Notes = append(rep.Notes, "The exercise is still running: this report is as of now.")
	}
	return rep, nil
}

// maxTimeline bounds the entries a report reads.
const maxTimeline = 200000

// timeline reads the whole timeline of an incident the actor may see.
func (r *Runner) timeline(ctx context.Context, actor *sitrep.User, id string) ([]sitrep.Entry, error) {
	var all []sitrep.Entry
	var after int64
	for {
		page, err := r.svc.Timeline(ctx, actor, id, after, 10000)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 10000 || len(all) >= maxTimeline {
			return all, nil
		}
		after = page[len(page)-1].Seq
	}
}

// maxExerciseIncidents bounds the incidents read to find an exercise on
// the record.
const maxExerciseIncidents = 2000

// fromRecord finds an exercise this process does not run on the record:
// the exercise incident whose timeline holds its exercise.started. It
// returns its report and incident.
func (r *Runner) fromRecord(ctx context.Context, actor *sitrep.User, id string) (*Report, string, error) {
	incs, err := r.svc.Incidents(ctx, actor, sitrep.IncidentFilter{Limit: maxExerciseIncidents})
	if err != nil {
		return nil, "", err
	}
	for _, inc := range incs {
		if !inc.Exercise {
			continue
		}
		head, err := r.svc.Timeline(ctx, actor, inc.ID, 0, 200)
		if err != nil {
			return nil, "", err
		}
		for i := range head {
			if head[i].Type != (&sitrep.ExerciseStarted{}).Type() {
				continue
			}
			c, err := sitrep.DecodeChange(&head[i])
			if err != nil {
				return nil, "", err
			}
			if c.(*sitrep.ExerciseStarted).Exercise != id {
				break
			}
			entries, err := r.timeline(ctx, actor, inc.ID)
			if err != nil {
				return nil, "", err
			}
			rep, err := Compute(entries, r.svc.Clock.Now())
			if err != nil {
				return nil, "", fmt.Errorf("exercise %s: %w", id, err)
			}
			return rep, inc.ID, nil
		}
	}
	return nil, "", notFound(id)
}

// undeclaredReport is the report of an exercise whose incident was never
// declared (or not yet): only this process knows what it sent.
func (ru *run) undeclaredReport() *Report {
	st := ru.status()
	c := newComputation(ru.sc, ru.id, ru.speed, ru.startedAt)
	c.end = ru.r.svc.Clock.Now()
	c.r.EndReason = st.State
	if st.State == StateEnded {
		c.end, c.r.EndReason, c.r.EndedAt = *st.EndedAt, st.EndReason, st.EndedAt
	}
	ru.mu.Lock()
	for _, f := range ru.fired {
		fired := f.at
		if c.firstInject == nil {
			c.firstInject = &fired
		}
		for _, x := range c.expect {
			if x.e.After == f.in.Name && x.from == nil {
				x.from = &fired
			}
		}
	}
	ru.mu.Unlock()
	c.r.Injects = st.Injects
	c.finish()
	if st.State == StateRunning {
		c.r.Notes = append(c.r.Notes, "The exercise is still running: this report is as of now.")
	}
	return c.r
}

// Running returns the exercises running in this process.
func (r *Runner) Running() []*Status {
	r.mu.Lock()
	var runs []*run
	for _, id := range r.order {
		if ru := r.runs[id]; ru != nil && ru.running() {
			runs = append(runs, ru)
		}
	}
	r.mu.Unlock()
	out := make([]*Status, len(runs))
	for i, ru := range runs {
		out[i] = ru.status()
	}
	return out
}

// Close ends every running exercise (reason server-stopped, on its
// incident's timeline) and waits for them, until ctx ends. A restart
// thus ends running exercises; their reports stay computable.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("end running exercises: %w", ctx.Err())
	}
}

func clipText(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return string(rs[:n]) + "…"
}
