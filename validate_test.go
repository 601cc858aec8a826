package sitrep

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestValidation checks that each kind of bad input is refused as EInvalid
// naming the field, and that values at the limits pass.
func TestValidation(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	// cmd runs a command as ada, Command of an incident with bob on scene
	// and task 1 in operations.
	cmd := func(c Command) func(t *testing.T) error {
		return func(t *testing.T) error {
			s := staffed(t, "bob").must("ada", AddTask{Section: RoleOperations, Title: "isolate fs01"})
			return s.do("ada", c)
		}
	}
	plain := func(err error) func(*testing.T) error { return func(*testing.T) error { return err } }
	ctx := context.Background()
	svc := &Service{Clock: SystemClock{}}
	declareIn := func(in DeclareInput) func(t *testing.T) error {
		return func(t *testing.T) error {
			return noStore(t, func() error { _, _, err := svc.Declare(ctx, user("ada"), in); return err })
		}
	}
	addUser := func(u User) func(t *testing.T) error {
		return func(t *testing.T) error {
			return noStore(t, func() error { _, err := svc.CreateUser(ctx, user("root"), u); return err })
		}
	}
	tests := []struct {
		name  string
		run   func(t *testing.T) error
		field string // "" when the input is valid
		msg   string
	}{
		// Names.
		{"name", plain(ValidateName("user", "bob")), "", ""},
		{"name with punctuation", plain(ValidateName("user", "b.o_b-1")), "", ""},
		{"name of 64", plain(ValidateName("user", long(64))), "", ""},
		{"name of 65", plain(ValidateName("user", long(65))), "user", "not a valid name"},
		{"empty name", plain(ValidateName("user", "")), "user", `"" is not a valid name`},
		{"name in capitals", plain(ValidateName("user", "Bob")), "user", "lower-case"},
		{"name with a space", plain(ValidateName("owner", "bob smith")), "owner", "not a valid name"},
		{"name starting with a dot", plain(ValidateName("user", ".bob")), "user", "not a valid name"},
		{"name not in ASCII", plain(ValidateName("user", "böb")), "user", "not a valid name"},
		{"name not UTF-8", plain(ValidateName("user", "b\xffb")), "user", "not a valid name"},
		{"name clipped in the message", plain(ValidateName("user", long(1000))), "user", "…"},
		{"user added with a bad name", addUser(User{Name: "Bob"}), "name", "not a valid name"},
		{"user added with a bad role", addUser(User{Name: "bob", Role: "boss"}), "role", "admin, responder or viewer"},
		{"user added with a bad e-mail", addUser(User{Name: "bob", Email: "bob at example"}), "email", "not an e-mail address"},
		{"user added with a named e-mail", addUser(User{Name: "bob", Email: "Bob <bob@example.com>"}), "email", "not an e-mail address"},

		// Roles.
		{"known role", plain(ValidateRole(RoleLiaison)), "", ""},
		{"custom role", plain(ValidateRole("forensics-2")), "", ""},
		{"role of 32", plain(ValidateRole("r" + long(31))), "", ""},
		{"role of 33", plain(ValidateRole("r" + long(32))), "role", "1–32 lower-case letters"},
		{"command as a role", plain(ValidateRole(RoleCommand)), "role", "transfer of command"},
		{"empty role", plain(ValidateRole("")), "role", "is not valid"},
		{"role in capitals", plain(ValidateRole("Operations")), "role", "is not valid"},
		{"role starting with a digit", plain(ValidateRole("1st")), "role", "is not valid"},
		{"assigning a bad role", cmd(Assign{Role: "Ops Team", User: "bob"}), "role", "is not valid"},
		{"removing a bad role", cmd(Unassign{Role: "ops team"}), "role", "is not valid"},
		{"a task in a bad section", cmd(AddTask{Section: "Ops", Title: "x"}), "section", "is not valid"},
		{"a task in the command section", cmd(AddTask{Section: RoleCommand, Title: "x"}), "section", ""},

		// Slugs: kinds and audiences.
		{"kind", cmd(Edit{Kind: ptr("data-breach")}), "", ""},
		{"kind with a space", cmd(Edit{Kind: ptr("data breach")}), "kind", `kind "data breach" is not valid`},
		{"empty kind", cmd(Edit{Kind: ptr("")}), "kind", "is not valid"},
		{"kind of 33", cmd(Edit{Kind: ptr("k" + long(32))}), "kind", "1–32"},
		{"declared with a bad kind", declareIn(DeclareInput{Title: "x", Kind: "Malware"}), "kind", "is not valid"},
		{"audience in capitals", cmd(Publish{Audience: "Internal", Text: "x"}), "audience", `audience "Internal" is not valid`},
		{"empty audience", cmd(Publish{Audience: "", Text: "x"}), "audience", "is not valid"},

		// Severities.
		{"severity 1", cmd(Edit{Severity: ptr(1)}), "", ""},
		{"severity 4", cmd(Edit{Severity: ptr(4)}), "", ""},
		{"severity 0", cmd(Edit{Severity: ptr(0)}), "severity", "severity 0 is out of range: 1 (worst) to 4"},
		{"severity 5", cmd(Edit{Severity: ptr(5)}), "severity", "out of range"},
		{"severity -1", cmd(Edit{Severity: ptr(-1)}), "severity", "out of range"},
		{"declared with severity 9", declareIn(DeclareInput{Title: "x", Severity: 9}), "severity", "out of range"},
		{"declared with severity -3", declareIn(DeclareInput{Title: "x", Severity: -3}), "severity", "out of range"},

		// Text limits.
		{"note at the limit", cmd(AddNote{Text: long(MaxText)}), "", ""},
		{"note over the limit", cmd(AddNote{Text: long(MaxText + 1)}), "text", "text is 20001 bytes long; the limit is 20000"},
		{"note not UTF-8", cmd(AddNote{Text: "caf\xe9"}), "text", "text is not valid UTF-8"},
		{"empty note", cmd(AddNote{Text: ""}), "text", "text is required"},
		{"blank note", cmd(AddNote{Text: "\n\t "}), "text", "text is required"},
		{"title over the limit", cmd(Edit{Title: ptr(long(MaxTitle + 1))}), "title", "the limit is 200"},
		{"title not UTF-8", cmd(Edit{Title: ptr("\xc3")}), "title", "not valid UTF-8"},
		{"declared without a title", declareIn(DeclareInput{}), "title", "title is required"},
		{"declared with a long title", declareIn(DeclareInput{Title: long(MaxTitle + 1)}), "title", "the limit is 200"},
		{"declared with a title not UTF-8", declareIn(DeclareInput{Title: "\xff"}), "title", "not valid UTF-8"},
		{"task title over the limit", cmd(AddTask{Section: RoleOperations, Title: long(MaxTitle + 1)}), "title", "the limit is 200"},
		{"task without a title", cmd(AddTask{Section: RoleOperations}), "title", "title is required"},
		{"briefing not UTF-8", cmd(OfferCommand{To: "bob", Briefing: "\xfe\xff"}), "briefing", "not valid UTF-8"},
		{"briefing over the limit", cmd(OfferCommand{To: "bob", Briefing: long(MaxText + 1)}), "briefing", "the limit is 20000"},
		{"update over the limit", cmd(Publish{Audience: "internal", Text: long(MaxText + 1)}), "text", "the limit is 20000"},
		{"reason over the limit", cmd(Edit{Severity: ptr(2), Reason: long(MaxReason + 1)}), "reason", "the limit is 2000"},
		{"task reason not UTF-8", cmd(SetTaskStatus{ID: 1, Status: TaskDone, Reason: "\x80"}), "reason", "not valid UTF-8"},
		{"withdrawal reason over the limit", cmd(WithdrawOffer{Reason: long(MaxReason + 1)}), "reason", "the limit is 2000"},
		{"unlinking without a reason", cmd(UnlinkAsset{Kind: "host", Name: "fs01"}), "reason", "reason is required"},
		{"asset name over the limit", cmd(LinkAsset{Kind: "host", Name: long(MaxName + 1)}), "name", "the limit is 200"},
		{"asset without a name", cmd(LinkAsset{Kind: "host"}), "name", "name is required"},
		{"asset of an unknown kind", cmd(LinkAsset{Kind: "laptop", Name: "x"}), "kind", "host, service, data-store, customer-set"},
		{"narrative at the limit", cmd(EditReport{Narrative: ptr(long(5 * MaxText))}), "", ""},
		{"narrative over the limit", cmd(EditReport{Narrative: ptr(long(5*MaxText + 1))}), "narrative", "the limit is 100000"},
		{"what worked not UTF-8", cmd(EditReport{WhatWorked: ptr("\xff")}), "what_worked", "not valid UTF-8"},
		{"follow-up without an action", cmd(EditReport{FollowUps: &[]FollowUp{{Owner: "bob"}}}), "follow_ups[0].action", "is required"},
		{"follow-up without an owner", cmd(EditReport{FollowUps: &[]FollowUp{{Action: "a"}, {Action: "patch fs01"}}}), "follow_ups[0].owner", `"a" has no owner`},
		{"too many follow-ups", cmd(EditReport{FollowUps: ptr(make([]FollowUp, 101))}), "follow_ups", "101 follow-up actions; the limit is 100"},
		{"an empty report edit", cmd(EditReport{}), "", "nothing to change"},
		{"a draft and a narrative", cmd(EditReport{AcceptDraft: true, Narrative: ptr("x")}), "narrative", "not both"},
		{"an empty edit", cmd(Edit{}), "", "nothing to change"},
		{"a bad task status", cmd(SetTaskStatus{ID: 1, Status: "finished"}), "status", `task status "finished" is not valid`},
		{"a token too short", plain(ValidateTokenSecret("sitrep_short")), "token", "32–256 characters"},
		{"a token with a space", plain(ValidateTokenSecret("sitrep_" + long(30) + " x")), "token", "without spaces"},
		{"a token", plain(ValidateTokenSecret("sitrep_" + long(40))), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(t)
			if tt.field == "" && tt.msg == "" {
				permitted.check(t, err)
				return
			}
			invalid(tt.field, tt.msg).check(t, err)
			if e := AsError(err); e != nil && tt.field == "" && e.Field != "" {
				t.Errorf("field %q, want none", e.Field)
			}
		})
	}
}

func TestValidateID(t *testing.T) {
	for _, id := range []string{"IR-2026-0042", "IR-2026-123456789", FormatID(2026, 42)} {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q): %v", id, err)
		}
	}
	// A malformed ID names no incident: not found, like one the caller may
	// not see.
	for _, id := range []string{"", "42", "IR-26-0042", "IR-2026-042", "ir-2026-0042", "IR-2026-0042 ", "IR-2026-1234567890", "IR-2026-0042\n"} {
		wantErr{kind: ENotFound, field: "id", msg: []string{"IR-2026-0042"}}.check(t, ValidateID(id))
	}
}

// TestValidationIsDeterministic: with several bad fields, the same request
// always names the same one (the first in the form's order), so clients and
// scripts get a stable answer.
func TestValidationIsDeterministic(t *testing.T) {
	s := staffed(t)
	bad := EditReport{
		Narrative:        ptr(strings.Repeat("n", 5*MaxText+1)),
		WhatWorked:       ptr("\xff"),
		NeedsImprovement: ptr("\xfe"),
	}
	seen := map[string]int{}
	for range 50 {
		err := s.do("ada", bad)
		if ErrorKind(err) != EInvalid {
			t.Fatalf("edit report: %v, want invalid", err)
		}
		seen[AsError(err).Field]++
	}
	if diff := cmp.Diff(map[string]int{"narrative": 50}, seen); diff != "" {
		t.Errorf("fields named by 50 identical requests (-want +got):\n%s", diff)
	}
}
