package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/sitrep-ir/sitrep"
)

// testAlertsOnIncident: the alerts of one incident, declared from it or
// attached to it, are listed with their current state, and only they.
func testAlertsOnIncident(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	ann := f.user("ann")
	res := f.ingest("edr", trigger("a"), trigger("b"), trigger("c"), trigger("d"))
	a, b, c, d := res[0].AlertID, res[1].AlertID, res[2].AlertID, res[3].AlertID
	inc, _, err := f.svc.DeclareFromAlert(f.ctx, ann, a, sitrep.DeclareInput{})
	if err != nil {
		t.Fatal(err)
	}
	other := f.declare(ann, "Another incident")
	for _, at := range []struct {
		alert int64
		inc   string
	}{{b, inc.ID}, {c, other.ID}} {
		if _, _, err := f.svc.AttachAlertTo(f.ctx, ann, at.alert, at.inc); err != nil {
			t.Fatal(err)
		}
	}
	// Repetitions after the attach count on; a resolve closes.
	f.ingest("edr", trigger("b"), trigger("b"), resolve("a"))

	got := f.alerts(sitrep.AlertFilter{IncidentID: inc.ID})
	if ids := alertIDs(got); !sameSet(ids, []int64{a, b}) {
		t.Fatalf("alerts on %s: %v, want %v", inc.ID, ids, []int64{a, b})
	}
	for _, al := range got {
		switch al.ID {
		case a:
			if al.Status != sitrep.AlertResolved || al.ResolvedAt == nil || al.Triage != sitrep.TriageDeclared {
				t.Errorf("declared alert: status %s, resolved at %v, triage %s", al.Status, al.ResolvedAt, al.Triage)
			}
		case b:
			if al.Count != 3 || al.Triage != sitrep.TriageAttached {
				t.Errorf("attached alert: count %d, triage %s; want 3, attached", al.Count, al.Triage)
			}
		}
	}
	if ids := alertIDs(f.alerts(sitrep.AlertFilter{IncidentID: inc.ID, Open: true})); !slices.Equal(ids, []int64{b}) {
		t.Errorf("open alerts on %s: %v, want [%d]", inc.ID, ids, b)
	}
	if ids := alertIDs(f.alerts(sitrep.AlertFilter{IncidentID: inc.ID, Triage: sitrep.TriageAttached})); !slices.Equal(ids, []int64{b}) {
		t.Errorf("attached alerts on %s: %v, want [%d]", inc.ID, ids, b)
	}
	if ids := alertIDs(f.alerts(sitrep.AlertFilter{IncidentID: other.ID})); !slices.Equal(ids, []int64{c}) {
		t.Errorf("alerts on %s: %v, want [%d]", other.ID, ids, c)
	}
	if ids := alertIDs(f.alerts(sitrep.AlertFilter{IncidentID: "IR-2020-0999"})); len(ids) != 0 {
		t.Errorf("alerts on an incident that does not exist: %v", ids)
	}
	_ = d // stays on the desk, on no incident

	// The incident's view shows the current count, not the one at attach.
	v, err := f.svc.IncidentView(f.ctx, ann, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Alerts) != 2 || v.Alerts[1].ID != b || v.Alerts[1].Count != 3 || v.Alerts[0].Status != sitrep.AlertResolved {
		t.Errorf("the view's alerts: %+v", v.Alerts)
	}
}

// testGroupDeclaredOnce: declarations with one group key at once make one
// open incident. CreateIncident serialises them and the service re-checks
// the group inside it; the others are refused with a conflict.
func testGroupDeclaredOnce(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	d, err := f.svc.Dispatcher(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	for round := range 3 {
		key := fmt.Sprintf("host=%q", fmt.Sprint("web", round))
		var ids []int64
		for i := range n {
			ids = append(ids, f.ingest("edr", trigger(fmt.Sprintf("g%d-%d", round, i)))[0].AlertID)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, id := range ids {
			wg.Go(func() {
				_, _, errs[i] = f.svc.DeclareFromAlert(f.ctx, d, id, sitrep.DeclareInput{Kind: "outage", GroupKey: key, Rule: "web"})
			})
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case sitrep.ErrorKind(err) != sitrep.EConflict:
				t.Errorf("round %d, declaration %d: %v, want success or a conflict", round, i, err)
			default:
				if al := f.alert(ids[i]); al.Triage != sitrep.TriagePending {
					t.Errorf("round %d: a refused declaration left its alert %s", round, al.Triage)
				}
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d of %d declarations with one group key succeeded, want 1", round, won, n)
		}
	}
	// Another group key does not conflict.
	if _, _, err := f.svc.Declare(f.ctx, d, sitrep.DeclareInput{Title: "Other", GroupKey: "host=\"db1\""}); err != nil {
		t.Errorf("a declaration with another group key: %v", err)
	}
}

func sameSet(a, b []int64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
