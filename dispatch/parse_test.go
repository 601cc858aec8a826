package dispatch

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata")

// The problems of each broken file of testdata, all at once and each with
// its line and column, are those its .golden file lists.
func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			rs, problems := Parse(file, data)
			if rs != nil || len(problems) == 0 {
				t.Fatalf("Parse(%s) found no problem", file)
			}
			got := problems.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("problems of %s (-want +got):\n%s", file, diff)
			}
		})
	}
}

// The example shipped in docs parses, and says what the docs say it does.
func TestExampleParses(t *testing.T) {
	rs, err := Load("../docs/dispatch.example.yaml")
	if err != nil {
		t.Fatalf("the example rules do not load:\n%v", err)
	}
	var names []string
	for _, r := range rs.Rules {
		names = append(names, r.Name+":"+r.Action)
	}
	want := []string{"ransomware:declare", "edr-same-host:attach", "disk-filling:declare", "test-alerts:suppress", "syslog-info:hold"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("rules of the example (-want +got):\n%s", diff)
	}
}

// One problem per case, at the line and column given.
func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"not a mapping", "- a\n- b\n", "x.yaml:1:1: the rules file must be a mapping of keys and values, not a list"},
		{"rules not a list", "rules: {name: a}\n", "x.yaml:1:9: rules must be a list, not a mapping"},
		{"rule not a mapping", "rules:\n  - hold\n", "x.yaml:2:5: a rule must be a mapping of keys and values, not text"},
		{"unknown top key", "rule:\n  - name: a\n", `x.yaml:1:1: unknown field "rule" in the rules file (did you mean rules?): the fields are rules`},
		{"no name", "rules:\n  - action: hold\n", "x.yaml:2:5: the rule has no name"},
		{"no action", "rules:\n  - name: a\n", "x.yaml:2:5: the rule has no action: give one of declare, attach, hold, suppress"},
		{"declare without kind", "rules:\n  - name: a\n    action: declare\n", "x.yaml:2:5: rule a declares but names no kind"},
		{"attach without group_by", "rules:\n  - name: a\n    action: attach\n", "x.yaml:2:5: rule a attaches but has no group_by"},
		{"kind on hold", "rules:\n  - name: a\n    action: hold\n    kind: malware\n", "x.yaml:4:5: kind is for declare rules; this rule's action is hold"},
		{"group_by on suppress", "rules:\n  - name: a\n    action: suppress\n    group_by: [host]\n", "x.yaml:4:5: group_by is for declare and attach rules; this rule's action is suppress"},
		{"bad kind", "rules:\n  - name: a\n    action: declare\n    kind: Mal Ware\n", `x.yaml:4:11: incident kind "Mal Ware" is not valid`},
		{"severity range", "rules:\n  - name: a\n    action: declare\n    kind: x\n    severity: 5\n", "x.yaml:5:15: severity 5 is out of range: 1 to 4"},
		{"severity not a number", "rules:\n  - name: a\n    action: declare\n    kind: x\n    severity: high\n", "x.yaml:5:15: severity must be a whole number from 1 to 4, not text"},
		{"duplicate key", "rules:\n  - name: a\n    name: b\n    action: hold\n", `x.yaml:3:5: "name" is given twice in a rule (first on line 2)`},
		{"duplicate rule", "rules:\n  - name: a\n    action: hold\n    match: {source: x}\n  - name: a\n    action: hold\n", "x.yaml:5:11: rule name a is used by the rule on line 2 already"},
		{"summary regexp", "rules:\n  - name: a\n    action: hold\n    match:\n      summary: \"a(b\"\n", `x.yaml:5:16: summary: the regular expression "a(b" does not compile: missing closing )`},
		{"label regexp", "rules:\n  - name: a\n    action: hold\n    match:\n      labels:\n        host: \"~[z-a]\"\n", `x.yaml:6:15: label host: the regular expression "[z-a]" does not compile: invalid character class range: z-a`},
		{"regexp too long", "rules:\n  - name: a\n    action: hold\n    match:\n      summary: \"" + strings.Repeat("a", MaxRegexp+1) + "\"\n", "x.yaml:5:16: summary: the regular expression is 1025 bytes long; the limit is 1024"},
		{"bare tilde", "rules:\n  - name: a\n    action: hold\n    match:\n      labels:\n        host: ~\n", "x.yaml:6:15: label host has no value"},
		{"source kind", "rules:\n  - name: a\n    action: hold\n    match:\n      kind: prometheus\n", `x.yaml:5:13: source kind "prometheus" is not known`},
		{"source name", "rules:\n  - name: a\n    action: hold\n    match:\n      source: EDR\n", `x.yaml:5:15: source "EDR": no source can have this name`},
		{"source glob", "rules:\n  - name: a\n    action: hold\n    match:\n      source: \"edr-[\"\n", `x.yaml:5:15: source "edr-[": the pattern is malformed`},
		{"severity bounds", "rules:\n  - name: a\n    action: hold\n    match:\n      severity_at_most: 2\n      severity_at_least: 3\n", "x.yaml:5:7: no alert can match: severity at least 3 and at most 2"},
		{"nested not", "rules:\n  - name: a\n    action: hold\n    match:\n      not:\n        not: {source: x}\n", "x.yaml:6:9: not cannot be nested"},
		{"empty not", "rules:\n  - name: a\n    action: hold\n    match:\n      not:\n", "x.yaml:5:7: not is empty"},
		{"template function", "rules:\n  - name: a\n    action: declare\n    kind: x\n    title: '{{ len .Summary }}'\n", `x.yaml:5:12: title: "{{len .Summary}}": a template may only insert`},
		{"template range", "rules:\n  - name: a\n    action: declare\n    kind: x\n    title: '{{ range .Labels }}x{{ end }}'\n", "x.yaml:5:12: title: \"{{range .Labels}}x{{end}}\": if, range, with and template are not allowed"},
		{"template field", "rules:\n  - name: a\n    action: declare\n    kind: x\n    title: '{{ .Host }}'\n", `x.yaml:5:12: title: "{{.Host}}": a template may only insert`},
		{"template syntax", "rules:\n  - name: a\n    action: declare\n    kind: x\n    title: '{{ .Summary '\n", "x.yaml:5:12: title: 1: unclosed action"},
		{"group_by empty", "rules:\n  - name: a\n    action: attach\n    group_by: []\n", "x.yaml:4:15: group_by is an empty list"},
		{"empty not block", "rules:\n  - name: a\n    action: hold\n    match:\n      not:\n        - source: x\n        -\n", "x.yaml:7:9: a not block is empty: it would exclude every alert"},
		{"unreachable", "rules:\n  - name: a\n    action: hold\n  - name: b\n    action: suppress\n", "x.yaml:4:5: rule b can never match: rule a (line 2) matches every alert and comes first"},
		{"second document", "rules: []\n---\nrules: []\n", "x.yaml:3:1: a second YAML document starts here"},
		{"alias to nothing", "rules:\n  - name: a\n    action: hold\n    match: *m\n", "x.yaml:4:12: the alias *m names no anchor"},
		{"tag", "rules:\n  - name: a\n    action: !custom hold\n", "x.yaml:3:13: the tag !custom is not supported"},
		{"invalid utf-8", "rules:\n  - name: \"a\xff\"\n", "x.yaml:2:13: the file is not valid UTF-8 here"},
		{"too large", strings.Repeat("#", MaxFileSize+1), "x.yaml: the file is 1048577 bytes long; the limit is 1048576"},
		{"yaml syntax", "rules:\n  - name: a\n    action: hold\n   - name: b\n", "x.yaml:4:4: YAML:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, problems := Parse("x.yaml", []byte(tc.src))
			if rs != nil {
				t.Fatalf("Parse accepted the file; want %q", tc.want)
			}
			if len(problems) == 0 || !strings.HasPrefix(problems[0].String(), tc.want) {
				t.Errorf("problems:\n%v\nwant the first to start with:\n%s", problems, tc.want)
			}
		})
	}
}

// What a good file says, it means.
func TestParseRules(t *testing.T) {
	src := `x-defaults:
  edr: &edr
    source: ["edr", "edr-*"]
rules:
  - name: ransomware
    description: one incident per host
    match:
      <<: *edr
      kind: generic
      severity_at_most: 2
      labels:
        category: ransomware
        host: "~fin-.*"
        port: 8080
      summary: (?i)ransom
      not:
        - labels: {env: staging}
        - source: edr-test
    action: declare
    kind: malware
    severity: 1
    title: "Ransomware on {{ .Labels.host }} ({{ index .Labels \"os-name\" }})"
    group_by: [host, category]
  - name: by-template
    match: {source: syslog-*}
    action: attach
    group_by: "host {{ .Labels.host }}"
  - name: everything-else
    match:
    action: hold
`
	rs, problems := Parse("x.yaml", []byte(src))
	if len(problems) > 0 {
		t.Fatalf("problems:\n%v", problems)
	}
	if len(rs.Rules) != 3 || rs.Hash == "" {
		t.Fatalf("%d rules, hash %q", len(rs.Rules), rs.Hash)
	}
	r := rs.Rules[0]
	m := r.Match
	if r.Name != "ransomware" || r.Line != 5 || r.Description != "one incident per host" || r.Action != ActionDeclare || r.Kind != "malware" || r.Severity != 1 {
		t.Errorf("rule 1: %+v", r)
	}
	if !cmp.Equal(m.Sources, []string{"edr", "edr-*"}) || !cmp.Equal(m.Kinds, []string{"generic"}) || m.SeverityAtMost != 2 {
		t.Errorf("match of rule 1: %+v", m)
	}
	if len(m.Labels) != 3 || m.Labels[0].Value != "ransomware" || m.Labels[1].Regexp == nil || m.Labels[2].Value != "8080" {
		t.Errorf("labels of rule 1: %+v", m.Labels)
	}
	if len(m.Not) != 2 || m.Summary == nil {
		t.Errorf("not blocks %d, summary %v", len(m.Not), m.Summary)
	}
	if !cmp.Equal(r.GroupBy.Labels, []string{"category", "host"}) {
		t.Errorf("group_by of rule 1: %v", r.GroupBy.Labels)
	}
	if g := rs.Rules[1].GroupBy; g.Template == nil || g.Template.String() != "host {{ .Labels.host }}" {
		t.Errorf("group_by of rule 2: %+v", g)
	}
	if !rs.Rules[2].Match.empty() {
		t.Errorf("rule 3 has conditions: %+v", rs.Rules[2].Match)
	}
}

func TestEmptyAndMissingFiles(t *testing.T) {
	for _, src := range []string{"", "# nothing yet\n", "rules:\n", "rules: []\n", "---\n"} {
		rs, problems := Parse("x.yaml", []byte(src))
		if len(problems) > 0 || rs == nil || rs.Len() != 0 {
			t.Errorf("Parse(%q) = %v, %v; want no rules and no problem", src, rs, problems)
		}
	}
	rs, err := Load(filepath.Join(t.TempDir(), "dispatch.yaml"))
	if err != nil || rs.Len() != 0 || rs.Hash != "" {
		t.Errorf("Load of a missing file = %+v, %v; want no rules", rs, err)
	}
	if _, err := Load(t.TempDir()); len(AsProblems(err)) != 1 {
		t.Errorf("Load of a directory = %v; want one problem", err)
	}
}
