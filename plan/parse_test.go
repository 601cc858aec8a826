package plan

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/yamlcheck"
)

const goodPlan = `# A plan exercising every field.
title: Breach of personal data
description: |
  Personal data is where it should not be.
kinds: [data-breach, pii-exposure]
severity: 2
confidential: true
legal_hold: true
roles:
  information:
    severity: 2
    people: [alice, bob]
    team: Corporate communications
    why: One voice.
  forensics:
    people: [carol]
checklists:
  containment:
    - task: Revoke the leaked credentials
      section: operations
  identification:
    - task: Establish what data left, and whose
      section: forensics
      assignee: carol
    - task: Brief the board
      section: information
      severity: 1
communications:
  - name: first-internal
    audience: internal
    phase: identification
    text: |
      {{id}} ({{ title }}) is declared at severity {{severity}}.
      Command is {{command}}.
  - name: holding-statement
    audience: press
    command_approval: true
    text: We are investigating {{title}}.
notify:
  - audience: executives
    severity: 2
    to: [ciso, legal@example.com]
targets:
  declare: 15m
  command: 5m
  information_officer: 30m
  first_internal_update: 1h
  contained: 4h
`

func TestParseGoodPlan(t *testing.T) {
	p, problems := Parse("plans/data-breach.yaml", []byte(goodPlan))
	if problems != nil {
		t.Fatalf("problems in a good plan:\n%v", problems)
	}
	want := &Plan{
		Name: "data-breach", File: "plans/data-breach.yaml",
		Title: "Breach of personal data", Description: "Personal data is where it should not be.\n",
		Kinds: []string{"data-breach", "pii-exposure"}, Severity: 2, Confidential: true, LegalHold: true,
		Roles: []Role{
			{Name: "information", Severity: 2, People: []string{"alice", "bob"}, Team: "Corporate communications", Why: "One voice."},
			{Name: "forensics", Severity: 4, People: []string{"carol"}, Added: true},
		},
		Checklists: []Checklist{
			{Phase: sitrep.PhaseIdentification, Items: []Item{
				{Task: "Establish what data left, and whose", Section: "forensics", Assignee: "carol", Severity: 4},
				{Task: "Brief the board", Section: "information", Severity: 1},
			}},
			{Phase: sitrep.PhaseContainment, Items: []Item{{Task: "Revoke the leaked credentials", Section: "operations", Severity: 4}}},
		},
		Communications: []Template{
			{Name: "first-internal", Audience: "internal", Phase: sitrep.PhaseIdentification, Text: "{{id}} ({{ title }}) is declared at severity {{severity}}.\nCommand is {{command}}.\n"},
			{Name: "holding-statement", Audience: "press", CommandApproval: true, Text: "We are investigating {{title}}."},
		},
		Notify:  []NotifyList{{Audience: "executives", Severity: 2, To: []string{"ciso", "legal@example.com"}}},
		Targets: Targets{Declare: 15 * time.Minute, Command: 5 * time.Minute, InformationOfficer: 30 * time.Minute, FirstInternalUpdate: time.Hour, Contained: 4 * time.Hour},
	}
	if diff := cmp.Diff(want, p, cmpopts.IgnoreUnexported(Plan{})); diff != "" {
		t.Errorf("parsed plan (-want +got):\n%s", diff)
	}
	if got := p.RolesAt(3); len(got) != 1 || got[0].Name != "forensics" {
		t.Errorf("roles at severity 3 = %v, want forensics only", got)
	}
	if got := p.RolesAt(1); len(got) != 2 {
		t.Errorf("roles at severity 1 = %v, want both", got)
	}
	if !p.Template("holding-statement").External() || p.Template("first-internal").External() {
		t.Error("press is an external audience and internal is not")
	}
	if p.Checklist(sitrep.PhaseEradication) != nil {
		t.Error("a phase without a checklist has items")
	}
}

func TestParseMinimalPlanDefaults(t *testing.T) {
	p, problems := Parse("x/malware.yml", []byte("title: Malware\nkinds: [malware]\n"))
	if problems != nil {
		t.Fatalf("problems: %v", problems)
	}
	if p.Name != "malware" || p.Severity != sitrep.DefaultSeverity || len(p.Roles) != 0 || p.Targets != (Targets{}) {
		t.Errorf("minimal plan = %+v; want name malware, severity %d, nothing else", p, sitrep.DefaultSeverity)
	}
}

// TestParseProblems checks that each mistake is reported where it is, with
// a message that says what to do.
func TestParseProblems(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // each problem as file:line:col: message, or a part of it after the position
	}{
		{"unknown field with suggestion", "title: X\nkinds: [a]\nserverity: 2\n",
			[]string{`p.yaml:3:1: unknown field "serverity" in the plan; did you mean severity? (known: title, description, kinds, severity, confidential, legal_hold, roles, checklists, communications, notify, targets)`}},
		{"unknown field far from any", "title: X\nkinds: [a]\nbudget: 5\n",
			[]string{`p.yaml:3:1: unknown field "budget" in the plan (known: `}},
		{"name is the file name", "name: other\ntitle: X\nkinds: [a]\n",
			[]string{`p.yaml:1:1: unknown field "name": a plan's name is its file name (p)`}},
		{"missing title and kinds", "severity: 2\n",
			[]string{"p.yaml:1:1: the plan answers no kinds", "p.yaml:1:1: the plan has no title"}},
		{"empty file", "# nothing yet\n", []string{"p.yaml:1:1: the file holds no plan"}},
		{"not a mapping", "- a\n- b\n", []string{"p.yaml:1:1: a plan must be a mapping (key: value lines), not a list"}},
		{"syntax error", "title: X\nkinds: [a\n", []string{"p.yaml:2:8: YAML: "}},
		{"duplicate key", "title: X\ntitle: Y\nkinds: [a]\n", []string{`p.yaml:2:1: YAML: mapping key "title" already defined`}},
		{"two documents", "title: X\nkinds: [a]\n---\ntitle: Y\n", []string{"p.yaml:4:1: a second YAML document starts here"}},
		{"severity out of range", "title: X\nkinds: [a]\nseverity: 5\n", []string{"p.yaml:3:11: severity 5 is out of range: 1 to 4"}},
		{"severity as text", "title: X\nkinds: [a]\nseverity: high\n", []string{"p.yaml:3:11: severity must be a whole number from 1 to 4, not text"}},
		{"kinds not a list", "title: X\nkinds: malware\n", []string{"p.yaml:2:8: kinds must be a list: write [malware]"}},
		{"kinds empty", "title: X\nkinds: []\n", []string{"p.yaml:2:8: kinds is empty"}},
		{"bad kind", "title: X\nkinds: [Data_Breach, a, a]\n", []string{
			`p.yaml:2:9: kind "Data_Breach" is not valid`, "p.yaml:2:25: kind a is listed twice"}},
		{"role typo", "title: X\nkinds: [a]\nroles:\n  informaton: {}\n", []string{"p.yaml:4:3: role informaton is not an ICS role; did you mean information?"}},
		{"role command", "title: X\nkinds: [a]\nroles:\n  command: {}\n", []string{"p.yaml:4:3: command is not staffed by a plan"}},
		{"role bad name", "title: X\nkinds: [a]\nroles:\n  Legal Team: {}\n", []string{`p.yaml:4:3: role "Legal Team" is not valid`}},
		{"role fields", "title: X\nkinds: [a]\nroles:\n  liaison:\n    severity: 0\n    people: [Alice Smith]\n    phone: 555\n", []string{
			"p.yaml:5:15: roles.liaison.severity 0 is out of range: 1 to 4",
			`p.yaml:6:14: roles.liaison.people: "Alice Smith" is not a user name`,
			`p.yaml:7:5: unknown field "phone" in role liaison (known: severity, people, team, why)`}},
		{"bad phase", "title: X\nkinds: [a]\nchecklists:\n  containmnet: []\n  closed: []\n", []string{
			`p.yaml:4:3: "containmnet" is not a phase; did you mean containment? (phases: identification, containment, eradication, recovery, post-mortem)`,
			"p.yaml:5:3: closed has no checklist"}},
		{"item problems", "title: X\nkinds: [a]\nchecklists:\n  identification:\n    - task: Do it\n      section: opertions\n    - section: command\n    - task: Long\n      section: legal\n      asignee: bob\n", []string{
			`p.yaml:6:16: section "opertions" is neither an ICS section or officer nor a role this plan adds under roles; did you mean operations?`,
			"p.yaml:7:7: checklists.identification[1] has no task",
			"p.yaml:7:16: command is not a section",
			`p.yaml:9:16: section "legal" is neither an ICS section or officer nor a role this plan adds under roles`,
			`p.yaml:10:7: unknown field "asignee" in a checklist item; did you mean assignee?`}},
		{"section a role the plan adds", "title: X\nkinds: [a]\nroles:\n  legal: {}\nchecklists:\n  recovery:\n    - task: Release the hold\n      section: legal\n", nil},
		{"task too long", "title: X\nkinds: [a]\nchecklists:\n  recovery:\n    - task: " + strings.Repeat("x", 201) + "\n      section: operations\n", []string{
			"p.yaml:5:13: checklists.recovery[0].task is 201 bytes long; the limit is 200"}},
		{"placeholders", "title: X\nkinds: [a]\ncommunications:\n  - name: t\n    audience: internal\n    text: |\n      Hello {{titel}},\n      {{id}} and {{ nope\n", []string{
			"p.yaml:7:13: unknown placeholder {{titel}}; did you mean title? (known: id, title, kind, severity, phase, command, information_officer, declared_at, plan)",
			"p.yaml:8:18: {{ is not closed"}},
		{"template problems", "title: X\nkinds: [a]\ncommunications:\n  - name: t\n    audience: The Press\n    text: x\n  - name: t\n    audience: press\n    phase: done\n    text: ''\n", []string{
			`p.yaml:5:15: audience "The Press" is not valid`,
			"p.yaml:7:11: a template named t is already defined in this plan",
			`p.yaml:9:12: "done" is not a phase`,
			"p.yaml:10:11: communications[1].text is empty"}},
		{"notify problems", "title: X\nkinds: [a]\nnotify:\n  - audience: executives\n    to: [ciso, 'CISO <ciso@example.com>', 'two words']\n  - to: []\n", []string{
			`p.yaml:5:16: notify[0].to: "CISO <ciso@example.com>" is not an e-mail address`,
			`p.yaml:5:43: notify[0].to: "two words" is neither a user name nor an e-mail address`,
			"p.yaml:6:5: notify[1] has no audience",
			"p.yaml:6:9: notify[1].to is empty"}},
		{"targets", "title: X\nkinds: [a]\ntargets:\n  declare: 15\n  command: soon\n  contained: 1000h\n  containment: 4h\n", []string{
			"p.yaml:4:12: targets.declare 15 has no unit: write it like 15m (minutes) or 15h (hours)",
			`p.yaml:5:12: targets.command "soon" is not a duration`,
			"p.yaml:6:14: targets.contained 1000h is longer than 720h (30 days)",
			`p.yaml:7:3: unknown field "containment" in targets; did you mean contained?`}},
		{"tags refused", "title: !!str 12\nkinds: [a]\n", []string{"p.yaml:1:8: YAML tags such as !!str are not used in plans"}},
		{"unknown alias", "title: *nope\nkinds: [a]\n", []string{"p.yaml:1:8: alias *nope refers to no anchor &nope defined before it"}},
		{"anchors and merge keys work", "title: X\nkinds: [a]\nroles:\n  liaison: &base\n    severity: 1\n    people: [dana]\n  finance:\n    <<: *base\n    team: Finance\n", nil},
		{"control character", "title: \"a\\u0007b\"\nkinds: [a]\n", []string{"p.yaml:1:8: title holds the control character U+0007"}},
		{"bool as wrong type", "title: X\nkinds: [a]\nconfidential: yes please\n", []string{"p.yaml:3:15: confidential must be true or false, not text"}},
		{"title must be one line", "title: |\n  two\n  lines\nkinds: [a]\n", []string{"p.yaml:1:8: title must be one line"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, problems := Parse("p.yaml", []byte(c.src))
			if c.want == nil {
				if problems != nil {
					t.Fatalf("unexpected problems:\n%v", problems)
				}
				if p == nil {
					t.Fatal("no plan and no problems")
				}
				return
			}
			if p != nil {
				t.Errorf("a broken plan was returned: %+v", p)
			}
			var got []string
			for _, pr := range problems {
				got = append(got, pr.String())
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(c.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], c.want[i]) {
					t.Errorf("problem %d:\n got %s\nwant %s…", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestParseAliasBombIsBounded(t *testing.T) {
	// Each level doubles the previous: 2^20 values if expanded.
	var b strings.Builder
	b.WriteString("title: X\nkinds: [a]\nroles:\n  liaison:\n    people: &l0 [a0]\n")
	for i := 1; i <= 20; i++ {
		b.WriteString("x" + strconv.Itoa(i) + ": &l" + strconv.Itoa(i) + " [*l" + strconv.Itoa(i-1) + ", *l" + strconv.Itoa(i-1) + "]\n")
	}
	b.WriteString("notify:\n  - audience: internal\n    to: *l20\n")
	_, problems := Parse("bomb.yaml", []byte(b.String()))
	if problems == nil {
		t.Fatal("no problem reported")
	}
	for _, p := range problems {
		if p.Line < 0 || p.Message == "" {
			t.Errorf("odd problem %+v", p)
		}
	}
}

func TestParseLimits(t *testing.T) {
	t.Run("file size", func(t *testing.T) {
		_, problems := Parse("big.yaml", []byte("title: X\nkinds: [a]\ndescription: "+strings.Repeat("x", MaxFileSize)+"\n"))
		if len(problems) != 1 || !strings.Contains(problems[0].Message, "the limit is") || problems[0].Line != 0 {
			t.Errorf("problems = %v; want the file size", problems)
		}
	})
	t.Run("items", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("title: X\nkinds: [a]\nchecklists:\n  recovery:\n")
		for range MaxItemsPerPhase + 1 {
			b.WriteString("    - {task: t, section: operations}\n")
		}
		_, problems := Parse("many.yaml", []byte(b.String()))
		if len(problems) != 1 || !strings.Contains(problems[0].Message, "checklists.recovery has 101 items; the limit is 100") {
			t.Errorf("problems = %v", problems)
		}
	})
	t.Run("invalid UTF-8", func(t *testing.T) {
		_, problems := Parse("bin.yaml", []byte("title: X\nkinds: [a]\ndescription: caf\xe9\n"))
		if len(problems) != 1 || problems[0].String() != "bin.yaml:3:17: the file is not valid UTF-8 here" {
			t.Errorf("problems = %v", problems)
		}
	})
	t.Run("file name", func(t *testing.T) {
		_, problems := Parse("Data Breach.yaml", []byte("title: X\nkinds: [a]\n"))
		if len(problems) != 1 || !strings.Contains(problems[0].Message, `the plan's name "Data Breach"`) {
			t.Errorf("problems = %v", problems)
		}
	})
}

func TestRender(t *testing.T) {
	got := Render("{{id}}: {{ title }} ({{kind}}), {{unknown}}{{ open", map[string]string{"id": "IR-2026-0001", "title": "T", "kind": "malware"})
	if want := "IR-2026-0001: T (malware), {{ open"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}

func TestSuggest(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"severty", "severity"}, {"Severity", "severity"}, {"legal-hold", "legal_hold"}, {"xyz", ""}, {"notfy", "notify"},
	} {
		if got := yamlcheck.Suggest(c.in, planKeys); got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
