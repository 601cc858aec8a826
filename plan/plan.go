// Package plan reads pre-incident plans: YAML files, kept under version
// control in the plans directory, each preparing the response to a broadly
// defined kind of event (a single malware infection, a complete datacenter
// outage, a federal subpoena…).
//
// A plan names the incident kinds it answers, the severity an incident of
// those kinds starts at, the roles to staff at each severity with the people
// suggested for them, a checklist for each phase, communication templates
// per audience, who to notify, and time targets. The types below are the
// format's reference: each field's doc comment says what the YAML key means.
// docs/plans.md shows the format by example.
//
// Parsing is strict and complete: an unknown key, a value of the wrong
// shape, a phase, role, audience or placeholder that does not exist is a
// Problem with its file, line and column, and every problem of every file is
// reported at once. Load reads a directory into a Set; a Library keeps the
// last good Set of a directory and reloads it when its files change.
package plan

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sitrep-ir/sitrep"
)

// Limits on what a plan may hold. A file or a list past its limit is a
// problem, not a crash and not a slow start.
const (
	MaxFileSize      = 256 << 10 // bytes of one plan file
	MaxPlans         = 200       // plan files in one directory
	MaxKinds         = 32        // kinds one plan answers
	MaxRoles         = 32        // roles one plan staffs
	MaxPeople        = 32        // people suggested for one role, or on one notify list
	MaxItemsPerPhase = 100       // checklist items in one phase
	MaxTemplates     = 50        // communication templates in one plan
	MaxNotifyLists   = 32        // notify lists in one plan
	MaxText          = 20000     // bytes of a description or a template's text
	MaxLine          = 200       // bytes of a title, a task or a team
	MaxTarget        = 30 * 24 * time.Hour
	// maxNodes bounds the YAML nodes a file may expand to, aliases
	// included, so that a few lines of anchors cannot cost gigabytes.
	maxNodes = 100000
)

// Plan is one pre-incident plan: one file of the plans directory.
type Plan struct {
	// Name identifies the plan: its file name without the .yaml or .yml
	// extension, e.g. data-breach for data-breach.yaml. It is recorded on
	// every incident that used the plan.
	Name string `json:"name"`
	// File is the path the plan was read from.
	File string `json:"file"`
	// Version tells exactly which text of the plan was used.
	Version Version `json:"version"`

	// Title is the plan's name for people (key title, required), e.g.
	// "Breach of personal data".
	Title string `json:"title"`
	// Description says which events the plan is for and what matters most
	// in them (key description).
	Description string `json:"description,omitempty"`
	// Kinds are the incident kinds the plan answers (key kinds, required):
	// an incident declared with one of them, by a person or by a dispatch
	// rule, is run with this plan. A kind is answered by one plan only.
	Kinds []string `json:"kinds"`
	// Severity is the severity an incident of these kinds is declared at
	// when none is given (key severity, 1 worst to 4; default 3).
	Severity int `json:"severity"`
	// Confidential declares incidents under this plan confidential: only
	// the people named on them see them (key confidential).
	Confidential bool `json:"confidential,omitempty"`
	// LegalHold places incidents under this plan under legal hold from
	// their declaration: nothing they hold may be deleted (key legal_hold).
	LegalHold bool `json:"legal_hold,omitempty"`

	// Roles are the positions to staff beyond Command (key roles: a map
	// from role name to Role), in the file's order. A role may be an ICS
	// role (information, safety, liaison, operations, planning, logistics,
	// finance) or one the plan adds, such as forensics or legal.
	Roles []Role `json:"roles"`
	// Checklists hold the tasks for each phase (key checklists: a map from
	// phase to a list of Items). The first phase's tasks are created when
	// the incident is declared; each later phase's when the incident first
	// enters it. closed has no checklist: an incident closes with no open
	// task.
	Checklists []Checklist `json:"checklists"`
	// Communications are the templates of statements, each to one
	// audience (key communications).
	Communications []Template `json:"communications"`
	// Notify lists who is told that an incident was declared under this
	// plan (key notify).
	Notify []NotifyList `json:"notify"`
	// Targets are the times the response should meet (key targets).
	Targets Targets `json:"targets"`

	// kindAt is where each kind is written in the file.
	kindAt map[string][2]int
}

// Role is a position the plan staffs when an incident is severe enough. Until
// someone holds it, it is an open position, shown with its suggestions.
type Role struct {
	// Name is the role (the key under roles).
	Name string `json:"name"`
	// Severity: the role is staffed at this severity and worse (key
	// severity; default 4, every incident). A liaison staffed at 1 is
	// staffed only for the worst incidents.
	Severity int `json:"severity"`
	// People are the users suggested for the role, in order of preference
	// (key people).
	People []string `json:"people,omitempty"`
	// Team is who else to call on for it, in words: a team, a rota, a
	// phone number (key team).
	Team string `json:"team,omitempty"`
	// Why says what the role is for in this kind of incident (key why).
	Why string `json:"why,omitempty"`
	// Added is true for a role that is not one of ICS's: the plan adds it.
	Added bool `json:"added,omitempty"`
}

// StaffedAt reports whether the role is staffed at severity sev.
func (r Role) StaffedAt(sev int) bool { return sev <= r.Severity }

// Checklist is the work one phase starts with.
type Checklist struct {
	// Phase is the phase (the key under checklists).
	Phase sitrep.Phase `json:"phase"`
	// Items are the tasks, in order.
	Items []Item `json:"items"`
}

// Item is one task of a checklist.
type Item struct {
	// Task is the task's title (key task, required), at most 200 bytes.
	Task string `json:"task"`
	// Section is the section or role that does the work (key section,
	// required): an ICS section or officer, or a role the plan adds. Its
	// chief assigns it.
	Section string `json:"section"`
	// Assignee is the user the task goes to when they are on scene as the
	// task is created (key assignee); otherwise it waits in its section.
	Assignee string `json:"assignee,omitempty"`
	// Severity: the task is created at this severity and worse (key
	// severity; default 4, every incident).
	Severity int `json:"severity"`
}

// Template is a communication prepared in advance for one audience.
type Template struct {
	// Name identifies the template within the plan (key name, required).
	Name string `json:"name"`
	// Audience is who it is for (key audience, required): responders,
	// internal and executives stay inside the organisation; any other
	// audience (customers, press, regulators, law-enforcement…) is
	// external.
	Audience string `json:"audience"`
	// Phase is when it is typically sent (key phase, optional).
	Phase sitrep.Phase `json:"phase,omitempty"`
	// CommandApproval: statements to the template's audience need
	// Command's authorisation (key command_approval): on incidents run
	// with the plan, what the Information Officer publishes to it, from
	// this template or not, waits as a draft until Command approves it.
	CommandApproval bool `json:"command_approval,omitempty"`
	// Text is the statement (key text, required). {{placeholders}} are
	// filled in from the incident; see Placeholders.
	Text string `json:"text"`
}

// External reports whether the template's audience is outside the
// organisation.
func (t Template) External() bool { return sitrep.IsExternalAudience(t.Audience) }

// NotifyList is who to tell when an incident is declared under the plan.
type NotifyList struct {
	// Audience is the kind of message they get (key audience, required).
	Audience string `json:"audience"`
	// Severity: the list is used at this severity and worse (key severity;
	// default 4, every incident).
	Severity int `json:"severity"`
	// To are users and e-mail addresses (key to, required).
	To []string `json:"to"`
}

// Targets are the times the response should meet, each measured from the
// declaration except Declare. A zero target is not set.
type Targets struct {
	// Declare: from the first alert to the declaration (key declare).
	Declare time.Duration `json:"declare,omitempty"`
	// Command: from the declaration until a person holds command; an
	// incident declared by a person meets it at once, one declared by a
	// dispatch rule when a responder accepts command (key command).
	Command time.Duration `json:"command,omitempty"`
	// InformationOfficer: until an Information Officer is named (key
	// information_officer).
	InformationOfficer time.Duration `json:"information_officer,omitempty"`
	// FirstInternalUpdate: until the first communication to an internal
	// audience (key first_internal_update).
	FirstInternalUpdate time.Duration `json:"first_internal_update,omitempty"`
	// Contained: until the incident moves past containment, into
	// eradication or a later phase (key contained).
	Contained time.Duration `json:"contained,omitempty"`
}

// targetsJSON is Targets in JSON: durations as written in plans, such as
// "30m" or "1h30m", and left out when not set.
type targetsJSON struct {
	Declare             string `json:"declare,omitempty"`
	Command             string `json:"command,omitempty"`
	InformationOfficer  string `json:"information_officer,omitempty"`
	FirstInternalUpdate string `json:"first_internal_update,omitempty"`
	Contained           string `json:"contained,omitempty"`
}

// MarshalJSON writes the targets as durations people read, as in the plan.
func (t Targets) MarshalJSON() ([]byte, error) {
	return json.Marshal(targetsJSON{
		Declare: FormatDuration(t.Declare), Command: FormatDuration(t.Command), InformationOfficer: FormatDuration(t.InformationOfficer),
		FirstInternalUpdate: FormatDuration(t.FirstInternalUpdate), Contained: FormatDuration(t.Contained),
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *Targets) UnmarshalJSON(b []byte) error {
	var j targetsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var out Targets
	for _, f := range []struct {
		s string
		d *time.Duration
	}{{j.Declare, &out.Declare}, {j.Command, &out.Command}, {j.InformationOfficer, &out.InformationOfficer}, {j.FirstInternalUpdate, &out.FirstInternalUpdate}, {j.Contained, &out.Contained}} {
		if f.s == "" {
			continue
		}
		d, err := time.ParseDuration(f.s)
		if err != nil {
			return fmt.Errorf("targets: %w", err)
		}
		*f.d = d
	}
	*t = out
	return nil
}

// FormatDuration writes d as a plan does: 30m, 2h, 1h30m; "" for zero.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Checklist returns the items of phase p, nil when the plan has none.
func (p *Plan) Checklist(phase sitrep.Phase) []Item {
	for _, c := range p.Checklists {
		if c.Phase == phase {
			return c.Items
		}
	}
	return nil
}

// RolesAt returns the roles staffed at severity sev, in the plan's order.
func (p *Plan) RolesAt(sev int) []Role {
	var out []Role
	for _, r := range p.Roles {
		if r.StaffedAt(sev) {
			out = append(out, r)
		}
	}
	return out
}

// Role returns the named role of the plan, or nil.
func (p *Plan) Role(name string) *Role {
	i := slices.IndexFunc(p.Roles, func(r Role) bool { return r.Name == name })
	if i < 0 {
		return nil
	}
	return &p.Roles[i]
}

// Template returns the named template, or nil.
func (p *Plan) Template(name string) *Template {
	i := slices.IndexFunc(p.Communications, func(t Template) bool { return t.Name == name })
	if i < 0 {
		return nil
	}
	return &p.Communications[i]
}

// Version tells which text of a plan was used: the SHA-256 of the file's
// content and, when the plans directory is a git checkout, the commit it was
// at and whether the file differed from it.
type Version struct {
	// SHA256 is the hex SHA-256 of the file's bytes.
	SHA256 string `json:"sha256"`
	// Commit is the checkout's HEAD commit, "" when the directory is not
	// a git checkout or git is not installed.
	Commit string `json:"commit,omitempty"`
	// Modified is true when the file is not as committed: changed, or not
	// in the commit at all. Only meaningful with a Commit.
	Modified bool `json:"modified,omitempty"`
}

// String is the short form people read: sha256:1a2b3c4d5e6f, followed by
// the commit (git 0a1b2c3d4e5f) and "modified" when the file differs from it.
func (v Version) String() string {
	s := "sha256:" + short(v.SHA256)
	if v.Commit != "" {
		s += " (git " + short(v.Commit)
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
