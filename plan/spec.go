package plan

import "github.com/sitrep-ir/sitrep"

// Spec returns the plan as the domain applies it; nil for a nil plan.
func (p *Plan) Spec() *sitrep.PlanSpec {
	if p == nil {
		return nil
	}
	s := &sitrep.PlanSpec{
		Name: p.Name, Title: p.Title, SHA256: p.Version.SHA256, Commit: p.Version.Commit, Modified: p.Version.Modified,
		Severity: p.Severity, Confidential: p.Confidential, LegalHold: p.LegalHold,
		Positions: []sitrep.Position{}, Tasks: []sitrep.PlanTask{}, Notify: []sitrep.NotifyList{},
		Targets: sitrep.Targets{
			Declare:             int64(p.Targets.Declare.Seconds()),
			Command:             int64(p.Targets.Command.Seconds()),
			InformationOfficer:  int64(p.Targets.InformationOfficer.Seconds()),
			FirstInternalUpdate: int64(p.Targets.FirstInternalUpdate.Seconds()),
			Contained:           int64(p.Targets.Contained.Seconds()),
		},
	}
	for _, r := range p.Roles {
		s.Positions = append(s.Positions, sitrep.Position{Role: r.Name, Severity: r.Severity, People: r.People, Team: r.Team, Why: r.Why})
	}
	for _, c := range p.Checklists {
		for _, it := range c.Items {
			s.Tasks = append(s.Tasks, sitrep.PlanTask{Phase: c.Phase, Title: it.Task, Section: it.Section, Assignee: it.Assignee, Severity: it.Severity})
		}
	}
	for _, n := range p.Notify {
		s.Notify = append(s.Notify, sitrep.NotifyList{Audience: n.Audience, Severity: n.Severity, To: n.To})
	}
	return s
}

// PlanFor returns the plan in force for incidents of kind, as the domain
// applies it, or nil: a Library is the service's sitrep.Plans.
func (l *Library) PlanFor(kind string) *sitrep.PlanSpec { return l.Current().ForKind(kind).Spec() }

var _ sitrep.Plans = (*Library)(nil)
