package sitrep

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// The changes an incident's timeline records. Each type's apply is the one
// place its effect on the state is written; the rules that allow it are in
// rules.go.

func init() {
	register(
		func() Change { return &Declared{} },
		func() Change { return &Edited{} },
		func() Change { return &CheckedIn{} },
		func() Change { return &CheckedOut{} },
		func() Change { return &MemberNamed{} },
		func() Change { return &RoleAssigned{} },
		func() Change { return &RoleUnassigned{} },
		func() Change { return &CommandOffered{} },
		func() Change { return &CommandOfferWithdrawn{} },
		func() Change { return &CommandTransferred{} },
		func() Change { return &TransferAcknowledged{} },
		func() Change { return &TaskCreated{} },
		func() Change { return &TaskAssigned{} },
		func() Change { return &TaskStatusChanged{} },
		func() Change { return &NoteAdded{} },
		func() Change { return &Published{} },
		func() Change { return &AssetLinked{} },
		func() Change { return &AssetUnlinked{} },
		func() Change { return &PhaseChanged{} },
		func() Change { return &ReportEdited{} },
		func() Change { return &Refused{} },
		func() Change { return &AlertAttached{} },
		func() Change { return &PlanApplied{} },
		func() Change { return &ChecklistOpened{} },
		func() Change { return &ExerciseStarted{} },
		func() Change { return &ExerciseInjected{} },
		func() Change { return &ExerciseEnded{} },
	)
}

// Declared opens the incident; the declarer is Command and checked in.
type Declared struct {
	Title        string `json:"title"`
	Kind         string `json:"kind"`
	Severity     int    `json:"severity"`
	Confidential bool   `json:"confidential,omitempty"`
	Exercise     bool   `json:"exercise,omitempty"`
	// GroupKey and Rule are set when a dispatch rule declared the incident:
	// alerts with the same group key are attached to it while it is open.
	GroupKey string `json:"group_key,omitempty"`
	Rule     string `json:"rule,omitempty"`
	// FromAlert is the alert the incident was declared from
	// (DeclareFromAlert), 0 for none: the repair of an alert left
	// declared without an incident by a crash finds its incident by it.
	FromAlert int64 `json:"from_alert,omitempty"`
}

func (*Declared) Type() string { return "incident.declared" }
func (c *Declared) apply(inc *Incident, e *Entry) error {
	if e.Seq != 1 {
		return fmt.Errorf("declaration must be the first entry")
	}
	*inc = Incident{
		ID: e.IncidentID, Title: c.Title, Kind: c.Kind, Severity: c.Severity,
		Phase: PhaseIdentification, Confidential: c.Confidential, Exercise: c.Exercise,
		GroupKey: c.GroupKey, Rule: c.Rule, FromAlert: c.FromAlert,
		DeclaredAt: e.At, DeclaredBy: e.Actor, Command: e.Actor, PhaseChangedAt: e.At,
		Roles: []RoleHolder{}, Resources: []Resource{}, Members: []string{}, Tasks: []Task{},
		Assets: []Asset{}, Communications: []Communication{}, Report: ReportFields{FollowUps: []FollowUp{}},
		Alerts: []AttachedAlert{},
	}
	checkIn(inc, e.Actor, e.At)
	return nil
}

// Edited changes the incident's descriptive fields; nil fields are unchanged.
type Edited struct {
	Title        *string `json:"title,omitempty"`
	Kind         *string `json:"kind,omitempty"`
	Severity     *int    `json:"severity,omitempty"`
	Confidential *bool   `json:"confidential,omitempty"`
	LegalHold    *bool   `json:"legal_hold,omitempty"`
	Reason       string  `json:"reason,omitempty"`
}

func (*Edited) Type() string { return "incident.edited" }
func (c *Edited) apply(inc *Incident, _ *Entry) error {
	if c.Title != nil {
		inc.Title = *c.Title
	}
	if c.Kind != nil {
		inc.Kind = *c.Kind
	}
	if c.Severity != nil {
		inc.Severity = *c.Severity
	}
	if c.Confidential != nil {
		inc.Confidential = *c.Confidential
	}
	if c.LegalHold != nil {
		inc.LegalHold = *c.LegalHold
	}
	return nil
}

// CheckedIn records that the actor is on scene.
type CheckedIn struct{}

func (*CheckedIn) Type() string                          { return "resource.checked_in" }
func (c *CheckedIn) apply(inc *Incident, e *Entry) error { checkIn(inc, e.Actor, e.At); return nil }

func checkIn(inc *Incident, user string, at time.Time) {
	r := inc.resource(user)
	if r == nil {
		inc.Resources = append(inc.Resources, Resource{User: user, FirstCheckIn: at})
		r = &inc.Resources[len(inc.Resources)-1]
	}
	r.CheckedIn = true
	since := at
	r.Since = &since
}

// checkOut takes r off scene at at and adds the check-in to its time on shift.
func checkOut(r *Resource, at time.Time) {
	r.CheckedIn = false
	r.LastCheckOut = &at
	if r.Since != nil {
		r.ShiftSeconds += int64(at.Sub(*r.Since) / time.Second)
	}
	r.Since = nil
}

// CheckedOut records that User was released (demobilised). The roles they
// held return to Command and their open tasks to their section.
type CheckedOut struct {
	User          string   `json:"user"`
	ReleasedRoles []string `json:"released_roles,omitempty"`
	Unassigned    []int    `json:"unassigned_tasks,omitempty"`
}

func (*CheckedOut) Type() string { return "resource.checked_out" }
func (c *CheckedOut) apply(inc *Incident, e *Entry) error {
	r := inc.resource(c.User)
	if r == nil || !r.CheckedIn {
		return fmt.Errorf("%s is not checked in", c.User)
	}
	checkOut(r, e.At)
	for _, role := range c.ReleasedRoles {
		removeRole(inc, role)
	}
	for _, id := range c.Unassigned {
		if t := inc.task(id); t != nil {
			t.Assignee = ""
		}
	}
	if inc.Transfer != nil && inc.Transfer.To == c.User {
		inc.Transfer = nil
	}
	if a := inc.Announcement; a != nil {
		a.Pending = slices.DeleteFunc(a.Pending, func(u string) bool { return u == c.User })
		completeIfAcked(a, e.At)
	}
	return nil
}

// MemberNamed names User on the incident, which lets them see it while it is
// confidential.
type MemberNamed struct {
	User string `json:"user"`
}

func (*MemberNamed) Type() string { return "member.named" }
func (c *MemberNamed) apply(inc *Incident, _ *Entry) error {
	if !slices.Contains(inc.Members, c.User) {
		inc.Members = append(inc.Members, c.User)
		sort.Strings(inc.Members)
	}
	return nil
}

// RoleAssigned delegates Role to User.
type RoleAssigned struct {
	Role string `json:"role"`
	User string `json:"user"`
}

func (*RoleAssigned) Type() string { return "role.assigned" }
func (c *RoleAssigned) apply(inc *Incident, e *Entry) error {
	removeRole(inc, c.Role)
	inc.Roles = append(inc.Roles, RoleHolder{Role: c.Role, User: c.User, Since: e.At})
	sort.Slice(inc.Roles, func(i, j int) bool { return inc.Roles[i].Role < inc.Roles[j].Role })
	return nil
}

// RoleUnassigned returns Role, held by User, to Command.
type RoleUnassigned struct {
	Role string `json:"role"`
	User string `json:"user"`
}

func (*RoleUnassigned) Type() string                          { return "role.unassigned" }
func (c *RoleUnassigned) apply(inc *Incident, _ *Entry) error { removeRole(inc, c.Role); return nil }

func removeRole(inc *Incident, role string) {
	inc.Roles = slices.DeleteFunc(inc.Roles, func(r RoleHolder) bool { return r.Role == role })
}

// CommandOffered offers command to To with a briefing.
type CommandOffered struct {
	To       string `json:"to"`
	Briefing string `json:"briefing"`
}

func (*CommandOffered) Type() string { return "command.offered" }
func (c *CommandOffered) apply(inc *Incident, e *Entry) error {
	inc.Transfer = &TransferOffer{From: e.Actor, To: c.To, Briefing: c.Briefing, At: e.At}
	return nil
}

// CommandOfferWithdrawn withdraws a pending offer of command.
type CommandOfferWithdrawn struct {
	To     string `json:"to"`
	Reason string `json:"reason,omitempty"`
}

func (*CommandOfferWithdrawn) Type() string                          { return "command.offer_withdrawn" }
func (c *CommandOfferWithdrawn) apply(inc *Incident, _ *Entry) error { inc.Transfer = nil; return nil }

// CommandTransferred makes the accepting person Command. MustAck lists the
// checked-in resources who must acknowledge the announcement.
type CommandTransferred struct {
	From     string   `json:"from"`
	To       string   `json:"to"`
	Briefing string   `json:"briefing"`
	MustAck  []string `json:"must_ack"`
}

func (*CommandTransferred) Type() string { return "command.transferred" }
func (c *CommandTransferred) apply(inc *Incident, e *Entry) error {
	inc.Command = c.To
	inc.Transfer = nil
	// The new Commander no longer holds delegated roles separately: they
	// hold every role that is not delegated to someone else anyway.
	inc.Roles = slices.DeleteFunc(inc.Roles, func(r RoleHolder) bool { return r.User == c.To })
	a := &Announcement{Seq: e.Seq, From: c.From, To: c.To, At: e.At, Briefing: c.Briefing, Acks: []Ack{}, Pending: slices.Clone(c.MustAck)}
	if a.Pending == nil {
		a.Pending = []string{}
	}
	completeIfAcked(a, e.At)
	inc.Announcement = a
	return nil
}

// TransferAcknowledged records the actor's acknowledgement of the latest
// transfer of command.
type TransferAcknowledged struct {
	Seq int64 `json:"seq"`
}

func (*TransferAcknowledged) Type() string { return "command.acknowledged" }
func (c *TransferAcknowledged) apply(inc *Incident, e *Entry) error {
	a := inc.Announcement
	if a == nil || a.Seq != c.Seq {
		return fmt.Errorf("no announcement %d to acknowledge", c.Seq)
	}
	a.Pending = slices.DeleteFunc(a.Pending, func(u string) bool { return u == e.Actor })
	a.Acks = append(a.Acks, Ack{User: e.Actor, At: e.At})
	completeIfAcked(a, e.At)
	return nil
}

func completeIfAcked(a *Announcement, at time.Time) {
	if len(a.Pending) == 0 && a.Complete == nil {
		t := at
		a.Complete = &t
	}
}

// TaskCreated adds task ID to a section.
type TaskCreated struct {
	ID       int    `json:"id"`
	Title    string `json:"title"`
	Section  string `json:"section"`
	Assignee string `json:"assignee,omitempty"`
}

func (*TaskCreated) Type() string { return "task.created" }
func (c *TaskCreated) apply(inc *Incident, e *Entry) error {
	if c.ID != len(inc.Tasks)+1 {
		return fmt.Errorf("task %d created out of order", c.ID)
	}
	inc.Tasks = append(inc.Tasks, Task{ID: c.ID, Title: c.Title, Section: c.Section, Assignee: c.Assignee, Status: TaskOpen, CreatedBy: e.Actor, CreatedAt: e.At})
	return nil
}

// TaskAssigned gives task ID to Assignee ("" returns it to the section).
type TaskAssigned struct {
	ID       int    `json:"id"`
	Assignee string `json:"assignee"`
}

func (*TaskAssigned) Type() string { return "task.assigned" }
func (c *TaskAssigned) apply(inc *Incident, _ *Entry) error {
	t := inc.task(c.ID)
	if t == nil {
		return fmt.Errorf("no task %d", c.ID)
	}
	t.Assignee = c.Assignee
	return nil
}

// TaskStatusChanged sets task ID's status.
type TaskStatusChanged struct {
	ID     int    `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func (*TaskStatusChanged) Type() string { return "task.status_changed" }
func (c *TaskStatusChanged) apply(inc *Incident, e *Entry) error {
	t := inc.task(c.ID)
	if t == nil {
		return fmt.Errorf("no task %d", c.ID)
	}
	t.Status = c.Status
	if c.Status == TaskDone {
		at := e.At
		t.DoneAt = &at
	} else {
		t.DoneAt = nil
	}
	return nil
}

// NoteAdded is free text on the timeline.
type NoteAdded struct {
	Text string `json:"text"`
}

func (*NoteAdded) Type() string                  { return "note.added" }
func (*NoteAdded) apply(*Incident, *Entry) error { return nil }

// Published is a communication to an audience.
type Published struct {
	Audience string `json:"audience"`
	Text     string `json:"text"`
}

func (*Published) Type() string { return "communication.published" }
func (c *Published) apply(inc *Incident, e *Entry) error {
	inc.Communications = append(inc.Communications, Communication{Seq: e.Seq, Audience: c.Audience, Text: c.Text, By: e.Actor, At: e.At, Exercise: inc.Exercise})
	return nil
}

// AssetLinked links an asset to the incident.
type AssetLinked struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

func (*AssetLinked) Type() string { return "asset.linked" }
func (c *AssetLinked) apply(inc *Incident, e *Entry) error {
	inc.Assets = append(inc.Assets, Asset{Kind: c.Kind, Name: c.Name, LinkedBy: e.Actor, LinkedAt: e.At})
	return nil
}

// AssetUnlinked removes an asset linked in error. Refused under legal hold.
type AssetUnlinked struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

func (*AssetUnlinked) Type() string { return "asset.unlinked" }
func (c *AssetUnlinked) apply(inc *Incident, _ *Entry) error {
	inc.Assets = slices.DeleteFunc(inc.Assets, func(a Asset) bool { return a.Kind == c.Kind && a.Name == c.Name })
	return nil
}

// PhaseChanged moves the incident to another phase.
type PhaseChanged struct {
	From     Phase  `json:"from"`
	To       Phase  `json:"to"`
	Reason   string `json:"reason"`
	Backward bool   `json:"backward,omitempty"`
}

func (*PhaseChanged) Type() string { return "phase.changed" }
func (c *PhaseChanged) apply(inc *Incident, e *Entry) error {
	inc.Phase = c.To
	inc.PhaseChangedAt = e.At
	switch {
	case c.To == PhaseClosed:
		// Closing demobilises everyone on scene, keeping their time on
		// shift; delegated roles return to Command and no one is left to
		// acknowledge anything.
		at := e.At
		inc.ClosedAt = &at
		inc.Transfer = nil
		inc.Roles = []RoleHolder{}
		if a := inc.Announcement; a != nil {
			a.Pending = []string{}
			completeIfAcked(a, at)
		}
		for i := range inc.Resources {
			if inc.Resources[i].CheckedIn {
				checkOut(&inc.Resources[i], at)
			}
		}
	case c.From == PhaseClosed:
		// Reopening puts Command back on scene.
		inc.ClosedAt = nil
		checkIn(inc, inc.Command, e.At)
	}
	return nil
}

// ReportEdited sets post-mortem fields; nil fields are unchanged.
type ReportEdited struct {
	Narrative        *string     `json:"narrative,omitempty"`
	WhatWorked       *string     `json:"what_worked,omitempty"`
	NeedsImprovement *string     `json:"needs_improvement,omitempty"`
	FollowUps        *[]FollowUp `json:"follow_ups,omitempty"`
}

func (*ReportEdited) Type() string { return "report.edited" }
func (c *ReportEdited) apply(inc *Incident, _ *Entry) error {
	r := &inc.Report
	if c.Narrative != nil {
		r.Narrative = *c.Narrative
	}
	if c.WhatWorked != nil {
		r.WhatWorked = *c.WhatWorked
	}
	if c.NeedsImprovement != nil {
		r.NeedsImprovement = *c.NeedsImprovement
	}
	if c.FollowUps != nil {
		r.FollowUps = slices.Clone(*c.FollowUps)
		if r.FollowUps == nil {
			r.FollowUps = []FollowUp{}
		}
	}
	return nil
}

// Refused records a request an ICS rule refused: the record shows freelancing
// attempts, and rehearsals score them.
type Refused struct {
	Rule    string `json:"rule"`
	Action  string `json:"action"`
	Message string `json:"message"`
}

func (*Refused) Type() string                  { return "rule.refused" }
func (*Refused) apply(*Incident, *Entry) error { return nil }

// AlertAttached links an alert to the incident: once per alert, however
// often it repeats; its running count lives with the alert.
type AlertAttached struct {
	AlertID  int64  `json:"alert_id"`
	Source   string `json:"source"`
	DedupKey string `json:"dedup_key"`
	Summary  string `json:"summary"`
	Severity int    `json:"severity"`
	Count    int64  `json:"count"`
	// FirstSeen is when the alert was first seen: a plan's declare target
	// runs from the first alert.
	FirstSeen time.Time `json:"first_seen,omitzero"`
}

func (*AlertAttached) Type() string { return "alert.attached" }
func (c *AlertAttached) apply(inc *Incident, e *Entry) error {
	inc.AlertCount++
	if len(inc.Alerts) < MaxAlertsInState {
		inc.Alerts = append(inc.Alerts, AttachedAlert{ID: c.AlertID, Source: c.Source, DedupKey: c.DedupKey, Summary: c.Summary, AttachedBy: e.Actor, AttachedAt: e.At})
	}
	return nil
}

// MaxAlertsInState is how many attached alerts an incident's state lists:
// the first ones. A worm on five thousand hosts is five thousand alerts on
// one incident; listing them all in the state would make every later
// change of the incident rewrite them. The timeline has an entry for each,
// AlertCount counts them, and the alert store lists them by incident.
const MaxAlertsInState = 50
