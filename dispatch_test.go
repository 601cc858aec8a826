package sitrep

import (
	"slices"
	"strings"
	"testing"
)

// An incident declared by dispatch is taken over by the first responder on
// scene with accept-command, without an offer; until then nobody else gets
// command, and nobody waits for dispatch's acknowledgement.
func TestTakeCommandFromDispatch(t *testing.T) {
	s := declare(t, DispatchUser, DeclareInput{})
	s.must("ann", CheckIn{}).must("bob", CheckIn{})
	if err := s.do("ann", Assign{Role: RoleOperations, User: "bob"}); ErrorKind(err) != EForbidden {
		t.Errorf("assign before taking command: %v, want a freelancing refusal", err)
	}
	s.must("ann", AcceptCommand{})
	if s.inc.Command != "ann" {
		t.Fatalf("command %q after ann took it, want ann", s.inc.Command)
	}
	an := s.inc.Announcement
	if an == nil || an.From != DispatchUser || !slices.Equal(an.Pending, []string{"bob"}) {
		t.Fatalf("announcement %+v: want from dispatch, pending bob only", an)
	}
	if !strings.Contains(an.Briefing, "dispatch") {
		t.Errorf("briefing %q does not say command came from dispatch", an.Briefing)
	}
	if err := s.do("bob", AcceptCommand{}); ErrorKind(err) != EConflict {
		t.Errorf("bob accepting once ann holds command: %v, want a conflict", err)
	}
}

// Command declared by a person is never up for grabs.
func TestNoTakingCommandFromAPerson(t *testing.T) {
	s := staffed(t, "bob")
	if err := s.do("bob", AcceptCommand{}); ErrorKind(err) != EConflict {
		t.Errorf("accept-command without an offer: %v, want a conflict", err)
	}
}

func TestTextRefusesControlCharacters(t *testing.T) {
	for _, bad := range []string{"nul\x00here", "bell\a", "esc\x1b[31m", "del\x7f", "c1\u0085"} {
		err := checkText("title", bad, MaxTitle, true)
		if ErrorKind(err) != EInvalid || !strings.Contains(err.Error(), "control character") {
			t.Errorf("checkText(%q) = %v, want a refusal naming the control character", bad, err)
		}
	}
	for _, good := range []string{"tab\there", "two\nlines\r\n", "ünïcödé ✓"} {
		if err := checkText("text", good, MaxText, true); err != nil {
			t.Errorf("checkText(%q) = %v", good, err)
		}
	}
}

func TestNormalizeMakesSummaryOneLine(t *testing.T) {
	ev := AlertEvent{Summary: " disk\nfull\x00 on \xffdb1\t"}
	ev.Normalize()
	if ev.Summary != "disk full  on \uFFFDdb1" {
		t.Errorf("summary %q", ev.Summary)
	}
}
