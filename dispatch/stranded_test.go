package dispatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// A server that stopped in the middle of declarations left alerts declared
// without an incident: one claimed only, one whose incident was declared
// but never recorded on it nor given it, one whose incident has closed
// since. The repair at the next start puts the first back on the desk,
// where the rules then decide it, and links the others to the incidents
// declared from them. A claim younger than the grace is left alone: it may
// be a declaration under way on another replica.
func TestStrandedAlerts(t *testing.T) {
	eachStore(t, checkStranded)
}

func checkStranded(t *testing.T, store sitrep.Store) {
	e := newEnvOn(t, store, deskRules)
	ctx := context.Background()
	as := store.(sitrep.AlertStore)
	res, err := e.in.Ingest(ctx, "am", []sitrep.AlertEvent{
		ev("claimed", "test alert"), ev("declared", "Disk on db1 fills"), ev("closed", "Disk on db2 fills"), ev("young", "CPU hot"),
	})
	if err != nil {
		t.Fatal(err)
	}
	claimed, declared, closed, young := res[0].AlertID, res[1].AlertID, res[2].AlertID, res[3].AlertID
	// The crashes, step by step as DeclareFromAlert takes them: the claim,
	// then the declaration naming the alert.
	for _, id := range []int64{claimed, declared, closed} {
		if err := as.SetTriage(ctx, id, sitrep.TriagePending, sitrep.TriageDeclared, ""); err != nil {
			t.Fatal(err)
		}
	}
	inc, _, err := e.svc.Declare(ctx, e.admin, sitrep.DeclareInput{Title: "Disk on db1 fills", FromAlert: declared})
	if err != nil {
		t.Fatal(err)
	}
	ann, err := e.svc.CreateUser(ctx, e.admin, sitrep.User{Name: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	gone, _, err := e.svc.Declare(ctx, ann, sitrep.DeclareInput{Title: "Disk on db2 fills", Kind: "outage", FromAlert: closed})
	if err != nil {
		t.Fatal(err)
	}
	if inc.FromAlert != declared {
		t.Errorf("%s names alert %d as its origin, want %d", inc.ID, inc.FromAlert, declared)
	}
	closeIncident(t, e, ann, gone.ID)

	// A start within the grace changes nothing.
	e.start(Options{StrandedGrace: time.Hour})
	for _, id := range []int64{claimed, declared, closed} {
		e.wantTriage(id, sitrep.TriageDeclared, "")
	}
	e.d.Close()
	e.reg = prometheus.NewRegistry() // the next dispatcher's metrics

	time.Sleep(10 * time.Millisecond) // the database's clock moves past the claims
	e.start(Options{StrandedGrace: 5 * time.Millisecond})
	// Back on the desk, and decided by the rules (noise: suppressed).
	e.wantTriage(claimed, sitrep.TriageSuppressed, "")
	e.wantTriage(declared, sitrep.TriageDeclared, inc.ID)
	e.wantTriage(closed, sitrep.TriageDeclared, gone.ID)
	if got := e.incident(inc.ID).Alerts; len(got) != 1 || got[0].ID != declared {
		t.Errorf("alerts on %s after the repair: %+v, want alert %d", inc.ID, got, declared)
	}
	if got := e.incident(gone.ID).Alerts; len(got) != 0 {
		t.Errorf("alerts on the closed %s after the repair: %+v, want none", gone.ID, got)
	}
	if got := e.metric("sitrep_dispatch_stranded_total", "outcome", "released"); got != 1 {
		t.Errorf("released %v stranded alerts, want 1", got)
	}
	if got := e.metric("sitrep_dispatch_stranded_total", "outcome", "linked"); got != 2 {
		t.Errorf("linked %v stranded alerts, want 2", got)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "put back on the triage desk") {
		t.Errorf("the release is not logged:\n%s", logs)
	}

	// A claim younger than the grace is left alone; the store releases
	// only what is still stranded since the time given.
	if err := as.SetTriage(ctx, young, sitrep.TriagePending, sitrep.TriageDeclared, ""); err != nil {
		t.Fatal(err)
	}
	if done, err := e.svc.RepairStranded(ctx, e.admin, time.Hour); err != nil || len(done) != 0 {
		t.Errorf("repair with an hour's grace just after a claim: %v, %v; want nothing done", done, err)
	}
	e.wantTriage(young, sitrep.TriageDeclared, "")
	requireKind(t, as.ReleaseStranded(ctx, young, time.Now().Add(-time.Hour)), sitrep.EConflict)
	requireKind(t, as.ReleaseStranded(ctx, declared, time.Now().Add(time.Hour)), sitrep.EConflict)
	requireKind(t, as.ReleaseStranded(ctx, 1<<40, time.Now()), sitrep.ENotFound)
	if err := as.ReleaseStranded(ctx, young, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.wantTriage(young, sitrep.TriagePending, "")
}

func requireKind(t *testing.T, err error, kind sitrep.Kind) {
	t.Helper()
	if sitrep.ErrorKind(err) != kind {
		t.Errorf("error %v, want one of kind %s", err, kind)
	}
}

// closeIncident takes an incident through to closed, as its commander.
func closeIncident(t *testing.T, e *env, commander *sitrep.User, id string) {
	t.Helper()
	text := "done"
	for _, cmd := range []sitrep.Command{
		sitrep.LinkAsset{Kind: "host", Name: "db2"},
		sitrep.ChangePhase{Phase: sitrep.PhasePostMortem, Reason: "disk grown"},
		sitrep.EditReport{Narrative: &text, WhatWorked: &text, NeedsImprovement: &text},
		sitrep.ChangePhase{Phase: sitrep.PhaseClosed, Reason: "report complete"},
	} {
		mustDo(t, e.svc, commander, id, cmd)
	}
}

// releasingStore releases the alert of a declaration just before the
// declaration records its incident on it, as a repair would that took the
// declaration for one cut off by a crash.
type releasingStore struct {
	*sqlite.Store
	released bool
}

func (s *releasingStore) SetTriage(ctx context.Context, id int64, from, triage, incidentID string) error {
	if from == sitrep.TriageDeclared && triage == sitrep.TriageDeclared && incidentID != "" && !s.released {
		s.released = true
		if err := s.Store.SetTriage(ctx, id, sitrep.TriageDeclared, sitrep.TriagePending, ""); err != nil {
			return err
		}
	}
	return s.Store.SetTriage(ctx, id, from, triage, incidentID)
}

// A declaration that outlasted the grace and finds its alert put back on
// the desk takes it again for its incident.
func TestDeclarationOutlastsRepair(t *testing.T) {
	store := &releasingStore{Store: openSQLite(t)}
	e := newEnvOn(t, store, "")
	res, err := e.in.Ingest(context.Background(), "am", []sitrep.AlertEvent{ev("slow", "Disk on db1 fills")})
	if err != nil {
		t.Fatal(err)
	}
	inc, _, err := e.svc.DeclareFromAlert(context.Background(), e.admin, res[0].AlertID, sitrep.DeclareInput{})
	if err != nil {
		t.Fatalf("declare from an alert released meanwhile: %v", err)
	}
	if !store.released {
		t.Fatal("the store did not release the alert")
	}
	e.wantTriage(res[0].AlertID, sitrep.TriageDeclared, inc.ID)
	if got := e.incident(inc.ID).Alerts; len(got) != 1 || got[0].ID != res[0].AlertID {
		t.Errorf("alerts on %s: %+v", inc.ID, got)
	}
}
