package sitrep

import (
	"fmt"
	"testing"
)

// TestCanAgreesWithTheCommands holds every predicate of can.go to the
// command it stands for: in each scene, for each person, the predicate says
// yes exactly when the command (with arguments that suit the scene)
// succeeds.
func TestCanAgreesWithTheCommands(t *testing.T) {
	people := []string{"ada", "bob", "cy", "dee", "eve", "vic", "root"}
	type check struct {
		name string
		can  func(inc *Incident, u *User) bool
		cmd  Command
	}
	action := func(cmd Command) check {
		return check{cmd.Action(), func(inc *Incident, u *User) bool { return inc.Can(u, cmd.Action()) }, cmd}
	}
	inSection := func(section string) check {
		return check{"task add in " + section, func(inc *Incident, u *User) bool { return inc.CanInSection(u, section) },
			AddTask{Section: section, Title: "contain it"}}
	}
	setTask := func(id int, status string) check {
		return check{fmt.Sprintf("task %d %s", id, status), func(inc *Incident, u *User) bool { return inc.CanSetTask(u, id, status) },
			SetTaskStatus{ID: id, Status: status}}
	}
	release := func(who string) check {
		return check{"release " + who, func(inc *Incident, u *User) bool { return inc.CanRelease(u, who) }, CheckOut{User: who}}
	}
	assignTask := func(id int, to string) check {
		return check{fmt.Sprintf("task %d to %s", id, to), func(inc *Incident, u *User) bool { return inc.CanAssignTask(u, id) },
			AssignTask{ID: id, Assignee: to}}
	}
	common := []check{
		action(CheckIn{}),
		action(CheckOut{}),
		action(AddNote{Text: "seen from here"}),
		action(Unassign{Role: RoleOperations}),
		action(NameMember{User: "eve"}),
		action(Edit{Severity: ptr(2)}),
		action(WithdrawOffer{}),
		action(AcceptCommand{}),
		action(Acknowledge{}),
		action(Publish{Audience: "internal", Text: "we are on it"}),
		action(LinkAsset{Kind: "host", Name: "fs99"}),
		action(EditReport{WhatWorked: ptr("backups")}),
		action(ApproveDraft{Draft: 1}),
		action(RejectDraft{Draft: 1, Reason: "not yet"}),
		inSection(RoleOperations),
		inSection(RolePlanning),
		inSection("command"),
	}
	scenes := []struct {
		name   string
		setup  func(testing.TB) *scene
		checks []check
	}{
		{"declared alone", func(t testing.TB) *scene { return declare(t, "ada", DeclareInput{}) },
			append(common, action(Assign{Role: RolePlanning, User: "ada"}), action(ChangePhase{Phase: PhaseContainment, Reason: "r"}))},
		{"with a task", withTask, append(common,
			action(Assign{Role: RolePlanning, User: "dee"}),
			action(OfferCommand{To: "dee", Briefing: briefing}),
			action(ChangePhase{Phase: PhaseContainment, Reason: "r"}),
			setTask(1, TaskDone), setTask(1, TaskCancelled), setTask(1, TaskOpen), setTask(2, TaskDone),
			assignTask(1, "dee"), assignTask(1, ""),
			release("bob"), release("cy"), release("ada"), release("eve"),
		)},
		{"information officer", func(t testing.TB) *scene {
			return withOps(t).assign(RoleInformation, "cy").assign(RolePlanning, "dee")
		}, append(common, action(Publish{Audience: "executives", Text: "contained"}))},
		{"offered", offered, append(common, action(OfferCommand{To: "cy", Briefing: briefing}))},
		{"transferred", transferred, common},
		{"done task", func(t testing.TB) *scene {
			return withTask(t).must("cy", SetTaskStatus{ID: 1, Status: TaskDone})
		}, []check{setTask(1, TaskDone), setTask(1, TaskOpen), setTask(1, TaskCancelled), assignTask(1, "dee")}},
		{"closed", closed, append(common, action(ChangePhase{Phase: PhasePostMortem, Reason: "reopened"}))},
		{"confidential", func(t testing.TB) *scene { return declare(t, "ada", DeclareInput{Confidential: true}) }, common},
		{"confidential named", func(t testing.TB) *scene {
			return declare(t, "ada", DeclareInput{Confidential: true}).must("ada", NameMember{User: "bob"})
		}, append(common, action(CheckIn{}))},
		{"declared by dispatch", func(t testing.TB) *scene {
			return declare(t, DispatchUser, DeclareInput{}).must("bob", CheckIn{})
		}, common},
	}
	for _, sc := range scenes {
		t.Run(sc.name, func(t *testing.T) {
			for _, c := range sc.checks {
				for _, who := range people {
					s := sc.setup(t)
					can := c.can(s.inc, user(who))
					err := s.do(who, c.cmd)
					if can != (err == nil) {
						t.Errorf("%s by %s: Can says %t, the command answers %v", c.name, who, can, err)
					}
				}
			}
		})
	}
}

func TestCanUnknownAction(t *testing.T) {
	s := declare(t, "ada", DeclareInput{})
	if s.inc.Can(user("ada"), "launch missiles") {
		t.Errorf("Can allows an action it does not know")
	}
	if s.inc.Can(nil, AddNote{}.Action()) {
		t.Errorf("Can allows someone not signed in")
	}
}

func TestTaskSections(t *testing.T) {
	s := withOps(t).assign("forensics", "cy").assign(RoleInformation, "dee")
	for who, want := range map[string][]string{
		"ada": {RoleOperations, RolePlanning, RoleLogistics, RoleFinance, "forensics"},
		"bob": {RoleOperations},
		"cy":  {"forensics"},
		"dee": nil,
		"vic": nil,
	} {
		got := s.inc.TaskSections(user(who))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s may add tasks in %v, want %v", who, got, want)
		}
	}
}

func TestTaskSectionsOfThePlan(t *testing.T) {
	s := staffed(t, "bob")
	s.inc.Plan = &IncidentPlan{Positions: []Position{{Role: "forensics", Severity: 4}, {Role: RoleInformation, Severity: 4}}}
	got := s.inc.TaskSections(user("ada"))
	want := []string{RoleOperations, RolePlanning, RoleLogistics, RoleFinance, "forensics"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Command may add tasks in %v, want %v", got, want)
	}
	if !s.inc.CanInSection(user("ada"), "forensics") || s.inc.CanInSection(user("bob"), "forensics") {
		t.Errorf("the plan's section: Command may add tasks, others may not")
	}
	if err := s.do("ada", AddTask{Section: "forensics", Title: "image the disk"}); err != nil {
		t.Errorf("Command adding a task in the plan's section: %v", err)
	}
}
