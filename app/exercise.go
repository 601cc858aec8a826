package app

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/dispatch"
	"github.com/sitrep-ir/sitrep/exercise"
	"github.com/sitrep-ir/sitrep/plan"
)

// startExercises makes the runner of rehearsals: it sends alert injects
// through a.intake, as every way in does, checks scenarios against the plans
// in force and the dispatch rules in use, and runs in this process. Stop
// ends the exercises still running (a restart ends them; their reports stay
// computable from the record).
func (a *App) startExercises() {
	a.exercises = exercise.NewRunner(exercise.Options{
		Service: a.svc,
		Intake:  a.intake,
		Plans: func() *plan.Set {
			if lib := a.Plans(); lib != nil {
				return lib.Current()
			}
			return nil
		},
		Declares: func(al *sitrep.Alert) (string, bool) {
			if a.dispatcher == nil {
				return "", false
			}
			r := a.dispatcher.Rules().Match(al, "")
			if r == nil || r.Action != dispatch.ActionDeclare {
				return "", false
			}
			return r.Kind, true
		},
		Logger: a.log,
	})
}

// stopExercises ends the running exercises, each with its end on its
// incident's timeline, before the intake and the store close.
func (a *App) stopExercises(ctx context.Context) error {
	if a.exercises == nil {
		return nil
	}
	return a.exercises.Close(ctx)
}

// Exercises returns the runner of rehearsals, for in-process tests.
func (a *App) Exercises() *exercise.Runner { return a.exercises }

// exerciseIncidents remembers which incidents are exercises, so that the
// server's metrics of real incidents can tell them apart (the
// sitrep_timeline_entries_total label exercise).
type exerciseIncidents struct {
	mu    sync.Mutex
	known map[string]bool
}

// maxKnownIncidents bounds the memory of exerciseIncidents: past it, it
// starts over (and asks the store again).
const maxKnownIncidents = 10000

// label returns "true" for an entry of an exercise incident, "false"
// otherwise. A declaration says so itself; other entries are looked up
// once per incident.
func (x *exerciseIncidents) label(store sitrep.Store, e *sitrep.Entry) string {
	x.mu.Lock()
	ex, ok := x.known[e.IncidentID]
	x.mu.Unlock()
	if !ok {
		if e.Type == (&sitrep.Declared{}).Type() {
			var d sitrep.Declared
			ex = json.Unmarshal(e.Data, &d) == nil && d.Exercise
		} else if inc, err := store.Incident(context.Background(), e.IncidentID); err == nil {
			ex = inc.Exercise
		}
		x.mu.Lock()
		if x.known == nil || len(x.known) >= maxKnownIncidents {
			x.known = map[string]bool{}
		}
		x.known[e.IncidentID] = ex
		x.mu.Unlock()
	}
	if ex {
		return "true"
	}
	return "false"
}
