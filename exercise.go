package sitrep

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Exercises (rehearsals) run a scenario of timed injects against a plan on
// an incident flagged exercise. The exercise package reads scenarios, runs
// them and writes the report; the domain knows an exercise by the entries
// the runner appends to its incident's timeline, which are the evidence the
// after-action report is computed from.

// ExerciseSource is the built-in alert source every exercise alert comes
// from. No real source may take the name.
const ExerciseSource = "exercise"

// ExerciseLabel is the label that carries the exercise ID on every alert an
// exercise injects.
const ExerciseLabel = "sitrep_exercise"

var exerciseIDRE = regexp.MustCompile(`^EX-[0-9a-f]{10}$`)

// ValidateExerciseID checks the form of an exercise ID: EX- and ten
// lower-case hex digits. A malformed one is not found.
func ValidateExerciseID(id string) error {
	if !exerciseIDRE.MatchString(id) {
		return &Error{Kind: ENotFound, Field: "id", Message: fmt.Sprintf("exercise %q not found: exercise IDs look like EX-3f9a0c51d2", clip(id, 40))}
	}
	return nil
}

// ExerciseOf returns the exercise an alert belongs to: its ExerciseLabel
// when it came from the exercise source, "" for a real alert. A real
// source cannot make its alerts an exercise's by labelling them.
func ExerciseOf(al *Alert) string {
	if al == nil || al.Source != ExerciseSource {
		return ""
	}
	return al.Labels[ExerciseLabel]
}

// ExerciseStarted records that an exercise runs on the incident: which
// scenario, at what speed, and when its clock started. Spec is the scenario
// as the exercise runner reads it (its JSON form): the injects and expected
// actions the after-action report measures against. The entry is written
// once the incident exists, so StartedAt may be earlier than the entry.
type ExerciseStarted struct {
	Exercise string `json:"exercise"`
	Scenario string `json:"scenario"`
	Title    string `json:"title"`
	Plan     string `json:"plan"`
	// Speed is how much faster than real time the scenario runs: at 10,
	// ten scenario minutes pass in one real minute.
	Speed     float64   `json:"speed"`
	StartedAt time.Time `json:"started_at"`
	// SHA256 is the hex SHA-256 of the scenario file as submitted.
	SHA256 string          `json:"sha256"`
	Spec   json.RawMessage `json:"spec"`
}

func (*ExerciseStarted) Type() string                  { return "exercise.started" }
func (*ExerciseStarted) apply(*Incident, *Entry) error { return nil }

func (c *ExerciseStarted) describe() string {
	return fmt.Sprintf("EXERCISE %s started: scenario %q (%s) rehearsing plan %s at %s speed", c.Exercise, c.Title, c.Scenario, c.Plan, FormatSpeed(c.Speed))
}

// ExerciseInjected records one inject of the scenario: a synthetic alert
// sent through the intake, or a message to a role. At is its time in the
// scenario, FiredAt when it was sent; an alert sent before the incident
// existed is recorded when it does.
type ExerciseInjected struct {
	Exercise string    `json:"exercise"`
	Inject   string    `json:"inject"`
	At       int64     `json:"at"` // seconds of scenario time
	FiredAt  time.Time `json:"fired_at"`
	// An alert inject: the alert it opened or counted on.
	AlertID int64  `json:"alert_id,omitempty"`
	Summary string `json:"summary,omitempty"`
	// A message inject: to a role of the incident, from someone in the
	// scenario.
	To   string `json:"to,omitempty"`
	From string `json:"from,omitempty"`
	Text string `json:"text,omitempty"`
}

func (*ExerciseInjected) Type() string                  { return "exercise.inject" }
func (*ExerciseInjected) apply(*Incident, *Entry) error { return nil }

func (c *ExerciseInjected) describe() string {
	at := "T+" + FormatScenarioTime(c.At)
	if c.To != "" {
		from := ""
		if c.From != "" {
			from = " from " + c.From
		}
		return fmt.Sprintf("EXERCISE inject %s (%s): message to %s%s: %s", c.Inject, at, c.To, from, c.Text)
	}
	return fmt.Sprintf("EXERCISE inject %s (%s): alert %d: %s", c.Inject, at, c.AlertID, c.Summary)
}

// Why an exercise ended.
const (
	ExerciseCompleted     = "completed"       // the scenario ran its length
	ExerciseStopped       = "stopped"         // someone stopped it
	ExerciseClosed        = "incident-closed" // the incident closed first
	ExerciseServerStopped = "server-stopped"  // the server running it stopped
)

// ExerciseEnded records the end of the exercise: the after-action report
// measures what happened up to here.
type ExerciseEnded struct {
	Exercise string    `json:"exercise"`
	Reason   string    `json:"reason"`
	EndedAt  time.Time `json:"ended_at"`
	// Elapsed is the scenario time at the end, in seconds.
	Elapsed int64 `json:"elapsed"`
}

func (*ExerciseEnded) Type() string                  { return "exercise.ended" }
func (*ExerciseEnded) apply(*Incident, *Entry) error { return nil }

func (c *ExerciseEnded) describe() string {
	return fmt.Sprintf("EXERCISE %s ended (%s) at T+%s", c.Exercise, c.Reason, FormatScenarioTime(c.Elapsed))
}

// FormatSpeed writes a speed as people give it: 600x, 1.5x.
func FormatSpeed(speed float64) string {
	return fmt.Sprintf("%gx", speed)
}

// FormatScenarioTime writes seconds of scenario time as 1h05m30s, 12m, 45s.
func FormatScenarioTime(secs int64) string {
	if secs < 0 {
		return "-" + FormatScenarioTime(-secs)
	}
	h, m, s := secs/3600, secs/60%60, secs%60
	switch {
	case h > 0 && s > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	case h > 0 && m > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case h > 0:
		return fmt.Sprintf("%dh", h)
	case m > 0 && s > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	case m > 0:
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%ds", s)
}

// RecordExercise appends an exercise runner's entries to the exercise
// incident id: exercise.started, exercise.inject and exercise.ended, and
// member.named for the people the scenario names, so that they see the
// incident when it is confidential. The runner informs the incident rather
// than acting on it, as the dispatcher's desk does when it attaches an
// alert, so the actor needs no check-in; it must be allowed to write
// (a responder or an administrator). Visibility is the runner's to check:
// it names its controller with the start. EConflict when the incident is
// not an exercise, or (for anything but the end) is closed.
func (s *Service) RecordExercise(ctx context.Context, actor *User, id string, changes ...Change) (*Incident, []Entry, error) {
	if err := requireWriter(actor, "exercise"); err != nil {
		return nil, nil, err
	}
	if err := ValidateID(id); err != nil {
		return nil, nil, err
	}
	var result *Incident
	var entries []Entry
	err := s.Store.UpdateIncident(ctx, id, func(inc *Incident) ([]Entry, error) {
		a := &appender{inc: inc, actor: actor.Name, at: now(s.Clock)}
		if err := recordExercise(inc, a, changes); err != nil {
			return nil, err
		}
		result, entries = inc, a.entries
		return a.entries, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("exercise on %s: %w", id, err)
	}
	s.appended(entries)
	return result, entries, nil
}

// recordExercise decides RecordExercise's changes on inc.
func recordExercise(inc *Incident, a *appender, changes []Change) error {
	if !inc.Exercise {
		return Errorf(EConflict, "%s is not an exercise: exercise entries go only on incidents flagged exercise", inc.ID)
	}
	for _, c := range changes {
		switch c := c.(type) {
		case *ExerciseStarted, *ExerciseInjected:
			if err := requireOpen(inc, "exercise"); err != nil {
				return err
			}
		case *ExerciseEnded:
		case *MemberNamed:
			if err := ValidateName("user", c.User); err != nil {
				return err
			}
			if inc.Named(c.User) {
				continue
			}
		default:
			return Errorf(EInvalid, "exercise: %s is not an exercise entry", c.Type())
		}
		if err := a.add(c); err != nil {
			return err
		}
	}
	if len(a.entries) == 0 {
		return Errorf(EInvalid, "exercise: nothing to record")
	}
	return nil
}

// describer is a change that describes itself on the timeline (Describe).
type describer interface{ describe() string }
