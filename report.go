package sitrep

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Report is the post mortem: the Incident Report and the Response Report,
// with the same fields every time (consistency is key).
type Report struct {
	Incident IncidentReport `json:"incident_report"`
	Response ResponseReport `json:"response_report"`
	// Missing lists the fields still empty; the incident cannot close until
	// it is empty.
	Missing []string `json:"missing"`
}

// IncidentReport says what happened.
type IncidentReport struct {
	IncidentID string     `json:"incident_id"`
	Title      string     `json:"title"`
	Date       time.Time  `json:"date"`
	ClosedAt   *time.Time `json:"closed_at,omitempty"`
	Type       string     `json:"type"`
	Severity   int        `json:"severity"`
	Exercise   bool       `json:"exercise,omitempty"`
	Assets     []Asset    `json:"assets"`
	Resources  []Resource `json:"resources"`
	Narrative  string     `json:"narrative"`
	// NarrativeDraft is drafted from the timeline, for Command to edit.
	NarrativeDraft string `json:"narrative_draft"`
}

// ResponseReport says how the response went.
type ResponseReport struct {
	IncidentID       string     `json:"incident_id"`
	WhatWorked       string     `json:"what_worked"`
	NeedsImprovement string     `json:"needs_improvement"`
	FollowUps        []FollowUp `json:"follow_ups"`
}

// Report returns the incident's post mortem as it stands.
func (s *Service) Report(ctx context.Context, actor *User, id string) (*Report, error) {
	inc, err := s.Incident(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	draft, err := s.draftNarrative(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	return &Report{
		Incident: IncidentReport{
			IncidentID: inc.ID, Title: inc.Title, Date: inc.DeclaredAt, ClosedAt: inc.ClosedAt, Type: inc.Kind,
			Severity: inc.Severity, Exercise: inc.Exercise, Assets: inc.Assets, Resources: inc.Resources,
			Narrative: inc.Report.Narrative, NarrativeDraft: draft,
		},
		Response: ResponseReport{
			IncidentID: inc.ID, WhatWorked: inc.Report.WhatWorked, NeedsImprovement: inc.Report.NeedsImprovement,
			FollowUps: inc.Report.FollowUps,
		},
		Missing: append([]string{}, inc.ReportMissing()...),
	}, nil
}

// draftNarrative tells the story of the incident from its timeline: when it
// was declared, how command passed, the phases, the communications and the
// notes. Command edits it into the narrative.
func (s *Service) draftNarrative(ctx context.Context, actor *User, id string) (string, error) {
	if _, err := s.Incident(ctx, actor, id); err != nil {
		return "", err
	}
	var b strings.Builder
	err := s.Store.EachEntry(ctx, id, func(e *Entry) error {
		if line := narrate(e); line != "" {
			fmt.Fprintf(&b, "- %s %s\n", e.At.Format("2006-01-02 15:04 MST"), line)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("draft narrative of %s: %w", id, err)
	}
	return b.String(), nil
}

// narrate returns the line of the narrative an entry contributes, or "".
func narrate(e *Entry) string {
	c, err := DecodeChange(e)
	if err != nil {
		return ""
	}
	switch c := c.(type) {
	case *Declared:
		return fmt.Sprintf("%s declared the incident (%q, %s, severity %d) and took command.", e.Actor, c.Title, c.Kind, c.Severity)
	case *CommandTransferred:
		return fmt.Sprintf("Command passed from %s to %s.", c.From, c.To)
	case *PhaseChanged:
		return fmt.Sprintf("Phase %s → %s: %s", c.From, c.To, c.Reason)
	case *RoleAssigned:
		return fmt.Sprintf("%s became %s.", c.User, c.Role)
	case *Published:
		return fmt.Sprintf("%s told %s: %s", e.Actor, c.Audience, c.Text)
	case *AssetLinked:
		return fmt.Sprintf("%s %s found involved.", c.Kind, c.Name)
	case *AlertAttached:
		return fmt.Sprintf("Alert from %s: %s", c.Source, c.Summary)
	case *PlanApplied:
		return fmt.Sprintf("The response followed the plan %q (%s, version %s).", c.Title, c.Name, c.version())
	case *NoteAdded:
		return fmt.Sprintf("%s: %s", e.Actor, c.Text)
	}
	return ""
}

// Describe returns a one-line human description of an entry, for timelines.
func Describe(e *Entry) string {
	c, err := DecodeChange(e)
	if err != nil {
		return e.Type
	}
	switch c := c.(type) {
	case *Declared:
		return fmt.Sprintf("declared %q (kind %s, severity %d)%s%s; %s is Command", c.Title, c.Kind, c.Severity, flag(c.Confidential, ", confidential"), flag(c.Exercise, ", EXERCISE"), e.Actor)
	case *Edited:
		var parts []string
		if c.Title != nil {
			parts = append(parts, fmt.Sprintf("title %q", *c.Title))
		}
		if c.Kind != nil {
			parts = append(parts, "kind "+*c.Kind)
		}
		if c.Severity != nil {
			parts = append(parts, fmt.Sprintf("severity %d", *c.Severity))
		}
		if c.Confidential != nil {
			parts = append(parts, fmt.Sprintf("confidential %t", *c.Confidential))
		}
		if c.LegalHold != nil {
			parts = append(parts, fmt.Sprintf("legal hold %t", *c.LegalHold))
		}
		return "set " + strings.Join(parts, ", ") + reason(c.Reason)
	case *CheckedIn:
		return "checked in"
	case *CheckedOut:
		s := c.User + " checked out"
		if len(c.ReleasedRoles) > 0 {
			s += "; roles back to Command: " + strings.Join(c.ReleasedRoles, ", ")
		}
		return s
	case *MemberNamed:
		return "named " + c.User + " on the incident"
	case *RoleAssigned:
		return fmt.Sprintf("assigned %s to %s", c.Role, c.User)
	case *RoleUnassigned:
		return fmt.Sprintf("removed %s from %s; Command holds it", c.Role, c.User)
	case *CommandOffered:
		return fmt.Sprintf("offered command to %s; briefing: %s", c.To, c.Briefing)
	case *CommandOfferWithdrawn:
		return fmt.Sprintf("withdrew the offer of command to %s%s", c.To, reason(c.Reason))
	case *CommandTransferred:
		return fmt.Sprintf("TRANSFER OF COMMAND: %s is Command (was %s); to acknowledge: %s", c.To, c.From, orNone(c.MustAck))
	case *TransferAcknowledged:
		return "acknowledged the transfer of command"
	case *TaskCreated:
		s := fmt.Sprintf("task %d in %s: %s", c.ID, c.Section, c.Title)
		if c.Assignee != "" {
			s += " → " + c.Assignee
		}
		return s
	case *TaskAssigned:
		if c.Assignee == "" {
			return fmt.Sprintf("task %d returned to its section", c.ID)
		}
		return fmt.Sprintf("task %d → %s", c.ID, c.Assignee)
	case *TaskStatusChanged:
		return fmt.Sprintf("task %d %s%s", c.ID, c.Status, reason(c.Reason))
	case *NoteAdded:
		return c.Text
	case *Published:
		return fmt.Sprintf("update to %s: %s", c.Audience, c.Text)
	case *AssetLinked:
		return fmt.Sprintf("linked %s %s", c.Kind, c.Name)
	case *AssetUnlinked:
		return fmt.Sprintf("unlinked %s %s%s", c.Kind, c.Name, reason(c.Reason))
	case *PhaseChanged:
		dir := "phase"
		if c.Backward {
			dir = "phase back"
		}
		s := fmt.Sprintf("%s %s → %s%s", dir, c.From, c.To, reason(c.Reason))
		switch {
		case c.To == PhaseClosed:
			s += "; everyone on scene is checked out and roles return to Command"
		case c.From == PhaseClosed:
			s += "; reopened, Command back on scene"
		}
		return s
	case *ReportEdited:
		var f []string
		if c.Narrative != nil {
			f = append(f, "narrative")
		}
		if c.WhatWorked != nil {
			f = append(f, "what worked")
		}
		if c.NeedsImprovement != nil {
			f = append(f, "needs improvement")
		}
		if c.FollowUps != nil {
			f = append(f, "follow-ups")
		}
		return "edited the report: " + strings.Join(f, ", ")
	case *Refused:
		return fmt.Sprintf("REFUSED %s (%s): %s", c.Action, c.Rule, c.Message)
	case *AlertAttached:
		return fmt.Sprintf("alert %d from %s attached (seen %d×): %s", c.AlertID, c.Source, c.Count, c.Summary)
	case *PlanApplied:
		return c.describe()
	case *ChecklistOpened:
		return c.describe()
	case describer:
		return c.describe()
	}
	return e.Type
}

func flag(b bool, s string) string {
	if b {
		return s
	}
	return ""
}

func reason(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "no one"
	}
	return strings.Join(s, ", ")
}

// Markdown renders the report for people and for the archive.
func (r *Report) Markdown() string {
	var b strings.Builder
	ir, rr := r.Incident, r.Response
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Incident Report: %s\n\n", ir.IncidentID)
	if ir.Exercise {
		w("**EXERCISE**\n\n")
	}
	w("| field | value |\n| --- | --- |\n")
	w("| Incident ID | %s |\n| Title | %s |\n| Date | %s |\n", ir.IncidentID, mdCell(ir.Title), ir.Date.Format(time.RFC3339))
	if ir.ClosedAt != nil {
		w("| Closed | %s |\n", ir.ClosedAt.Format(time.RFC3339))
	}
	w("| Type | %s |\n| Severity | %d |\n\n", ir.Type, ir.Severity)
	w("## Assets involved\n\n")
	if len(ir.Assets) == 0 {
		w("_None linked._\n\n")
	}
	for _, a := range ir.Assets {
		w("- %s: %s\n", a.Kind, mdLine(a.Name))
	}
	if len(ir.Assets) > 0 {
		w("\n")
	}
	w("## Resources involved\n\n| person | first check-in | time on shift |\n| --- | --- | --- |\n")
	for _, res := range ir.Resources {
		shift := time.Duration(res.ShiftSeconds) * time.Second
		on := ""
		if res.CheckedIn {
			on = " (still checked in)"
		}
		w("| %s | %s | %s%s |\n", res.User, res.FirstCheckIn.Format(time.RFC3339), shift, on)
	}
	w("\n## Narrative\n\n")
	if strings.TrimSpace(ir.Narrative) != "" {
		w("%s\n\n", strings.TrimSpace(ir.Narrative))
	} else {
		w("_Not written yet. Draft from the timeline:_\n\n%s\n", ir.NarrativeDraft)
	}
	w("# Response Report: %s\n\n", rr.IncidentID)
	w("## What worked\n\n%s\n\n", orMissing(rr.WhatWorked))
	w("## What needs improvement\n\n%s\n\n", orMissing(rr.NeedsImprovement))
	w("## Follow-up actions\n\n")
	if len(rr.FollowUps) == 0 {
		w("_None._\n")
	} else {
		w("| action | owner |\n| --- | --- |\n")
		for _, f := range rr.FollowUps {
			w("| %s | %s |\n", mdCell(f.Action), f.Owner)
		}
	}
	if len(r.Missing) > 0 {
		w("\n---\nStill missing before the incident can close:\n\n")
		for _, m := range r.Missing {
			w("- %s\n", m)
		}
	}
	return b.String()
}

func orMissing(s string) string {
	if strings.TrimSpace(s) == "" {
		return "_Not written yet._"
	}
	return strings.TrimSpace(s)
}

func mdCell(s string) string {
	return strings.ReplaceAll(mdLine(s), "|", "\\|")
}

func mdLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// stateDiff compares two states field by field through their JSON form and
// names the first field that differs, or returns "".
func stateDiff(a, b *Incident) string {
	var ma, mb map[string]json.RawMessage
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if bytes.Equal(ja, jb) {
		return ""
	}
	if json.Unmarshal(ja, &ma) != nil || json.Unmarshal(jb, &mb) != nil {
		return "the states cannot be compared"
	}
	keys := make([]string, 0, len(ma))
	for k := range ma {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !bytes.Equal(ma[k], mb[k]) {
			return fmt.Sprintf("field %s is %s in the store but %s in the record", k, clip(string(ma[k]), 120), clip(string(mb[k]), 120))
		}
	}
	return "the states differ"
}
