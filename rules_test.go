package sitrep

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const briefing = "file server encrypted, backups intact, containment under way"

// offered is an incident where Command (ada) has offered command to bob, with
// cy and dee on scene.
func offered(t testing.TB) *scene {
	return staffed(t, "bob", "cy", "dee").must("ada", OfferCommand{To: "bob", Briefing: briefing})
}

// transferred is offered after bob accepted: ada, cy and dee must acknowledge.
func transferred(t testing.TB) *scene {
	return offered(t).must("bob", AcceptCommand{})
}

// withOps is an incident where bob is the operations chief and cy and dee are
// on scene.
func withOps(t testing.TB) *scene {
	return staffed(t, "bob", "cy", "dee").assign(RoleOperations, "bob")
}

// withTask is withOps with task 1 in operations assigned to cy.
func withTask(t testing.TB) *scene {
	return withOps(t).must("bob", AddTask{Section: RoleOperations, Title: "isolate the file server", Assignee: "cy"})
}

// reportDone fills every field ReportMissing asks for.
func reportDone(s *scene) *scene {
	s.must(s.inc.Command, Edit{Kind: ptr("ransomware")})
	s.must(s.inc.Command, LinkAsset{Kind: "host", Name: "fs01"})
	return s.must(s.inc.Command, EditReport{
		Narrative:        ptr("fs01 was encrypted at 03:00; restored from backup by 09:00."),
		WhatWorked:       ptr("backups"),
		NeedsImprovement: ptr("detection took two hours"),
	})
}

// closed is a closed incident whose Command is ada, with bob on scene.
func closed(t testing.TB) *scene {
	s := reportDone(staffed(t, "bob"))
	s.must("ada", ChangePhase{Phase: PhasePostMortem, Reason: "recovered"})
	return s.must("ada", ChangePhase{Phase: PhaseClosed, Reason: "report complete"})
}

// crowd declares an incident by ada and checks in n more people p1…pn.
func crowd(t testing.TB, n int) *scene {
	s := declare(t, "ada", DeclareInput{})
	for i := 1; i <= n; i++ {
		s.must(fmt.Sprintf("p%d", i), CheckIn{})
	}
	return s
}

func TestICSRules(t *testing.T) {
	tests := []struct {
		rule  string // the rule of DESIGN.md, or the shared check, the case is about
		name  string
		setup func(testing.TB) *scene
		actor string
		cmd   Command
		want  wantErr
		then  func(t *testing.T, s *scene) // checks the state after an allowed command
	}{
		// 1. Exactly one Command; the declarer is Command until a transfer.
		{
			rule: "1-one-command", name: "declarer is Command and assigns roles",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "ada", cmd: Assign{Role: RoleOperations, User: "bob"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if s.inc.Command != "ada" || s.inc.DeclaredBy != "ada" || s.inc.Holder(RoleCommand) != "ada" {
					t.Errorf("Command %q, declared by %q, command holder %q; want ada", s.inc.Command, s.inc.DeclaredBy, s.inc.Holder(RoleCommand))
				}
				if got := s.inc.RolesOf("ada"); len(got) == 0 || got[0] != RoleCommand {
					t.Errorf("RolesOf(ada) = %v, want command first", got)
				}
			},
		},
		{
			rule: "1-one-command", name: "command is not assigned",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "ada", cmd: Assign{Role: RoleCommand, User: "bob"},
			want: invalid("role", "passes by transfer of command"),
		},
		{
			rule: "1-one-command", name: "Command cannot check out",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "ada", cmd: CheckOut{},
			want: refused("one-command", "ada is Command", "always has one Command", "transfer command first"),
		},
		{
			rule: "1-one-command", name: "Command cannot release themself by name",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "ada", cmd: CheckOut{User: "ada"},
			want: refused("one-command", "transfer command first"),
		},
		{
			rule: "1-one-command", name: "no one else releases Command",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "bob", cmd: CheckOut{User: "ada"},
			want: refused("freelancing", "only Command (ada) may release other people"),
		},
		{
			rule: "1-one-command", name: "anyone else checks out",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "bob", cmd: CheckOut{}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if s.inc.CheckedIn("bob") || !s.inc.CheckedIn("ada") {
					t.Errorf("on scene %v, want [ada]", s.inc.OnScene())
				}
			},
		},
		{
			rule: "1-one-command", name: "former Command checks out after the transfer",
			setup: transferred,
			actor: "ada", cmd: CheckOut{}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if s.inc.Command != "bob" {
					t.Errorf("Command %q, want bob", s.inc.Command)
				}
			},
		},

		// 2. Command holds every role that is not delegated.
		{
			rule: "2-holder", name: "Command holds every undelegated role",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "ada", cmd: AddTask{Section: RolePlanning, Title: "collect the logs"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				for _, role := range append(append([]string{RoleCommand, "forensics"}, Officers...), Sections...) {
					if h := s.inc.Holder(role); h != "ada" {
						t.Errorf("Holder(%s) = %q, want ada", role, h)
					}
				}
			},
		},
		{
			rule: "2-holder", name: "the delegate holds a delegated role",
			setup: func(t testing.TB) *scene { return staffed(t, "bob", "cy").assign(RolePlanning, "bob") },
			actor: "bob", cmd: EditReport{WhatWorked: ptr("backups")}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if h := s.inc.Holder(RolePlanning); h != "bob" {
					t.Errorf("Holder(planning) = %q, want bob", h)
				}
				if h := s.inc.Holder(RoleLogistics); h != "ada" {
					t.Errorf("Holder(logistics) = %q, want ada", h)
				}
			},
		},
		{
			rule: "2-holder", name: "someone without the role is refused",
			setup: func(t testing.TB) *scene { return staffed(t, "bob", "cy").assign(RolePlanning, "bob") },
			actor: "cy", cmd: EditReport{WhatWorked: ptr("backups")},
			want: refused("freelancing", "only Command (ada) or the planning chief writes the post mortem"),
		},
		{
			rule: "2-holder", name: "an unassigned role returns to Command",
			setup: func(t testing.TB) *scene { return staffed(t, "bob").assign(RolePlanning, "bob") },
			actor: "ada", cmd: Unassign{Role: RolePlanning}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if h := s.inc.Holder(RolePlanning); h != "ada" {
					t.Errorf("Holder(planning) = %q, want ada", h)
				}
				refused("freelancing").check(t, s.do("bob", EditReport{WhatWorked: ptr("x")}))
			},
		},
		{
			rule: "2-holder", name: "the roles of a released person return to Command",
			setup: func(t testing.TB) *scene {
				return staffed(t, "bob").assign(RolePlanning, "bob").assign(RoleSafety, "bob")
			},
			actor: "ada", cmd: CheckOut{User: "bob"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if got := s.inc.RolesOf("bob"); len(got) != 0 {
					t.Errorf("bob still holds %v", got)
				}
				for _, role := range []string{RolePlanning, RoleSafety} {
					if h := s.inc.Holder(role); h != "ada" {
						t.Errorf("Holder(%s) = %q, want ada", role, h)
					}
				}
			},
		},

		// 3. Only Command assigns roles; only Command or the section's chief
		// assigns work in a section.
		{
			rule: "3-freelancing", name: "no one but Command assigns roles",
			setup: withOps,
			actor: "bob", cmd: Assign{Role: RoleSafety, User: "cy"},
			want: refused("freelancing", "only Command (ada) may assign roles", "freelancing is refused"),
		},
		{
			rule: "3-freelancing", name: "no one but Command removes roles",
			setup: withOps,
			actor: "cy", cmd: Unassign{Role: RoleOperations},
			want: refused("freelancing", "only Command (ada) may remove roles"),
		},
		{
			rule: "3-freelancing", name: "Command removes roles",
			setup: withOps,
			actor: "ada", cmd: Unassign{Role: RoleOperations}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if len(s.inc.Roles) != 0 {
					t.Errorf("roles %v, want none", s.inc.Roles)
				}
			},
		},
		{
			rule: "3-freelancing", name: "a role goes to someone on scene",
			setup: withOps,
			actor: "ada", cmd: Assign{Role: RoleSafety, User: "zed"},
			want: conflict("user", "zed is not checked in"),
		},
		{
			rule: "3-freelancing", name: "Command assigns work in an undelegated section",
			setup: withOps,
			actor: "ada", cmd: AddTask{Section: RoleLogistics, Title: "order new disks", Assignee: "dee"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				want := Task{ID: 1, Title: "order new disks", Section: RoleLogistics, Assignee: "dee", Status: TaskOpen, CreatedBy: "ada", CreatedAt: s.now}
				if diff := cmp.Diff([]Task{want}, s.inc.Tasks); diff != "" {
					t.Errorf("tasks (-want +got):\n%s", diff)
				}
			},
		},
		{
			rule: "3-freelancing", name: "Command assigns work in a delegated section",
			setup: withOps,
			actor: "ada", cmd: AddTask{Section: RoleOperations, Title: "isolate the file server"}, want: permitted,
		},
		{
			rule: "3-freelancing", name: "Command cancels work in a delegated section",
			setup: withTask,
			actor: "ada", cmd: SetTaskStatus{ID: 1, Status: TaskCancelled, Reason: "not needed"}, want: permitted,
		},
		{
			rule: "3-freelancing", name: "the section chief assigns work in the section",
			setup: withOps,
			actor: "bob", cmd: AddTask{Section: RoleOperations, Title: "isolate the file server", Assignee: "cy"}, want: permitted,
		},
		{
			rule: "3-freelancing", name: "a section chief does not assign work in another section",
			setup: withOps,
			actor: "bob", cmd: AddTask{Section: RolePlanning, Title: "collect the logs"},
			want: refused("freelancing", "only Command (ada) or the planning chief (ada) assigns work in planning"),
		},
		{
			rule: "3-freelancing", name: "someone without a role does not assign work",
			setup: withOps,
			actor: "cy", cmd: AddTask{Section: RoleOperations, Title: "reboot everything"},
			want: refused("freelancing", "operations chief (bob)", "freelancing is refused"),
		},
		{
			rule: "3-freelancing", name: "the section chief reassigns a task",
			setup: withTask,
			actor: "bob", cmd: AssignTask{ID: 1, Assignee: "dee"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if a := s.inc.Tasks[0].Assignee; a != "dee" {
					t.Errorf("task 1 assignee %q, want dee", a)
				}
			},
		},
		{
			rule: "3-freelancing", name: "the assignee does not reassign their task",
			setup: withTask,
			actor: "cy", cmd: AssignTask{ID: 1, Assignee: "dee"},
			want: refused("freelancing", "task assign: only Command (ada) or the operations chief (bob)"),
		},
		{
			rule: "3-freelancing", name: "the assignee marks their own task done",
			setup: withTask,
			actor: "cy", cmd: SetTaskStatus{ID: 1, Status: TaskDone}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if task := s.inc.Tasks[0]; task.Status != TaskDone || task.DoneAt == nil || !task.DoneAt.Equal(s.now) {
					t.Errorf("task 1 is %s, done at %v; want done at %v", task.Status, task.DoneAt, s.now)
				}
			},
		},
		{
			rule: "3-freelancing", name: "the assignee does not cancel their task",
			setup: withTask,
			actor: "cy", cmd: SetTaskStatus{ID: 1, Status: TaskCancelled},
			want: refused("freelancing", "only the assignee, Command (ada) or the operations chief (bob)"),
		},
		{
			rule: "3-freelancing", name: "someone else does not mark a task done",
			setup: withTask,
			actor: "dee", cmd: SetTaskStatus{ID: 1, Status: TaskDone},
			want: refused("freelancing", "only the assignee"),
		},
		{
			rule: "3-freelancing", name: "the assignee does not overturn a cancellation",
			setup: func(t testing.TB) *scene {
				return withTask(t).must("bob", SetTaskStatus{ID: 1, Status: TaskCancelled, Reason: "not needed"})
			},
			actor: "cy", cmd: SetTaskStatus{ID: 1, Status: TaskDone},
			want: refused("freelancing", "only the assignee, Command (ada) or the operations chief (bob)"),
		},
		{
			rule: "3-freelancing", name: "no one but Command names people",
			setup: withOps,
			actor: "bob", cmd: NameMember{User: "zed"},
			want: refused("freelancing", "only Command (ada) may name people on the incident"),
		},
		{
			rule: "3-freelancing", name: "a section chief links assets",
			setup: withOps,
			actor: "bob", cmd: LinkAsset{Kind: "host", Name: "fs01"}, want: permitted,
		},
		{
			rule: "3-freelancing", name: "someone without a role does not link assets",
			setup: withOps,
			actor: "cy", cmd: LinkAsset{Kind: "host", Name: "fs01"},
			want: refused("freelancing", "only Command (ada) or a section chief links assets"),
		},

		// 4. Transfer of command: offered by Command with a briefing, effective
		// when accepted, announced to everyone on scene.
		{
			rule: "4-transfer", name: "Command offers command with a briefing",
			setup: func(t testing.TB) *scene { return staffed(t, "bob", "cy") },
			actor: "ada", cmd: OfferCommand{To: "bob", Briefing: briefing}, want: permitted,
			then: func(t *testing.T, s *scene) {
				want := &TransferOffer{From: "ada", To: "bob", Briefing: briefing, At: s.now}
				if diff := cmp.Diff(want, s.inc.Transfer); diff != "" {
					t.Errorf("transfer (-want +got):\n%s", diff)
				}
				if s.inc.Command != "ada" {
					t.Errorf("Command %q before acceptance, want ada", s.inc.Command)
				}
			},
		},
		{
			rule: "4-transfer", name: "no one but Command offers command",
			setup: func(t testing.TB) *scene { return staffed(t, "bob", "cy") },
			actor: "bob", cmd: OfferCommand{To: "cy", Briefing: briefing},
			want: refused("freelancing", "only Command (ada) may transfer command"),
		},
		{
			rule: "4-transfer", name: "an offer needs a briefing",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "ada", cmd: OfferCommand{To: "bob", Briefing: " \n"},
			want: invalid("briefing", "briefing is required"),
		},
		{
			rule: "4-transfer", name: "command goes to someone on scene",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "ada", cmd: OfferCommand{To: "zed", Briefing: briefing},
			want: conflict("user", "zed is not checked in", "receiving command"),
		},
		{
			rule: "4-transfer", name: "Command does not offer command to themself",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "ada", cmd: OfferCommand{To: "ada", Briefing: briefing},
			want: invalid("to", "ada is already Command"),
		},
		{
			rule: "4-transfer", name: "only the person offered accepts",
			setup: offered,
			actor: "cy", cmd: AcceptCommand{},
			want: refused("transfer-of-command", "offered to bob, not to you"),
		},
		{
			rule: "4-transfer", name: "nothing to accept without an offer",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "bob", cmd: AcceptCommand{},
			want: conflict("", "no transfer of command is pending"),
		},
		{
			rule: "4-transfer", name: "accepting announces to everyone else on scene",
			setup: offered,
			actor: "bob", cmd: AcceptCommand{}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if s.inc.Command != "bob" || s.inc.Transfer != nil {
					t.Errorf("Command %q, transfer %+v; want bob, none pending", s.inc.Command, s.inc.Transfer)
				}
				want := &Announcement{Seq: s.inc.Seq, From: "ada", To: "bob", At: s.now, Briefing: briefing, Acks: []Ack{}, Pending: []string{"ada", "cy", "dee"}}
				if diff := cmp.Diff(want, s.inc.Announcement); diff != "" {
					t.Errorf("announcement (-want +got):\n%s", diff)
				}
			},
		},
		{
			rule: "4-transfer", name: "each acknowledgement leaves the pending list",
			setup: transferred,
			actor: "cy", cmd: Acknowledge{}, want: permitted,
			then: func(t *testing.T, s *scene) {
				an := s.inc.Announcement
				if diff := cmp.Diff([]string{"ada", "dee"}, an.Pending); diff != "" {
					t.Errorf("pending (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]Ack{{User: "cy", At: s.now}}, an.Acks); diff != "" {
					t.Errorf("acks (-want +got):\n%s", diff)
				}
				if an.Complete != nil {
					t.Errorf("complete at %v with people pending", an.Complete)
				}
			},
		},
		{
			rule: "4-transfer", name: "the announcement is complete when no one is pending",
			setup: func(t testing.TB) *scene {
				return transferred(t).must("ada", Acknowledge{}).must("cy", Acknowledge{})
			},
			actor: "dee", cmd: Acknowledge{}, want: permitted,
			then: func(t *testing.T, s *scene) {
				an := s.inc.Announcement
				if len(an.Pending) != 0 || an.Complete == nil || !an.Complete.Equal(s.now) {
					t.Errorf("pending %v, complete %v; want none pending, complete at %v", an.Pending, an.Complete, s.now)
				}
			},
		},
		{
			rule: "4-transfer", name: "checking out a pending person completes the announcement",
			setup: func(t testing.TB) *scene {
				return transferred(t).must("ada", Acknowledge{}).must("cy", Acknowledge{})
			},
			actor: "bob", cmd: CheckOut{User: "dee"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				an := s.inc.Announcement
				if len(an.Pending) != 0 || an.Complete == nil {
					t.Errorf("pending %v, complete %v; want none pending, complete", an.Pending, an.Complete)
				}
			},
		},
		{
			rule: "4-transfer", name: "someone not pending has nothing to acknowledge",
			setup: func(t testing.TB) *scene { return transferred(t).must("cy", Acknowledge{}) },
			actor: "cy", cmd: Acknowledge{},
			want: conflict("", "no transfer of command to acknowledge"),
		},
		{
			rule: "4-transfer", name: "the former Command no longer assigns roles",
			setup: transferred,
			actor: "ada", cmd: Assign{Role: RoleSafety, User: "cy"},
			want: refused("freelancing", "only Command (bob) may assign roles"),
		},
		{
			rule: "4-transfer", name: "Command withdraws the offer",
			setup: offered,
			actor: "ada", cmd: WithdrawOffer{Reason: "bob is needed in operations"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if s.inc.Transfer != nil {
					t.Errorf("transfer %+v still pending", s.inc.Transfer)
				}
				conflict("", "no transfer of command is pending").check(t, s.do("bob", AcceptCommand{}))
			},
		},
		{
			rule: "4-transfer", name: "the offer lapses when its person checks out",
			setup: offered,
			actor: "bob", cmd: CheckOut{}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if s.inc.Transfer != nil {
					t.Errorf("transfer %+v still pending", s.inc.Transfer)
				}
			},
		},

		// 5. One voice: the Information Officer, or Command while no one is.
		{
			rule: "5-one-voice", name: "Command publishes while no one is Information Officer",
			setup: withOps,
			actor: "ada", cmd: Publish{Audience: "internal", Text: "we are restoring the file server"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				want := []Communication{{Seq: s.inc.Seq, Audience: "internal", Text: "we are restoring the file server", By: "ada", At: s.now}}
				if diff := cmp.Diff(want, s.inc.Communications); diff != "" {
					t.Errorf("communications (-want +got):\n%s", diff)
				}
			},
		},
		{
			rule: "5-one-voice", name: "a section chief does not publish",
			setup: withOps,
			actor: "bob", cmd: Publish{Audience: "internal", Text: "all fine"},
			want: refused("one-voice", "I can't talk to people about this incident", "Command (ada), while no one is Information Officer"),
		},
		{
			rule: "5-one-voice", name: "the Information Officer publishes",
			setup: func(t testing.TB) *scene { return withOps(t).assign(RoleInformation, "cy") },
			actor: "cy", cmd: Publish{Audience: "external", Text: "we are investigating an outage"}, want: permitted,
		},
		{
			rule: "5-one-voice", name: "Command does not publish once the role is delegated",
			setup: func(t testing.TB) *scene { return withOps(t).assign(RoleInformation, "cy") },
			actor: "ada", cmd: Publish{Audience: "internal", Text: "all fine"},
			want: refused("one-voice", "I can't talk to people about this incident", "the Information Officer (cy)"),
		},
		{
			rule: "5-one-voice", name: "someone without a role does not publish",
			setup: func(t testing.TB) *scene { return withOps(t).assign(RoleInformation, "cy") },
			actor: "dee", cmd: Publish{Audience: "responders", Text: "all fine"},
			want: refused("one-voice", "I can't talk to people about this incident"),
		},

		// 6. Span of control: a warning, never a refusal.
		{
			rule: "6-span", name: "seven direct reports need no warning",
			setup: func(t testing.TB) *scene { return crowd(t, 6) },
			actor: "p7", cmd: CheckIn{}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if n := len(s.inc.DirectReports()["ada"]); n != 7 {
					t.Errorf("ada has %d direct reports, want 7", n)
				}
				if ws := s.inc.Warnings(); len(ws) != 0 {
					t.Errorf("warnings %+v, want none", ws)
				}
			},
		},
		{
			rule: "6-span", name: "an eighth direct report is warned about, not refused",
			setup: func(t testing.TB) *scene { return crowd(t, 7) },
			actor: "p8", cmd: CheckIn{}, want: permitted,
			then: func(t *testing.T, s *scene) {
				ws := s.inc.Warnings()
				if len(ws) != 1 {
					t.Fatalf("warnings %+v, want one", ws)
				}
				w := ws[0]
				if w.Kind != "span-of-control" || w.Supervisor != "ada" || w.Role != RoleCommand || len(w.Reports) != 8 {
					t.Errorf("warning %+v, want span-of-control for ada (command) with 8 reports", w)
				}
				if !strings.Contains(w.Suggest, "operations section chief") || !strings.Contains(w.Message, "ada (command) directs 8 people") {
					t.Errorf("warning %q suggests %q; want ada named and an operations section chief suggested", w.Message, w.Suggest)
				}
			},
		},

		// 7. Exercises never reach external audiences.
		{
			rule: "7-exercise", name: "an exercise talks to executives, marked EXERCISE",
			setup: func(t testing.TB) *scene { return declare(t, "ada", DeclareInput{Exercise: true}) },
			actor: "ada", cmd: Publish{Audience: "executives", Text: "drill under way"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if c := s.inc.Communications; len(c) != 1 || !c[0].Exercise {
					t.Errorf("communications %+v, want one marked exercise", c)
				}
			},
		},
		{
			rule: "7-exercise", name: "an exercise does not talk to the public",
			setup: func(t testing.TB) *scene { return declare(t, "ada", DeclareInput{Exercise: true}) },
			actor: "ada", cmd: Publish{Audience: "external", Text: "we were breached"},
			want: refused("exercise", "exercises never reach an external audience (external)"),
		},
		{
			rule: "7-exercise", name: "an exercise does not talk to regulators",
			setup: func(t testing.TB) *scene { return declare(t, "ada", DeclareInput{Exercise: true}) },
			actor: "ada", cmd: Publish{Audience: "regulators", Text: "we were breached"},
			want: refused("exercise", "(regulators)"),
		},
		{
			rule: "7-exercise", name: "an exercise treats an unknown audience as external",
			setup: func(t testing.TB) *scene { return declare(t, "ada", DeclareInput{Exercise: true}) },
			actor: "ada", cmd: Publish{Audience: "press", Text: "we were breached"},
			want: refused("exercise", "(press)"),
		},
		{
			rule: "7-exercise", name: "a real incident talks to the public",
			setup: func(t testing.TB) *scene { return declare(t, "ada", DeclareInput{}) },
			actor: "ada", cmd: Publish{Audience: "external", Text: "we are investigating"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if c := s.inc.Communications; len(c) != 1 || c[0].Exercise {
					t.Errorf("communications %+v, want one not marked exercise", c)
				}
			},
		},

		// 8. Confidential incidents and legal holds.
		{
			rule: "8-confidential", name: "an outsider cannot find a confidential incident",
			setup: func(t testing.TB) *scene { return declare(t, "ada", DeclareInput{Confidential: true}) },
			actor: "zed", cmd: CheckIn{},
			want: wantErr{kind: ENotFound, msg: []string{"IR-2026-0042 not found"}},
		},
		{
			rule: "8-confidential", name: "a person Command named checks in",
			setup: func(t testing.TB) *scene {
				return declare(t, "ada", DeclareInput{Confidential: true}).must("ada", NameMember{User: "zed"})
			},
			actor: "zed", cmd: CheckIn{}, want: permitted,
		},
		{
			rule: "8-confidential", name: "anyone checks in to an ordinary incident",
			setup: func(t testing.TB) *scene { return declare(t, "ada", DeclareInput{}) },
			actor: "zed", cmd: CheckIn{}, want: permitted,
		},
		{
			rule: "8-legal-hold", name: "Command places a legal hold",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "ada", cmd: Edit{LegalHold: ptr(true), Reason: "litigation expected"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if !s.inc.LegalHold {
					t.Error("no legal hold")
				}
			},
		},
		{
			rule: "8-legal-hold", name: "nothing is deleted under a legal hold",
			setup: func(t testing.TB) *scene {
				return staffed(t).must("ada", LinkAsset{Kind: "host", Name: "fs01"}).must("ada", Edit{LegalHold: ptr(true)})
			},
			actor: "ada", cmd: UnlinkAsset{Kind: "host", Name: "fs01", Reason: "linked in error"},
			want: refused("legal-hold", "under legal hold", "nothing it holds may be deleted"),
		},
		{
			rule: "8-legal-hold", name: "an asset linked in error is unlinked without a hold",
			setup: func(t testing.TB) *scene { return staffed(t).must("ada", LinkAsset{Kind: "host", Name: "fs01"}) },
			actor: "ada", cmd: UnlinkAsset{Kind: "host", Name: "fs01", Reason: "linked in error"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if len(s.inc.Assets) != 0 {
					t.Errorf("assets %+v, want none", s.inc.Assets)
				}
			},
		},
		{
			rule: "8-legal-hold", name: "Command does not lift a legal hold",
			setup: func(t testing.TB) *scene { return staffed(t).must("ada", Edit{LegalHold: ptr(true)}) },
			actor: "ada", cmd: Edit{LegalHold: ptr(false)},
			want: refused("legal-hold", "only an administrator lifts a legal hold"),
		},
		{
			rule: "8-legal-hold", name: "an administrator lifts a legal hold without checking in",
			setup: func(t testing.TB) *scene { return staffed(t).must("ada", Edit{LegalHold: ptr(true)}) },
			actor: "root", cmd: Edit{LegalHold: ptr(false), Reason: "litigation settled"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if s.inc.LegalHold {
					t.Error("legal hold still on")
				}
			},
		},
		{
			rule: "8-legal-hold", name: "an administrator lifts a legal hold on a closed incident",
			setup: func(t testing.TB) *scene { return closed(t).must("root", Edit{LegalHold: ptr(true)}) },
			actor: "root", cmd: Edit{LegalHold: ptr(false)}, want: permitted,
		},
		{
			rule: "8-legal-hold", name: "an administrator does not edit anything else without checking in",
			setup: func(t testing.TB) *scene { return staffed(t) },
			actor: "root", cmd: Edit{Title: ptr("nothing to see"), LegalHold: ptr(false)},
			want: refused("check-in", "not checked in"),
		},

		// Accountability: acting on an incident needs a check-in.
		{
			rule: "check-in", name: "someone not on scene does not act",
			setup: func(t testing.TB) *scene { return staffed(t) },
			actor: "bob", cmd: AddNote{Text: "I think it is DNS"},
			want: refused("check-in", "you are not checked in to IR-2026-0042", "sitrep checkin IR-2026-0042"),
		},
		{
			rule: "check-in", name: "someone who checked out does not act",
			setup: func(t testing.TB) *scene { return staffed(t, "bob").must("bob", CheckOut{}) },
			actor: "bob", cmd: AddNote{Text: "one more thing"},
			want: refused("check-in", "not checked in"),
		},
		{
			rule: "check-in", name: "someone on scene adds a note",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "bob", cmd: AddNote{Text: "I think it is DNS"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if diff := cmp.Diff([]string{"note.added"}, s.lastTypes()); diff != "" {
					t.Errorf("entries (-want +got):\n%s", diff)
				}
			},
		},
		{
			rule: "check-in", name: "checking in twice",
			setup: func(t testing.TB) *scene { return staffed(t, "bob") },
			actor: "bob", cmd: CheckIn{},
			want: conflict("", "already checked in"),
		},

		// Closed incidents change only by Command reopening them.
		{
			rule: "closed", name: "a closed incident takes no notes",
			setup: closed,
			actor: "ada", cmd: AddNote{Text: "one more thing"},
			want: conflict("", "IR-2026-0042 is closed", "Command can reopen it with a phase change"),
		},
		{
			rule: "closed", name: "no one checks in to a closed incident",
			setup: closed,
			actor: "zed", cmd: CheckIn{},
			want: conflict("", "is closed"),
		},
		{
			rule: "closed", name: "no one but Command reopens",
			setup: closed,
			actor: "bob", cmd: ChangePhase{Phase: PhaseContainment, Reason: "it is back"},
			want: refused("freelancing", "only Command (ada) may change the phase"),
		},
		{
			rule: "closed", name: "Command reopens with a phase change back",
			setup: closed,
			actor: "ada", cmd: ChangePhase{Phase: PhaseContainment, Reason: "re-infection on fs02"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if s.inc.Phase != PhaseContainment || s.inc.ClosedAt != nil || !s.inc.Open() {
					t.Errorf("phase %s, closed at %v; want containment, open", s.inc.Phase, s.inc.ClosedAt)
				}
				if diff := cmp.Diff([]string{"ada"}, s.inc.OnScene()); diff != "" {
					t.Errorf("on scene (-want +got):\n%s", diff)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.rule+"/"+tt.name, func(t *testing.T) {
			s := tt.setup(t)
			before, n := clone(t, s.inc), len(s.entries)
			err := s.do(tt.actor, tt.cmd)
			tt.want.check(t, err)
			if err != nil {
				// A refusal changes nothing.
				if diff := cmp.Diff(before, s.inc); diff != "" || len(s.entries) != n {
					t.Errorf("refused %s changed the incident (-before +after):\n%s", tt.cmd.Action(), diff)
				}
				return
			}
			if v := violations(s.inc); len(v) > 0 {
				t.Errorf("ICS invariants broken: %v", v)
			}
			if tt.then != nil {
				tt.then(t, s)
			}
		})
	}
}

func TestSpanOfControl(t *testing.T) {
	tests := []struct {
		name  string
		setup func(testing.TB) *scene
		want  []Warning // Suggest is a part of the suggestion; Message is checked by msg
		msg   []string
	}{
		{name: "Command alone", setup: func(t testing.TB) *scene { return crowd(t, 0) }, want: []Warning{}},
		{name: "Command with five", setup: func(t testing.TB) *scene { return crowd(t, 5) }, want: []Warning{}},
		{name: "Command with seven", setup: func(t testing.TB) *scene { return crowd(t, 7) }, want: []Warning{}},
		{
			name:  "Command with eight suggests the operations section",
			setup: func(t testing.TB) *scene { return crowd(t, 8) },
			want: []Warning{{
				Kind: "span-of-control", Supervisor: "ada", Role: RoleCommand,
				Reports: []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"},
				Suggest: "operations section chief (sitrep assign IR-2026-0042 operations USER)",
			}},
			msg: []string{"ada (command) directs 8 people", "ICS keeps 3–7"},
		},
		{
			name:  "with operations staffed, the planning section is next",
			setup: func(t testing.TB) *scene { return crowd(t, 8).assign(RoleOperations, "p1") },
			want: []Warning{{
				Kind: "span-of-control", Supervisor: "ada", Role: RoleCommand,
				Reports: []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"},
				Suggest: "planning section chief (sitrep assign IR-2026-0042 planning USER)",
			}},
		},
		{
			name: "with every section staffed, a deputy",
			setup: func(t testing.TB) *scene {
				return crowd(t, 8).assign(RoleOperations, "p1").assign(RolePlanning, "p2").assign(RoleLogistics, "p3").assign(RoleFinance, "p4")
			},
			want: []Warning{{
				Kind: "span-of-control", Supervisor: "ada", Role: RoleCommand,
				Reports: []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"},
				Suggest: "add a deputy role (sitrep assign IR-2026-0042 deputy-command USER)",
			}},
		},
		{
			name: "work in a section moves people under its chief",
			setup: func(t testing.TB) *scene {
				s := crowd(t, 8).assign(RoleOperations, "p1")
				for i := 2; i <= 8; i++ {
					s.must("p1", AddTask{Section: RoleOperations, Title: "sweep", Assignee: fmt.Sprintf("p%d", i)})
				}
				return s
			},
			want: []Warning{},
		},
		{
			name: "a section chief with eight suggests groups",
			setup: func(t testing.TB) *scene {
				s := crowd(t, 9).assign(RoleOperations, "p1")
				for i := 2; i <= 9; i++ {
					s.must("p1", AddTask{Section: RoleOperations, Title: "sweep", Assignee: fmt.Sprintf("p%d", i)})
				}
				return s
			},
			want: []Warning{{
				Kind: "span-of-control", Supervisor: "p1", Role: RoleOperations,
				Reports: []string{"p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"},
				Suggest: "split operations into groups, each with its own supervisor (sitrep assign IR-2026-0042 operations-group-a USER)",
			}},
			msg: []string{"p1 (operations) directs 8 people"},
		},
		{
			name: "people who checked out do not count",
			setup: func(t testing.TB) *scene {
				return crowd(t, 8).must("p8", CheckOut{})
			},
			want: []Warning{},
		},
		{
			name: "finished work returns people to Command",
			setup: func(t testing.TB) *scene {
				s := crowd(t, 8).assign(RoleOperations, "p1")
				for i := 2; i <= 8; i++ {
					s.must("p1", AddTask{Section: RoleOperations, Title: "sweep", Assignee: fmt.Sprintf("p%d", i)})
				}
				for i := 2; i <= 8; i++ {
					s.must(fmt.Sprintf("p%d", i), SetTaskStatus{ID: i - 1, Status: TaskDone})
				}
				return s
			},
			want: []Warning{{
				Kind: "span-of-control", Supervisor: "ada", Role: RoleCommand,
				Reports: []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"},
				Suggest: "planning section chief (sitrep assign IR-2026-0042 planning USER)",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.setup(t).inc.Warnings()
			ignore := cmp.FilterPath(func(p cmp.Path) bool {
				f := p.Last().String()
				return f == ".Message" || f == ".Suggest"
			}, cmp.Ignore())
			if diff := cmp.Diff(tt.want, got, ignore); diff != "" {
				t.Fatalf("warnings (-want +got):\n%s", diff)
			}
			for i, w := range got {
				if !strings.Contains(w.Suggest, tt.want[i].Suggest) || !strings.Contains(w.Message, w.Suggest) {
					t.Errorf("warning %q suggests %q; want it to suggest %q", w.Message, w.Suggest, tt.want[i].Suggest)
				}
				for _, m := range tt.msg {
					if !strings.Contains(w.Message, m) {
						t.Errorf("message %q does not say %q", w.Message, m)
					}
				}
			}
		})
	}
}

func TestVisibleTo(t *testing.T) {
	// conf is a confidential incident declared by ada, who handed command to
	// bob; cy checked in and out, dee holds safety, eve was named.
	conf := declare(t, "ada", DeclareInput{Confidential: true})
	for _, u := range []string{"bob", "cy", "dee"} {
		conf.must("ada", NameMember{User: u})
		conf.must(u, CheckIn{})
	}
	conf.must("ada", NameMember{User: "eve"})
	conf.must("cy", CheckOut{})
	conf.assign(RoleSafety, "dee")
	conf.must("ada", OfferCommand{To: "bob", Briefing: briefing}).must("bob", AcceptCommand{})
	conf.must("ada", CheckOut{})
	open := declare(t, "ada", DeclareInput{})

	tests := []struct {
		name string
		inc  *Incident
		who  *User
		want bool
	}{
		{"outsider, confidential", conf.inc, user("zed"), false},
		{"viewer, confidential", conf.inc, user("vic"), false},
		{"administrator, confidential", conf.inc, user("root"), true},
		{"declarer who checked out, confidential", conf.inc, user("ada"), true},
		{"Command, confidential", conf.inc, user("bob"), true},
		{"checked out, confidential", conf.inc, user("cy"), true},
		{"role holder, confidential", conf.inc, user("dee"), true},
		{"named, never checked in, confidential", conf.inc, user("eve"), true},
		{"outsider, ordinary", open.inc, user("zed"), true},
		{"viewer, ordinary", open.inc, user("vic"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.inc.VisibleTo(tt.who); got != tt.want {
				t.Errorf("VisibleTo(%s) = %t, want %t", tt.who.Name, got, tt.want)
			}
		})
	}
	t.Run("no one signed in", func(t *testing.T) {
		// IsAdmin accepts a nil user, so callers may pass one (a public
		// status page); a confidential incident must then be hidden, not
		// crash the server.
		for _, tt := range []struct {
			inc  *Incident
			want bool
		}{{open.inc, true}, {conf.inc, false}} {
			got, panicked := func() (got bool, panicked any) {
				defer func() { panicked = recover() }()
				return tt.inc.VisibleTo(nil), nil
			}()
			if panicked != nil {
				t.Errorf("VisibleTo(nil) on confidential=%t panics: %v", tt.inc.Confidential, panicked)
			} else if got != tt.want {
				t.Errorf("VisibleTo(nil) on confidential=%t = %t, want %t", tt.inc.Confidential, got, tt.want)
			}
		}
	})
}

func TestRequireWriter(t *testing.T) {
	tests := []struct {
		name string
		who  *User
		want wantErr
	}{
		{"no one signed in", nil, wantErr{kind: EUnauthorized, msg: []string{"note: sign in first"}}},
		{"viewer", user("vic"), wantErr{kind: EForbidden, msg: []string{"vic is a viewer and viewers cannot change anything"}}},
		{"responder", user("bob"), permitted},
		{"administrator", user("root"), permitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, requireWriter(tt.who, "note"))
		})
	}
}

// TestServiceRefusesBeforeTheStore checks the refusals Service.Do and
// Service.Declare give before they touch a store, so a Service without one
// answers them.
func TestServiceRefusesBeforeTheStore(t *testing.T) {
	ctx := context.Background()
	svc := &Service{Clock: SystemClock{}}
	tests := []struct {
		name string
		call func() error
		want wantErr
	}{
		{"viewer changes an incident", func() error {
			_, _, err := svc.Do(ctx, user("vic"), "IR-2026-0042", AddNote{Text: "hello"})
			return err
		}, wantErr{kind: EForbidden, msg: []string{"note: vic is a viewer"}}},
		{"no one signed in changes an incident", func() error {
			_, _, err := svc.Do(ctx, nil, "IR-2026-0042", AddNote{Text: "hello"})
			return err
		}, wantErr{kind: EUnauthorized, msg: []string{"sign in first"}}},
		{"viewer declares", func() error {
			_, _, err := svc.Declare(ctx, user("vic"), DeclareInput{Title: "it is on fire"})
			return err
		}, wantErr{kind: EForbidden, msg: []string{"declare: vic is a viewer"}}},
		{"a malformed incident ID", func() error {
			_, _, err := svc.Do(ctx, user("bob"), "42", CheckIn{})
			return err
		}, wantErr{kind: ENotFound, field: "id", msg: []string{"IR-2026-0042"}}},
		{"a malformed user name", func() error {
			_, _, err := svc.Do(ctx, user("ada"), "IR-2026-0042", Assign{Role: RoleSafety, User: "Bob Smith"})
			return err
		}, invalid("user", `"Bob Smith" is not a valid name`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, noStore(t, tt.call))
		})
	}
}

// noStore runs call on a Service without a store and reports a call that
// reached for the store as a failure rather than a crash.
func noStore(t *testing.T, call func() error) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("the call reached the store: %v", p)
		}
	}()
	return call()
}

// TestReopenedTaskGoesToSomeoneOnScene: open work is never left with someone
// who has checked out (ICS accountability). Check-out returns a person's open
// tasks to their section; a finished task reopened after its assignee left
// must not go back to them either.
func TestReopenedTaskGoesToSomeoneOnScene(t *testing.T) {
	s := withTask(t).must("cy", SetTaskStatus{ID: 1, Status: TaskDone}).must("cy", CheckOut{})
	s.must("bob", SetTaskStatus{ID: 1, Status: TaskOpen, Reason: "fs01 is encrypted again"})
	if diff := cmp.Diff([]string{"task.assigned", "task.status_changed"}, s.lastTypes()); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if task := s.inc.Tasks[0]; task.Status != TaskOpen || (task.Assignee != "" && !s.inc.CheckedIn(task.Assignee)) {
		t.Errorf("task 1 is %s, assigned to %q, who is not checked in; want it open and back in its section", task.Status, task.Assignee)
	}
	checkReplay(t, s)
}

// everyCommand has one command of each kind, each one Command could give on
// an incident with bob on scene, task 1 and host fs01.
var everyCommand = []Command{
	CheckOut{User: "bob"}, NameMember{User: "zed"}, Assign{Role: RoleSafety, User: "bob"}, Unassign{Role: RoleSafety},
	OfferCommand{To: "bob", Briefing: briefing}, WithdrawOffer{}, AcceptCommand{}, Acknowledge{},
	AddTask{Section: RoleOperations, Title: "x"}, AssignTask{ID: 1, Assignee: "bob"}, SetTaskStatus{ID: 1, Status: TaskDone},
	AddNote{Text: "x"}, Publish{Audience: "internal", Text: "x"}, LinkAsset{Kind: "host", Name: "db1"},
	UnlinkAsset{Kind: "host", Name: "fs01", Reason: "x"}, ChangePhase{Phase: PhaseContainment, Reason: "x"},
	Edit{Severity: ptr(1)}, Edit{LegalHold: ptr(true)}, EditReport{WhatWorked: ptr("x")},
}

// TestSharedChecks: every action but checking in needs the actor on scene,
// and a closed incident takes nothing but Command's phase change back.
func TestSharedChecks(t *testing.T) {
	for _, cmd := range everyCommand {
		t.Run(fmt.Sprintf("off scene/%s %+v", cmd.Action(), cmd), func(t *testing.T) {
			s := staffed(t, "bob", "cy").must("ada", AddTask{Section: RoleOperations, Title: "x"}).must("ada", LinkAsset{Kind: "host", Name: "fs01"})
			s.must("ada", OfferCommand{To: "cy", Briefing: briefing}).must("cy", AcceptCommand{}).must("ada", CheckOut{})
			// ada declared the incident and was Command, and could give
			// most of these; off scene, she gives none.
			refused("check-in", "not checked in").check(t, s.do("ada", cmd))
		})
		t.Run(fmt.Sprintf("closed/%s %+v", cmd.Action(), cmd), func(t *testing.T) {
			s := closed(t)
			err := s.do("ada", cmd)
			if c, ok := cmd.(ChangePhase); ok {
				permitted.check(t, err)
				if s.inc.Phase != c.Phase {
					t.Errorf("phase %s, want %s", s.inc.Phase, c.Phase)
				}
				return
			}
			conflict("", "is closed").check(t, err)
		})
	}
}
