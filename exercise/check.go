package exercise

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/yamlcheck"
	"github.com/sitrep-ir/sitrep/plan"
)

// Check validates a parsed scenario against the plans in force: the plan
// it rehearses exists, the kind it declares is one that plan answers, and
// every role it names (a message's to, an expectation's role and by) is
// command, an ICS role or a role the plan adds. It returns every problem,
// sorted, with the file, line and column of the part at fault.
func Check(sc *Scenario, plans *plan.Set) Problems {
	var ps Problems
	p := plans.Plan(sc.Plan)
	if p == nil {
		var names []string
		for _, pl := range plans.Plans {
			names = append(names, pl.Name)
		}
		list := "there are none"
		if len(names) > 0 {
			list = "plans: " + strings.Join(names, ", ")
		}
		return append(ps, sc.problem("plan", "plan %s is not among the plans in force%s (%s)", sc.Plan, yamlcheck.DidYouMean(sc.Plan, names), list))
	}
	if sc.Kind != "" && !slices.Contains(p.Kinds, sc.Kind) {
		ps = append(ps, sc.problem("kind", "kind %s is not one plan %s answers (%s): the incident would run with another plan", sc.Kind, p.Name, strings.Join(p.Kinds, ", ")))
	}
	known := []string{sitrep.RoleCommand}
	known = append(known, icsRoles...)
	for _, r := range p.Roles {
		if !slices.Contains(known, r.Name) {
			known = append(known, r.Name)
		}
	}
	role := func(key, role string) {
		if role != "" && !slices.Contains(known, role) {
			ps = append(ps, sc.problem(key, "role %s is neither an ICS role nor one plan %s adds%s (roles: %s)", role, p.Name, yamlcheck.DidYouMean(role, known), strings.Join(known, ", ")))
		}
	}
	for _, in := range sc.Injects {
		if in.Message != nil {
			role(in.key+".message.to", in.Message.To)
		}
	}
	for _, e := range sc.Expect {
		role(e.key+".role", e.Role)
		role(e.key+".by", e.By)
	}
	return ps.Sorted()
}

// problem is a problem at the part of the scenario written at key (the
// whole file when unknown, as for a scenario read back from its JSON form).
func (sc *Scenario) problem(key, format string, args ...any) Problem {
	pr := Problem{File: sc.File, Message: fmt.Sprintf(format, args...)}
	if pos, ok := sc.pos[key]; ok {
		pr.Line, pr.Column = pos[0], pos[1]
	}
	if pr.File == "" {
		pr.File = sc.Name + ".yaml"
	}
	return pr
}

// ParticipantProblem is the problem of the scenario's participant i, who is
// not a user of this server.
func (sc *Scenario) ParticipantProblem(i int) Problem {
	return sc.problem(fmt.Sprintf("participants[%d]", i), "participant %s is not a user of this server: add them (sitrep user add %s) or leave them out", sc.Participants[i], sc.Participants[i])
}

// KindToDeclare returns the kind the exercise declares its incident with
// (declare: start): the scenario's, else the plan's first.
func (sc *Scenario) KindToDeclare(plans *plan.Set) string {
	if sc.Kind != "" {
		return sc.Kind
	}
	if p := plans.Plan(sc.Plan); p != nil && len(p.Kinds) > 0 {
		return p.Kinds[0]
	}
	return sitrep.DefaultKind
}
