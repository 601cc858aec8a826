package web

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// The view models: what the templates draw, computed from the domain's
// state with the domain's own answers (Holder, Supervisor, Warnings, Can).

// boardRow is one open incident on the board.
type boardRow struct {
	*sitrep.Incident
	Age      time.Duration
	OnScene  int
	Warnings int
}

// boardRows returns the open incidents u may see, worst severity first and,
// within a severity, the longest-running first: what has burned longest
// at the top, as on a dispatch board.
func boardRowsOf(incs []*sitrep.Incident, now time.Time) []boardRow {
	rows := make([]boardRow, 0, len(incs))
	for _, inc := range incs {
		if !inc.Open() {
			continue
		}
		rows = append(rows, boardRow{Incident: inc, Age: now.Sub(inc.DeclaredAt), OnScene: len(inc.OnScene()), Warnings: len(inc.Warnings())})
	}
	slices.SortStableFunc(rows, func(a, b boardRow) int {
		if c := cmp.Compare(a.Severity, b.Severity); c != 0 {
			return c
		}
		if c := a.DeclaredAt.Compare(b.DeclaredAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return rows
}

// orgBox is one position of the organisation chart.
type orgBox struct {
	Role  string // "command", "information", "operations", …
	Title string // "Information Officer", "Operations Section", …
	// Holder is who holds the position: the person it is delegated to, or
	// Command when it is not (then Delegated is false and the box is drawn
	// open).
	Holder    string
	Delegated bool
	// People are those on scene working under this position: for a
	// section, the assignees of its open tasks; for Command, everyone on
	// scene without a role or a section's task.
	People   []string
	OverSpan bool // its holder directs more people than ICS advises
	// Planned is set when the incident's pre-incident plan asks for this
	// position; Suggested are the people it names and Why its reason.
	Planned   bool
	Suggested []string
	Why       string
}

// orgChart is the ICS organisation of an incident: Command at the top, the
// command staff (officers) beside it, the general staff (sections) below.
type orgChart struct {
	Command  orgBox
	Officers []orgBox
	Sections []orgBox
}

var roleTitles = map[string]string{
	sitrep.RoleCommand:     "Incident Command",
	sitrep.RoleInformation: "Information Officer",
	sitrep.RoleSafety:      "Safety Officer",
	sitrep.RoleLiaison:     "Liaison Officer",
	sitrep.RoleOperations:  "Operations Section",
	sitrep.RolePlanning:    "Planning Section",
	sitrep.RoleLogistics:   "Logistics Section",
	sitrep.RoleFinance:     "Finance Section",
}

// roleTitle names a role for people.
func roleTitle(role string) string {
	if t, ok := roleTitles[role]; ok {
		return t
	}
	return strings.ReplaceAll(role, "-", " ")
}

// orgChartOf draws inc's organisation. Every officer and section position
// is drawn, open ones too, so that what Command still holds is visible, as
// are the positions the incident's plan asks for; roles beyond the standard
// ones (such as operations-group-a, or a plan's forensics) join the
// sections.
func orgChartOf(inc *sitrep.Incident) orgChart {
	planned := map[string]sitrep.Position{}
	var extra []string
	if inc.Plan != nil {
		for _, p := range inc.Plan.Positions {
			planned[p.Role] = p
			extra = append(extra, p.Role)
		}
	}
	box := func(role string) orgBox {
		holder := inc.Holder(role)
		delegated := role == sitrep.RoleCommand || holder != inc.Command
		b := orgBox{Role: role, Title: roleTitle(role), Holder: holder, Delegated: delegated}
		if p, ok := planned[role]; ok {
			b.Planned, b.Suggested, b.Why = true, p.People, p.Why
		}
		return b
	}
	chart := orgChart{Command: box(sitrep.RoleCommand)}
	for _, r := range sitrep.Officers {
		chart.Officers = append(chart.Officers, box(r))
	}
	sections := slices.Clone(sitrep.Sections)
	for _, r := range inc.Roles {
		extra = append(extra, r.Role)
	}
	for _, r := range extra {
		if !slices.Contains(sections, r) && !slices.Contains(sitrep.Officers, r) && r != sitrep.RoleCommand {
			sections = append(sections, r)
		}
	}
	for _, r := range sections {
		chart.Sections = append(chart.Sections, box(r))
	}
	find := func(role string) *orgBox {
		if role == sitrep.RoleCommand {
			return &chart.Command
		}
		for i := range chart.Sections {
			if chart.Sections[i].Role == role {
				return &chart.Sections[i]
			}
		}
		for i := range chart.Officers {
			if chart.Officers[i].Role == role {
				return &chart.Officers[i]
			}
		}
		return nil
	}
	for _, u := range inc.OnScene() {
		if u == inc.Command || len(inc.RolesOf(u)) > 0 {
			continue // drawn as a holder
		}
		_, via := inc.Supervisor(u)
		if b := find(via); b != nil && via != sitrep.RoleCommand {
			b.People = append(b.People, u)
			continue
		}
		chart.Command.People = append(chart.Command.People, u)
	}
	for _, w := range inc.Warnings() {
		if b := find(w.Role); b != nil {
			b.OverSpan = true
		}
	}
	return chart
}

// resourceRow is one person on scene.
type resourceRow struct {
	sitrep.Resource
	Roles      []string
	MustAck    bool // has not acknowledged the latest transfer of command
	Supervisor string
	CanRelease bool // the viewer (Command) may check them out; not for oneself
}

func onSceneOf(inc *sitrep.Incident, u *sitrep.User) []resourceRow {
	var rows []resourceRow
	for _, r := range inc.Resources {
		if !r.CheckedIn {
			continue
		}
		row := resourceRow{Resource: r, Roles: inc.RolesOf(r.User), CanRelease: r.User != u.Name && inc.CanRelease(u, r.User)}
		row.Supervisor, _ = inc.Supervisor(r.User)
		if an := inc.Announcement; an != nil && slices.Contains(an.Pending, r.User) {
			row.MustAck = true
		}
		rows = append(rows, row)
	}
	return rows
}

// taskRow is a task with the buttons its viewer may press.
type taskRow struct {
	sitrep.Task
	CanDone, CanCancel, CanReopen, CanAssign bool
}

// taskSection is a section's tasks, with who directs it.
type taskSection struct {
	Section   string
	Title     string
	Chief     string
	Delegated bool
	Tasks     []taskRow
	Open      int
}

// tasksBySection groups inc's tasks by section in the order of the chart.
func tasksBySection(inc *sitrep.Incident, u *sitrep.User) []taskSection {
	order := slices.Clone(sitrep.Sections)
	for _, t := range inc.Tasks {
		if !slices.Contains(order, t.Section) {
			order = append(order, t.Section)
		}
	}
	var out []taskSection
	for _, sec := range order {
		ts := taskSection{Section: sec, Title: roleTitle(sec), Chief: inc.Holder(sec)}
		ts.Delegated = ts.Chief != inc.Command
		for _, t := range inc.Tasks {
			if t.Section != sec {
				continue
			}
			if t.Status == sitrep.TaskOpen {
				ts.Open++
			}
			ts.Tasks = append(ts.Tasks, taskRow{Task: t,
				CanDone:   inc.CanSetTask(u, t.ID, sitrep.TaskDone),
				CanCancel: inc.CanSetTask(u, t.ID, sitrep.TaskCancelled),
				CanReopen: inc.CanSetTask(u, t.ID, sitrep.TaskOpen),
				CanAssign: inc.CanAssignTask(u, t.ID),
			})
		}
		if len(ts.Tasks) > 0 {
			out = append(out, ts)
		}
	}
	return out
}

// can is what the viewer of an incident page may do: the buttons drawn.
type can struct {
	CheckIn, CheckOut, Note, Assign, Unassign, Transfer, Withdraw, Accept, Ack bool
	Publish, Phase, Task, Invite, Edit                                         bool
	// Decide: Command approves or rejects the drafts waiting for it.
	// Report: the person writes the post mortem (Command or the Planning
	// chief).
	Decide, Report bool
}

func canOf(inc *sitrep.Incident, u *sitrep.User) can {
	a := func(cmd sitrep.Command) bool { return inc.Can(u, cmd.Action()) }
	return can{
		CheckIn: a(sitrep.CheckIn{}), CheckOut: a(sitrep.CheckOut{}), Note: a(sitrep.AddNote{}),
		Assign: a(sitrep.Assign{}), Unassign: a(sitrep.Unassign{}), Transfer: a(sitrep.OfferCommand{}),
		Withdraw: a(sitrep.WithdrawOffer{}), Accept: a(sitrep.AcceptCommand{}), Ack: a(sitrep.Acknowledge{}),
		Publish: a(sitrep.Publish{}), Phase: a(sitrep.ChangePhase{}), Task: a(sitrep.AddTask{}), Invite: a(sitrep.NameMember{}),
		Edit: a(sitrep.Edit{}), Decide: a(sitrep.ApproveDraft{}), Report: a(sitrep.EditReport{}),
	}
}

// incidentView is everything the incident command page draws.
type incidentView struct {
	Inc      *sitrep.Incident
	Me       *sitrep.User
	Age      time.Duration
	Warnings []sitrep.Warning
	Org      orgChart
	OnScene  []resourceRow
	Sections []taskSection
	Comms    []sitrep.Communication // newest first
	// Drafts are the communications waiting for Command's approval,
	// oldest first; Decided those approved or rejected, newest first.
	Drafts, Decided []sitrep.Draft
	Can             can
	Candidates      []string // people on scene other than Command: for roles, tasks, transfer
	// Roles are the roles Command may assign, officers then sections.
	Roles        []string
	TaskSections []string
	Phases       []sitrep.Phase
	Severities   []int
	Audiences    []string
	Alerts       []sitrep.AttachedAlert
	// Error is the refusal of the action just tried, in the rule's words.
	Error     string
	ErrorRule string
	// Timeline: the latest entries and how many earlier ones are not shown.
	Entries []sitrep.EntryView
	Earlier int64
}

// timelineShown is how many of the latest entries the page shows; the
// rest are a click away in the API and the CLI.
const timelineShown = 500

func incidentViewOf(inc *sitrep.Incident, u *sitrep.User, now time.Time) *incidentView {
	v := &incidentView{
		Inc: inc, Me: u, Age: now.Sub(inc.DeclaredAt), Warnings: inc.Warnings(), Org: orgChartOf(inc),
		OnScene: onSceneOf(inc, u), Sections: tasksBySection(inc, u), Can: canOf(inc, u),
		TaskSections: inc.TaskSections(u), Phases: sitrep.Phases, Severities: []int{1, 2, 3, 4}, Alerts: inc.Alerts,
		Audiences: []string{"responders", "internal", "executives", "customers", "regulators", "public"},
	}
	for i := len(inc.Communications) - 1; i >= 0; i-- {
		v.Comms = append(v.Comms, inc.Communications[i])
	}
	v.Drafts = inc.PendingDrafts()
	for i := len(inc.Drafts) - 1; i >= 0; i-- {
		if inc.Drafts[i].Status != sitrep.DraftPending {
			v.Decided = append(v.Decided, inc.Drafts[i])
		}
	}
	for _, u := range inc.OnScene() {
		if u != inc.Command {
			v.Candidates = append(v.Candidates, u)
		}
	}
	v.Roles = append(slices.Clone(sitrep.Officers), sitrep.Sections...)
	for _, r := range inc.Roles {
		if !slices.Contains(v.Roles, r.Role) {
			v.Roles = append(v.Roles, r.Role)
		}
	}
	if inc.Plan != nil {
		for _, p := range inc.Plan.Positions {
			if !slices.Contains(v.Roles, p.Role) && p.Role != sitrep.RoleCommand {
				v.Roles = append(v.Roles, p.Role)
			}
		}
	}
	return v
}
