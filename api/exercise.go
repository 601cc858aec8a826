package api

import (
	"context"
	"net/http"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/exercise"
)

// Exercises runs rehearsals in the server: the exercise package's Runner
// is one. Its errors carry the domain's kinds.
type Exercises interface {
	Start(ctx context.Context, actor *sitrep.User, file string, scenario []byte, speed float64) (*exercise.Status, error)
	Status(ctx context.Context, actor *sitrep.User, id string) (*exercise.Status, error)
	Stop(ctx context.Context, actor *sitrep.User, id string) (*exercise.Status, error)
	Report(ctx context.Context, actor *sitrep.User, id string) (*exercise.Report, error)
}

// startExercise is the body of POST /api/v1/exercises.
type startExerciseBody struct {
	// Scenario is the scenario file's text (YAML).
	Scenario string `json:"scenario"`
	// File names the scenario in problems and on the record; default
	// scenario.yaml. Its base name is the scenario's name.
	File string `json:"file"`
	// Speed is how much faster than real time to run (1 to 10000;
	// default 1).
	Speed float64 `json:"speed"`
}

func (a *API) exercises() (Exercises, error) {
	if a.exercise == nil {
		return nil, sitrep.Errorf(sitrep.ENotFound, "this server runs no exercises")
	}
	return a.exercise, nil
}

func startExercise(a *API, w http.ResponseWriter, r *http.Request) error {
	ex, err := a.exercises()
	if err != nil {
		return err
	}
	var in startExerciseBody
	if err := a.decodeBody(w, r, &in, bodyRequired); err != nil {
		return err
	}
	if len(in.Scenario) > exercise.MaxFileSize {
		return sitrep.Invalid("scenario", "scenario: the file is %d bytes long; the limit is %d", len(in.Scenario), exercise.MaxFileSize)
	}
	st, err := ex.Start(r.Context(), user(r), in.File, []byte(in.Scenario), in.Speed)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/exercises/"+st.ID)
	return writeJSON(w, http.StatusCreated, st)
}

func getExercise(a *API, w http.ResponseWriter, r *http.Request) error {
	ex, err := a.exercises()
	if err != nil {
		return err
	}
	st, err := ex.Status(r.Context(), user(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

func stopExercise(a *API, w http.ResponseWriter, r *http.Request) error {
	ex, err := a.exercises()
	if err != nil {
		return err
	}
	st, err := ex.Stop(r.Context(), user(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// exerciseReport answers the after-action report as JSON, or as Markdown
// when asked with ?format=md or Accept: text/markdown.
func exerciseReport(a *API, w http.ResponseWriter, r *http.Request) error {
	ex, err := a.exercises()
	if err != nil {
		return err
	}
	markdown := false
	switch f := r.URL.Query().Get("format"); f {
	case "md", "markdown":
		markdown = true
	case "json":
	case "":
		markdown = acceptsMarkdown(r.Header.Get("Accept"))
	default:
		return sitrep.Invalid("format", "query parameter format=%q is not valid: json or md", clip(f, 20))
	}
	rep, err := ex.Report(r.Context(), user(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !markdown {
		return writeJSON(w, http.StatusOK, rep)
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	_, _ = w.Write([]byte(rep.Markdown()))
	return nil
}
