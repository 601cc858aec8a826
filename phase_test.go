package sitrep

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// inPhase is an incident commanded by ada, with bob on scene, moved forward
// to phase p.
func inPhase(t testing.TB, p Phase) *scene {
	s := staffed(t, "bob")
	for _, q := range Phases[1 : p.Index()+1] {
		s.must("ada", ChangePhase{Phase: q, Reason: "on to " + string(q)})
	}
	return s
}

func TestChangePhase(t *testing.T) {
	const reason = "worm contained on VLAN 12"
	tests := []struct {
		name  string
		setup func(testing.TB) *scene
		actor string
		cmd   ChangePhase
		want  wantErr
		entry *PhaseChanged // the entry an allowed change writes
	}{
		{
			name:  "forward with a reason",
			setup: func(t testing.TB) *scene { return inPhase(t, PhaseIdentification) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseContainment, Reason: reason},
			entry: &PhaseChanged{From: PhaseIdentification, To: PhaseContainment, Reason: reason},
		},
		{
			name:  "forward over phases",
			setup: func(t testing.TB) *scene { return inPhase(t, PhaseIdentification) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseRecovery, Reason: "the alert was a test"},
			entry: &PhaseChanged{From: PhaseIdentification, To: PhaseRecovery, Reason: "the alert was a test"},
		},
		{
			name:  "back with a reason",
			setup: func(t testing.TB) *scene { return inPhase(t, PhaseEradication) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseContainment, Reason: "re-infection on fs02"},
			entry: &PhaseChanged{From: PhaseEradication, To: PhaseContainment, Reason: "re-infection on fs02", Backward: true},
		},
		{
			name:  "back from post-mortem to the start",
			setup: func(t testing.TB) *scene { return inPhase(t, PhasePostMortem) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseIdentification, Reason: "a second intrusion"},
			entry: &PhaseChanged{From: PhasePostMortem, To: PhaseIdentification, Reason: "a second intrusion", Backward: true},
		},
		{
			name:  "forward without a reason",
			setup: func(t testing.TB) *scene { return inPhase(t, PhaseIdentification) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseContainment},
			want: invalid("reason", "reason is required"),
		},
		{
			name:  "back with a blank reason",
			setup: func(t testing.TB) *scene { return inPhase(t, PhaseRecovery) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseContainment, Reason: " \t\n"},
			want: invalid("reason", "reason is required"),
		},
		{
			name:  "a reason over the limit",
			setup: func(t testing.TB) *scene { return inPhase(t, PhaseIdentification) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseContainment, Reason: strings.Repeat("x", MaxReason+1)},
			want: invalid("reason", "2001 bytes long; the limit is 2000"),
		},
		{
			name:  "an unknown phase",
			setup: func(t testing.TB) *scene { return inPhase(t, PhaseIdentification) },
			actor: "ada", cmd: ChangePhase{Phase: "done", Reason: reason},
			want: invalid("phase", `phase "done" is not valid`, "identification, containment, eradication, recovery, post-mortem, closed"),
		},
		{
			name:  "no phase",
			setup: func(t testing.TB) *scene { return inPhase(t, PhaseIdentification) },
			actor: "ada", cmd: ChangePhase{Reason: reason},
			want: invalid("phase", `phase "" is not valid`),
		},
		{
			name:  "a phase in capitals",
			setup: func(t testing.TB) *scene { return inPhase(t, PhaseIdentification) },
			actor: "ada", cmd: ChangePhase{Phase: "Containment", Reason: reason},
			want: invalid("phase", "is not valid"),
		},
		{
			name:  "the phase it is in",
			setup: func(t testing.TB) *scene { return inPhase(t, PhaseContainment) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseContainment, Reason: reason},
			want: conflict("", "already in containment"),
		},
		{
			name:  "by someone other than Command",
			setup: func(t testing.TB) *scene { return inPhase(t, PhaseIdentification) },
			actor: "bob", cmd: ChangePhase{Phase: PhaseContainment, Reason: reason},
			want: refused("freelancing", "only Command (ada) may change the phase"),
		},
		{
			name:  "closing from recovery",
			setup: func(t testing.TB) *scene { return reportDone(inPhase(t, PhaseRecovery)) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseClosed, Reason: "done"},
			want: conflict("", "must be in post-mortem before it closes"),
		},
		{
			name:  "closing from identification",
			setup: func(t testing.TB) *scene { return reportDone(inPhase(t, PhaseIdentification)) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseClosed, Reason: "false alarm"},
			want: conflict("", "must be in post-mortem before it closes"),
		},
		{
			name:  "closing with nothing written",
			setup: func(t testing.TB) *scene { return inPhase(t, PhasePostMortem) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseClosed, Reason: "done"},
			want: conflict("report", "the report is incomplete", "type", "assets involved", "narrative", "what worked", "what needs improvement"),
		},
		{
			name: "closing with tasks open",
			setup: func(t testing.TB) *scene {
				s := reportDone(inPhase(t, PhasePostMortem))
				for _, title := range []string{"reimage fs01", "rotate keys", "tell legal"} {
					s.must("ada", AddTask{Section: RoleOperations, Title: title})
				}
				return s.must("ada", SetTaskStatus{ID: 2, Status: TaskDone})
			},
			actor: "ada", cmd: ChangePhase{Phase: PhaseClosed, Reason: "done"},
			want: conflict("tasks", "tasks 1, 3 are still open"),
		},
		{
			name:  "closing with the report complete",
			setup: func(t testing.TB) *scene { return reportDone(inPhase(t, PhasePostMortem)) },
			actor: "ada", cmd: ChangePhase{Phase: PhaseClosed, Reason: "report complete"},
			entry: &PhaseChanged{From: PhasePostMortem, To: PhaseClosed, Reason: "report complete"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.setup(t)
			err := s.do(tt.actor, tt.cmd)
			tt.want.check(t, err)
			if err != nil {
				return
			}
			if len(s.last) != 1 || s.last[0].Type != "phase.changed" {
				t.Fatalf("entries %v, want one phase.changed", s.lastTypes())
			}
			var got PhaseChanged
			if err := json.Unmarshal(s.last[0].Data, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.entry, &got); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
			if s.inc.Phase != tt.cmd.Phase || !s.inc.PhaseChangedAt.Equal(s.now) {
				t.Errorf("phase %s since %v, want %s since %v", s.inc.Phase, s.inc.PhaseChangedAt, tt.cmd.Phase, s.now)
			}
			if closed := s.inc.ClosedAt != nil; closed != (tt.cmd.Phase == PhaseClosed) || s.inc.Open() == closed {
				t.Errorf("closed at %v, open %t in phase %s", s.inc.ClosedAt, s.inc.Open(), s.inc.Phase)
			}
		})
	}
}

// TestCloseNamesEachMissingField leaves out one field of the post mortem at a
// time: closing is refused and the refusal names that field alone.
func TestCloseNamesEachMissingField(t *testing.T) {
	fills := []struct {
		field string // how ReportMissing and the refusal name it
		cmd   Command
	}{
		{"type", Edit{Kind: ptr("ransomware")}},
		{"assets involved", LinkAsset{Kind: "host", Name: "fs01"}},
		{"narrative", EditReport{Narrative: ptr("fs01 was encrypted")}},
		{"what worked", EditReport{WhatWorked: ptr("backups")}},
		{"what needs improvement", EditReport{NeedsImprovement: ptr("detection")}},
	}
	for _, missing := range fills {
		t.Run(missing.field, func(t *testing.T) {
			s := inPhase(t, PhasePostMortem)
			for _, f := range fills {
				if f.field != missing.field {
					s.must("ada", f.cmd)
				}
			}
			got := s.inc.ReportMissing()
			if len(got) != 1 || !strings.HasPrefix(got[0], missing.field) {
				t.Errorf("ReportMissing() = %q, want only %q", got, missing.field)
			}
			err := s.do("ada", ChangePhase{Phase: PhaseClosed, Reason: "done"})
			conflict("report", "cannot close", missing.field).check(t, err)
			if len(got) == 1 && !strings.HasSuffix(ErrorMessage(err), "the report is incomplete: "+got[0]) {
				t.Errorf("refusal %q does not end with the one missing field %q", ErrorMessage(err), got[0])
			}
		})
	}
	t.Run("blank texts are missing", func(t *testing.T) {
		s := reportDone(inPhase(t, PhasePostMortem))
		s.must("ada", EditReport{Narrative: ptr("  \n"), WhatWorked: ptr("\t")})
		want := []string{"narrative is empty", "what worked is empty"}
		if diff := cmp.Diff(want, s.inc.ReportMissing()); diff != "" {
			t.Errorf("ReportMissing (-want +got):\n%s", diff)
		}
	})
	t.Run("an unlinked asset is missing again", func(t *testing.T) {
		s := reportDone(inPhase(t, PhasePostMortem))
		s.must("ada", UnlinkAsset{Kind: "host", Name: "fs01", Reason: "linked in error"})
		conflict("report", "assets involved: none linked").check(t, s.do("ada", ChangePhase{Phase: PhaseClosed, Reason: "done"}))
	})
}

// TestCloseDemobilises: closing checks everyone out, keeping their time on
// shift, returns every role to Command and leaves no one to acknowledge
// anything; reopening puts Command alone back on scene.
func TestCloseDemobilises(t *testing.T) {
	s := offered(t).assign(RolePlanning, "cy").must("bob", AcceptCommand{}).must("cy", Acknowledge{})
	s = reportDone(s)
	s.must("bob", ChangePhase{Phase: PhasePostMortem, Reason: "recovered"})
	s.now = s.now.Add(time.Hour)
	s.must("bob", ChangePhase{Phase: PhaseClosed, Reason: "report complete"})
	closedAt := s.now

	inc := s.inc
	if on := inc.OnScene(); len(on) != 0 {
		t.Errorf("on scene after closing: %v", on)
	}
	for _, r := range inc.Resources {
		if r.LastCheckOut == nil || !r.LastCheckOut.Equal(closedAt) || r.Since != nil || r.ShiftSeconds < 3600 {
			t.Errorf("%s: checked out %v, since %v, %ds on shift; want checked out at %v after over an hour", r.User, r.LastCheckOut, r.Since, r.ShiftSeconds, closedAt)
		}
	}
	if len(inc.Roles) != 0 || inc.Holder(RolePlanning) != "bob" {
		t.Errorf("roles %+v after closing, want every role back with Command (bob)", inc.Roles)
	}
	if an := inc.Announcement; an == nil || len(an.Pending) != 0 || an.Complete == nil {
		t.Errorf("announcement %+v after closing, want no one pending", an)
	}
	if inc.Command != "bob" {
		t.Errorf("Command %q after closing, want bob still", inc.Command)
	}
	if d := Describe(&s.last[0]); !strings.Contains(d, "everyone on scene is checked out") {
		t.Errorf("closing described as %q", d)
	}

	s.must("bob", ChangePhase{Phase: PhaseEradication, Reason: "fs02 is encrypted too"})
	if diff := cmp.Diff([]string{"bob"}, s.inc.OnScene()); diff != "" {
		t.Errorf("on scene after reopening (-want +got):\n%s", diff)
	}
	if s.inc.ClosedAt != nil || !s.inc.Open() {
		t.Errorf("closed at %v after reopening", s.inc.ClosedAt)
	}
	if d := Describe(&s.last[0]); !strings.Contains(d, "phase back closed → eradication: fs02 is encrypted too") || !strings.Contains(d, "Command back on scene") {
		t.Errorf("reopening described as %q", d)
	}
	// The others check in again to work the reopened incident.
	refused("check-in").check(t, s.do("cy", AddNote{Text: "back"}))
	s.must("cy", CheckIn{}).must("cy", AddNote{Text: "back"})
	checkReplay(t, s)
}
