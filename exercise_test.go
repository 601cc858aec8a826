package sitrep_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// exerciseWorld is a service on a real SQLite file, without plans, and the
// people of an exercise: ann (a responder, the controller), bob (a
// responder) and vic (a viewer).
type exerciseWorld struct {
	t     *testing.T
	svc   *sitrep.Service
	store sitrep.AlertStore
	users map[string]*sitrep.User
}

func newExerciseWorld(t *testing.T) *exerciseWorld {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sitrep.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w := &exerciseWorld{t: t, svc: sitrep.NewService(store, nil), store: store, users: map[string]*sitrep.User{}}
	for name, role := range map[string]sitrep.OrgRole{"ann": sitrep.OrgResponder, "bob": sitrep.OrgResponder, "vic": sitrep.OrgViewer} {
		u := &sitrep.User{Name: name, Role: role, CreatedAt: time.Now()}
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		w.users[name] = u
	}
	return w
}

func (w *exerciseWorld) declare(by string, in sitrep.DeclareInput) *sitrep.Incident {
	w.t.Helper()
	inc, _, err := w.svc.Declare(context.Background(), w.users[by], in)
	if err != nil {
		w.t.Fatalf("declare: %v", err)
	}
	return inc
}

func (w *exerciseWorld) do(by, id string, cmd sitrep.Command) {
	w.t.Helper()
	if _, _, err := w.svc.Do(context.Background(), w.users[by], id, cmd); err != nil {
		w.t.Fatalf("%s %s: %v", by, cmd.Action(), err)
	}
}

// alert stores one alert event from source and returns the alert.
func (w *exerciseWorld) alert(source, key string, labels map[string]string) *sitrep.Alert {
	w.t.Helper()
	ctx := context.Background()
	res, err := w.store.IngestAlerts(ctx, []sitrep.Ingest{{Source: source, ReceivedAt: time.Now(), Event: sitrep.AlertEvent{
		Action: sitrep.ActionTrigger, DedupKey: key, Severity: 2, Summary: "ransomware on FIN-LAPTOP-7", Labels: labels, Raw: "{}",
	}}})
	if err != nil {
		w.t.Fatal(err)
	}
	al, err := w.store.Alert(ctx, res[0].AlertID)
	if err != nil {
		w.t.Fatal(err)
	}
	return al
}

// The runner's entries go on exercise incidents only, without a check-in;
// they describe themselves as EXERCISE on the timeline, and the record
// stays verifiable.
func TestRecordExercise(t *testing.T) {
	w := newExerciseWorld(t)
	ctx := context.Background()
	ex := w.declare("bob", sitrep.DeclareInput{Title: "Rehearsal: ransomware", Kind: "malware", Exercise: true})
	real := w.declare("bob", sitrep.DeclareInput{Title: "Ransomware", Kind: "malware"})
	fired := time.Date(2026, 5, 7, 3, 0, 0, 0, time.UTC)
	started := &sitrep.ExerciseStarted{Exercise: "EX-0123456789", Scenario: "ransomware", Title: "Ransomware on a laptop", Plan: "malware", Speed: 600, StartedAt: fired, SHA256: strings.Repeat("ab", 32), Spec: json.RawMessage(`{"name":"ransomware"}`)}
	inject := &sitrep.ExerciseInjected{Exercise: "EX-0123456789", Inject: "reporter-call", At: 300, FiredAt: fired, To: "information", From: "The Gazette", Text: "A reporter is on the phone"}

	if _, _, err := w.svc.RecordExercise(ctx, w.users["ann"], real.ID, started); sitrep.ErrorKind(err) != sitrep.EConflict {
		t.Errorf("exercise entries on a real incident: %v, want a conflict", err)
	}
	if _, _, err := w.svc.RecordExercise(ctx, w.users["vic"], ex.ID, started); sitrep.ErrorKind(err) != sitrep.EForbidden {
		t.Errorf("a viewer running an exercise: %v, want forbidden", err)
	}
	if _, _, err := w.svc.RecordExercise(ctx, w.users["ann"], ex.ID, &sitrep.NoteAdded{Text: "sneaked in"}); sitrep.ErrorKind(err) != sitrep.EInvalid {
		t.Errorf("a note through RecordExercise: %v, want invalid", err)
	}
	inc, entries, err := w.svc.RecordExercise(ctx, w.users["ann"], ex.ID, started, &sitrep.MemberNamed{User: "ann"}, &sitrep.MemberNamed{User: "bob"}, inject)
	if err != nil {
		t.Fatalf("record the start: %v", err)
	}
	// bob declared, so he is named already: only ann is named.
	want := []string{"exercise.started", "member.named", "exercise.inject"}
	if got := typesOf(entries); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("entries %v, want %v", got, want)
	}
	if !inc.Named("ann") || inc.CheckedIn("ann") {
		t.Errorf("ann named %t, checked in %t: want named, not on scene", inc.Named("ann"), inc.CheckedIn("ann"))
	}
	for _, e := range entries {
		if d := sitrep.Describe(&e); e.Type != "member.named" && !strings.HasPrefix(d, "EXERCISE") {
			t.Errorf("%s describes itself as %q, want it to say EXERCISE first", e.Type, d)
		}
	}
	if d := sitrep.Describe(&entries[2]); !strings.Contains(d, "message to information from The Gazette: A reporter is on the phone") || !strings.Contains(d, "T+5m") {
		t.Errorf("the inject reads %q", d)
	}

	// Close the incident: injects are refused, the end is still recorded.
	w.do("bob", ex.ID, sitrep.LinkAsset{Kind: "host", Name: "FIN-LAPTOP-7"})
	w.do("bob", ex.ID, sitrep.ChangePhase{Phase: sitrep.PhasePostMortem, Reason: "drill done"})
	text := "x"
	w.do("bob", ex.ID, sitrep.EditReport{Narrative: &text, WhatWorked: &text, NeedsImprovement: &text})
	w.do("bob", ex.ID, sitrep.ChangePhase{Phase: sitrep.PhaseClosed, Reason: "drill done"})
	if _, _, err := w.svc.RecordExercise(ctx, w.users["ann"], ex.ID, inject); sitrep.ErrorKind(err) != sitrep.EConflict {
		t.Errorf("an inject on a closed incident: %v, want a conflict", err)
	}
	if _, _, err := w.svc.RecordExercise(ctx, w.users["ann"], ex.ID, &sitrep.ExerciseEnded{Exercise: "EX-0123456789", Reason: sitrep.ExerciseClosed, EndedAt: time.Now(), Elapsed: 900}); err != nil {
		t.Errorf("the end on a closed incident: %v", err)
	}
	v, err := w.svc.Verify(ctx, w.users["bob"], ex.ID)
	if err != nil || !v.OK {
		t.Fatalf("verify: %+v %v", v, err)
	}
}

func typesOf(es []sitrep.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Type)
	}
	return out
}

// An alert of the exercise source makes an exercise of the incident
// declared from it; the same label from a real source does not; and the
// two never mix on one incident.
func TestExerciseAlerts(t *testing.T) {
	w := newExerciseWorld(t)
	ctx := context.Background()
	exAlert := w.alert(sitrep.ExerciseSource, "EX-0123456789/edr", map[string]string{sitrep.ExerciseLabel: "EX-0123456789", "host": "FIN-LAPTOP-7"})
	forged := w.alert("edr", "edr-1", map[string]string{sitrep.ExerciseLabel: "EX-0123456789"})
	if sitrep.ExerciseOf(exAlert) != "EX-0123456789" || sitrep.ExerciseOf(forged) != "" {
		t.Fatalf("ExerciseOf: %q and %q, want the ID and nothing", sitrep.ExerciseOf(exAlert), sitrep.ExerciseOf(forged))
	}
	ex, _, err := w.svc.DeclareFromAlert(ctx, w.users["ann"], exAlert.ID, sitrep.DeclareInput{Kind: "malware"})
	if err != nil {
		t.Fatal(err)
	}
	if !ex.Exercise {
		t.Errorf("an incident declared from an exercise's alert is not an exercise")
	}
	real, _, err := w.svc.DeclareFromAlert(ctx, w.users["ann"], forged.ID, sitrep.DeclareInput{Kind: "malware"})
	if err != nil {
		t.Fatal(err)
	}
	if real.Exercise {
		t.Errorf("a real source's alert labelled as an exercise's made an exercise")
	}
	exAlert2 := w.alert(sitrep.ExerciseSource, "EX-0123456789/second", map[string]string{sitrep.ExerciseLabel: "EX-0123456789"})
	realAlert2 := w.alert("edr", "edr-2", nil)
	if _, _, err := w.svc.AttachAlertTo(ctx, w.users["ann"], exAlert2.ID, real.ID); sitrep.ErrorKind(err) != sitrep.EConflict {
		t.Errorf("an exercise's alert attached to a real incident: %v, want a conflict", err)
	}
	if _, _, err := w.svc.AttachAlertTo(ctx, w.users["ann"], realAlert2.ID, ex.ID); sitrep.ErrorKind(err) != sitrep.EConflict {
		t.Errorf("a real alert attached to an exercise: %v, want a conflict", err)
	}
	// Refused, both stay on the desk.
	for _, id := range []int64{exAlert2.ID, realAlert2.ID} {
		if al, err := w.store.Alert(ctx, id); err != nil || al.Triage != sitrep.TriagePending {
			t.Errorf("alert %d after a refused attach: %+v %v, want pending", id, al, err)
		}
	}
	if _, _, err := w.svc.AttachAlertTo(ctx, w.users["ann"], exAlert2.ID, ex.ID); err != nil {
		t.Errorf("an exercise's alert attached to its exercise: %v", err)
	}
	admin := &sitrep.User{Name: "root", Role: sitrep.OrgAdmin}
	if _, _, err := w.svc.CreateSource(ctx, admin, sitrep.Source{Name: sitrep.ExerciseSource, Kind: "generic"}); sitrep.ErrorKind(err) != sitrep.EInvalid {
		t.Errorf("a real source named %s: %v, want invalid", sitrep.ExerciseSource, err)
	}
}

func TestFormatScenarioTime(t *testing.T) {
	for secs, want := range map[int64]string{0: "0s", 45: "45s", 60: "1m", 90: "1m30s", 3600: "1h", 3900: "1h05m", 3930: "1h05m30s", 7200 + 5: "2h00m05s", -90: "-1m30s"} {
		if got := sitrep.FormatScenarioTime(secs); got != want {
			t.Errorf("FormatScenarioTime(%d) = %q, want %q", secs, got, want)
		}
	}
	if err := sitrep.ValidateExerciseID("EX-0123456789"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "EX-012345678", "ex-0123456789", "EX-0123456789a", "EX-ABCDEF0123", "IR-2026-0001"} {
		if sitrep.ErrorKind(sitrep.ValidateExerciseID(bad)) != sitrep.ENotFound {
			t.Errorf("exercise ID %q accepted", bad)
		}
	}
}
