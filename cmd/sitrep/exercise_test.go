package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sitrep-ir/sitrep/exercise"
)

func writeScenario(t *testing.T, name, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

const cliScenario = `title: Laptop drill
plan: malware
duration: 1h
injects:
  - {name: call, at: 10m, message: {to: information, from: The Gazette, text: A reporter is on the phone}}
expect:
  - {name: io, do: assign, role: information, within: 10m}
`

func TestExerciseCommands(t *testing.T) {
	s := startServerWithPlans(t, filepath.Join("..", "..", "plans"))

	// Lint, offline, against the starter plans.
	out := s.ok(t, s.Admin, "exercise", "lint", "--plans", filepath.Join("..", "..", "plans"),
		filepath.Join("..", "..", "exercises", "malware-finance-laptop.yaml"), filepath.Join("..", "..", "exercises", "datacenter-outage.yaml"))
	if !strings.Contains(out, "2 scenarios, no problems") {
		t.Errorf("lint: %s", out)
	}
	bad := writeScenario(t, "bad.yaml", "title: T\nplan: malwre\nduration: 1h\nexpect: [{name: a, do: asign, within: 5m}]\n")
	r := s.run(s.Admin, "", "exercise", "lint", "--plans", filepath.Join("..", "..", "plans"), bad)
	if r.code != exitError || !strings.Contains(r.stdout, bad+":4:24: do \"asign\" is not an action; did you mean assign?") || !strings.Contains(r.stderr, "1 problem") {
		t.Errorf("lint of a broken scenario: %+v", r)
	}
	r = s.run(s.Admin, "", "exercise", "lint", "--plans", filepath.Join("..", "..", "plans"), strings.Replace(bad, "bad.yaml", "ok.yaml", 1)+"x")
	if r.code != exitError || !strings.Contains(r.stdout, "does not exist") {
		t.Errorf("lint of a missing file: %+v", r)
	}

	// Run: problems found here are printed with their place; those found
	// by the server (the plan) too.
	r = s.run(s.Admin, "", "exercise", "run", bad)
	if r.code != exitError || !strings.Contains(r.stdout, ":4:24: do \"asign\"") {
		t.Errorf("run of a broken scenario: %+v", r)
	}
	unknownPlan := writeScenario(t, "plan.yaml", strings.Replace(cliScenario, "plan: malware", "plan: malwre", 1))
	r = s.run(s.Admin, "", "exercise", "run", unknownPlan)
	if r.code != exitError || !strings.Contains(r.stdout, unknownPlan+":2:7: plan malwre is not among the plans in force") {
		t.Errorf("run of a scenario of an unknown plan: %+v", r)
	}
	if r := s.run(s.Admin, "", "exercise", "run", unknownPlan, "--speed", "fast"); r.code != exitUsage {
		t.Errorf("--speed fast: %+v", r)
	}

	// Detached at real time: status, stop, report.
	good := writeScenario(t, "laptop-drill.yaml", cliScenario)
	var st exercise.Status
	s.okJSON(t, s.Admin, &st, "exercise", "run", good, "--detach")
	if st.State != exercise.StateRunning || st.Scenario != "laptop-drill" || st.IncidentID == "" {
		t.Fatalf("detached: %+v", st)
	}
	out = s.ok(t, s.Admin, "exercise", "status", st.ID)
	for _, want := range []string{st.ID + "  Laptop drill [EXERCISE]", "Running: T+", "next inject at T+10m", "Incident: " + st.IncidentID} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if out := s.ok(t, s.Admin, "exercise", "stop", st.ID); !strings.Contains(out, "Stopped "+st.ID) {
		t.Errorf("stop: %s", out)
	}
	if out := s.ok(t, s.Admin, "exercise", "report", st.ID); !strings.Contains(out, "**EXERCISE** "+st.ID) || !strings.Contains(out, "(stopped)") {
		t.Errorf("report: %s", out)
	}
	var rep exercise.Report
	s.okJSON(t, s.Admin, &rep, "exercise", "report", st.ID)
	if rep.Exercise != st.ID || rep.EndReason != "stopped" {
		t.Errorf("report JSON: %+v", rep)
	}
	if out := s.ok(t, s.Admin, "ls"); !strings.Contains(out, "[EXERCISE]") {
		t.Errorf("ls does not mark the exercise:\n%s", out)
	}

	// Followed at 10000x: the inject as it fires, then the report.
	out = s.ok(t, s.Admin, "exercise", "run", good, "--speed", "10000x")
	for _, want := range []string{"EXERCISE EX-", "Rehearsing plan malware at 10000x: 1h of scenario time in 400ms",
		"call: message to information from The Gazette: A reporter is on the phone", "EXERCISE ended (completed)",
		"# After-action report: Laptop drill", "| Role information assigned (`io`) |"} {
		if !strings.Contains(out, want) {
			t.Errorf("run lacks %q:\n%s", want, out)
		}
	}
}
