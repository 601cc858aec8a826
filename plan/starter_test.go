package plan

import (
	"slices"
	"testing"

	"github.com/sitrep-ir/sitrep"
)

// TestStarterLibrary lints the plans shipped in plans/, so CI lints them, and
// checks they do what they are there to teach.
func TestStarterLibrary(t *testing.T) {
	set, err := Load("../plans")
	if err != nil {
		t.Fatalf("the starter plans do not lint:\n%v", err)
	}
	kinds := map[string]string{
		"malware":           "malware",
		"worm":              "worm",
		"customer-bug":      "customer-bug",
		"data-corruption":   "data-corruption",
		"data-breach":       "data-breach",
		"datacenter-outage": "datacenter-outage",
		"legal-request":     "legal-request",
		"subpoena":          "legal-request",
	}
	for kind, name := range kinds {
		if p := set.ForKind(kind); p == nil || p.Name != name {
			t.Errorf("kind %s is answered by %v, want plan %s", kind, p, name)
		}
	}
	if set.Len() != 7 {
		t.Errorf("%d plans, want the 7 of the starter library", set.Len())
	}
	for _, p := range set.Plans {
		if p.Description == "" || len(p.Checklist(sitrep.PhaseIdentification)) == 0 || len(p.Checklist(sitrep.PhaseContainment)) == 0 || len(p.Checklist(sitrep.PhasePostMortem)) == 0 {
			t.Errorf("%s: a starter plan describes itself and has identification, containment and post-mortem checklists", p.Name)
		}
		if p.Targets == (Targets{}) {
			t.Errorf("%s has no time targets", p.Name)
		}
	}
	staffed := func(plan string, sev int) []string {
		var names []string
		for _, r := range set.Plan(plan).RolesAt(sev) {
			names = append(names, r.Name)
		}
		return names
	}
	// The talk's examples: a PII breach staffs the Information Officer, a
	// Liaison and Finance; a datacenter outage staffs Logistics.
	for _, role := range []string{"information", "liaison", "finance"} {
		if !slices.Contains(staffed("data-breach", 1), role) {
			t.Errorf("data-breach at severity 1 does not staff %s: %v", role, staffed("data-breach", 1))
		}
	}
	if !slices.Contains(staffed("datacenter-outage", 1), "logistics") {
		t.Error("datacenter-outage at severity 1 does not staff logistics")
	}
	if lr := set.Plan("legal-request"); !lr.LegalHold || !lr.Confidential {
		t.Error("legal-request incidents start confidential and under legal hold")
	}
	if !set.Plan("data-breach").Confidential {
		t.Error("data-breach incidents start confidential")
	}
}
