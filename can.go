package sitrep

import "slices"

// What a person may do on an incident, asked before they try: the web UI
// shows a button only when the command behind it would be allowed. These
// predicates are built on the same checks the commands run (requireWriter,
// Service.allowed, requireCommand, chiefOf, Holder, …), and can_test.go
// holds each one to the command it stands for. They never replace those
// checks: the server still runs every command through its rules.

// Can reports whether u may run the command named action (the Action of a
// command: "assign", "transfer", "update", …) on the incident in its
// present state, with suitable arguments. It answers false for an action it
// does not know. Commands whose answer depends on their arguments have
// their own predicates: CanInSection for tasks in one section, CanSetTask
// for one task.
func (inc *Incident) Can(u *User, action string) bool {
	if !inc.mayAct(u) {
		return false
	}
	switch action {
	case CheckIn{}.Action():
		return inc.Open() && !inc.CheckedIn(u.Name)
	case ChangePhase{}.Action():
		// Command reopens a closed incident without checking in.
		return inc.Command == u.Name && (!inc.Open() || inc.CheckedIn(u.Name))
	}
	if !inc.Open() || !inc.CheckedIn(u.Name) {
		return false
	}
	isCommand := inc.Command == u.Name
	switch action {
	case CheckOut{}.Action():
		return !isCommand
	case AddNote{}.Action():
		return true
	case Assign{}.Action():
		// Someone on scene besides Command must be there to take a role.
		return isCommand && len(inc.OnScene()) > 1
	case Unassign{}.Action():
		return isCommand && len(inc.Roles) > 0
	case NameMember{}.Action(), Edit{}.Action():
		return isCommand
	case OfferCommand{}.Action():
		return isCommand && len(inc.OnScene()) > 1
	case WithdrawOffer{}.Action():
		return isCommand && inc.Transfer != nil
	case AcceptCommand{}.Action():
		if inc.Transfer != nil {
			return inc.Transfer.To == u.Name
		}
		return inc.Command == DispatchUser && u.Name != DispatchUser
	case Acknowledge{}.Action():
		return inc.Announcement != nil && slices.Contains(inc.Announcement.Pending, u.Name)
	case AddTask{}.Action():
		return len(inc.TaskSections(u)) > 0
	case Publish{}.Action():
		return inc.Holder(RoleInformation) == u.Name
	case LinkAsset{}.Action():
		return isCommand || isSectionChief(inc, u.Name)
	case EditReport{}.Action():
		return isCommand || inc.delegate(RolePlanning) == u.Name
	case ApproveDraft{}.Action(), RejectDraft{}.Action():
		return isCommand && len(inc.PendingDrafts()) > 0
	}
	return false
}

// mayAct reports whether u may change the incident at all: signed in, not
// a viewer, and able to see it (ICS rule 8).
func (inc *Incident) mayAct(u *User) bool {
	return requireWriter(u, "") == nil && inc.VisibleTo(u)
}

// CanInSection reports whether u may create and assign tasks in section:
// Command, or that section's chief (ICS rule 3), on scene.
func (inc *Incident) CanInSection(u *User, section string) bool {
	if !inc.mayAct(u) || !inc.Open() || !inc.CheckedIn(u.Name) {
		return false
	}
	if section == RoleCommand || ValidateRole(section) != nil {
		return false
	}
	return chiefOf(inc, u.Name, section)
}

// TaskSections lists the sections u may create tasks in: the general staff
// sections and any other section delegated on the incident or staffed by
// its plan, for Command; the sections they lead, for a chief.
func (inc *Incident) TaskSections(u *User) []string {
	all := slices.Clone(Sections)
	var more []string
	for _, r := range inc.Roles {
		more = append(more, r.Role)
	}
	if inc.Plan != nil {
		for _, p := range inc.Plan.Positions {
			more = append(more, p.Role)
		}
	}
	for _, r := range more {
		if !slices.Contains(all, r) && !slices.Contains(Officers, r) && r != RoleCommand {
			all = append(all, r)
		}
	}
	out := all[:0]
	for _, s := range all {
		if inc.CanInSection(u, s) {
			out = append(out, s)
		}
	}
	return out
}

// CanSetTask reports whether u may give task id the status (TaskDone,
// TaskCancelled or TaskOpen): its assignee marks it done; Command and the
// section's chief do anything.
func (inc *Incident) CanSetTask(u *User, id int, status string) bool {
	t := inc.task(id)
	if t == nil || t.Status == status || !inc.mayAct(u) || !inc.Open() || !inc.CheckedIn(u.Name) {
		return false
	}
	if chiefOf(inc, u.Name, t.Section) {
		return status == TaskOpen || status == TaskDone || status == TaskCancelled
	}
	return status == TaskDone && t.Status == TaskOpen && t.Assignee == u.Name
}

// CanAssignTask reports whether u may give open task id to someone (or
// back to its section): Command or the section's chief.
func (inc *Incident) CanAssignTask(u *User, id int) bool {
	t := inc.task(id)
	return t != nil && t.Status == TaskOpen && inc.CanInSection(u, t.Section)
}

// CanRelease reports whether u may check out user: people check
// themselves out, Command releases (demobilises) anyone else on scene, and
// Command itself leaves only by transferring command.
func (inc *Incident) CanRelease(u *User, user string) bool {
	if u != nil && user == u.Name {
		return inc.Can(u, CheckOut{}.Action())
	}
	return inc.mayAct(u) && inc.Open() && inc.CheckedIn(u.Name) && inc.Command == u.Name && inc.CheckedIn(user)
}
