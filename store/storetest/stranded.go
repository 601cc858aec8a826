package storetest

import (
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// testStranded: alerts declared without an incident are listed once their
// triage stayed so since the time asked, oldest first; a release puts one
// back on the desk only while it is so; the incident declared from an
// alert names it, and the repair links the alert to it.
func testStranded(t *testing.T, h Harness) {
	f := newAlertFixture(t, h)
	ann := f.user("ann")
	res := f.ingest("edr", trigger("a"), trigger("b"), trigger("c"), trigger("d"))
	a, b, c, d := res[0].AlertID, res[1].AlertID, res[2].AlertID, res[3].AlertID
	if _, _, err := f.svc.DeclareFromAlert(f.ctx, ann, d, sitrep.DeclareInput{}); err != nil {
		t.Fatal(err)
	}
	beforeClaims := time.Now().Add(-time.Second) // the store stamps on its own clock
	for _, id := range []int64{b, a} {
		if err := f.as.SetTriage(f.ctx, id, sitrep.TriagePending, sitrep.TriageDeclared, ""); err != nil {
			t.Fatal(err)
		}
	}
	list := func(before time.Time) []int64 {
		t.Helper()
		als, err := f.as.StrandedAlerts(f.ctx, before, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, al := range als {
			if al.Triage != sitrep.TriageDeclared || al.IncidentID != "" {
				t.Errorf("stranded alert %d is %s on %q", al.ID, al.Triage, al.IncidentID)
			}
		}
		return alertIDs(als)
	}
	later := time.Now().Add(time.Hour)
	if got := list(later); len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("stranded alerts: %v, want [%d %d] (oldest first, not the declared %d nor the pending %d)", got, a, b, d, c)
	}
	if got := list(beforeClaims); len(got) != 0 {
		t.Errorf("alerts stranded since before their claims: %v, want none", got)
	}

	requireKind(t, "release a claim younger than asked", f.as.ReleaseStranded(f.ctx, a, beforeClaims), sitrep.EConflict)
	requireKind(t, "release a declared alert", f.as.ReleaseStranded(f.ctx, d, later), sitrep.EConflict)
	requireKind(t, "release a pending alert", f.as.ReleaseStranded(f.ctx, c, later), sitrep.EConflict)
	requireKind(t, "release no alert", f.as.ReleaseStranded(f.ctx, 1<<40, later), sitrep.ENotFound)
	if err := f.as.ReleaseStranded(f.ctx, a, later); err != nil {
		t.Fatal(err)
	}
	if al := f.alert(a); al.Triage != sitrep.TriagePending {
		t.Errorf("released alert is %s, want pending", al.Triage)
	}
	// Claimed again: stranded anew, from the new claim's time on.
	time.Sleep(5 * time.Millisecond)
	reclaimed := time.Now()
	time.Sleep(5 * time.Millisecond)
	if err := f.as.SetTriage(f.ctx, a, sitrep.TriagePending, sitrep.TriageDeclared, ""); err != nil {
		t.Fatal(err)
	}
	if got := list(reclaimed); len(got) != 1 || got[0] != b {
		t.Errorf("alerts stranded since before the new claim: %v, want [%d]", got, b)
	}

	// b's declaration got as far as its incident: the repair links it.
	inc, _, err := f.svc.Declare(f.ctx, ann, sitrep.DeclareInput{Title: "From b", FromAlert: b})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.store.Incident(f.ctx, inc.ID); err != nil || got.FromAlert != b {
		t.Fatalf("incident declared from alert %d: %v, from alert %d", b, err, got.FromAlert)
	}
	time.Sleep(5 * time.Millisecond)
	done, err := f.svc.RepairStranded(f.ctx, ann, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{a: "", b: inc.ID}
	if len(done) != 2 || want[done[0].Alert] != done[0].Incident || want[done[1].Alert] != done[1].Incident {
		t.Errorf("repaired %+v, want a released and b linked to %s", done, inc.ID)
	}
	if al := f.alert(b); al.Triage != sitrep.TriageDeclared || al.IncidentID != inc.ID {
		t.Errorf("linked alert is %s on %q, want declared on %s", al.Triage, al.IncidentID, inc.ID)
	}
	if got, _ := f.store.Incident(f.ctx, inc.ID); len(got.Alerts) != 1 || got.Alerts[0].ID != b {
		t.Errorf("alerts on %s: %+v, want %d", inc.ID, got.Alerts, b)
	}
	if al := f.alert(a); al.Triage != sitrep.TriagePending {
		t.Errorf("alert with no incident declared from it is %s after the repair, want pending", al.Triage)
	}
}
