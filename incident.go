package sitrep

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// Phase is where an incident stands in its response.
type Phase string

// The phases, in order.
const (
	PhaseIdentification Phase = "identification"
	PhaseContainment    Phase = "containment"
	PhaseEradication    Phase = "eradication"
	PhaseRecovery       Phase = "recovery"
	PhasePostMortem     Phase = "post-mortem"
	PhaseClosed         Phase = "closed"
)

// Phases lists the phases in order.
var Phases = []Phase{PhaseIdentification, PhaseContainment, PhaseEradication, PhaseRecovery, PhasePostMortem, PhaseClosed}

// Index returns the position of p in Phases, or -1 for an unknown phase.
func (p Phase) Index() int { return slices.Index(Phases, p) }

// The ICS roles sitrep knows by name. Plans and Command may add others.
const (
	RoleCommand     = "command"
	RoleInformation = "information"
	RoleSafety      = "safety"
	RoleLiaison     = "liaison"
	RoleOperations  = "operations"
	RolePlanning    = "planning"
	RoleLogistics   = "logistics"
	RoleFinance     = "finance"
)

// Sections are the ICS general staff, in the order Command usually staffs them.
var Sections = []string{RoleOperations, RolePlanning, RoleLogistics, RoleFinance}

// Officers are the ICS command staff beside Command.
var Officers = []string{RoleInformation, RoleSafety, RoleLiaison}

var roleRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ValidateRole checks the name of a role other than command: one of the known
// roles or a custom one of 1–32 lower-case letters, digits and '-'.
func ValidateRole(role string) error {
	if role == RoleCommand {
		return Invalid("role", "command is not assigned: it passes by transfer of command (offer, then accept)")
	}
	if !roleRE.MatchString(role) {
		return Invalid("role", "role %q is not valid: use a known role (%s, %s) or 1–32 lower-case letters, digits and '-'", clip(role, 40), joinList(Officers), joinList(Sections))
	}
	return nil
}

// Audiences sitrep knows by name. Anything not known to be internal is treated
// as external, so that a new audience is guarded by default.
var internalAudiences = []string{"responders", "internal", "executives"}

// IsExternalAudience reports whether a communication to audience leaves the
// organisation (ICS rule 7: exercises never reach one).
func IsExternalAudience(audience string) bool { return !slices.Contains(internalAudiences, audience) }

// Asset kinds.
var AssetKinds = []string{"host", "service", "data-store", "customer-set"}

// Task statuses.
const (
	TaskOpen      = "open"
	TaskDone      = "done"
	TaskCancelled = "cancelled"
)

// Incident is an incident's current state. It is derived from the incident's
// timeline (see Apply) and stored beside it as a projection in the same
// transaction; Verify checks that the two agree.
type Incident struct {
	ID             string          `json:"id"`
	Title          string          `json:"title"`
	Kind           string          `json:"kind"`
	Severity       int             `json:"severity"`
	Phase          Phase           `json:"phase"`
	Exercise       bool            `json:"exercise"`
	Confidential   bool            `json:"confidential"`
	LegalHold      bool            `json:"legal_hold"`
	GroupKey       string          `json:"group_key,omitempty"`
	Rule           string          `json:"rule,omitempty"`
	FromAlert      int64           `json:"from_alert,omitempty"` // the alert it was declared from; 0: none
	DeclaredAt     time.Time       `json:"declared_at"`
	DeclaredBy     string          `json:"declared_by"`
	Command        string          `json:"command"`
	Roles          []RoleHolder    `json:"roles"`
	Resources      []Resource      `json:"resources"`
	Members        []string        `json:"members"`
	Transfer       *TransferOffer  `json:"transfer,omitempty"`
	Announcement   *Announcement   `json:"announcement,omitempty"`
	Tasks          []Task          `json:"tasks"`
	Assets         []Asset         `json:"assets"`
	Communications []Communication `json:"communications"`
	// Drafts are the communications that waited or wait for Command's
	// authorisation (see approval.go).
	Drafts []Draft      `json:"drafts,omitempty"`
	Report ReportFields `json:"report"`
	// Alerts are the first MaxAlertsInState alerts attached; AlertCount
	// counts them all.
	Alerts         []AttachedAlert `json:"alerts"`
	AlertCount     int             `json:"alert_count"`
	Plan           *IncidentPlan   `json:"plan,omitempty"`
	PhaseChangedAt time.Time       `json:"phase_changed_at"`
	ClosedAt       *time.Time      `json:"closed_at,omitempty"`
	Seq            int64           `json:"seq"`
	Head           string          `json:"head"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

// RoleHolder is a delegated ICS role and the person holding it.
type RoleHolder struct {
	Role  string    `json:"role"`
	User  string    `json:"user"`
	Since time.Time `json:"since"`
}

// Resource is a person who has checked in to the incident. Check-out keeps
// the record (resources involved, time on shift); CheckedIn says who is on
// scene now.
type Resource struct {
	User         string     `json:"user"`
	CheckedIn    bool       `json:"checked_in"`
	FirstCheckIn time.Time  `json:"first_check_in"`
	Since        *time.Time `json:"since,omitempty"`
	LastCheckOut *time.Time `json:"last_check_out,omitempty"`
	// ShiftSeconds is the time on shift of finished check-ins.
	ShiftSeconds int64 `json:"shift_seconds"`
}

// TransferOffer is a transfer of command that Command has offered and the
// named person has not yet accepted.
type TransferOffer struct {
	From     string    `json:"from"`
	To       string    `json:"to"`
	Briefing string    `json:"briefing"`
	At       time.Time `json:"at"`
}

// Announcement is the latest transfer of command and who has acknowledged it.
type Announcement struct {
	Seq      int64      `json:"seq"`
	From     string     `json:"from"`
	To       string     `json:"to"`
	At       time.Time  `json:"at"`
	Briefing string     `json:"briefing"`
	Acks     []Ack      `json:"acks"`
	Pending  []string   `json:"pending"`
	Complete *time.Time `json:"complete,omitempty"`
}

// Ack is one acknowledgement of an announcement.
type Ack struct {
	User string    `json:"user"`
	At   time.Time `json:"at"`
}

// Task is delegated work in a section.
type Task struct {
	ID        int        `json:"id"`
	Title     string     `json:"title"`
	Section   string     `json:"section"`
	Assignee  string     `json:"assignee,omitempty"`
	Status    string     `json:"status"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
}

// Asset is something involved in the incident.
type Asset struct {
	Kind     string    `json:"kind"`
	Name     string    `json:"name"`
	LinkedBy string    `json:"linked_by"`
	LinkedAt time.Time `json:"linked_at"`
}

// Communication is a published statement to an audience.
type Communication struct {
	Seq      int64     `json:"seq"`
	Audience string    `json:"audience"`
	Text     string    `json:"text"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Exercise bool      `json:"exercise,omitempty"`
}

// AttachedAlert is an alert linked to the incident.
type AttachedAlert struct {
	ID         int64     `json:"id"`
	Source     string    `json:"source"`
	DedupKey   string    `json:"dedup_key"`
	Summary    string    `json:"summary"`
	AttachedBy string    `json:"attached_by"`
	AttachedAt time.Time `json:"attached_at"`
}

// ReportFields are the editable fields of the post mortem.
type ReportFields struct {
	Narrative        string     `json:"narrative"`
	WhatWorked       string     `json:"what_worked"`
	NeedsImprovement string     `json:"needs_improvement"`
	FollowUps        []FollowUp `json:"follow_ups"`
}

// FollowUp is an action the Response Report asks for, with its owner.
type FollowUp struct {
	Action string `json:"action"`
	Owner  string `json:"owner"`
}

// Holder returns who holds role: the person it is delegated to, or Command
// when it is not delegated (ICS rule 2).
func (inc *Incident) Holder(role string) string {
	if role == RoleCommand {
		return inc.Command
	}
	if h := inc.delegate(role); h != "" {
		return h
	}
	return inc.Command
}

// delegate returns the person role is delegated to, or "".
func (inc *Incident) delegate(role string) string {
	for _, r := range inc.Roles {
		if r.Role == role {
			return r.User
		}
	}
	return ""
}

// RolesOf returns the roles user holds, command first.
func (inc *Incident) RolesOf(user string) []string {
	var roles []string
	if inc.Command == user {
		roles = append(roles, RoleCommand)
	}
	for _, r := range inc.Roles {
		if r.User == user {
			roles = append(roles, r.Role)
		}
	}
	return roles
}

// resource returns user's resource record, or nil.
func (inc *Incident) resource(user string) *Resource {
	for i := range inc.Resources {
		if inc.Resources[i].User == user {
			return &inc.Resources[i]
		}
	}
	return nil
}

// CheckedIn reports whether user is checked in now.
func (inc *Incident) CheckedIn(user string) bool {
	r := inc.resource(user)
	return r != nil && r.CheckedIn
}

// OnScene lists the users checked in now, in order of first check-in.
func (inc *Incident) OnScene() []string {
	var users []string
	for _, r := range inc.Resources {
		if r.CheckedIn {
			users = append(users, r.User)
		}
	}
	return users
}

// task returns the task with id, or nil.
func (inc *Incident) task(id int) *Task {
	for i := range inc.Tasks {
		if inc.Tasks[i].ID == id {
			return &inc.Tasks[i]
		}
	}
	return nil
}

// Named reports whether user is named on the incident: declared it, holds or
// held a role in it, was checked in, was named by Command, or has a task.
func (inc *Incident) Named(user string) bool {
	if inc.DeclaredBy == user || inc.Command == user || inc.resource(user) != nil || slices.Contains(inc.Members, user) {
		return true
	}
	if len(inc.RolesOf(user)) > 0 {
		return true
	}
	if inc.Transfer != nil && inc.Transfer.To == user {
		return true
	}
	for _, t := range inc.Tasks {
		if t.Assignee == user {
			return true
		}
	}
	return false
}

// VisibleTo reports whether u may see the incident (ICS rule 8): everyone may
// see an ordinary incident; a confidential one only the people named on it
// and administrators.
func (inc *Incident) VisibleTo(u *User) bool {
	return !inc.Confidential || u.IsAdmin() || (u != nil && inc.Named(u.Name))
}

// Open reports whether the incident is not closed.
func (inc *Incident) Open() bool { return inc.Phase != PhaseClosed }

// FormatID returns the incident ID for number in year: IR-2026-0042.
func FormatID(year, number int) string { return fmt.Sprintf("IR-%04d-%04d", year, number) }

var idRE = regexp.MustCompile(`^IR-[0-9]{4}-[0-9]{4,9}$`)

// ValidateID checks the form of an incident ID.
func ValidateID(id string) error {
	if !idRE.MatchString(id) {
		return &Error{Kind: ENotFound, Field: "id", Message: fmt.Sprintf("incident %q not found: incident IDs look like IR-2026-0042", clip(id, 40))}
	}
	return nil
}

func joinList(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}
