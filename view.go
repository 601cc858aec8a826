package sitrep

import (
	"context"
	"fmt"
	"time"
)

// IncidentView is an incident as the API shows it: its state and the
// advisories derived from it.
type IncidentView struct {
	*Incident
	// Alerts are the incident's attached alerts, in the order they were
	// attached; in JSON they stand for Incident.Alerts. A view made by
	// Service.IncidentView adds each alert's current state.
	Alerts   []AlertOnIncident `json:"alerts"`
	Warnings []Warning         `json:"warnings"`
}

// AlertOnIncident is an attached alert with, when the view was made with
// it, its current state: the running count and the latest occurrence, not
// those at the time it was attached.
type AlertOnIncident struct {
	AttachedAlert
	Status     string     `json:"status,omitempty"`
	Severity   int        `json:"severity,omitempty"`
	Count      int64      `json:"count,omitempty"`
	LastSeen   time.Time  `json:"last_seen,omitzero"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

// View returns the view of inc, with its alerts as attached.
func View(inc *Incident) *IncidentView {
	v := &IncidentView{Incident: inc, Warnings: inc.Warnings(), Alerts: make([]AlertOnIncident, len(inc.Alerts))}
	for i, al := range inc.Alerts {
		v.Alerts[i] = AlertOnIncident{AttachedAlert: al}
	}
	return v
}

// IncidentView returns the view of an incident the actor may see, with the
// current state of its attached alerts.
func (s *Service) IncidentView(ctx context.Context, actor *User, id string) (*IncidentView, error) {
	inc, err := s.Incident(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	v := View(inc)
	if len(inc.Alerts) == 0 {
		return v, nil
	}
	as, err := s.alerts()
	if err != nil {
		return v, nil // a store without alerts has none attached
	}
	// The state's alerts are the first attached; the most recently seen
	// of the incident's alerts are the ones whose counts move.
	current, err := as.Alerts(ctx, AlertFilter{IncidentID: inc.ID, Limit: maxAlertsOnView})
	if err != nil {
		return nil, fmt.Errorf("the alerts of %s: %w", inc.ID, err)
	}
	byID := make(map[int64]*Alert, len(current))
	for _, al := range current {
		byID[al.ID] = al
	}
	for i := range v.Alerts {
		if al := byID[v.Alerts[i].ID]; al != nil {
			v.Alerts[i].Status, v.Alerts[i].Severity, v.Alerts[i].Count = al.Status, al.Severity, al.Count
			v.Alerts[i].LastSeen, v.Alerts[i].ResolvedAt = al.LastSeen, al.ResolvedAt
		}
	}
	return v, nil
}

// maxAlertsOnView bounds the alerts whose current state an incident's view
// reads; an alert of the state beyond them keeps its state at attachment.
const maxAlertsOnView = 1000

// EntryView is a timeline entry with its description for people.
type EntryView struct {
	Entry
	Text string `json:"text"`
}

// ViewEntries describes each entry.
func ViewEntries(entries []Entry) []EntryView {
	out := make([]EntryView, len(entries))
	for i := range entries {
		out[i] = EntryView{Entry: entries[i], Text: Describe(&entries[i])}
	}
	return out
}

// Result is the answer to a change of an incident: its state afterwards and
// the entries the change appended to its timeline.
type Result struct {
	Incident *IncidentView `json:"incident"`
	Entries  []EntryView   `json:"entries"`
}
