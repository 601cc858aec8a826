package dispatch

import (
	"testing"

	"github.com/sitrep-ir/sitrep"
)

// An exercise's alerts get group keys of their own: a rule never groups
// them with real alerts, or with another exercise's.
func TestGroupKeyOfExercises(t *testing.T) {
	rs := mustParse(t, `rules:
  - name: by-host
    action: declare
    kind: malware
    group_by: [host]
`)
	r := rs.Rules[0]
	real := &sitrep.Alert{Source: "edr", Labels: map[string]string{"host": "fs01"}}
	ex1 := &sitrep.Alert{Source: sitrep.ExerciseSource, Labels: map[string]string{"host": "fs01", sitrep.ExerciseLabel: "EX-0000000001"}}
	ex1again := &sitrep.Alert{Source: sitrep.ExerciseSource, Labels: map[string]string{"host": "fs01", sitrep.ExerciseLabel: "EX-0000000001"}}
	ex2 := &sitrep.Alert{Source: sitrep.ExerciseSource, Labels: map[string]string{"host": "fs01", sitrep.ExerciseLabel: "EX-0000000002"}}
	forged := &sitrep.Alert{Source: "edr", Labels: map[string]string{"host": "fs01", sitrep.ExerciseLabel: "EX-0000000001"}}
	if k := r.GroupKey(real); k != `host="fs01"` {
		t.Errorf("a real alert's key %q", k)
	}
	if r.GroupKey(ex1) != r.GroupKey(ex1again) {
		t.Errorf("one exercise's alerts about one host group apart: %q, %q", r.GroupKey(ex1), r.GroupKey(ex1again))
	}
	for _, k := range []string{r.GroupKey(ex2), r.GroupKey(real), r.GroupKey(forged)} {
		if k == r.GroupKey(ex1) {
			t.Errorf("key %q is the exercise's", k)
		}
	}
	if r.GroupKey(forged) != r.GroupKey(real) {
		t.Errorf("a real source's label made an exercise's key: %q", r.GroupKey(forged))
	}
}
