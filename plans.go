package sitrep

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Plans gives the service the pre-incident plans in force. The plan package
// implements it over the plans directory; the domain knows plans only as
// PlanSpecs.
type Plans interface {
	// PlanFor returns the plan answering incidents of kind, nil when no
	// plan does.
	PlanFor(kind string) *PlanSpec
}

// PlanCatalog is implemented by Plans that can also list the plans in force
// and give each in full (plan.Library does): the API and the CLI show them.
type PlanCatalog interface {
	Plans
	// PlanList lists the plans in force, ordered by name, with the
	// problems of the latest reload when it failed.
	PlanList() *PlanList
	// PlanDocument returns the plan named name in full, as JSON in the
	// plans' own format. Returns ENotFound when there is no such plan.
	PlanDocument(name string) (json.RawMessage, error)
}

// PlanList is the plans in force.
type PlanList struct {
	// Dir is the plans directory; Commit its git commit ("" outside a
	// checkout).
	Dir    string        `json:"dir"`
	Commit string        `json:"commit,omitempty"`
	Plans  []PlanSummary `json:"plans"`
	// Problems are those of the latest reload of the directory when it
	// failed: the plans listed are then the last good ones, in force until
	// the files are fixed.
	Problems []PlanProblem `json:"problems,omitempty"`
}

// PlanSummary is one plan in a listing.
type PlanSummary struct {
	Name     string   `json:"name"`
	Title    string   `json:"title"`
	Kinds    []string `json:"kinds"`
	Severity int      `json:"severity"`
	File     string   `json:"file"`
	SHA256   string   `json:"sha256"`
	Commit   string   `json:"commit,omitempty"`
	Modified bool     `json:"modified,omitempty"`
}

// PlanProblem is one problem of a plan file, at its line and column (0 when
// it concerns the whole file).
type PlanProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// PlanList lists the plans in force: none when the service runs without a
// plans directory. Anyone signed in may read them.
func (s *Service) PlanList(_ context.Context, actor *User) (*PlanList, error) {
	if actor == nil {
		return nil, Errorf(EUnauthorized, "plans: sign in first")
	}
	if cat, ok := s.Plans.(PlanCatalog); ok {
		if l := cat.PlanList(); l != nil {
			return l, nil
		}
	}
	return &PlanList{Plans: []PlanSummary{}}, nil
}

// PlanDocument returns the plan named name in full, as JSON. Returns
// ENotFound when no plan in force has that name.
func (s *Service) PlanDocument(_ context.Context, actor *User, name string) (json.RawMessage, error) {
	if actor == nil {
		return nil, Errorf(EUnauthorized, "plan: sign in first")
	}
	if cat, ok := s.Plans.(PlanCatalog); ok {
		doc, err := cat.PlanDocument(name)
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", clip(name, 80), err)
		}
		return doc, nil
	}
	return nil, &Error{Kind: ENotFound, Field: "name", Message: fmt.Sprintf("no plan named %q: the server runs without plans", clip(name, 80))}
}

// Templates returns the communication templates of an incident's plan, each
// filled in from the incident as it stands; none when it runs without a
// plan.
func (s *Service) Templates(ctx context.Context, actor *User, id string) ([]Template, error) {
	inc, err := s.Incident(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	return inc.Templates(), nil
}

// PlanSpec is a pre-incident plan as the domain applies it: what to staff,
// what to do in each phase, whom to tell and what times to meet, for
// incidents of the kinds the plan answers.
type PlanSpec struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// SHA256 is the hex SHA-256 of the plan file; Commit the git commit of
	// the plans directory ("" outside a checkout), Modified whether the
	// file differed from it.
	SHA256   string `json:"sha256"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// Severity is the severity an incident is declared at when none is
	// given. Confidential and LegalHold are set on the incident at
	// declaration.
	Severity     int          `json:"severity"`
	Confidential bool         `json:"confidential,omitempty"`
	LegalHold    bool         `json:"legal_hold,omitempty"`
	Positions    []Position   `json:"positions"`
	Tasks        []PlanTask   `json:"tasks"`
	Notify       []NotifyList `json:"notify"`
	Targets      Targets      `json:"targets"`
	// Communications are the plan's templates of statements.
	Communications []PlanTemplate `json:"communications"`
}

// PlanTemplate is a statement prepared in advance for one audience; its text
// holds {{placeholders}} (see Placeholders). CommandApproval on a template
// makes its audience need Command's authorisation (see NeedsApproval).
type PlanTemplate struct {
	Name            string `json:"name"`
	Audience        string `json:"audience"`
	Phase           Phase  `json:"phase,omitempty"`
	CommandApproval bool   `json:"command_approval,omitempty"`
	Text            string `json:"text"`
}

// Position is a role a plan staffs at a severity and worse, with the people
// suggested for it. On an incident it is open until the role is delegated.
type Position struct {
	Role     string   `json:"role"`
	Severity int      `json:"severity"`
	People   []string `json:"people,omitempty"`
	Team     string   `json:"team,omitempty"`
	Why      string   `json:"why,omitempty"`
}

// PlanTask is a checklist item: a task created in Section when the incident
// enters Phase, at Severity and worse. It goes to Assignee when they are on
// scene then.
type PlanTask struct {
	Phase    Phase  `json:"phase"`
	Title    string `json:"title"`
	Section  string `json:"section"`
	Assignee string `json:"assignee,omitempty"`
	Severity int    `json:"severity"`
}

// NotifyList is who a plan tells of a declaration at Severity and worse.
type NotifyList struct {
	Audience string   `json:"audience"`
	Severity int      `json:"severity"`
	To       []string `json:"to"`
}

// Targets are a plan's time targets in seconds; 0 is not set. Declare runs
// from the first alert to the declaration, the others from the declaration.
type Targets struct {
	Declare             int64 `json:"declare,omitempty"`
	Command             int64 `json:"command,omitempty"`
	InformationOfficer  int64 `json:"information_officer,omitempty"`
	FirstInternalUpdate int64 `json:"first_internal_update,omitempty"`
	Contained           int64 `json:"contained,omitempty"`
}

// IncidentPlan is the plan an incident runs with, as applied at its
// declaration: the version used, the open positions to staff, the
// checklists still to come, and the moments its targets were met.
type IncidentPlan struct {
	Name      string       `json:"name"`
	Title     string       `json:"title"`
	SHA256    string       `json:"sha256"`
	Commit    string       `json:"commit,omitempty"`
	Modified  bool         `json:"modified,omitempty"`
	AppliedAt time.Time    `json:"applied_at"`
	Positions []Position   `json:"positions"`
	Tasks     []PlanTask   `json:"tasks"`
	Notify    []NotifyList `json:"notify"`
	Targets   Targets      `json:"targets"`
	// Communications are the plan's templates, as applied.
	Communications []PlanTemplate `json:"communications,omitempty"`
	// Opened lists the phases whose checklist was created, in order.
	Opened []Phase `json:"opened"`
	// Met holds when each target was met, by target name; FirstAlert
	// when the incident's first alert was first seen.
	Met        map[string]time.Time `json:"met"`
	FirstAlert *time.Time           `json:"first_alert,omitempty"`
}

// The names of the time targets.
const (
	TargetDeclare             = "declare"
	TargetCommand             = "command"
	TargetInformationOfficer  = "information_officer"
	TargetFirstInternalUpdate = "first_internal_update"
	TargetContained           = "contained"
)

// PlanApplied records the plan an incident runs with, the version used,
// and what it asks at the incident's severity. Tasks follow as task.created
// entries, phase by phase.
type PlanApplied struct {
	Name      string       `json:"name"`
	Title     string       `json:"title"`
	SHA256    string       `json:"sha256"`
	Commit    string       `json:"commit,omitempty"`
	Modified  bool         `json:"modified,omitempty"`
	Positions []Position   `json:"positions"`
	Tasks     []PlanTask   `json:"tasks"`
	Notify    []NotifyList `json:"notify"`
	Targets   Targets      `json:"targets"`
	LegalHold bool         `json:"legal_hold,omitempty"`
	// FirstAlert is when the alert the incident was declared from was
	// first seen: the declare target runs from it.
	FirstAlert *time.Time `json:"first_alert,omitempty"`
	// Communications are the plan's templates: the incident keeps the text
	// of the version applied, and which audiences need Command's approval.
	Communications []PlanTemplate `json:"communications,omitempty"`
}

func (*PlanApplied) Type() string { return "plan.applied" }
func (c *PlanApplied) apply(inc *Incident, e *Entry) error {
	if inc.Plan != nil {
		return fmt.Errorf("%s already runs with plan %s", inc.ID, inc.Plan.Name)
	}
	inc.Plan = &IncidentPlan{
		Name: c.Name, Title: c.Title, SHA256: c.SHA256, Commit: c.Commit, Modified: c.Modified, AppliedAt: e.At,
		Positions: nonNilSlice(slices.Clone(c.Positions)), Tasks: nonNilSlice(slices.Clone(c.Tasks)),
		Notify: nonNilSlice(slices.Clone(c.Notify)), Targets: c.Targets, Opened: []Phase{}, Met: map[string]time.Time{},
		Communications: slices.Clone(c.Communications),
	}
	if inc.Command != DispatchUser {
		inc.Plan.Met[TargetCommand] = inc.DeclaredAt
	}
	if c.FirstAlert != nil {
		// An alert first seen "after" its declaration is a clock of
		// another replica ahead of this one's: it was seen at once.
		at := c.FirstAlert.UTC()
		if at.After(inc.DeclaredAt) {
			at = inc.DeclaredAt
		}
		inc.Plan.FirstAlert = &at
		inc.Plan.Met[TargetDeclare] = inc.DeclaredAt
	}
	if c.LegalHold {
		inc.LegalHold = true
	}
	return nil
}

// ChecklistOpened records that the plan's checklist of Phase was created:
// the task.created entries that follow are its tasks.
type ChecklistOpened struct {
	Phase Phase `json:"phase"`
	Tasks int   `json:"tasks"`
}

func (*ChecklistOpened) Type() string { return "plan.checklist_opened" }
func (c *ChecklistOpened) apply(inc *Incident, _ *Entry) error {
	if inc.Plan == nil {
		return fmt.Errorf("%s runs with no plan", inc.ID)
	}
	if slices.Contains(inc.Plan.Opened, c.Phase) {
		return fmt.Errorf("the checklist of %s is already open", c.Phase)
	}
	inc.Plan.Opened = append(inc.Plan.Opened, c.Phase)
	return nil
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// planFor returns the plan for kind, nil without plans or without one for
// kind.
func (s *Service) planFor(kind string) *PlanSpec {
	if s.Plans == nil {
		return nil
	}
	return s.Plans.PlanFor(kind)
}

// planDefaults fills what a declaration leaves open from the plan of its
// kind, and returns that plan (nil when there is none).
func (s *Service) planDefaults(in *DeclareInput) *PlanSpec {
	spec := s.planFor(in.Kind)
	if spec == nil {
		return nil
	}
	if in.Severity == 0 && spec.Severity >= 1 && spec.Severity <= MaxSeverity {
		in.Severity = spec.Severity
	}
	if spec.Confidential {
		in.Confidential = true
	}
	return spec
}

// applyPlan records the plan on a just-declared incident and opens the
// checklist of its first phase. The plan's lists are cut to what the
// incident's severity asks: a role staffed at severity 1 is no open position
// on a severity 3 incident. firstAlert, when the incident is declared from an
// alert, is when that alert was first seen: the declare target is measured
// from the declaration on, not only once the alert is attached.
func applyPlan(a *appender, spec *PlanSpec, firstAlert time.Time) error {
	if spec == nil {
		return nil
	}
	sev := a.inc.Severity
	c := &PlanApplied{Name: spec.Name, Title: spec.Title, SHA256: spec.SHA256, Commit: spec.Commit, Modified: spec.Modified,
		Targets: spec.Targets, LegalHold: spec.LegalHold, Positions: []Position{}, Tasks: []PlanTask{}, Notify: []NotifyList{},
		Communications: slices.Clone(spec.Communications)}
	if !firstAlert.IsZero() {
		at := firstAlert.UTC()
		c.FirstAlert = &at
	}
	for _, p := range spec.Positions {
		if sev <= p.Severity && p.Role != RoleCommand {
			c.Positions = append(c.Positions, p)
		}
	}
	for _, t := range spec.Tasks {
		if sev <= t.Severity && t.Phase != PhaseClosed && t.Phase.Index() >= 0 {
			c.Tasks = append(c.Tasks, t)
		}
	}
	for _, n := range spec.Notify {
		if sev <= n.Severity {
			c.Notify = append(c.Notify, n)
		}
	}
	if err := a.add(c); err != nil {
		return fmt.Errorf("apply plan %s: %w", spec.Name, err)
	}
	return openChecklist(a)
}

// openChecklist creates the plan's tasks for the phase the incident is in,
// the first time it is in that phase; going back to a phase does not repeat
// its checklist (its tasks are still there to reopen). It does nothing for an
// incident without a plan.
func openChecklist(a *appender) error {
	inc := a.inc
	if inc.Plan == nil || inc.Phase == PhaseClosed || slices.Contains(inc.Plan.Opened, inc.Phase) {
		return nil
	}
	var tasks []PlanTask
	for _, t := range inc.Plan.Tasks {
		if t.Phase == inc.Phase {
			tasks = append(tasks, t)
		}
	}
	if err := a.add(&ChecklistOpened{Phase: inc.Phase, Tasks: len(tasks)}); err != nil {
		return err
	}
	for _, t := range tasks {
		assignee := ""
		if t.Assignee != "" && inc.CheckedIn(t.Assignee) {
			assignee = t.Assignee
		}
		if err := a.add(&TaskCreated{ID: len(inc.Tasks) + 1, Title: t.Title, Section: t.Section, Assignee: assignee}); err != nil {
			return fmt.Errorf("plan %s, %s checklist: %w", inc.Plan.Name, inc.Phase, err)
		}
	}
	return nil
}

// trackTargets notes, as each entry is applied, the moments the plan's time
// targets are met. It runs for every entry (see Apply) and does nothing for
// an incident without a plan.
func trackTargets(inc *Incident, c Change, e *Entry) {
	p := inc.Plan
	if p == nil {
		return
	}
	met := func(target string) {
		if _, ok := p.Met[target]; !ok {
			p.Met[target] = e.At
		}
	}
	switch c := c.(type) {
	case *CommandTransferred:
		if c.To != DispatchUser {
			met(TargetCommand)
		}
	case *RoleAssigned:
		if c.Role == RoleInformation {
			met(TargetInformationOfficer)
		}
	case *Published:
		if !IsExternalAudience(c.Audience) {
			met(TargetFirstInternalUpdate)
		}
	case *PhaseChanged:
		if c.To.Index() > PhaseContainment.Index() && c.To != PhaseClosed {
			met(TargetContained)
		}
	case *AlertAttached:
		if !c.FirstSeen.IsZero() && !c.FirstSeen.After(inc.DeclaredAt) && (p.FirstAlert == nil || c.FirstSeen.Before(*p.FirstAlert)) {
			at := c.FirstSeen.UTC()
			p.FirstAlert = &at
			p.Met[TargetDeclare] = inc.DeclaredAt
		}
	}
}

// Target states.
const (
	TargetMet     = "met"     // met within the target
	TargetMissed  = "missed"  // met, but late
	TargetPending = "pending" // not met yet, still within the target
	TargetOverdue = "overdue" // not met, and the target has passed
)

// TargetStatus is how an incident does against one of its plan's targets.
type TargetStatus struct {
	Name   string     `json:"name"`
	Target int64      `json:"target"` // seconds
	From   time.Time  `json:"from"`
	Due    time.Time  `json:"due"`
	MetAt  *time.Time `json:"met_at,omitempty"`
	State  string     `json:"state"`
}

// TargetStatus tells how the incident does against its plan's targets at
// now, in the order the plan format lists them. The declare target counts
// only when the incident has an alert first seen before its declaration.
// Targets still open when the incident closed are overdue from then on.
func (inc *Incident) TargetStatus(now time.Time) []TargetStatus {
	p := inc.Plan
	if p == nil {
		return nil
	}
	if inc.ClosedAt != nil && now.After(*inc.ClosedAt) {
		now = *inc.ClosedAt
	}
	var out []TargetStatus
	add := func(name string, secs int64, from time.Time) {
		if secs <= 0 {
			return
		}
		s := TargetStatus{Name: name, Target: secs, From: from, Due: from.Add(time.Duration(secs) * time.Second)}
		if at, ok := p.Met[name]; ok {
			at := at
			s.MetAt = &at
			s.State = TargetMet
			if at.After(s.Due) {
				s.State = TargetMissed
			}
		} else if now.After(s.Due) {
			s.State = TargetOverdue
		} else {
			s.State = TargetPending
		}
		out = append(out, s)
	}
	if p.FirstAlert != nil {
		add(TargetDeclare, p.Targets.Declare, *p.FirstAlert)
	}
	add(TargetCommand, p.Targets.Command, inc.DeclaredAt)
	add(TargetInformationOfficer, p.Targets.InformationOfficer, inc.DeclaredAt)
	add(TargetFirstInternalUpdate, p.Targets.FirstInternalUpdate, inc.DeclaredAt)
	add(TargetContained, p.Targets.Contained, inc.DeclaredAt)
	return out
}

// OpenPositions returns the plan's positions no one has been given yet:
// Command still holds them.
func (inc *Incident) OpenPositions() []Position {
	if inc.Plan == nil {
		return nil
	}
	var out []Position
	for _, p := range inc.Plan.Positions {
		if inc.delegate(p.Role) == "" {
			out = append(out, p)
		}
	}
	return out
}

// version is the plan version's short form: sha256:1a2b3c4d5e6f, with the
// git commit when there is one.
func (c *PlanApplied) version() string {
	s := "sha256:" + clip12(c.SHA256)
	if c.Commit != "" {
		s += " git " + clip12(c.Commit)
		if c.Modified {
			s += " modified"
		}
	}
	return s
}

func clip12(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func (c *PlanApplied) describe() string {
	var roles []string
	for _, p := range c.Positions {
		roles = append(roles, p.Role)
	}
	staff := "none"
	if len(roles) > 0 {
		staff = strings.Join(roles, ", ")
	}
	s := fmt.Sprintf("plan %s applied (%s); positions to staff: %s; %d checklist task%s", c.Name, c.version(), staff, len(c.Tasks), plural(len(c.Tasks)))
	if c.LegalHold {
		s += "; LEGAL HOLD placed"
	}
	return s
}

func (c *ChecklistOpened) describe() string {
	return fmt.Sprintf("plan checklist for %s: %d task%s", c.Phase, c.Tasks, plural(c.Tasks))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
