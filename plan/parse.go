package plan

import (
	"bytes"
	"fmt"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/yamlcheck"
)

// The keys of each part of the format, in the order docs/plans.md lists them.
var (
	planKeys     = []string{"title", "description", "kinds", "severity", "confidential", "legal_hold", "roles", "checklists", "communications", "notify", "targets"}
	roleKeys     = []string{"severity", "people", "team", "why"}
	itemKeys     = []string{"task", "section", "assignee", "severity"}
	templateKeys = []string{"name", "audience", "phase", "command_approval", "text"}
	notifyKeys   = []string{"audience", "severity", "to"}
	targetKeys   = []string{"declare", "command", "information_officer", "first_internal_update", "contained"}
)

// icsRoles are the roles every incident has, beside command.
var icsRoles = slices.Concat(sitrep.Officers, sitrep.Sections)

// NameOf returns the name of the plan in file: its base name without the
// .yaml or .yml extension.
func NameOf(file string) string {
	base := filepath.Base(file)
	return strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
}

// Parse reads one plan from data, read from file. It returns the plan, or
// every problem found in it, sorted. It never panics on any input.
func Parse(file string, data []byte) (*Plan, Problems) {
	p, problems := parse(file, data)
	if problems != nil {
		return nil, problems
	}
	return p, nil
}

// parse is Parse that also returns what it could read of a plan with
// problems (nil when it could not read it as YAML), so that Load checks a
// broken plan's kinds against the others too.
func parse(file string, data []byte) (p *Plan, problems Problems) {
	yd, body := yamlcheck.Open(file, data, yamlcheck.Format{
		What:      "plan",
		Limits:    yamlcheck.Limits{MaxSize: MaxFileSize, MaxNodes: maxNodes},
		EmptyHint: ": a plan needs at least a title and the kinds it answers",
	})
	d := &decoder{Decoder: yd, src: data}
	p = &Plan{Name: NameOf(file), File: file, Severity: sitrep.DefaultSeverity}
	if err := sitrep.ValidateName("plan", p.Name); err != nil {
		d.ProblemAt(0, 0, "the file name makes the plan's name %q, which is not valid: name plan files with lower-case letters, digits, '.', '_' or '-' and end them in .yaml", yamlcheck.Clip(p.Name, 60))
	}
	if body == nil {
		return nil, d.Problems.Sorted()
	}
	func() {
		defer d.Recover()
		d.plan(p, body)
	}()
	if len(d.Problems) > 0 {
		return p, d.Problems.Sorted()
	}
	return p, nil
}

// plan reads the top level of a plan.
func (d *decoder) plan(p *Plan, n ast.Node) {
	pairs, ok := d.Mapping(n, "a plan")
	if !ok {
		return
	}
	var later []func()
	has := map[string]bool{}
	for _, kv := range pairs {
		has[kv.Key] = true
		switch kv.Key {
		case "title":
			p.Title = d.Text(kv.Value, "title", MaxLine, true, true)
		case "description":
			p.Description = d.Text(kv.Value, "description", MaxText, false, false)
		case "kinds":
			p.Kinds, p.kindAt = d.kinds(kv.Value)
		case "severity":
			if s, ok := d.Integer(kv.Value, "severity", 1, sitrep.MaxSeverity); ok {
				p.Severity = s
			}
		case "confidential":
			p.Confidential = d.Boolean(kv.Value, "confidential")
		case "legal_hold":
			p.LegalHold = d.Boolean(kv.Value, "legal_hold")
		case "roles":
			p.Roles = d.roles(kv.Value)
		case "checklists":
			var checks func()
			p.Checklists, checks = d.checklists(kv.Value, p)
			later = append(later, checks)
		case "communications":
			p.Communications = d.templates(kv.Value)
		case "notify":
			p.Notify = d.notifyLists(kv.Value)
		case "targets":
			p.Targets = d.targets(kv.Value)
		case "name":
			d.Problem(kv.At, "unknown field \"name\": a plan's name is its file name (%s); give people a title instead", p.Name)
		default:
			d.Unknown(kv, "the plan", planKeys)
		}
	}
	for _, f := range later {
		f()
	}
	if !has["title"] {
		d.Problem(n, "the plan has no title: add title: followed by its name for people, e.g. \"Breach of personal data\"")
	}
	if !has["kinds"] {
		d.Problem(n, "the plan answers no kinds: add kinds: with the incident kinds it is for, e.g. [data-breach]")
	}
}

func (d *decoder) kinds(n ast.Node) ([]string, map[string][2]int) {
	items := d.List(n, "kinds", MaxKinds)
	if d.Empty(n) {
		d.Problem(n, "kinds is empty: a plan answers at least one kind")
	}
	var out []string
	at := map[string][2]int{}
	for i, it := range items {
		what := fmt.Sprintf("kinds[%d]", i)
		k, n, ok := d.Scalar(it, what)
		if !ok {
			continue
		}
		switch err := sitrep.ValidateKind(k); {
		case err != nil:
			d.Problem(n, "%s", sitrep.ErrorMessage(err))
		case slices.Contains(out, k):
			d.Problem(n, "kind %s is listed twice", k)
		default:
			out = append(out, k)
			line, col := yamlcheck.Position(n)
			at[k] = [2]int{line, col}
		}
	}
	return out, at
}

func (d *decoder) roles(n ast.Node) []Role {
	pairs, _ := d.Mapping(n, "roles")
	if len(pairs) > MaxRoles {
		d.Problem(n, "roles has %d roles; the limit is %d", len(pairs), MaxRoles)
		pairs = pairs[:MaxRoles]
	}
	var out []Role
	for _, kv := range pairs {
		r := Role{Name: kv.Key, Severity: sitrep.MaxSeverity}
		ok := true
		switch {
		case kv.Key == sitrep.RoleCommand:
			d.Problem(kv.At, "command is not staffed by a plan: whoever declares the incident is Command; list the other roles")
			ok = false
		case sitrep.ValidateRole(kv.Key) != nil:
			d.Problem(kv.At, "role %q is not valid: use an ICS role (%s) or a name of 1–32 lower-case letters, digits and '-'", yamlcheck.Clip(kv.Key, 40), strings.Join(icsRoles, ", "))
			ok = false
		case !slices.Contains(icsRoles, kv.Key):
			if s := yamlcheck.Suggest(kv.Key, icsRoles); s != "" {
				d.Problem(kv.At, "role %s is not an ICS role; did you mean %s? (a role the plan adds needs a name unlike the ICS roles)", kv.Key, s)
				ok = false
			}
			r.Added = true
		}
		fields, _ := d.Mapping(kv.Value, "role "+kv.Key)
		for _, f := range fields {
			what := "roles." + kv.Key + "." + f.Key
			switch f.Key {
			case "severity":
				if s, ok := d.Integer(f.Value, what, 1, sitrep.MaxSeverity); ok {
					r.Severity = s
				}
			case "people":
				r.People = d.people(f.Value, what)
			case "team":
				r.Team = d.Text(f.Value, what, MaxLine, true, false)
			case "why":
				r.Why = d.Text(f.Value, what, MaxText, false, false)
			default:
				d.Unknown(f, "role "+kv.Key, roleKeys)
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// people reads a list of user names.
func (d *decoder) people(n ast.Node, what string) []string {
	var out []string
	for i, it := range d.List(n, what, MaxPeople) {
		u, at, ok := d.Scalar(it, fmt.Sprintf("%s[%d]", what, i))
		if !ok {
			continue
		}
		if err := sitrep.ValidateName("user", u); err != nil {
			d.Problem(at, "%s: %q is not a user name: use 1–64 lower-case letters, digits, '.', '_' or '-' (write teams under team)", what, yamlcheck.Clip(u, 40))
			continue
		}
		if slices.Contains(out, u) {
			d.Problem(at, "%s: %s is listed twice", what, u)
			continue
		}
		out = append(out, u)
	}
	return out
}

// checklists reads the checklists; the returned func checks sections
// against the plan's roles once all of the plan is read.
func (d *decoder) checklists(n ast.Node, p *Plan) ([]Checklist, func()) {
	pairs, _ := d.Mapping(n, "checklists")
	var out []Checklist
	type sectionAt struct {
		section string
		at      ast.Node
	}
	var sections []sectionAt
	for _, kv := range pairs {
		ph := sitrep.Phase(kv.Key)
		ok := true
		switch {
		case ph == sitrep.PhaseClosed:
			d.Problem(kv.At, "closed has no checklist: an incident closes only with no open task; put the last work under post-mortem")
			ok = false
		case ph.Index() < 0:
			d.Problem(kv.At, "%q is not a phase%s (phases: %s)", yamlcheck.Clip(kv.Key, 40), yamlcheck.DidYouMean(kv.Key, phaseNames()), strings.Join(phaseNames(), ", "))
			ok = false
		}
		c := Checklist{Phase: ph}
		what := "checklists." + kv.Key
		for i, it := range d.List(kv.Value, what, MaxItemsPerPhase) {
			iw := fmt.Sprintf("%s[%d]", what, i)
			fields, fok := d.Mapping(it, iw)
			if !fok {
				continue
			}
			item := Item{Severity: sitrep.MaxSeverity}
			has := map[string]bool{}
			for _, f := range fields {
				has[f.Key] = true
				fw := iw + "." + f.Key
				switch f.Key {
				case "task":
					item.Task = d.Text(f.Value, fw, sitrep.MaxTitle, true, true)
				case "section":
					s, at, sok := d.Scalar(f.Value, fw)
					if !sok {
						break
					}
					switch {
					case s == sitrep.RoleCommand:
						d.Problem(at, "command is not a section: give the section that does the work (%s, an officer, or a role this plan adds)", strings.Join(sitrep.Sections, ", "))
					case s == "":
						d.Problem(at, "%s is empty", fw)
					default:
						item.Section = s
						sections = append(sections, sectionAt{s, at})
					}
				case "assignee":
					u, at, uok := d.Scalar(f.Value, fw)
					if !uok || u == "" {
						break
					}
					if sitrep.ValidateName("user", u) != nil {
						d.Problem(at, "%s: %q is not a user name", fw, yamlcheck.Clip(u, 40))
						break
					}
					item.Assignee = u
				case "severity":
					if s, sok := d.Integer(f.Value, fw, 1, sitrep.MaxSeverity); sok {
						item.Severity = s
					}
				default:
					d.Unknown(f, "a checklist item", itemKeys)
				}
			}
			if !has["task"] {
				d.Problem(it, "%s has no task: give the work to do as task:", iw)
			}
			if !has["section"] {
				d.Problem(it, "%s has no section: say which section or role does it (e.g. section: operations)", iw)
			}
			c.Items = append(c.Items, item)
		}
		if ok {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b Checklist) int { return a.Phase.Index() - b.Phase.Index() })
	check := func() {
		known := slices.Clone(icsRoles)
		for _, r := range p.Roles {
			if r.Added {
				known = append(known, r.Name)
			}
		}
		for _, s := range sections {
			if !slices.Contains(known, s.section) {
				d.Problem(s.at, "section %q is neither an ICS section or officer nor a role this plan adds under roles%s", yamlcheck.Clip(s.section, 40), yamlcheck.DidYouMean(s.section, known))
			}
		}
	}
	return out, check
}

func phaseNames() []string {
	var s []string
	for _, p := range sitrep.Phases {
		if p != sitrep.PhaseClosed {
			s = append(s, string(p))
		}
	}
	return s
}

func (d *decoder) templates(n ast.Node) []Template {
	var out []Template
	for i, it := range d.List(n, "communications", MaxTemplates) {
		w := fmt.Sprintf("communications[%d]", i)
		fields, ok := d.Mapping(it, w)
		if !ok {
			continue
		}
		var t Template
		has := map[string]bool{}
		for _, f := range fields {
			has[f.Key] = true
			fw := w + "." + f.Key
			switch f.Key {
			case "name":
				s, at, sok := d.Scalar(f.Value, fw)
				if !sok {
					break
				}
				switch {
				case sitrep.ValidateName("name", s) != nil:
					d.Problem(at, "template name %q is not valid: use 1–64 lower-case letters, digits, '.', '_' or '-'", yamlcheck.Clip(s, 40))
				case slices.ContainsFunc(out, func(o Template) bool { return o.Name == s }):
					d.Problem(at, "a template named %s is already defined in this plan", s)
				default:
					t.Name = s
				}
			case "audience":
				t.Audience = d.audience(f.Value, fw)
			case "phase":
				s, at, sok := d.Scalar(f.Value, fw)
				if !sok {
					break
				}
				if ph := sitrep.Phase(s); ph.Index() < 0 {
					d.Problem(at, "%q is not a phase%s (phases: %s)", yamlcheck.Clip(s, 40), yamlcheck.DidYouMean(s, phaseNames()), strings.Join(phaseNames(), ", "))
				} else {
					t.Phase = ph
				}
			case "command_approval":
				t.CommandApproval = d.Boolean(f.Value, fw)
			case "text":
				t.Text = d.Text(f.Value, fw, MaxText, false, true)
				d.placeholders(t.Text, f.Value)
			default:
				d.Unknown(f, "a communication template", templateKeys)
			}
		}
		for _, k := range []string{"name", "audience", "text"} {
			if !has[k] {
				d.Problem(it, "%s has no %s", w, k)
			}
		}
		out = append(out, t)
	}
	return out
}

func (d *decoder) audience(n ast.Node, what string) string {
	s, at, ok := d.Scalar(n, what)
	if !ok {
		return ""
	}
	if sitrep.ValidateAudience(s) != nil {
		d.Problem(at, "audience %q is not valid: use 1–32 lower-case letters, digits and '-', e.g. internal, executives, customers, regulators", yamlcheck.Clip(s, 40))
		return ""
	}
	return s
}

func (d *decoder) notifyLists(n ast.Node) []NotifyList {
	var out []NotifyList
	for i, it := range d.List(n, "notify", MaxNotifyLists) {
		w := fmt.Sprintf("notify[%d]", i)
		fields, ok := d.Mapping(it, w)
		if !ok {
			continue
		}
		l := NotifyList{Severity: sitrep.MaxSeverity}
		has := map[string]bool{}
		for _, f := range fields {
			has[f.Key] = true
			fw := w + "." + f.Key
			switch f.Key {
			case "audience":
				l.Audience = d.audience(f.Value, fw)
			case "severity":
				if s, sok := d.Integer(f.Value, fw, 1, sitrep.MaxSeverity); sok {
					l.Severity = s
				}
			case "to":
				items := d.List(f.Value, fw, MaxPeople)
				if d.Empty(f.Value) {
					d.Problem(f.Value, "%s is empty: name users or e-mail addresses", fw)
				}
				for j, x := range items {
					s, at, sok := d.Scalar(x, fmt.Sprintf("%s[%d]", fw, j))
					if !sok {
						continue
					}
					if err := recipient(s); err != "" {
						d.Problem(at, "%s: %s", fw, err)
						continue
					}
					l.To = append(l.To, s)
				}
			default:
				d.Unknown(f, "a notify list", notifyKeys)
			}
		}
		for _, k := range []string{"audience", "to"} {
			if !has[k] {
				d.Problem(it, "%s has no %s", w, k)
			}
		}
		out = append(out, l)
	}
	return out
}

// recipient checks one entry of a notify list: a user name or a bare e-mail
// address. It returns what is wrong, or "".
func recipient(s string) string {
	if strings.Contains(s, "@") {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s || len(s) > 254 {
			return fmt.Sprintf("%q is not an e-mail address: write it bare, like security@example.com", yamlcheck.Clip(s, 60))
		}
		return ""
	}
	if sitrep.ValidateName("user", s) != nil {
		return fmt.Sprintf("%q is neither a user name nor an e-mail address", yamlcheck.Clip(s, 60))
	}
	return ""
}

func (d *decoder) targets(n ast.Node) Targets {
	var t Targets
	pairs, _ := d.Mapping(n, "targets")
	for _, kv := range pairs {
		what := "targets." + kv.Key
		switch kv.Key {
		case "declare":
			t.Declare = d.duration(kv.Value, what)
		case "command":
			t.Command = d.duration(kv.Value, what)
		case "information_officer":
			t.InformationOfficer = d.duration(kv.Value, what)
		case "first_internal_update":
			t.FirstInternalUpdate = d.duration(kv.Value, what)
		case "contained":
			t.Contained = d.duration(kv.Value, what)
		default:
			d.Unknown(kv, "targets", targetKeys)
		}
	}
	return t
}

// placeholders reports unknown or unclosed {{placeholders}} in a template's
// text, at their line in the file when the text is a block (|) scalar.
func (d *decoder) placeholders(text string, n ast.Node) {
	for _, ph := range scanPlaceholders(text) {
		line, col := d.placeholderPos(n, ph)
		switch {
		case ph.unclosed:
			d.ProblemAt(line, col, "{{ is not closed: placeholders look like {{title}}")
		case !slices.Contains(Placeholders, ph.name):
			d.ProblemAt(line, col, "unknown placeholder {{%s}}%s (known: %s)", yamlcheck.Clip(ph.name, 40), yamlcheck.DidYouMean(ph.name, Placeholders), strings.Join(Placeholders, ", "))
		}
	}
}

// placeholderPos finds a placeholder's line and column in the source. In a
// block scalar each line of the text is a line of the file; elsewhere the
// text's own position is the best there is.
func (d *decoder) placeholderPos(n ast.Node, ph placeholder) (int, int) {
	r := d.Resolve(n)
	line, col := yamlcheck.Position(r)
	if _, ok := r.(*ast.LiteralNode); !ok {
		return line, col
	}
	line += 1 + ph.line
	if src := sourceLine(d.src, line); src != "" {
		if i := strings.Index(src, ph.raw); i >= 0 {
			return line, utf8.RuneCountInString(src[:i]) + 1
		}
	}
	return line, 1
}

func sourceLine(src []byte, line int) string {
	for i := 1; i < line; i++ {
		j := bytes.IndexByte(src, '\n')
		if j < 0 {
			return ""
		}
		src = src[j+1:]
	}
	if j := bytes.IndexByte(src, '\n'); j >= 0 {
		src = src[:j]
	}
	return string(src)
}
