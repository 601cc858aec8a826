// Package dispatch decides what becomes of each new alert: dispatch rules,
// read from a YAML file, match alerts on their source, severity, labels and
// text and declare an incident, attach the alert to the open incident of its
// group, hold it on the triage desk, or suppress it. The Dispatcher applies
// them to every alert the intake opens, acting as sitrep's own dispatch
// account, and reloads the file when it changes.
package dispatch

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/yamlcheck"
)

// The actions a rule takes.
const (
	ActionDeclare  = "declare"  // declare an incident (or attach to its group's)
	ActionAttach   = "attach"   // attach to the open incident of the group
	ActionHold     = "hold"     // leave on the triage desk for a person
	ActionSuppress = "suppress" // take off the desk as not mattering
)

// Actions lists the actions in the order the documentation gives them.
var Actions = []string{ActionDeclare, ActionAttach, ActionHold, ActionSuppress}

// Limits of a rules file. A file is written by people; the limits only
// keep a mistake (or a generated file gone wrong) from costing the server.
const (
	MaxFileSize     = 1 << 20
	MaxRules        = 1000
	MaxRegexp       = 1024 // bytes of one regular expression
	MaxTemplate     = 1024 // bytes of one template
	MaxPattern      = 256  // bytes of one source name or glob
	MaxListValues   = 256  // values of one source or kind list
	MaxLabelMatches = 64   // label conditions of one match block
	MaxNotBlocks    = 16   // blocks of one not
	MaxGroupLabels  = 32   // labels of one group_by list
	MaxDescription  = 1000
)

// Rules is a parsed rules file: its rules in order, the first that matches
// an alert deciding. The zero value (and nil) holds no rules: every alert
// waits on the triage desk.
type Rules struct {
	// File is where the rules were read from; Hash the SHA-256 of its text
	// (empty without a file).
	File  string
	Hash  string
	Rules []*Rule
}

// Rule is one dispatch rule.
type Rule struct {
	Name        string
	Description string
	// Line is where the rule starts in its file.
	Line  int
	Match Match
	// Action is one of the Action values.
	Action string
	// Kind and Severity are the declared incident's (declare only);
	// Severity 0 takes the alert's.
	Kind     string
	Severity int
	// Title makes the declared incident's title; nil takes the alert's
	// summary.
	Title *Template
	// GroupBy makes the group key (declare and attach).
	GroupBy GroupBy
}

// Match is a set of conditions on an alert, all of which must hold. The
// zero Match matches every alert.
type Match struct {
	// Sources are source names or globs (path.Match syntax); any one.
	Sources []string
	// Kinds are source kinds (sitrep.SourceKinds); any one.
	Kinds []string
	// SeverityAtMost and SeverityAtLeast bound the alert's severity (1 is
	// the worst, so at most 2 is 1 or 2); 0 is no bound. An alert without
	// a severity meets no bound.
	SeverityAtMost, SeverityAtLeast int
	// Labels must all match; a missing label is the empty value.
	Labels []LabelMatch
	// Summary, when set, must find a match in the alert's summary.
	Summary *regexp.Regexp
	// Not: the alert must match none of these blocks.
	Not []*Match
}

// LabelMatch is a condition on one label: an exact value, or a regular
// expression the whole value must match.
type LabelMatch struct {
	Name   string
	Value  string
	Regexp *regexp.Regexp
}

// GroupBy makes an alert's group key: from a list of labels, from a
// template, or (neither) the rule's name, so that every alert of the rule
// goes to one open incident.
type GroupBy struct {
	Labels   []string
	Template *Template
}

// The keys of each part of the format, in the order docs/dispatch.md gives
// them.
var (
	fileKeys  = []string{"rules"}
	ruleKeys  = []string{"name", "description", "match", "action", "kind", "severity", "title", "group_by"}
	matchKeys = []string{"source", "kind", "severity_at_most", "severity_at_least", "labels", "summary", "not"}
)

var slugRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ruleParser reads rules with a decoder.
type ruleParser struct {
	*decoder
	names map[string]int // rule name → line
}

// file reads the top level of the file: rules, and keys starting with x-
// that only hold anchors for the rules to use.
func (p *ruleParser) file(n node) []*Rule {
	pairs, ok := p.mapping(n, "the rules file")
	if !ok {
		return nil
	}
	var rules []*Rule
	for _, kv := range pairs {
		switch kv.Key {
		case "rules":
			rules = p.rules(kv.Value)
		default:
			if strings.HasPrefix(kv.Key, "x-") {
				continue // a place for anchors that rules refer to
			}
			p.unknown(kv, "the rules file", fileKeys)
		}
	}
	return rules
}

func (p *ruleParser) rules(n node) []*Rule {
	if isNull(p.resolve(n)) {
		return nil
	}
	items, ok := p.list(n, "rules")
	if !ok {
		return nil
	}
	if len(items) > MaxRules {
		p.Problem(n, "the file has %d rules; the limit is %d", len(items), MaxRules)
		return nil
	}
	var rules []*Rule
	var catchAll *Rule
	for _, it := range items {
		r := p.rule(it)
		if r == nil {
			continue
		}
		if catchAll != nil {
			p.Problem(it, "rule %s can never match: rule %s (line %d) matches every alert and comes first", r.Name, catchAll.Name, catchAll.Line)
		}
		if catchAll == nil && r.Match.empty() {
			catchAll = r
		}
		rules = append(rules, r)
	}
	return rules
}

// rule reads one rule; nil when it has problems.
func (p *ruleParser) rule(n node) *Rule {
	before := len(p.Problems)
	pairs, ok := p.mapping(n, "a rule")
	if !ok {
		return nil
	}
	r := &Rule{}
	r.Line, _ = yamlcheck.Position(p.resolve(n))
	has := map[string]pair{}
	for _, kv := range pairs {
		has[kv.Key] = kv
	}
	if kv, ok := has["name"]; ok {
		if name, ok := p.scalar(kv.Value, "name"); ok {
			switch {
			case !nameRE.MatchString(name):
				p.Problem(kv.Value, "rule name %q is not valid: use 1–64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", yamlcheck.Clip(name, 60))
			case p.names[name] > 0:
				p.Problem(kv.Value, "rule name %s is used by the rule on line %d already: rule names must be unique", name, p.names[name])
				r.Name = name // for the problems that follow; the rule is refused
			default:
				p.names[name] = r.Line
				r.Name = name
			}
		}
	} else {
		p.Problem(n, "the rule has no name: give it one (name: …), so that incidents and metrics can say which rule decided")
	}
	if kv, ok := has["action"]; ok {
		if a, ok := p.scalar(kv.Value, "action"); ok {
			if slices.Contains(Actions, a) {
				r.Action = a
			} else {
				p.Problem(kv.Value, "action %q is not known%s: use %s", yamlcheck.Clip(a, 40), suggest(a, Actions), strings.Join(Actions, ", "))
			}
		}
	} else {
		p.Problem(n, "the rule has no action: give one of %s", strings.Join(Actions, ", "))
	}
	for _, kv := range pairs {
		switch kv.Key {
		case "name", "action":
		case "description":
			if s, ok := p.scalar(kv.Value, "description"); ok {
				if len(s) > MaxDescription {
					p.Problem(kv.Value, "the description is %d bytes long; the limit is %d", len(s), MaxDescription)
				}
				r.Description = s
			}
		case "match":
			p.match(kv.Value, &r.Match, true)
		case "kind":
			if !p.onlyFor(r, kv, ActionDeclare) {
				continue
			}
			if s, ok := p.scalar(kv.Value, "kind"); ok {
				if slugRE.MatchString(s) {
					r.Kind = s
				} else {
					p.Problem(kv.Value, "incident kind %q is not valid: use 1–32 lower-case letters, digits and '-', starting with a letter (malware, data-breach, outage, …)", yamlcheck.Clip(s, 40))
				}
			}
		case "severity":
			if !p.onlyFor(r, kv, ActionDeclare) {
				continue
			}
			if s, ok := p.integer(kv.Value, "severity", 1, sitrep.MaxSeverity); ok {
				r.Severity = s
			}
		case "title":
			if !p.onlyFor(r, kv, ActionDeclare) {
				continue
			}
			if s, ok := p.scalar(kv.Value, "title"); ok {
				r.Title = p.template(kv.Value, "title", s)
			}
		case "group_by":
			if !p.onlyFor(r, kv, ActionDeclare, ActionAttach) {
				continue
			}
			p.groupBy(kv.Value, &r.GroupBy)
		default:
			p.unknown(kv, "a rule", ruleKeys)
		}
	}
	if r.Action == ActionDeclare {
		if _, ok := has["kind"]; !ok {
			p.Problem(n, "rule %s declares but names no kind: give the incident's kind (kind: malware, outage, …), which picks its plan", orUnnamed(r.Name))
		}
	}
	if r.Action == ActionAttach {
		if _, ok := has["group_by"]; !ok {
			p.Problem(n, "rule %s attaches but has no group_by: give the labels (or a template) that make the group key of the incident to attach to", orUnnamed(r.Name))
		}
	}
	if len(p.Problems) > before {
		return nil
	}
	return r
}

func orUnnamed(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}

// onlyFor reports whether a key fits the rule's action, and says so when it
// does not. An unknown action says nothing more.
func (p *ruleParser) onlyFor(r *Rule, kv pair, actions ...string) bool {
	if r.Action == "" || slices.Contains(actions, r.Action) {
		return true
	}
	p.Problem(kv.At, "%s is for %s rules; this rule's action is %s", kv.Key, strings.Join(actions, " and "), r.Action)
	return false
}

// unknown reports a key the format does not have, with the keys it has.
func (p *ruleParser) unknown(kv pair, what string, known []string) {
	hint := suggest(strings.ToLower(strings.ReplaceAll(kv.Key, "-", "_")), known)
	p.Problem(kv.At, "unknown field %q in %s%s: the fields are %s", yamlcheck.Clip(kv.Key, 40), what, hint, strings.Join(known, ", "))
}

// suggest returns " (did you mean X?)" for the word of known closest to
// s, when one is close enough to be a typing mistake.
func suggest(s string, known []string) string {
	if k := yamlcheck.Suggest(s, known); k != "" {
		return fmt.Sprintf(" (did you mean %s?)", k)
	}
	return ""
}

// match reads a match block into m. top is false inside not.
func (p *ruleParser) match(n node, m *Match, top bool) {
	if isNull(p.resolve(n)) {
		return // match: with nothing under it matches every alert
	}
	what := "match"
	if !top {
		what = "a not block"
	}
	pairs, ok := p.mapping(n, what)
	if !ok {
		return
	}
	for _, kv := range pairs {
		switch kv.Key {
		case "source":
			vals, at := p.scalars(kv.Value, "source", MaxListValues)
			for i, s := range vals {
				if err := checkSourcePattern(s); err != "" {
					p.Problem(at[i], "source %q: %s", yamlcheck.Clip(s, 60), err)
					continue
				}
				m.Sources = append(m.Sources, s)
			}
		case "kind":
			vals, at := p.scalars(kv.Value, "kind", MaxListValues)
			for i, s := range vals {
				if !slices.Contains(sitrep.SourceKinds, s) {
					p.Problem(at[i], "source kind %q is not known: use %s", yamlcheck.Clip(s, 40), strings.Join(sitrep.SourceKinds, ", "))
					continue
				}
				m.Kinds = append(m.Kinds, s)
			}
		case "severity_at_most":
			if s, ok := p.integer(kv.Value, "severity_at_most", 1, sitrep.MaxSeverity); ok {
				m.SeverityAtMost = s
			}
		case "severity_at_least":
			if s, ok := p.integer(kv.Value, "severity_at_least", 1, sitrep.MaxSeverity); ok {
				m.SeverityAtLeast = s
			}
		case "labels":
			p.labels(kv.Value, m)
		case "summary":
			if s, ok := p.scalar(kv.Value, "summary"); ok {
				m.Summary = p.regexp(kv.Value, "summary", s, false)
			}
		case "not":
			if !top {
				p.Problem(kv.At, "not cannot be nested: list several blocks under the rule's one not instead")
				continue
			}
			if isNull(p.resolve(kv.Value)) {
				p.Problem(kv.At, "not is empty: give the conditions of the alerts to leave out, or leave not out")
				continue
			}
			p.not(kv.Value, m)
		default:
			p.unknown(kv, what, matchKeys)
		}
	}
	if m.SeverityAtMost > 0 && m.SeverityAtLeast > m.SeverityAtMost {
		p.Problem(n, "no alert can match: severity at least %d and at most %d (1 is the worst, so at least means as mild or milder)", m.SeverityAtLeast, m.SeverityAtMost)
	}
}

// not reads one block or a list of blocks.
func (p *ruleParser) not(n node, m *Match) {
	v := p.resolve(n)
	if v == nil {
		return
	}
	blocks, at := []node{n}, []node{n}
	if seq, ok := v.(*yamlSeq); ok {
		blocks, at = seq.Values, seq.Values
		if len(seq.Entries) == len(seq.Values) {
			at = make([]node, len(seq.Entries))
			for i, e := range seq.Entries {
				at[i] = e // the '-', where an empty item has its place
			}
		}
		if len(blocks) == 0 {
			p.Problem(n, "not is an empty list: give at least one block, or leave not out")
		}
	}
	if len(blocks) > MaxNotBlocks {
		p.Problem(n, "not has %d blocks; the limit is %d", len(blocks), MaxNotBlocks)
		return
	}
	for i, b := range blocks {
		if isNull(p.resolve(b)) {
			p.Problem(at[i], "a not block is empty: it would exclude every alert")
			continue
		}
		nm := &Match{}
		p.match(b, nm, false)
		m.Not = append(m.Not, nm)
	}
}

// labels reads label conditions: name: value or name: "~regexp".
func (p *ruleParser) labels(n node, m *Match) {
	pairs, ok := p.mapping(n, "labels")
	if !ok {
		return
	}
	if len(pairs) > MaxLabelMatches {
		p.Problem(n, "labels has %d conditions; the limit is %d", len(pairs), MaxLabelMatches)
		return
	}
	for _, kv := range pairs {
		if msg := checkLabelName(kv.Key); msg != "" {
			p.Problem(kv.At, "label %q: %s", yamlcheck.Clip(kv.Key, 60), msg)
			continue
		}
		v, ok := p.scalar(kv.Value, "label "+yamlcheck.Clip(kv.Key, 60))
		if !ok {
			continue
		}
		lm := LabelMatch{Name: kv.Key}
		if re, isRE := strings.CutPrefix(v, "~"); isRE {
			lm.Regexp = p.regexp(kv.Value, "label "+yamlcheck.Clip(kv.Key, 60), re, true)
			if lm.Regexp == nil {
				continue
			}
		} else {
			if len(v) > sitrep.MaxAlertLabelValue {
				p.Problem(kv.Value, "label %s: the value is %d bytes long; alerts keep at most %d", yamlcheck.Clip(kv.Key, 60), len(v), sitrep.MaxAlertLabelValue)
				continue
			}
			lm.Value = v
		}
		m.Labels = append(m.Labels, lm)
	}
}

// regexp compiles a regular expression (RE2 syntax, linear-time matching);
// whole makes it match the whole value.
func (p *ruleParser) regexp(n node, field, expr string, whole bool) *regexp.Regexp {
	if len(expr) > MaxRegexp {
		p.Problem(n, "%s: the regular expression is %d bytes long; the limit is %d", field, len(expr), MaxRegexp)
		return nil
	}
	re, err := regexp.Compile(expr)
	if err == nil && whole {
		re, err = regexp.Compile("^(?:" + expr + ")$")
	}
	if err != nil {
		var se *syntax.Error
		msg := err.Error()
		if errors.As(err, &se) {
			msg = string(se.Code)
			if se.Expr != "" && se.Expr != expr {
				msg += ": " + yamlcheck.Clip(se.Expr, 40)
			}
		}
		p.Problem(n, "%s: the regular expression %q does not compile: %s", field, yamlcheck.Clip(expr, 60), msg)
		return nil
	}
	return re
}

// groupBy reads a list of labels or a template.
func (p *ruleParser) groupBy(n node, g *GroupBy) {
	v := p.resolve(n)
	if v == nil {
		return
	}
	if !isSeq(v) {
		if s, ok := p.scalar(n, "group_by"); ok {
			if strings.TrimSpace(s) == "" {
				p.Problem(n, "group_by is empty: give labels or a template, or leave group_by out to put every alert of the rule on one incident")
				return
			}
			g.Template = p.template(n, "group_by", s)
		}
		return
	}
	items, _ := p.list(n, "group_by")
	if len(items) == 0 {
		p.Problem(n, "group_by is an empty list: give labels, or leave group_by out to put every alert of the rule on one incident")
		return
	}
	if len(items) > MaxGroupLabels {
		p.Problem(n, "group_by has %d labels; the limit is %d", len(items), MaxGroupLabels)
		return
	}
	for _, it := range items {
		s, ok := p.scalar(it, "group_by")
		if !ok {
			continue
		}
		if msg := checkLabelName(s); msg != "" {
			p.Problem(it, "group_by label %q: %s", yamlcheck.Clip(s, 60), msg)
			continue
		}
		if slices.Contains(g.Labels, s) {
			p.Problem(it, "group_by names label %s twice", yamlcheck.Clip(s, 60))
			continue
		}
		g.Labels = append(g.Labels, s)
	}
	slices.Sort(g.Labels)
}

// template parses a template, reporting its problems at n.
func (p *ruleParser) template(n node, field, text string) *Template {
	if len(text) > MaxTemplate {
		p.Problem(n, "%s is %d bytes long; the limit is %d", field, len(text), MaxTemplate)
		return nil
	}
	t, err := parseTemplate(field, text)
	if err != nil {
		p.Problem(n, "%s: %v", field, err)
		return nil
	}
	return t
}

// checkSourcePattern returns what is wrong with a source name or glob, or "".
func checkSourcePattern(s string) string {
	switch {
	case s == "":
		return "a source name or pattern cannot be empty"
	case len(s) > MaxPattern:
		return fmt.Sprintf("%d bytes long; the limit is %d", len(s), MaxPattern)
	}
	if _, err := path.Match(s, ""); err != nil {
		return "the pattern is malformed (patterns use *, ? and [a-z], as file names do)"
	}
	if !strings.ContainsAny(s, "*?[\\") && !nameRE.MatchString(s) {
		return "no source can have this name: source names are lower-case letters, digits, '.', '_' or '-' (a pattern may use *, ? and [a-z])"
	}
	return ""
}

// checkLabelName returns what is wrong with a label name, or "".
func checkLabelName(s string) string {
	switch {
	case s == "":
		return "a label name cannot be empty"
	case len(s) > sitrep.MaxAlertLabelKey:
		return fmt.Sprintf("%d bytes long; alerts keep label names of at most %d", len(s), sitrep.MaxAlertLabelKey)
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "a label name cannot hold control characters"
	}
	return ""
}

func (m *Match) empty() bool {
	return len(m.Sources) == 0 && len(m.Kinds) == 0 && m.SeverityAtMost == 0 && m.SeverityAtLeast == 0 &&
		len(m.Labels) == 0 && m.Summary == nil && len(m.Not) == 0
}

// quoteLabel formats one label of a group key.
func quoteLabel(name, value string) string { return name + "=" + strconv.Quote(value) }
