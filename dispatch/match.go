package dispatch

import (
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/sitrep-ir/sitrep"
)

// Match returns the first rule that matches the alert, which came from a
// source of kind sourceKind, or nil when none does (the alert waits on the
// triage desk). A nil Rules matches nothing.
func (rs *Rules) Match(al *sitrep.Alert, sourceKind string) *Rule {
	if rs == nil {
		return nil
	}
	for _, r := range rs.Rules {
		if r.Match.Matches(al, sourceKind) {
			return r
		}
	}
	return nil
}

// Len returns the number of rules.
func (rs *Rules) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.Rules)
}

// Matches reports whether every condition of m holds for the alert.
func (m *Match) Matches(al *sitrep.Alert, sourceKind string) bool {
	if len(m.Sources) > 0 && !matchSource(m.Sources, al.Source) {
		return false
	}
	if len(m.Kinds) > 0 && !slices.Contains(m.Kinds, sourceKind) {
		return false
	}
	if m.SeverityAtMost > 0 && (al.Severity <= 0 || al.Severity > m.SeverityAtMost) {
		return false
	}
	if m.SeverityAtLeast > 0 && (al.Severity <= 0 || al.Severity < m.SeverityAtLeast) {
		return false
	}
	for i := range m.Labels {
		if !m.Labels[i].Matches(al.Labels[m.Labels[i].Name]) {
			return false
		}
	}
	if m.Summary != nil && !m.Summary.MatchString(al.Summary) {
		return false
	}
	for _, n := range m.Not {
		if n.Matches(al, sourceKind) {
			return false
		}
	}
	return true
}

// Matches reports whether a label's value (empty when the alert lacks the
// label) meets the condition.
func (l *LabelMatch) Matches(value string) bool {
	if l.Regexp != nil {
		return l.Regexp.MatchString(value)
	}
	return value == l.Value
}

func matchSource(patterns []string, source string) bool {
	for _, p := range patterns {
		if p == source {
			return true
		}
		if strings.ContainsAny(p, "*?[\\") {
			if ok, _ := path.Match(p, source); ok {
				return true
			}
		}
	}
	return false
}

// GroupKey returns the alert's group key under the rule: the group_by
// labels as name="value" pairs, the group_by template rendered, or
// rule:NAME without group_by, prefixed with the exercise for an
// exercise's alert. The open incident with this key is the one the rule
// attaches the alert to. It is "" when a template renders to nothing.
func (r *Rule) GroupKey(al *sitrep.Alert) string {
	key := r.groupKey(al)
	if ex := sitrep.ExerciseOf(al); ex != "" && key != "" {
		// An exercise's alerts group among themselves only: never onto a
		// real incident, and never a real alert onto the exercise's.
		key = sitrep.Truncate("exercise="+ex+","+key, sitrep.MaxGroupKey)
	}
	return key
}

func (r *Rule) groupKey(al *sitrep.Alert) string {
	g := &r.GroupBy
	switch {
	case len(g.Labels) > 0:
		parts := make([]string, len(g.Labels))
		for i, name := range g.Labels {
			parts[i] = quoteLabel(name, al.Labels[name])
		}
		return sitrep.Truncate(strings.Join(parts, ","), sitrep.MaxGroupKey)
	case g.Template != nil:
		return sitrep.Truncate(oneLineText(g.Template.Render(al)), sitrep.MaxGroupKey)
	}
	return "rule:" + r.Name
}

// IncidentTitle returns the title of an incident the rule declares for the
// alert: the rule's title rendered, else the alert's summary, else the
// source and dedup key.
func (r *Rule) IncidentTitle(al *sitrep.Alert) string {
	title := oneLineText(r.Title.Render(al))
	if title == "" {
		title = oneLineText(al.Summary)
	}
	if title == "" {
		title = oneLineText("Alert " + al.DedupKey + " from " + al.Source)
	}
	return sitrep.Truncate(title, sitrep.MaxTitle)
}

// oneLineText makes text one line without control characters, which
// titles and group keys may not hold.
func oneLineText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
