package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/exercise"
	"github.com/sitrep-ir/sitrep/intake/ingest"
	"github.com/sitrep-ir/sitrep/plan"
)

// exerciseRoute reports whether rt is one of the exercises' routes, which
// TestExercisesAPI covers.
func exerciseRoute(rt route) bool { return strings.HasPrefix(rt.path, "/api/v1/exercises") }

// newExerciseEnv is newEnv with a runner of exercises on the starter plans
// and the real group-commit ingester, on SQLite.
func newExerciseEnv(t *testing.T) *env {
	t.Helper()
	store := sqliteStore(t)
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := sitrep.NewService(store, logger)
	secret, err := svc.Bootstrap(context.Background(), "admin", "")
	if err != nil {
		t.Fatal(err)
	}
	plans, err := plan.Load(filepath.Join("..", "plans"))
	if err != nil {
		t.Fatal(err)
	}
	in := ingest.New(store.(sitrep.AlertStore), ingest.Options{})
	runner := exercise.NewRunner(exercise.Options{Service: svc, Intake: in, Plans: func() *plan.Set { return plans }, Logger: logger})
	t.Cleanup(func() {
		_ = runner.Close(context.Background())
		in.Close()
	})
	reg := prometheus.NewRegistry()
	a := New(Config{Service: svc, Logger: logger, Registry: reg, Ready: store.Ping, Exercises: runner})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	doc := loadDocument(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, server: &server{
		svc: svc, store: store, api: a, srv: srv, admin: &caller{"admin", secret},
		doc: doc, router: router, reg: reg, logs: logs, covered: map[string]bool{},
	}}
}

const apiScenario = `title: Laptop drill
plan: malware
declare: start
duration: 1h
injects:
  - {name: call, at: 10m, message: {to: information, from: The Gazette, text: A reporter is on the phone}}
expect:
  - {name: io, do: assign, role: information, within: 10m}
`

// TestExercisesAPI starts, follows, stops and reports exercises over real
// HTTP, every exchange checked against the OpenAPI document.
func TestExercisesAPI(t *testing.T) {
	e := newExerciseEnv(t)
	ann := e.addUser("ann", sitrep.OrgResponder)
	bob := e.addUser("bob", sitrep.OrgResponder)
	vic := e.addUser("vic", sitrep.OrgViewer)

	// A long run at real time, stopped by hand.
	var st exercise.Status
	r := e.ok(http.StatusCreated, request{method: "POST", path: "/api/v1/exercises", as: ann, body: map[string]any{"scenario": apiScenario, "file": "exercises/laptop.yaml", "speed": 1}})
	r.decode(t, &st)
	if st.State != exercise.StateRunning || st.IncidentID == "" || st.Controller != "ann" || st.Scenario != "laptop" || r.header.Get("Location") != "/api/v1/exercises/"+st.ID {
		t.Fatalf("started %+v (Location %q)", st, r.header.Get("Location"))
	}
	var got exercise.Status
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/exercises/" + st.ID, as: bob}).decode(t, &got)
	if got.ID != st.ID || got.State != exercise.StateRunning || got.Next == nil || *got.Next != 600 {
		t.Errorf("status %+v: want running, next inject at T+10m", got)
	}
	// The report while it runs is as of now.
	var rep exercise.Report
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/exercises/" + st.ID + "/report", as: ann}).decode(t, &rep)
	if rep.EndReason != exercise.StateRunning || rep.IncidentID != st.IncidentID || rep.Expectations[0].State != exercise.StateOpen {
		t.Errorf("report of a running exercise: %+v", rep)
	}
	e.fail(http.StatusForbidden, "only ann", request{method: "POST", path: "/api/v1/exercises/" + st.ID + "/stop", as: bob})
	e.ok(http.StatusOK, request{method: "POST", path: "/api/v1/exercises/" + st.ID + "/stop", as: ann}).decode(t, &got)
	if got.State != exercise.StateEnded || got.EndReason != sitrep.ExerciseStopped || got.EndedAt == nil {
		t.Errorf("stopped: %+v", got)
	}
	e.fail(http.StatusConflict, "had ended already", request{method: "POST", path: "/api/v1/exercises/" + st.ID + "/stop", as: ann})
	md := e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/exercises/" + st.ID + "/report?format=md", as: ann})
	if !strings.HasPrefix(md.header.Get("Content-Type"), "text/markdown") || !strings.Contains(string(md.body), "**EXERCISE** "+st.ID) || !strings.Contains(string(md.body), "(stopped)") {
		t.Errorf("Markdown report: %s", md)
	}
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/exercises/" + st.ID + "/report", as: ann, header: map[string]string{"Accept": "text/markdown"}})
	tl := e.timeline(ann, st.IncidentID)
	// ann declared, so she is named already; the service has no plans.
	if got := types(tl); strings.Join(got, " ") != "incident.declared exercise.started exercise.ended" {
		t.Errorf("timeline %v", got)
	}
	e.verified(ann, st.IncidentID)

	// A fast run that completes.
	e.ok(http.StatusCreated, request{method: "POST", path: "/api/v1/exercises", as: ann, body: map[string]any{"scenario": apiScenario, "speed": 10000}}).decode(t, &st)
	if _, _, err := e.svc.Do(context.Background(), &sitrep.User{Name: "ann", Role: sitrep.OrgResponder}, st.IncidentID, sitrep.AddNote{Text: "drill"}); err != nil {
		t.Fatal(err)
	}
	for got.ID != st.ID || got.State != exercise.StateEnded {
		e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/exercises/" + st.ID, as: ann}).decode(t, &got)
	}
	if got.EndReason != sitrep.ExerciseCompleted || got.Elapsed != 3600 || len(got.Injects) != 1 {
		t.Errorf("completed: %+v", got)
	}
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/exercises/" + st.ID + "/report?format=json", as: ann}).decode(t, &rep)
	if rep.Expectations[0].State != exercise.StateMissed || rep.Summary.ExpectationsMissed != 1 || rep.Elapsed != 3600 {
		t.Errorf("report: %+v", rep)
	}

	// Refusals.
	p := e.fail(http.StatusBadRequest, "laptop.yaml:2:7: plan malwre is not among the plans in force; did you mean malware?",
		request{method: "POST", path: "/api/v1/exercises", as: ann, body: map[string]any{"scenario": strings.Replace(apiScenario, "plan: malware", "plan: malwre", 1), "file": "laptop.yaml"}})
	if p.Field != "scenario" {
		t.Errorf("problem %+v: want field scenario", p)
	}
	e.fail(http.StatusBadRequest, "scenario.yaml:1:1: unknown field \"titel\"", request{method: "POST", path: "/api/v1/exercises", as: ann, body: map[string]any{"scenario": "titel: x\n"}})
	e.fail(http.StatusBadRequest, "participant zed is not a user of this server", request{method: "POST", path: "/api/v1/exercises", as: ann, body: map[string]any{"scenario": apiScenario + "participants: [zed]\n"}})
	e.fail(http.StatusBadRequest, "speed 20000x is out of range", request{method: "POST", path: "/api/v1/exercises", as: ann, body: map[string]any{"scenario": apiScenario, "speed": 20000}})
	e.fail(http.StatusBadRequest, "the limit is", request{method: "POST", path: "/api/v1/exercises", as: ann, body: map[string]any{"scenario": strings.Repeat("#", exercise.MaxFileSize+1)}})
	e.fail(http.StatusForbidden, "viewers cannot run exercises", request{method: "POST", path: "/api/v1/exercises", as: vic, body: map[string]any{"scenario": apiScenario}})
	e.fail(http.StatusUnauthorized, "", request{method: "POST", path: "/api/v1/exercises", body: map[string]any{"scenario": apiScenario}})
	e.fail(http.StatusNotFound, "exercise IDs look like", request{method: "GET", path: "/api/v1/exercises/IR-2026-0001", as: ann})
	e.fail(http.StatusNotFound, "exercise EX-00000000ff not found", request{method: "GET", path: "/api/v1/exercises/EX-00000000ff/report", as: ann})
	e.fail(http.StatusNotFound, "not found", request{method: "POST", path: "/api/v1/exercises/EX-00000000ff/stop", as: ann})
	e.fail(http.StatusBadRequest, "format", request{method: "GET", path: "/api/v1/exercises/" + st.ID + "/report?format=pdf", as: ann})

	for _, rt := range routes {
		if exerciseRoute(rt) && !e.covered[rt.pattern()] {
			t.Errorf("not exercised with success: %s", rt.pattern())
		}
	}
}

// Without a runner the exercises' routes answer 404.
func TestExercisesAPIWithoutRunner(t *testing.T) {
	e := newEnv(t, sqliteStore)
	e.fail(http.StatusNotFound, "this server runs no exercises", request{method: "POST", path: "/api/v1/exercises", as: e.admin, body: map[string]any{"scenario": apiScenario}})
	e.fail(http.StatusNotFound, "this server runs no exercises", request{method: "GET", path: "/api/v1/exercises/EX-00000000ff", as: e.admin})
}
