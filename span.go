package sitrep

import (
	"fmt"
	"slices"
	"strings"
)

// SpanLimit is the most people one supervisor directs before ICS says to
// delegate (it keeps spans of 3–7, 5 best).
const SpanLimit = 7

// Warning is an advisory the incident shows, such as a span of control
// exceeded. Warnings do not refuse anything.
type Warning struct {
	Kind       string   `json:"kind"`
	Supervisor string   `json:"supervisor"`
	Role       string   `json:"role"`
	Reports    []string `json:"reports"`
	Suggest    string   `json:"suggest"`
	Message    string   `json:"message"`
}

// Supervisor returns who user reports to: role holders report to Command; a
// checked-in person with open tasks reports to the chief of the section of
// their first open task; anyone else on scene reports to Command. Command
// reports to no one.
func (inc *Incident) Supervisor(user string) (supervisor, via string) {
	if user == inc.Command {
		return "", ""
	}
	if len(inc.RolesOf(user)) > 0 {
		return inc.Command, RoleCommand
	}
	for _, t := range inc.Tasks {
		if t.Assignee == user && t.Status == TaskOpen {
			if h := inc.Holder(t.Section); h != user {
				return h, t.Section
			}
		}
	}
	return inc.Command, RoleCommand
}

// DirectReports maps each supervisor to the people on scene reporting to them.
func (inc *Incident) DirectReports() map[string][]string {
	out := map[string][]string{}
	for _, u := range inc.OnScene() {
		if s, _ := inc.Supervisor(u); s != "" {
			out[s] = append(out[s], u)
		}
	}
	return out
}

// Warnings returns the incident's advisories: each supervisor with more than
// SpanLimit direct reports, with the role to add (ICS rule 6).
func (inc *Incident) Warnings() []Warning {
	ws := []Warning{}
	reports := inc.DirectReports()
	sups := make([]string, 0, len(reports))
	for s := range reports {
		sups = append(sups, s)
	}
	slices.Sort(sups)
	for _, s := range sups {
		rs := reports[s]
		if len(rs) <= SpanLimit {
			continue
		}
		role, suggest := inc.spanSuggestion(s)
		ws = append(ws, Warning{
			Kind: "span-of-control", Supervisor: s, Role: role, Reports: rs, Suggest: suggest,
			Message: fmt.Sprintf("span of control: %s (%s) directs %d people; ICS keeps 3–7, 5 best: %s", s, role, len(rs), suggest),
		})
	}
	return ws
}

// spanSuggestion names the role that relieves supervisor s.
func (inc *Incident) spanSuggestion(s string) (role, suggest string) {
	if s == inc.Command {
		for _, sec := range Sections {
			if inc.delegate(sec) == "" {
				return RoleCommand, fmt.Sprintf("assign %s %s section chief (sitrep assign %s %s USER) and move people under it", article(sec), sec, inc.ID, sec)
			}
		}
		return RoleCommand, fmt.Sprintf("every section is staffed: move the people without a role into a section by giving them tasks there, or add a deputy role (sitrep assign %s deputy-command USER)", inc.ID)
	}
	role = ""
	for _, r := range inc.Roles {
		if r.User == s {
			role = r.Role
			break
		}
	}
	return role, fmt.Sprintf("split %s into groups, each with its own supervisor (sitrep assign %s %s-group-a USER)", role, inc.ID, role)
}

// article returns "an" before a word starting with a vowel, else "a".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}
