package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// ingest stores alert events of a source in the server's SQLite file, as
// the intake does, in one batch.
func (s *server) ingest(t *testing.T, source string, events ...sitrep.AlertEvent) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, s.DB, nil)
	if err != nil {
		t.Fatalf("open the server's store: %v", err)
	}
	defer st.Close()
	batch := make([]sitrep.Ingest, len(events))
	for i, ev := range events {
		ev.Normalize()
		batch[i] = sitrep.Ingest{Source: source, Event: ev, ReceivedAt: time.Now().UTC().Truncate(time.Microsecond)}
	}
	if _, err := st.IngestAlerts(ctx, batch); err != nil {
		t.Fatalf("ingest: %v", err)
	}
}

// alertIDs returns the alert numbers of `alert ls -o json`, by dedup key.
func (s *server) alertIDs(t *testing.T, token string, args ...string) map[string]*sitrep.Alert {
	t.Helper()
	var out struct {
		Alerts []*sitrep.Alert `json:"alerts"`
	}
	s.okJSON(t, token, &out, append([]string{"alert", "ls"}, args...)...)
	m := map[string]*sitrep.Alert{}
	for _, al := range out.Alerts {
		m[al.DedupKey] = al
	}
	return m
}

// TestTriageDesk: alerts wait on the desk with their counts; the
// dispatcher declares an incident from one (and is its Command), attaches
// another to it and suppresses a third, and the desk is clear.
func TestTriageDesk(t *testing.T) {
	s := startServer(t)
	alice := s.person(t, "alice", "responder")
	bob := s.person(t, "bob", "responder")
	vera := s.person(t, "vera", "viewer")

	contains(t, "alert ls", s.ok(t, alice, "alert", "ls"), "The triage desk is clear")
	s.ok(t, s.Admin, "source", "add", "edr", "--kind", "generic")
	virus := sitrep.AlertEvent{DedupKey: "eicar-fin-7", Summary: "EICAR test virus on FIN-LAPTOP-7", Severity: 2,
		Labels: map[string]string{"host": "FIN-LAPTOP-7", "engine": "clamav"}, Raw: `{"summary":"EICAR test virus on FIN-LAPTOP-7"}`}
	s.ingest(t, "edr", virus, virus, virus,
		sitrep.AlertEvent{DedupKey: "lateral", Summary: "SMB scan from FIN-LAPTOP-7", Severity: 3},
		sitrep.AlertEvent{DedupKey: "probe", Summary: "Flapping\a probe"},
		virus)

	out := s.ok(t, vera, "alert", "ls")
	contains(t, "alert ls", out, "ID", "COUNT", "SEV", "SOURCE", "FIRST SEEN", "LAST SEEN", "SUMMARY", "EICAR test virus on FIN-LAPTOP-7", "Flapping probe", "sitrep alert declare ID")
	lacks(t, "alert ls", out, "\a", "TRIAGE")
	if !regexp.MustCompile(`(?m)^\d+\s+4\s+2\s+edr\s+firing\s.*EICAR`).MatchString(out) {
		t.Errorf("alert ls does not show the virus seen 4 times at severity 2:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^\d+\s+1\s+-\s+edr\s.*Flapping probe`).MatchString(out) {
		t.Errorf("alert ls does not show an alert without severity as -:\n%s", out)
	}
	alerts := s.alertIDs(t, vera)
	if len(alerts) != 3 || alerts["eicar-fin-7"].Count != 4 {
		t.Fatalf("alert ls -o json: %+v", alerts)
	}
	virusID := alerts["eicar-fin-7"].ID
	vid := itoa(virusID)

	out = s.ok(t, vera, "alert", "show", vid)
	contains(t, "alert show", out, "Alert "+vid+"  EICAR test virus on FIN-LAPTOP-7", "source edr · severity 2 · firing · seen 4 times",
		"engine", "clamav", "FIN-LAPTOP-7", "sitrep alert declare "+vid, `{"summary":"EICAR test virus on FIN-LAPTOP-7"}`)
	var shown sitrep.Alert
	s.okJSON(t, vera, &shown, "alert", "show", "#"+vid)
	if shown.ID != virusID || shown.Labels["engine"] != "clamav" || shown.Triage != sitrep.TriagePending {
		t.Errorf("alert show -o json: %+v", shown)
	}

	out = s.ok(t, alice, "alert", "declare", vid, "--kind", "malware")
	id := idRE.FindString(out)
	contains(t, "alert declare", out, "Declared "+id+" from alert "+vid+". You are Command.", "EICAR test virus on FIN-LAPTOP-7", "kind malware · severity 2")
	out = s.ok(t, alice, "show", id)
	contains(t, "show", out, "Command: alice")

	lateral := itoa(alerts["lateral"].ID)
	out = s.ok(t, bob, "alert", "attach", lateral, strings.ToLower(id))
	contains(t, "alert attach", out, id+" #", "SMB scan from FIN-LAPTOP-7")
	var res sitrep.Result
	s.okJSON(t, alice, &res, "alert", "declare", itoa(alerts["probe"].ID), "--title", "Probe flapping", "--severity", "4")
	if res.Incident.Title != "Probe flapping" || res.Incident.Severity != 4 || res.Incident.Command != "alice" {
		t.Errorf("alert declare -o json: %+v", res.Incident.Incident)
	}

	s.ingest(t, "edr", sitrep.AlertEvent{DedupKey: "noise", Summary: "Printer out of paper", Severity: 4})
	noise := itoa(s.alertIDs(t, alice)["noise"].ID)
	contains(t, "alert suppress", s.ok(t, bob, "alert", "suppress", noise), "Suppressed alert "+noise+": Printer out of paper")
	contains(t, "alert ls", s.ok(t, alice, "alert", "ls"), "The triage desk is clear")

	out = s.ok(t, alice, "alert", "ls", "--all")
	contains(t, "alert ls --all", out, "TRIAGE", "declared "+id, "attached "+id, "suppressed")
	on := s.alertIDs(t, alice, "--incident", id)
	if len(on) != 2 || on["eicar-fin-7"] == nil || on["lateral"] == nil {
		t.Errorf("alert ls --incident %s: %d alerts %v, want the declared and the attached one", id, len(on), on)
	}
	for key, al := range on {
		if al.IncidentID != id {
			t.Errorf("alert ls --incident %s lists %s on %q", id, key, al.IncidentID)
		}
	}
	contains(t, "alert show", s.ok(t, alice, "alert", "show", vid), "Declared as "+id)
	contains(t, "alert show", s.ok(t, alice, "alert", "show", lateral), "Attached to "+id)
	contains(t, "alert show", s.ok(t, alice, "alert", "show", noise), "Suppressed")
	var tl struct {
		Entries []sitrep.EntryView `json:"entries"`
	}
	s.okJSON(t, alice, &tl, "timeline", id)
	var attached int
	for _, e := range tl.Entries {
		if e.Type == "alert.attached" {
			attached++
		}
	}
	if attached != 2 {
		t.Errorf("%s has %d alert.attached entries, want 2", id, attached)
	}

	refused := []struct {
		name  string
		token string
		code  int
		args  []string
		want  string
	}{
		{"declared twice", bob, 1, []string{"alert", "declare", vid}, "alert " + vid + " is already declared on " + id},
		{"suppressed after a decision", bob, 1, []string{"alert", "suppress", lateral}, "is already attached on " + id},
		{"a viewer declares", vera, 1, []string{"alert", "declare", noise}, "viewers cannot change anything"},
		{"an unknown alert", alice, 1, []string{"alert", "show", "99999"}, "99999"},
		{"attach to an unknown incident", alice, 1, []string{"alert", "attach", noise, "IR-2026-9999"}, "IR-2026-9999"},
		{"not an alert number", alice, 2, []string{"alert", "show", "twelve"}, `alert "twelve" is not an alert number`},
		{"alert zero", alice, 2, []string{"alert", "declare", "0"}, "not an alert number"},
		{"attach without an incident", alice, 2, []string{"alert", "attach", noise}, "takes ALERT INCIDENT (2 arguments), got 1"},
		{"a bad severity", alice, 2, []string{"alert", "declare", noise, "--severity", "high"}, `invalid argument "high" for "--severity"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			errOut := s.fails(t, tt.token, tt.code, tt.args...)
			contains(t, "stderr", errOut, tt.want)
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
