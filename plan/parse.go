package plan

import (
	"bytes"
	"fmt"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/sitrep-ir/sitrep"
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
	d := &decoder{file: file, src: data, anchors: map[string][]anchorDef{}}
	defer func() {
		// The YAML parser is third-party code: a crash on some input
		// is a problem of that file, not of the server.
		if r := recover(); r != nil {
			p, problems = nil, Problems{{File: file, Message: fmt.Sprintf("the YAML parser failed on this file (%v): simplify it", r)}}
		}
	}()
	p = &Plan{Name: NameOf(file), File: file, Severity: sitrep.DefaultSeverity}
	if err := sitrep.ValidateName("plan", p.Name); err != nil {
		d.problemAt(0, 0, "the file name makes the plan's name %q, which is not valid: name plan files with lower-case letters, digits, '.', '_' or '-' and end them in .yaml", clipTo(p.Name, 60))
	}
	if len(data) > MaxFileSize {
		d.problemAt(0, 0, "the file is %d bytes long; the limit is %d", len(data), MaxFileSize)
		return nil, d.problems.sort()
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		line, col := lineCol(data, firstInvalidUTF8(data))
		d.problemAt(line, col, "the file is not valid UTF-8 here")
		return nil, d.problems.sort()
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		if ye, ok := err.(yaml.Error); ok && ye.GetToken() != nil {
			line, col := tokenPos(ye.GetToken())
			d.problemAt(line, col, "YAML: %s", ye.GetMessage())
		} else {
			d.problemAt(1, 1, "YAML: %s", oneLine(err.Error()))
		}
		return nil, d.problems.sort()
	}
	var body ast.Node
	for i, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			d.problem(doc.Body, "a second YAML document starts here: a file holds one plan (found %d documents)", len(f.Docs))
			break
		}
		body = doc.Body
		d.collectAnchors(f.Docs[i])
	}
	if body == nil {
		d.problemAt(1, 1, "the file holds no plan: a plan needs at least a title and the kinds it answers")
		return nil, d.problems.sort()
	}
	d.plan(p, body)
	if len(d.problems) > 0 {
		return p, d.problems.sort()
	}
	return p, nil
}

// plan reads the top level of a plan.
func (d *decoder) plan(p *Plan, n ast.Node) {
	pairs, ok := d.mapping(n, "a plan")
	if !ok {
		return
	}
	var later []func()
	has := map[string]bool{}
	for _, kv := range pairs {
		has[kv.key] = true
		switch kv.key {
		case "title":
			p.Title = d.text(kv.value, "title", MaxLine, true, true)
		case "description":
			p.Description = d.text(kv.value, "description", MaxText, false, false)
		case "kinds":
			p.Kinds, p.kindAt = d.kinds(kv.value)
		case "severity":
			if s, ok := d.integer(kv.value, "severity", 1, sitrep.MaxSeverity); ok {
				p.Severity = s
			}
		case "confidential":
			p.Confidential = d.boolean(kv.value, "confidential")
		case "legal_hold":
			p.LegalHold = d.boolean(kv.value, "legal_hold")
		case "roles":
			p.Roles = d.roles(kv.value)
		case "checklists":
			var checks func()
			p.Checklists, checks = d.checklists(kv.value, p)
			later = append(later, checks)
		case "communications":
			p.Communications = d.templates(kv.value)
		case "notify":
			p.Notify = d.notifyLists(kv.value)
		case "targets":
			p.Targets = d.targets(kv.value)
		case "name":
			d.problem(kv.at, "unknown field \"name\": a plan's name is its file name (%s); give people a title instead", p.Name)
		default:
			d.unknown(kv, "the plan", planKeys)
		}
	}
	for _, f := range later {
		f()
	}
	if !has["title"] {
		d.problem(n, "the plan has no title: add title: followed by its name for people, e.g. \"Breach of personal data\"")
	}
	if !has["kinds"] {
		d.problem(n, "the plan answers no kinds: add kinds: with the incident kinds it is for, e.g. [data-breach]")
	}
}

func (d *decoder) kinds(n ast.Node) ([]string, map[string][2]int) {
	items := d.list(n, "kinds", MaxKinds)
	if d.empty(n) {
		d.problem(n, "kinds is empty: a plan answers at least one kind")
	}
	var out []string
	at := map[string][2]int{}
	for i, it := range items {
		what := fmt.Sprintf("kinds[%d]", i)
		k, n, ok := d.scalar(it, what)
		if !ok {
			continue
		}
		switch err := sitrep.ValidateKind(k); {
		case err != nil:
			d.problem(n, "%s", sitrep.ErrorMessage(err))
		case slices.Contains(out, k):
			d.problem(n, "kind %s is listed twice", k)
		default:
			out = append(out, k)
			line, col := position(n)
			at[k] = [2]int{line, col}
		}
	}
	return out, at
}

func (d *decoder) roles(n ast.Node) []Role {
	pairs, _ := d.mapping(n, "roles")
	if len(pairs) > MaxRoles {
		d.problem(n, "roles has %d roles; the limit is %d", len(pairs), MaxRoles)
		pairs = pairs[:MaxRoles]
	}
	var out []Role
	for _, kv := range pairs {
		r := Role{Name: kv.key, Severity: sitrep.MaxSeverity}
		ok := true
		switch {
		case kv.key == sitrep.RoleCommand:
			d.problem(kv.at, "command is not staffed by a plan: whoever declares the incident is Command; list the other roles")
			ok = false
		case sitrep.ValidateRole(kv.key) != nil:
			d.problem(kv.at, "role %q is not valid: use an ICS role (%s) or a name of 1–32 lower-case letters, digits and '-'", clipTo(kv.key, 40), strings.Join(icsRoles, ", "))
			ok = false
		case !slices.Contains(icsRoles, kv.key):
			if s := suggest(kv.key, icsRoles); s != "" {
				d.problem(kv.at, "role %s is not an ICS role; did you mean %s? (a role the plan adds needs a name unlike the ICS roles)", kv.key, s)
				ok = false
			}
			r.Added = true
		}
		fields, _ := d.mapping(kv.value, "role "+kv.key)
		for _, f := range fields {
			what := "roles." + kv.key + "." + f.key
			switch f.key {
			case "severity":
				if s, ok := d.integer(f.value, what, 1, sitrep.MaxSeverity); ok {
					r.Severity = s
				}
			case "people":
				r.People = d.people(f.value, what)
			case "team":
				r.Team = d.text(f.value, what, MaxLine, true, false)
			case "why":
				r.Why = d.text(f.value, what, MaxText, false, false)
			default:
				d.unknown(f, "role "+kv.key, roleKeys)
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
	for i, it := range d.list(n, what, MaxPeople) {
		u, at, ok := d.scalar(it, fmt.Sprintf("%s[%d]", what, i))
		if !ok {
			continue
		}
		if err := sitrep.ValidateName("user", u); err != nil {
			d.problem(at, "%s: %q is not a user name: use 1–64 lower-case letters, digits, '.', '_' or '-' (write teams under team)", what, clipTo(u, 40))
			continue
		}
		if slices.Contains(out, u) {
			d.problem(at, "%s: %s is listed twice", what, u)
			continue
		}
		out = append(out, u)
	}
	return out
}

// checklists reads the checklists; the returned func checks sections
// against the plan's roles once all of the plan is read.
func (d *decoder) checklists(n ast.Node, p *Plan) ([]Checklist, func()) {
	pairs, _ := d.mapping(n, "checklists")
	var out []Checklist
	type sectionAt struct {
		section string
		at      ast.Node
	}
	var sections []sectionAt
	for _, kv := range pairs {
		ph := sitrep.Phase(kv.key)
		ok := true
		switch {
		case ph == sitrep.PhaseClosed:
			d.problem(kv.at, "closed has no checklist: an incident closes only with no open task; put the last work under post-mortem")
			ok = false
		case ph.Index() < 0:
			d.problem(kv.at, "%q is not a phase%s (phases: %s)", clipTo(kv.key, 40), didYouMean(kv.key, phaseNames()), strings.Join(phaseNames(), ", "))
			ok = false
		}
		c := Checklist{Phase: ph}
		what := "checklists." + kv.key
		for i, it := range d.list(kv.value, what, MaxItemsPerPhase) {
			iw := fmt.Sprintf("%s[%d]", what, i)
			fields, fok := d.mapping(it, iw)
			if !fok {
				continue
			}
			item := Item{Severity: sitrep.MaxSeverity}
			has := map[string]bool{}
			for _, f := range fields {
				has[f.key] = true
				fw := iw + "." + f.key
				switch f.key {
				case "task":
					item.Task = d.text(f.value, fw, sitrep.MaxTitle, true, true)
				case "section":
					s, at, sok := d.scalar(f.value, fw)
					if !sok {
						break
					}
					switch {
					case s == sitrep.RoleCommand:
						d.problem(at, "command is not a section: give the section that does the work (%s, an officer, or a role this plan adds)", strings.Join(sitrep.Sections, ", "))
					case s == "":
						d.problem(at, "%s is empty", fw)
					default:
						item.Section = s
						sections = append(sections, sectionAt{s, at})
					}
				case "assignee":
					u, at, uok := d.scalar(f.value, fw)
					if !uok || u == "" {
						break
					}
					if sitrep.ValidateName("user", u) != nil {
						d.problem(at, "%s: %q is not a user name", fw, clipTo(u, 40))
						break
					}
					item.Assignee = u
				case "severity":
					if s, sok := d.integer(f.value, fw, 1, sitrep.MaxSeverity); sok {
						item.Severity = s
					}
				default:
					d.unknown(f, "a checklist item", itemKeys)
				}
			}
			if !has["task"] {
				d.problem(it, "%s has no task: give the work to do as task:", iw)
			}
			if !has["section"] {
				d.problem(it, "%s has no section: say which section or role does it (e.g. section: operations)", iw)
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
				d.problem(s.at, "section %q is neither an ICS section or officer nor a role this plan adds under roles%s", clipTo(s.section, 40), didYouMean(s.section, known))
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
	for i, it := range d.list(n, "communications", MaxTemplates) {
		w := fmt.Sprintf("communications[%d]", i)
		fields, ok := d.mapping(it, w)
		if !ok {
			continue
		}
		var t Template
		has := map[string]bool{}
		for _, f := range fields {
			has[f.key] = true
			fw := w + "." + f.key
			switch f.key {
			case "name":
				s, at, sok := d.scalar(f.value, fw)
				if !sok {
					break
				}
				switch {
				case sitrep.ValidateName("name", s) != nil:
					d.problem(at, "template name %q is not valid: use 1–64 lower-case letters, digits, '.', '_' or '-'", clipTo(s, 40))
				case slices.ContainsFunc(out, func(o Template) bool { return o.Name == s }):
					d.problem(at, "a template named %s is already defined in this plan", s)
				default:
					t.Name = s
				}
			case "audience":
				t.Audience = d.audience(f.value, fw)
			case "phase":
				s, at, sok := d.scalar(f.value, fw)
				if !sok {
					break
				}
				if ph := sitrep.Phase(s); ph.Index() < 0 {
					d.problem(at, "%q is not a phase%s (phases: %s)", clipTo(s, 40), didYouMean(s, phaseNames()), strings.Join(phaseNames(), ", "))
				} else {
					t.Phase = ph
				}
			case "command_approval":
				t.CommandApproval = d.boolean(f.value, fw)
			case "text":
				t.Text = d.text(f.value, fw, MaxText, false, true)
				d.placeholders(t.Text, f.value)
			default:
				d.unknown(f, "a communication template", templateKeys)
			}
		}
		for _, k := range []string{"name", "audience", "text"} {
			if !has[k] {
				d.problem(it, "%s has no %s", w, k)
			}
		}
		out = append(out, t)
	}
	return out
}

func (d *decoder) audience(n ast.Node, what string) string {
	s, at, ok := d.scalar(n, what)
	if !ok {
		return ""
	}
	if sitrep.ValidateAudience(s) != nil {
		d.problem(at, "audience %q is not valid: use 1–32 lower-case letters, digits and '-', e.g. internal, executives, customers, regulators", clipTo(s, 40))
		return ""
	}
	return s
}

func (d *decoder) notifyLists(n ast.Node) []NotifyList {
	var out []NotifyList
	for i, it := range d.list(n, "notify", MaxNotifyLists) {
		w := fmt.Sprintf("notify[%d]", i)
		fields, ok := d.mapping(it, w)
		if !ok {
			continue
		}
		l := NotifyList{Severity: sitrep.MaxSeverity}
		has := map[string]bool{}
		for _, f := range fields {
			has[f.key] = true
			fw := w + "." + f.key
			switch f.key {
			case "audience":
				l.Audience = d.audience(f.value, fw)
			case "severity":
				if s, sok := d.integer(f.value, fw, 1, sitrep.MaxSeverity); sok {
					l.Severity = s
				}
			case "to":
				items := d.list(f.value, fw, MaxPeople)
				if d.empty(f.value) {
					d.problem(f.value, "%s is empty: name users or e-mail addresses", fw)
				}
				for j, x := range items {
					s, at, sok := d.scalar(x, fmt.Sprintf("%s[%d]", fw, j))
					if !sok {
						continue
					}
					if err := recipient(s); err != "" {
						d.problem(at, "%s: %s", fw, err)
						continue
					}
					l.To = append(l.To, s)
				}
			default:
				d.unknown(f, "a notify list", notifyKeys)
			}
		}
		for _, k := range []string{"audience", "to"} {
			if !has[k] {
				d.problem(it, "%s has no %s", w, k)
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
			return fmt.Sprintf("%q is not an e-mail address: write it bare, like security@example.com", clipTo(s, 60))
		}
		return ""
	}
	if sitrep.ValidateName("user", s) != nil {
		return fmt.Sprintf("%q is neither a user name nor an e-mail address", clipTo(s, 60))
	}
	return ""
}

func (d *decoder) targets(n ast.Node) Targets {
	var t Targets
	pairs, _ := d.mapping(n, "targets")
	for _, kv := range pairs {
		what := "targets." + kv.key
		switch kv.key {
		case "declare":
			t.Declare = d.duration(kv.value, what)
		case "command":
			t.Command = d.duration(kv.value, what)
		case "information_officer":
			t.InformationOfficer = d.duration(kv.value, what)
		case "first_internal_update":
			t.FirstInternalUpdate = d.duration(kv.value, what)
		case "contained":
			t.Contained = d.duration(kv.value, what)
		default:
			d.unknown(kv, "targets", targetKeys)
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
			d.problemAt(line, col, "{{ is not closed: placeholders look like {{title}}")
		case !slices.Contains(Placeholders, ph.name):
			d.problemAt(line, col, "unknown placeholder {{%s}}%s (known: %s)", clipTo(ph.name, 40), didYouMean(ph.name, Placeholders), strings.Join(Placeholders, ", "))
		}
	}
}

// placeholderPos finds a placeholder's line and column in the source. In a
// block scalar each line of the text is a line of the file; elsewhere the
// text's own position is the best there is.
func (d *decoder) placeholderPos(n ast.Node, ph placeholder) (int, int) {
	r := d.resolve(n)
	line, col := position(r)
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

func lineCol(data []byte, off int) (int, int) {
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := off - bytes.LastIndexByte(before, '\n')
	return line, col
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// empty reports whether n is an empty value or an empty list.
func (d *decoder) empty(n ast.Node) bool {
	switch v := d.resolve(n).(type) {
	case *ast.NullNode:
		return true
	case *ast.SequenceNode:
		return len(v.Values) == 0
	}
	return false
}
