package dispatch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/sitrep-ir/sitrep"
)

// FuzzParse: any text is rules or problems, never a panic; every problem
// points into the file; good rules are usable.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, "../docs/dispatch.example.yaml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(matchRules))
	f.Add([]byte("x-a: &a {source: x}\nrules:\n  - name: a\n    match: {<<: *a, not: [*a]}\n    action: hold\n"))
	f.Add([]byte("x-a: &a [*a]\nrules: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, problems := Parse("f.yaml", data)
		if (rs == nil) == (len(problems) == 0) {
			t.Fatalf("Parse returned rules %v and %d problems", rs != nil, len(problems))
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, p := range problems {
			if p.File != "f.yaml" || p.Line < 0 || p.Line > lines+1 || p.Message == "" {
				t.Errorf("problem %+v does not point into the file of %d lines", p, lines)
			}
			if !utf8.ValidString(p.Message) {
				t.Errorf("problem message is not UTF-8: %q", p.Message)
			}
		}
		if rs == nil {
			return
		}
		al := alert("edr", 1, "ransomware on fin-7", "host=fin-7", "category=ransomware")
		for _, r := range rs.Rules {
			if r.Name == "" || r.Action == "" {
				t.Errorf("rule %+v lacks a name or action", r)
			}
			r.Match.Matches(al, "generic")
			checkMade(t, r, al)
		}
	})
}

// FuzzMatch: any alert against the example rules matches or not without a
// panic, and what a rule makes of it is a valid title and group key.
func FuzzMatch(f *testing.F) {
	rs, err := Load("../docs/dispatch.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("edr-prod", 1, "Ransomware on FIN-7", "host", "fin-7", "category", "ransomware", "generic")
	f.Add("prom", 2, "disk", "alertname", "DiskFull", "job", "node", "alertmanager")
	f.Add("siem", 0, "a TEST alert\x00\n", "env", "staging\x1b", "", "", "email")
	f.Fuzz(func(t *testing.T, source string, severity int, summary, k1, v1, k2, v2, kind string) {
		al := &sitrep.Alert{Source: source, Severity: severity, Summary: summary, DedupKey: "k", Labels: map[string]string{k1: v1, k2: v2}}
		if r := rs.Match(al, kind); r != nil {
			checkMade(t, r, al)
		}
		for _, r := range rs.Rules {
			checkMade(t, r, al)
		}
	})
}

// checkMade checks the title and group key a rule makes of an alert
// against what the domain accepts.
func checkMade(t *testing.T, r *Rule, al *sitrep.Alert) {
	t.Helper()
	title, key := r.IncidentTitle(al), r.GroupKey(al)
	if strings.TrimSpace(title) == "" || len(title) > sitrep.MaxTitle || !utf8.ValidString(title) || strings.IndexFunc(title, unicode.IsControl) >= 0 {
		t.Errorf("rule %s made the title %q", r.Name, title)
	}
	if len(key) > sitrep.MaxGroupKey || !utf8.ValidString(key) || strings.IndexFunc(key, unicode.IsControl) >= 0 {
		t.Errorf("rule %s made the group key %q", r.Name, key)
	}
}
