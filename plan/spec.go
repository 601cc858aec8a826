package plan

import (
	"encoding/json"
	"fmt"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/yamlcheck"
)

// Spec returns the plan as the domain applies it; nil for a nil plan.
func (p *Plan) Spec() *sitrep.PlanSpec {
	if p == nil {
		return nil
	}
	s := &sitrep.PlanSpec{
		Name: p.Name, Title: p.Title, SHA256: p.Version.SHA256, Commit: p.Version.Commit, Modified: p.Version.Modified,
		Severity: p.Severity, Confidential: p.Confidential, LegalHold: p.LegalHold,
		Positions: []sitrep.Position{}, Tasks: []sitrep.PlanTask{}, Notify: []sitrep.NotifyList{}, Communications: []sitrep.PlanTemplate{},
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
	for _, t := range p.Communications {
		s.Communications = append(s.Communications, sitrep.PlanTemplate{Name: t.Name, Audience: t.Audience, Phase: t.Phase, CommandApproval: t.CommandApproval, Text: t.Text})
	}
	return s
}

// PlanFor returns the plan in force for incidents of kind, as the domain
// applies it, or nil: a Library is the service's sitrep.Plans.
func (l *Library) PlanFor(kind string) *sitrep.PlanSpec { return l.Current().ForKind(kind).Spec() }

// PlanList lists the plans in force and, when the latest load of the
// directory failed, its problems: the plans listed are then the last good
// ones.
func (l *Library) PlanList() *sitrep.PlanList {
	set := l.Current()
	out := &sitrep.PlanList{Dir: l.dir, Commit: set.Commit, Plans: []sitrep.PlanSummary{}}
	for _, p := range set.Plans {
		out.Plans = append(out.Plans, sitrep.PlanSummary{Name: p.Name, Title: p.Title, Kinds: p.Kinds, Severity: p.Severity, File: p.File,
			SHA256: p.Version.SHA256, Commit: p.Version.Commit, Modified: p.Version.Modified})
	}
	if err := l.LastError(); err != nil {
		ps := AsProblems(err)
		if ps == nil {
			// Not a problem of a file (the directory could not be
			// read, say): named as the directory's.
			ps = Problems{{File: l.dir, Message: err.Error()}}
		}
		for _, p := range ps {
			out.Problems = append(out.Problems, sitrep.PlanProblem{File: p.File, Line: p.Line, Column: p.Column, Message: p.Message})
		}
	}
	return out
}

// PlanDocument returns the plan in force named name as JSON. Returns
// sitrep.ENotFound when there is none.
func (l *Library) PlanDocument(name string) (json.RawMessage, error) {
	p := l.Current().Plan(name)
	if p == nil {
		return nil, &sitrep.Error{Kind: sitrep.ENotFound, Field: "name", Message: fmt.Sprintf("no plan named %q is in force: sitrep plan ls lists them", yamlcheck.Clip(name, 80))}
	}
	doc := *p // lists the plan leaves out are empty, not null
	doc.Roles, doc.Checklists = nonNil(doc.Roles), nonNil(doc.Checklists)
	doc.Communications, doc.Notify = nonNil(doc.Communications), nonNil(doc.Notify)
	b, err := json.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("encode plan %s: %w", name, err)
	}
	return b, nil
}

var _ sitrep.PlanCatalog = (*Library)(nil)

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
