package plan

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sitrep-ir/sitrep"
)

// TestLibraryCatalog: the library lists its plans with the problems of a
// failed reload, gives each in full as JSON that reads back into the same
// plan, and hands the domain every template.
func TestLibraryCatalog(t *testing.T) {
	dir := writePlans(t, map[string]string{
		"malware.yaml": "title: Malware\nkinds: [malware, virus]\nseverity: 2\n",
		"breach.yaml": `title: Breach
kinds: [data-breach]
communications:
  - name: customer-notice
    audience: customers
    command_approval: true
    text: About {{id}}.
  - name: executive-brief
    audience: executives
    phase: identification
    text: "{{title}}"
targets:
  declare: 30m
  contained: 1h30m
  command: 2h
`,
	})
	lib, err := NewLibrary(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	list := lib.PlanList()
	var names []string
	for _, p := range list.Plans {
		names = append(names, p.Name)
	}
	if diff := cmp.Diff([]string{"breach", "malware"}, names); diff != "" || list.Dir != dir || list.Problems != nil {
		t.Errorf("plans (-want +got):\n%s\ndir %s, problems %v", diff, list.Dir, list.Problems)
	}
	m := list.Plans[1]
	if m.Title != "Malware" || !cmp.Equal(m.Kinds, []string{"malware", "virus"}) || m.Severity != 2 || m.File != filepath.Join(dir, "malware.yaml") || len(m.SHA256) != 64 {
		t.Errorf("malware summary = %+v", m)
	}

	doc, err := lib.PlanDocument("breach")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), `"targets":{"declare":"30m","command":"2h","contained":"1h30m"}`) {
		t.Errorf("targets are not written as in the plan: %s", doc)
	}
	var back Plan
	if err := json.Unmarshal(doc, &back); err != nil {
		t.Fatal(err)
	}
	// Where each kind was written in the file is not part of the document.
	if diff := cmp.Diff(lib.Current().Plan("breach"), &back, cmpopts.IgnoreUnexported(Plan{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the document reads back into another plan (-want +got):\n%s", diff)
	}
	if _, err := lib.PlanDocument("worm"); sitrep.ErrorKind(err) != sitrep.ENotFound || !strings.Contains(err.Error(), `no plan named "worm"`) {
		t.Errorf("an unknown plan: %v; want not found", err)
	}

	spec := lib.PlanFor("data-breach")
	wantTemplates := []sitrep.PlanTemplate{
		{Name: "customer-notice", Audience: "customers", CommandApproval: true, Text: "About {{id}}."},
		{Name: "executive-brief", Audience: "executives", Phase: sitrep.PhaseIdentification, Text: "{{title}}"},
	}
	if diff := cmp.Diff(wantTemplates, spec.Communications); diff != "" {
		t.Errorf("templates the domain gets (-want +got):\n%s", diff)
	}

	// A broken edit: the last good plans are listed with the problems.
	bad := filepath.Join(dir, "malware.yaml")
	writeFile(t, bad, "title: Malware\nkinds: [malware]\nseverity: 9\n")
	touch(t, bad, time.Second)
	if err := lib.Reload(context.Background()); err == nil {
		t.Fatal("a broken plan loaded")
	}
	list = lib.PlanList()
	if len(list.Plans) != 2 || list.Plans[1].Severity != 2 {
		t.Errorf("after a broken edit the plans listed are %+v; want the last good ones", list.Plans)
	}
	wantProblems := []sitrep.PlanProblem{{File: bad, Line: 3, Column: 11, Message: "severity 9 is out of range: 1 to 4"}}
	if diff := cmp.Diff(wantProblems, list.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestFormatDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{0, ""}, {30 * time.Minute, "30m"}, {2 * time.Hour, "2h"}, {90 * time.Minute, "1h30m"}, {45 * time.Second, "45s"}, {61 * time.Second, "1m1s"}, {720 * time.Hour, "720h"}} {
		if got := FormatDuration(c.d); got != c.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", c.d, got, c.want)
		}
		if c.d != 0 {
			if back, err := time.ParseDuration(c.want); err != nil || back != c.d {
				t.Errorf("%q reads back as %v, %v", c.want, back, err)
			}
		}
	}
}
