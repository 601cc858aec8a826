package exercise

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sitrep-ir/sitrep/plan"
)

// FuzzParse checks that no input crashes the parser or the check against
// the starter plans, that a scenario comes with no problems or problems
// with no scenario, that every problem has a place and a message, and that
// a scenario without problems holds what the runner relies on.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodScenario))
	f.Add([]byte("title: X\nplan: malware\nduration: 1h\ninjects:\n  - &i {name: a, at: 1m, message: {to: command, text: hi}}\n  - {<<: *i, name: b}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("- [{\n"))
	f.Add([]byte("title: !!binary aGk=\n"))
	f.Add([]byte("title: T\nplan: malware\nduration: 1h\nexpect: [{name: x, do: checkin, count: 3, after: start, within: 59m}]\n"))
	files, _ := filepath.Glob(filepath.Join("..", "exercises", "*.yaml"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	set, err := plan.Load(filepath.Join("..", "plans"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, problems := Parse("fuzz.yaml", data)
		if (sc == nil) == (problems == nil) {
			t.Fatalf("scenario %v with problems %v: want exactly one", sc, problems)
		}
		for _, pr := range problems {
			if pr.File != "fuzz.yaml" || pr.Line < 0 || pr.Column < 0 || strings.TrimSpace(pr.Message) == "" {
				t.Fatalf("bad problem %+v", pr)
			}
		}
		if sc == nil {
			return
		}
		if sc.Title == "" || sc.Plan == "" || sc.Duration < 1 || sc.Declare == "" {
			t.Fatalf("a scenario without problems lacks what it needs: %+v", sc)
		}
		for i, in := range sc.Injects {
			if in.Name == "" || (in.Alert == nil) == (in.Message == nil) || in.At >= sc.Duration || (i > 0 && in.At < sc.Injects[i-1].At) {
				t.Fatalf("inject %d does not hold: %+v", i, in)
			}
		}
		for _, x := range sc.Expect {
			if x.Name == "" || x.Do == "" || x.Within < 1 || x.After == "" {
				t.Fatalf("expectation does not hold: %+v", x)
			}
		}
		for _, pr := range Check(sc, set) {
			if pr.File != "fuzz.yaml" || strings.TrimSpace(pr.Message) == "" {
				t.Fatalf("bad problem of Check %+v", pr)
			}
		}
		if _, err := DecodeSpec(sc.Spec()); err != nil {
			t.Fatalf("the scenario's JSON form does not read back: %v", err)
		}
	})
}
