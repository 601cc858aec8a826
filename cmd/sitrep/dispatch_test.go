package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dispatchLint runs sitrep dispatch lint offline with args.
func dispatchLint(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runContext(context.Background(), append([]string{"dispatch", "lint"}, args...), strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func TestDispatchLint(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "dispatch.yaml")
	if err := os.WriteFile(good, []byte("rules:\n  - name: disk\n    match: {labels: {alertname: \"~Disk.*\"}}\n    action: declare\n    kind: outage\n    group_by: [alertname]\n  - name: rest\n    action: hold\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - name: x\n    action: hol\n    match: {summary: \"(a\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	r := dispatchLint(t, "--plans", dir)
	if r.code != 0 || !strings.Contains(r.stdout, good+": 2 rules, no problems") || !strings.Contains(r.stdout, "disk ") || r.stderr != "" {
		t.Errorf("lint of a good file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Setenv("SITREP_PLANS", dir)
	if r := dispatchLint(t); r.code != 0 || !strings.Contains(r.stdout, good) {
		t.Errorf("lint with SITREP_PLANS: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = dispatchLint(t, bad)
	want := bad + ":3:13: action \"hol\" is not known (did you mean hold?): use declare, attach, hold, suppress\n" +
		bad + ":4:22: summary: the regular expression \"(a\" does not compile: missing closing )\n"
	if r.code != exitError || r.stdout != want || !strings.Contains(r.stderr, "2 problems") {
		t.Errorf("lint of a broken file: exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", r.code, r.stdout, want, r.stderr)
	}

	r = dispatchLint(t, bad, "-o", "json")
	var res struct {
		OK       bool `json:"ok"`
		Problems []struct {
			Line, Column int
			Message      string
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.stdout)
	}
	if r.code != exitError || res.OK || len(res.Problems) != 2 || res.Problems[0].Line != 3 || res.Problems[0].Column != 13 {
		t.Errorf("lint -o json of a broken file: exit %d, %+v", r.code, res)
	}

	if r := dispatchLint(t, filepath.Join(dir, "missing.yaml")); r.code != exitError || !strings.Contains(r.stdout, "no such file") {
		t.Errorf("lint of a missing file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := dispatchLint(t, "a", "b"); r.code != exitUsage {
		t.Errorf("lint with two files: exit %d, want %d", r.code, exitUsage)
	}
}
