package exercise

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/plan"
)

const goodScenario = `title: Ransomware on a laptop
plan: malware
duration: 2h
participants: [alice, bob]
injects:
  - name: edr
    at: 0s
    alert:
      summary: Ransomware on FIN-LAPTOP-7
      severity: 2
      labels: {host: FIN-LAPTOP-7}
  - name: call
    at: 10m
    message: {to: information, from: The Gazette, text: A reporter is on the phone}
expect:
  - name: declared
    do: declare
    within: 15m
  - name: io
    do: assign
    role: information
    within: 30m
  - name: told
    do: publish
    audience: internal
    by: information
    after: call
    within: 20m
`

func TestParseGood(t *testing.T) {
	sc, problems := Parse("exercises/laptop.yaml", []byte(goodScenario))
	if problems != nil {
		t.Fatalf("problems: %v", problems)
	}
	want := &Scenario{
		Name: "laptop", File: "exercises/laptop.yaml", SHA256: sc.SHA256,
		Title: "Ransomware on a laptop", Plan: "malware", Declare: DeclareDispatch, Duration: 7200,
		Participants: []string{"alice", "bob"},
		Injects: []Inject{
			{Name: "edr", At: 0, Alert: &AlertInject{Summary: "Ransomware on FIN-LAPTOP-7", Severity: 2, Labels: map[string]string{"host": "FIN-LAPTOP-7"}, DedupKey: "edr", Repeat: 1}},
			{Name: "call", At: 600, Message: &MessageInject{To: "information", From: "The Gazette", Text: "A reporter is on the phone"}},
		},
		Expect: []Expectation{
			{Name: "declared", Do: DoDeclare, After: "edr", Within: 900},
			{Name: "io", Do: DoAssign, Role: "information", After: AfterDeclared, Within: 1800},
			{Name: "told", Do: DoPublish, Audience: "internal", By: "information", After: "call", Within: 1200},
		},
	}
	ignore := cmpopts.IgnoreUnexported(Scenario{}, Inject{}, Expectation{})
	if diff := cmp.Diff(want, sc, ignore); diff != "" {
		t.Errorf("scenario (-want +got):\n%s", diff)
	}
	if len(sc.SHA256) != 64 {
		t.Errorf("sha256 %q", sc.SHA256)
	}
	// The JSON form reads back as the same scenario.
	back, err := DecodeSpec(sc.Spec())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sc, back, ignore); diff != "" {
		t.Errorf("spec round trip (-parsed +decoded):\n%s", diff)
	}
}

// TestParseProblems feeds broken scenarios and checks each problem is
// reported with its line and column, and that every problem of a file is
// reported, not only the first.
func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // "line:col: substring of the message"
	}{
		{"empty file", "", []string{"0:0: the file holds no scenario"}},
		{"not YAML", "title: [\n", []string{"1:"}},
		{"not a mapping", "- a\n- b\n", []string{"1:1: a scenario must be a mapping"}},
		{"required", "description: x\n", []string{
			"1:1: the scenario has no title", "1:1: the scenario rehearses no plan", "1:1: the scenario has no duration"}},
		{"unknown key with suggestion", "title: T\nplan: malware\nduration: 1h\nduraton: 2h\n", []string{
			`4:1: unknown field "duraton" in the scenario; did you mean duration?`}},
		{"name is the file's", "name: x\ntitle: T\nplan: malware\nduration: 1h\n", []string{`1:1: unknown field "name": a scenario's name is its file name (s)`}},
		{"duplicate key", "title: T\ntitle: U\nplan: malware\nduration: 1h\n", []string{`2:1: YAML: mapping key "title" already defined`}},
		{"wrong types", "title: [a]\nplan: malware\nduration: 90\nseverity: high\n", []string{
			"1:8: title must be text, not a list", "3:11: duration 90 has no unit", "4:11: severity must be a whole number from 1 to 4, not text"}},
		{"bad declare", "title: T\nplan: malware\nduration: 1h\ndeclare: dispach\n", []string{`4:10: declare "dispach" is not valid; did you mean dispatch?`}},
		{"manual without alerts", "title: T\nplan: malware\nduration: 1h\ndeclare: manual\n", []string{"4:1: declare: manual needs an alert inject"}},
		{"too long", "title: T\nplan: malware\nduration: 100h\n", []string{"3:11: duration 100h is longer than the limit of 72h"}},
		{"bad participant", "title: T\nplan: malware\nduration: 1h\nparticipants: [Alice, bob, bob, dispatch]\n", []string{
			`4:16: participants[0]: "Alice" is not a user name`, "4:28: participant bob is listed twice", "4:33: participants[3]: dispatch is sitrep's own dispatcher"}},
		{"inject problems", `title: T
plan: malware
duration: 1h
injects:
  - name: a
    at: 10m
    alert: {summary: x}
    message: {to: command, text: y}
  - at: 5m
    alert: {summary: x}
  - name: a
    at: 20m
    message: {text: hi, to: informaton}
  - name: late
    at: 1h
    alert: {summary: "", labels: {sitrep_exercise: x}, action: ack, repeat: 0}
  - name: none
    at: 2m
  - name: order
    at: 30m
    alert: {summary: z}
  - name: early
    at: 15m
    alert: {summary: z}
`, []string{
			"5:5: inject a is both an alert and a message",
			"9:5: injects[1] has no name",
			"11:5: inject name a is used twice",
			"15:9: inject late at 1h is not before the scenario ends (duration 1h)",
			"16:22: injects[3].alert.summary is empty",
			"16:35: label sitrep_exercise is set by the exercise itself",
			"16:64: injects[3].alert.action \"ack\" is not valid",
			"16:77: injects[3].alert.repeat 0 is out of range: 1 to 10000",
			"17:5: inject none is neither an alert nor a message",
			"23:9: inject early at 15m comes before the inject above it (order at 30m)",
		}},
		{"expectation problems", `title: T
plan: malware
duration: 1h
injects:
  - name: edr
    at: 30m
    alert: {summary: x}
expect:
  - name: a
    do: asign
    within: 10m
  - name: b
    do: publish
    phase: containment
    within: 5m
  - name: c
    do: assign
    within: 5m
  - name: d
    do: note
    after: edr
    within: 40m
  - name: e
    do: note
    after: ed
    within: 5m
  - name: f
    do: declare
    after: declared
    within: 5m
  - name: a
    do: note
    within: 5m
  - name: g
    do: assign
    role: command
    within: 5m
  - name: h
    do: phase
    phase: contaiment
    within: 5m
  - name: i
    do: note
`, []string{
			`10:9: do "asign" is not an action; did you mean assign?`,
			"14:5: phase does not go with do: publish (it takes audience, by)",
			"16:5: expectation c: do: assign needs role:",
			"22:13: expectation d is due at 1h10m (40m after edr at 30m), after the scenario ends (duration 1h)",
			`25:12: expectation e runs after "ed", which is neither start, declared nor an inject; did you mean edr?`,
			"29:12: expectation f: the declaration cannot be expected after itself",
			"31:5: expectation name a is used twice",
			"36:11: command is not assigned",
			`40:12: "contaiment" is not a phase; did you mean containment?`,
			"42:5: expectation i has no deadline",
		}},
		{"deadline after declared counts from the first alert", `title: T
plan: malware
duration: 1h
injects:
  - {name: edr, at: 50m, alert: {summary: x}}
expect:
  - {name: io, do: assign, role: information, within: 15m}
`, []string{"7:55: expectation io is due at 1h05m (15m after declared at 50m)"}},
		{"declare expected with declare start", `title: T
plan: malware
duration: 1h
expect:
  - {name: d, do: declare, within: 15m}
`, []string{"5:6: expectation d expects a declaration, but with declare: start"}},
		{"alias loop and tags", "title: &a !!str T\nplan: *b\nduration: 1h\n", []string{"1:"}},
		{"not UTF-8", "title: \xff\n", []string{"1:8: the file is not valid UTF-8 here"}},
		{"two documents", "title: T\n---\ntitle: U\n", []string{"3:1: a second YAML document starts here"}},
		{"control character", "title: \"a\\u0007b\"\nplan: malware\nduration: 1h\n", []string{"1:8: title holds the control character U+0007"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, problems := Parse("s.yaml", []byte(tt.src))
			if sc != nil || problems == nil {
				t.Fatalf("parsed %+v without problems", sc)
			}
			var got []string
			for _, p := range problems {
				if p.File != "s.yaml" {
					t.Errorf("problem in file %q", p.File)
				}
				got = append(got, strings.TrimPrefix(p.String(), "s.yaml:"))
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					if strings.HasPrefix(strings.TrimPrefix(g, " "), w) || (strings.HasPrefix(w, "0:0: ") && strings.Contains(g, strings.TrimPrefix(w, "0:0: "))) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem %q among:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	big := "title: T\nplan: malware\nduration: 1h\ndescription: " + strings.Repeat("x", MaxFileSize) + "\n"
	if _, ps := Parse("big.yaml", []byte(big)); len(ps) != 1 || !strings.Contains(ps[0].Message, "the limit is") {
		t.Errorf("a file over the limit: %v", ps)
	}
	var b strings.Builder
	b.WriteString("title: T\nplan: malware\nduration: 1h\ninjects:\n")
	for i := range MaxInjects + 1 {
		b.WriteString("  - {name: i" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + ", at: 1s, message: {to: command, text: hi}}\n")
	}
	if _, ps := Parse("many.yaml", []byte(b.String())); !strings.Contains(ps.Error(), "injects has 201 items; the limit is 200") {
		t.Errorf("too many injects: %v", ps)
	}
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ninjects: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	if _, ps := Parse("bomb.yaml", []byte(bomb)); ps == nil {
		t.Errorf("an alias bomb parsed")
	}
	if _, ps := Parse("Bad Name.yaml", []byte(goodScenario)); ps == nil || !strings.Contains(ps[0].Message, "the scenario's name") {
		t.Errorf("a file name that is not a name: %v", ps)
	}
}

func TestParseSpeed(t *testing.T) {
	for in, want := range map[string]float64{"10x": 10, "10": 10, "1.5x": 1.5, " 600X ": 600, "10000×": 10000, "1x": 1} {
		if got, err := ParseSpeed(in); err != nil || got != want {
			t.Errorf("ParseSpeed(%q) = %g, %v; want %g", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "fast", "0.5x", "0", "-3x", "10001x", "NaN", "Inf", "1e400"} {
		if _, err := ParseSpeed(in); sitrep.ErrorKind(err) != sitrep.EInvalid {
			t.Errorf("ParseSpeed(%q): %v, want invalid", in, err)
		}
	}
}

// TestCheck validates scenarios against the starter plans.
func TestCheck(t *testing.T) {
	set, err := plan.Load(filepath.Join("..", "plans"))
	if err != nil {
		t.Fatal(err)
	}
	src := `title: T
plan: %s
kind: %s
duration: 1h
injects:
  - {name: call, at: 1m, message: {to: forensics, text: hi}}
expect:
  - {name: a, do: assign, role: informaton, within: 5m}
  - {name: b, do: note, by: legal, within: 5m}
`
	check := func(planName, kind string) []string {
		sc, ps := Parse("s.yaml", []byte(strings.NewReplacer("%s", planName).Replace(strings.Replace(src, "kind: %s", "kind: "+kind, 1))))
		if ps != nil {
			t.Fatalf("parse: %v", ps)
		}
		var out []string
		for _, p := range Check(sc, set) {
			out = append(out, p.String())
		}
		return out
	}
	got := check("data-breach", "data-breach")
	want := []string{
		"s.yaml:8:33: role informaton is neither an ICS role nor one plan data-breach adds; did you mean information?",
		"s.yaml:9:29: role legal is neither an ICS role nor one plan data-breach adds",
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], want[0]) || !strings.HasPrefix(got[1], want[1]) {
		t.Errorf("data-breach problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// forensics is a role data-breach adds, not malware.
	got = check("malware", "outage")
	if len(got) != 4 || !strings.Contains(got[0], "kind outage is not one plan malware answers (malware)") || !strings.Contains(got[1], "role forensics") {
		t.Errorf("malware problems:\n%s", strings.Join(got, "\n"))
	}
	got = check("malwre", "malware")
	if len(got) != 1 || !strings.HasPrefix(got[0], "s.yaml:2:7: plan malwre is not among the plans in force; did you mean malware?") {
		t.Errorf("unknown plan: %v", got)
	}
}

// TestShippedScenarios checks the scenarios of exercises/ against the
// starter plans: they are the examples newcomers copy.
func TestShippedScenarios(t *testing.T) {
	set, err := plan.Load(filepath.Join("..", "plans"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("..", "exercises", "*.yaml"))
	if len(files) < 3 {
		t.Fatalf("%d scenarios in exercises/, want at least 3", len(files))
	}
	modes := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc, ps := Parse(f, data)
		if ps == nil {
			ps = Check(sc, set)
		}
		if ps != nil {
			t.Errorf("%s:\n%v", f, ps)
			continue
		}
		modes[sc.Declare] = true
		if len(sc.Expect) == 0 || len(sc.Injects) == 0 {
			t.Errorf("%s expects nothing or injects nothing", f)
		}
	}
	if len(modes) != 3 {
		t.Errorf("the shipped scenarios declare by %v: show each way (dispatch, manual, start)", modes)
	}
}
