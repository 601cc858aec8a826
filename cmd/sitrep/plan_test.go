package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sitrep-ir/sitrep/plan"
)

// lint runs `sitrep plan lint` in-process; it needs no server.
func lint(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runContext(context.Background(), append([]string{"plan", "lint"}, args...), strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func TestPlanLintStarterLibrary(t *testing.T) {
	r := lint(t, filepath.Join("..", "..", "plans"))
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("lint of the starter plans: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	contains(t, "stdout", r.stdout, "7 plans in", "no problems", "PLAN", "KINDS", "VERSION",
		"data-breach        data-breach", "legal-request      legal-request,subpoena", "sha256:")
}

func TestPlanLintProblems(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "title: A\nkinds: [malware]\nserverity: 2\n")
	write("b.yaml", "title: B\nkinds: [malware]\nchecklists:\n  identification:\n    - task: Isolate\n      section: opertions\n")
	write("dispatch.yaml", "this is: [not a plan\n")

	r := lint(t, dir)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	want := []string{
		a + `:3:1: unknown field "serverity" in the plan; did you mean severity?`,
		b + ":2:9: kind malware is answered by two plans: this one and a (" + a + ")",
		b + `:6:16: section "opertions" is neither an ICS section or officer nor a role this plan adds under roles; did you mean operations?`,
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d lines", r.stdout, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d:\n got %s\nwant %s…", i+1, lines[i], want[i])
		}
	}
	contains(t, "stderr", r.stderr, "sitrep: "+dir+": 3 problems in 2 files")

	r = lint(t, "-o", "json", dir)
	var got []plan.Problem
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 1 {
		t.Fatalf("-o json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if len(got) != 3 || got[0].File != a || got[0].Line != 3 || got[0].Column != 1 || !strings.HasPrefix(got[0].Message, `unknown field "serverity"`) {
		t.Errorf("-o json problems = %+v", got)
	}
}

func TestPlanLintJSONClean(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "outage.yaml"), []byte("title: Outage\nkinds: [outage]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := lint(t, "-o", "json", dir)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("-o json of clean plans: exit %d, %q", r.code, r.stdout)
	}
}

func TestPlanLintMissingDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "plnas")
	r := lint(t, missing)
	if r.code != 1 || !strings.Contains(r.stderr, "plans directory "+missing+" does not exist") {
		t.Errorf("lint of a missing directory: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = lint(t, "a", "b")
	if r.code != 2 || !strings.Contains(r.stderr, "takes at most one DIR") {
		t.Errorf("two directories: exit %d\n%s", r.code, r.stderr)
	}
}
