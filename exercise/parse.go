package exercise

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/internal/yamlcheck"
)

// The keys of each part of the format, in the order docs/exercises.md lists
// them.
var (
	scenarioKeys = []string{"title", "description", "plan", "kind", "severity", "declare", "duration", "participants", "injects", "expect"}
	injectKeys   = []string{"name", "at", "alert", "message"}
	alertKeys    = []string{"summary", "severity", "labels", "dedup_key", "action", "repeat"}
	messageKeys  = []string{"to", "from", "text"}
	expectKeys   = []string{"name", "title", "do", "role", "audience", "phase", "contains", "kind", "count", "by", "after", "within"}
	declareModes = []string{DeclareDispatch, DeclareManual, DeclareStart}
)

// paramsOf lists, for each action, the keys it takes beside name, title,
// do, after and within; required ones first, marked by required.
var paramsOf = map[string][]string{
	DoDeclare:  {},
	DoCommand:  {},
	DoCheckIn:  {"count"},
	DoAssign:   {"role"},
	DoPublish:  {"audience", "by"},
	DoPhase:    {"phase"},
	DoTransfer: {"by"},
	DoTaskDone: {"contains", "by"},
	DoNote:     {"contains", "by"},
	DoAsset:    {"kind", "by"},
}

var requiredParam = map[string]string{DoAssign: "role", DoPhase: "phase"}

var slugRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// NameOf returns the name of the scenario in file: its base name without
// the .yaml or .yml extension.
func NameOf(file string) string {
	base := filepath.Base(file)
	return strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
}

// Parse reads one scenario from data, read from file. It returns the
// scenario, or every problem found in it, sorted; the scenario is not yet
// checked against the plans (see Check). It never panics on any input.
func Parse(file string, data []byte) (*Scenario, Problems) {
	sc, problems := parse(file, data)
	if len(problems) > 0 {
		return nil, problems.Sorted()
	}
	return sc, nil
}

// position is where a part of the scenario is written: line and column.
type position [2]int

func parse(file string, data []byte) (sc *Scenario, problems Problems) {
	d, body := yamlcheck.Open(file, data, yamlcheck.Format{What: "scenario", Limits: yamlcheck.Limits{MaxSize: MaxFileSize, MaxNodes: maxNodes}})
	sum := sha256.Sum256(data)
	sc = &Scenario{Name: NameOf(file), File: file, SHA256: hex.EncodeToString(sum[:]), Injects: []Inject{}, Expect: []Expectation{}}
	if err := sitrep.ValidateName("scenario", sc.Name); err != nil {
		d.ProblemAt(0, 0, "the file name makes the scenario's name %q, which is not valid: name scenario files with lower-case letters, digits, '.', '_' or '-' and end them in .yaml", yamlcheck.Clip(sc.Name, 60))
	}
	if body == nil {
		return nil, d.Problems
	}
	p := &parser{d: d, sc: sc, pos: map[string]position{}}
	func() {
		defer d.Recover()
		p.scenario(body)
	}()
	if len(d.Problems) > 0 {
		return nil, d.Problems
	}
	sc.pos = p.pos
	return sc, nil
}

// parser reads one scenario's parts through its decoder.
type parser struct {
	d   *yamlcheck.Decoder
	sc  *Scenario
	pos map[string]position
}

func (p *parser) mark(key string, n ast.Node) {
	line, col := yamlcheck.Position(n)
	p.pos[key] = position{line, col}
}

func (p *parser) scenario(n ast.Node) {
	d, sc := p.d, p.sc
	pairs, ok := d.Mapping(n, "a scenario")
	if !ok {
		return
	}
	has := map[string]ast.Node{}
	for _, kv := range pairs {
		has[kv.Key] = kv.At
		switch kv.Key {
		case "title":
			sc.Title = d.Text(kv.Value, "title", sitrep.MaxTitle, true, true)
		case "description":
			sc.Description = d.Text(kv.Value, "description", MaxText, false, false)
		case "plan":
			s, at, ok := d.Scalar(kv.Value, "plan")
			if !ok {
				break
			}
			p.mark("plan", at)
			if sitrep.ValidateName("plan", s) != nil {
				d.Problem(at, "plan %q is not a plan's name: give the plan file's name without .yaml, e.g. malware", yamlcheck.Clip(s, 40))
				break
			}
			sc.Plan = s
		case "kind":
			s, at, ok := d.Scalar(kv.Value, "kind")
			if !ok {
				break
			}
			p.mark("kind", at)
			if !slugRE.MatchString(s) {
				d.Problem(at, "kind %q is not valid: use 1–32 lower-case letters, digits and '-', starting with a letter", yamlcheck.Clip(s, 40))
				break
			}
			sc.Kind = s
		case "severity":
			if s, ok := d.Integer(kv.Value, "severity", 1, sitrep.MaxSeverity); ok {
				sc.Severity = s
			}
		case "declare":
			s, at, ok := d.Scalar(kv.Value, "declare")
			if !ok {
				break
			}
			if !slices.Contains(declareModes, s) {
				d.Problem(at, "declare %q is not valid%s: dispatch (a dispatch rule declares from an alert), manual (the participants declare from the triage desk) or start (declared when the exercise starts)", yamlcheck.Clip(s, 20), yamlcheck.DidYouMean(s, declareModes))
				break
			}
			p.mark("declare", at)
			sc.Declare = s
		case "duration":
			if dur, ok := d.Duration(kv.Value, "duration", false, MaxDuration); ok {
				sc.Duration = Seconds(dur.Seconds())
				if sc.Duration < 1 {
					d.Problem(kv.Value, "duration must be at least 1s")
				}
			}
			p.mark("duration", kv.Value)
		case "participants":
			sc.Participants = p.participants(kv.Value)
		case "injects":
			p.injects(kv.Value)
		case "expect":
			p.expectations(kv.Value)
		case "name":
			d.Problem(kv.At, "unknown field \"name\": a scenario's name is its file name (%s); give people a title instead", sc.Name)
		default:
			d.Unknown(kv, "the scenario", scenarioKeys)
		}
	}
	if has["title"] == nil {
		d.Problem(n, "the scenario has no title: add title: followed by its name for people, e.g. \"Ransomware on a finance laptop\"")
	}
	if has["plan"] == nil {
		d.Problem(n, "the scenario rehearses no plan: add plan: with the name of a plan of the plans directory, e.g. malware")
	}
	if has["duration"] == nil {
		d.Problem(n, "the scenario has no duration: add duration: with its length in scenario time, e.g. 2h")
	}
	if sc.Declare == "" {
		sc.Declare = DeclareStart
		if sc.Alerts() {
			sc.Declare = DeclareDispatch
		}
	} else if sc.Declare != DeclareStart && !sc.Alerts() {
		at := has["declare"]
		d.Problem(at, "declare: %s needs an alert inject to declare from: add one under injects, or use declare: start", sc.Declare)
	}
	p.timings()
}

func (p *parser) participants(n ast.Node) []string {
	var out []string
	for i, it := range p.d.List(n, "participants", MaxParticipants) {
		what := fmt.Sprintf("participants[%d]", i)
		u, at, ok := p.d.Scalar(it, what)
		if !ok {
			continue
		}
		switch {
		case sitrep.ValidateName("user", u) != nil:
			p.d.Problem(at, "%s: %q is not a user name", what, yamlcheck.Clip(u, 40))
		case u == sitrep.DispatchUser:
			p.d.Problem(at, "%s: %s is sitrep's own dispatcher, not a participant", what, u)
		case slices.Contains(out, u):
			p.d.Problem(at, "participant %s is listed twice", u)
		default:
			p.mark(what, at)
			out = append(out, u)
		}
	}
	return out
}

func (p *parser) injects(n ast.Node) {
	d := p.d
	for i, it := range d.List(n, "injects", MaxInjects) {
		what := fmt.Sprintf("injects[%d]", i)
		fields, ok := d.Mapping(it, what)
		if !ok {
			continue
		}
		in := Inject{key: what}
		has := map[string]bool{}
		for _, f := range fields {
			has[f.Key] = true
			fw := what + "." + f.Key
			switch f.Key {
			case "name":
				in.Name = p.name(f.Value, fw, "inject")
			case "at":
				if dur, ok := d.Duration(f.Value, fw, true, MaxDuration); ok {
					in.At = Seconds(dur.Seconds())
				}
				p.mark(fw, f.Value)
			case "alert":
				in.Alert = p.alert(f.Value, fw)
			case "message":
				in.Message = p.message(f.Value, fw)
			default:
				d.Unknown(f, "an inject", injectKeys)
			}
		}
		switch {
		case !has["name"]:
			d.Problem(it, "%s has no name: give it one (name: reporter-call) so that expectations can refer to it", what)
		case !has["at"]:
			d.Problem(it, "inject %s has no time: say when it happens with at:, e.g. at: 5m", in.Name)
		case has["alert"] && has["message"]:
			d.Problem(it, "inject %s is both an alert and a message: make them two injects", in.Name)
		case !has["alert"] && !has["message"]:
			d.Problem(it, "inject %s is neither an alert nor a message: add alert: or message:", in.Name)
		}
		if in.Name == "" {
			continue
		}
		if p.sc.Inject(in.Name) != nil {
			d.Problem(it, "inject name %s is used twice: inject names are unique within a scenario", in.Name)
			continue
		}
		p.mark(what, it)
		if in.Alert != nil && in.Alert.DedupKey == "" {
			in.Alert.DedupKey = in.Name
		}
		p.sc.Injects = append(p.sc.Injects, in)
	}
}

// name reads the name of an inject or an expectation.
func (p *parser) name(n ast.Node, what, of string) string {
	s, at, ok := p.d.Scalar(n, what)
	if !ok {
		return ""
	}
	if sitrep.ValidateName(of, s) != nil {
		p.d.Problem(at, "%s name %q is not valid: use 1–64 lower-case letters, digits, '.', '_' or '-'", of, yamlcheck.Clip(s, 40))
		return ""
	}
	return s
}

func (p *parser) alert(n ast.Node, what string) *AlertInject {
	d := p.d
	fields, ok := d.Mapping(n, what)
	if !ok {
		return nil
	}
	a := &AlertInject{Repeat: 1}
	has := false
	for _, f := range fields {
		fw := what + "." + f.Key
		switch f.Key {
		case "summary":
			has = true
			a.Summary = d.Text(f.Value, fw, sitrep.MaxAlertSummary, true, true)
		case "severity":
			if s, ok := d.Integer(f.Value, fw, 1, sitrep.MaxSeverity); ok {
				a.Severity = s
			}
		case "labels":
			a.Labels = p.labels(f.Value, fw)
		case "dedup_key":
			// Room is left for the exercise's prefix (see Runner).
			a.DedupKey = d.Text(f.Value, fw, sitrep.MaxAlertDedupKey-32, true, true)
		case "action":
			s, at, ok := d.Scalar(f.Value, fw)
			if ok && s != sitrep.ActionTrigger && s != sitrep.ActionResolve {
				d.Problem(at, "%s %q is not valid: trigger (the default) or resolve", fw, yamlcheck.Clip(s, 20))
				break
			}
			a.Action = s
		case "repeat":
			if r, ok := d.Integer(f.Value, fw, 1, MaxRepeat); ok {
				a.Repeat = r
			}
		default:
			d.Unknown(f, "an alert", alertKeys)
		}
	}
	if !has {
		d.Problem(n, "%s has no summary: give the alert's one-line text as summary:", what)
	}
	return a
}

func (p *parser) labels(n ast.Node, what string) map[string]string {
	d := p.d
	pairs, _ := d.Mapping(n, what)
	if len(pairs) > sitrep.MaxAlertLabels-1 {
		d.Problem(n, "%s has %d labels; the limit is %d", what, len(pairs), sitrep.MaxAlertLabels-1)
		pairs = pairs[:sitrep.MaxAlertLabels-1]
	}
	out := map[string]string{}
	for _, kv := range pairs {
		fw := what + "." + kv.Key
		switch {
		case kv.Key == sitrep.ExerciseLabel:
			d.Problem(kv.At, "label %s is set by the exercise itself: leave it out", sitrep.ExerciseLabel)
			continue
		case strings.TrimSpace(kv.Key) == "" || len(kv.Key) > sitrep.MaxAlertLabelKey:
			d.Problem(kv.At, "label name %q is not valid: 1 to %d bytes", yamlcheck.Clip(kv.Key, 40), sitrep.MaxAlertLabelKey)
			continue
		}
		out[kv.Key] = d.Text(kv.Value, fw, sitrep.MaxAlertLabelValue, true, false)
	}
	return out
}

func (p *parser) message(n ast.Node, what string) *MessageInject {
	d := p.d
	fields, ok := d.Mapping(n, what)
	if !ok {
		return nil
	}
	m := &MessageInject{}
	has := map[string]bool{}
	for _, f := range fields {
		has[f.Key] = true
		fw := what + "." + f.Key
		switch f.Key {
		case "to":
			m.To = p.role(f.Value, fw)
		case "from":
			m.From = d.Text(f.Value, fw, MaxLine, true, false)
		case "text":
			m.Text = d.Text(f.Value, fw, MaxText, false, true)
		default:
			d.Unknown(f, "a message", messageKeys)
		}
	}
	if !has["to"] {
		d.Problem(n, "%s is to no one: give the role it is for as to:, e.g. to: information", what)
	}
	if !has["text"] {
		d.Problem(n, "%s has no text", what)
	}
	return m
}

// role reads a role name, recording where it is for Check.
func (p *parser) role(n ast.Node, what string) string {
	s, at, ok := p.d.Scalar(n, what)
	if !ok {
		return ""
	}
	if s != sitrep.RoleCommand && sitrep.ValidateRole(s) != nil {
		p.d.Problem(at, "%s: role %q is not valid: use command, an ICS role (%s) or a role the plan adds", what, yamlcheck.Clip(s, 40), strings.Join(icsRoles, ", "))
		return ""
	}
	p.mark(what, at)
	return s
}

var icsRoles = slices.Concat(sitrep.Officers, sitrep.Sections)

func phaseNames() []string {
	out := make([]string, len(sitrep.Phases))
	for i, ph := range sitrep.Phases {
		out[i] = string(ph)
	}
	return out
}

func (p *parser) expectations(n ast.Node) {
	d := p.d
	for i, it := range d.List(n, "expect", MaxExpect) {
		what := fmt.Sprintf("expect[%d]", i)
		fields, ok := d.Mapping(it, what)
		if !ok {
			continue
		}
		e := Expectation{key: what}
		given := map[string]ast.Node{}
		for _, f := range fields {
			given[f.Key] = f.At
			fw := what + "." + f.Key
			switch f.Key {
			case "name":
				e.Name = p.name(f.Value, fw, "expectation")
			case "title":
				e.Title = d.Text(f.Value, fw, MaxLine, true, false)
			case "do":
				s, at, ok := d.Scalar(f.Value, fw)
				if !ok {
					break
				}
				if !slices.Contains(Actions, s) {
					d.Problem(at, "do %q is not an action%s (actions: %s)", yamlcheck.Clip(s, 20), yamlcheck.DidYouMean(s, Actions), strings.Join(Actions, ", "))
					break
				}
				e.Do = s
			case "role":
				e.Role = p.role(f.Value, fw)
				if e.Role == sitrep.RoleCommand {
					d.Problem(f.Value, "command is not assigned: it passes by transfer; expect do: command or do: transfer instead")
				}
			case "by":
				e.By = p.role(f.Value, fw)
			case "audience":
				s, at, ok := d.Scalar(f.Value, fw)
				if ok && !slugRE.MatchString(s) {
					d.Problem(at, "audience %q is not valid: use 1–32 lower-case letters, digits and '-', e.g. internal", yamlcheck.Clip(s, 40))
					break
				}
				e.Audience = s
			case "phase":
				s, at, ok := d.Scalar(f.Value, fw)
				if !ok {
					break
				}
				if sitrep.Phase(s).Index() < 0 {
					d.Problem(at, "%q is not a phase%s (phases: %s)", yamlcheck.Clip(s, 40), yamlcheck.DidYouMean(s, phaseNames()), strings.Join(phaseNames(), ", "))
					break
				}
				e.Phase = sitrep.Phase(s)
			case "contains":
				e.Contains = d.Text(f.Value, fw, MaxLine, true, true)
			case "kind":
				s, at, ok := d.Scalar(f.Value, fw)
				if ok && !slices.Contains(sitrep.AssetKinds, s) {
					d.Problem(at, "asset kind %q is not valid%s (kinds: %s)", yamlcheck.Clip(s, 20), yamlcheck.DidYouMean(s, sitrep.AssetKinds), strings.Join(sitrep.AssetKinds, ", "))
					break
				}
				e.Kind = s
			case "count":
				if c, ok := d.Integer(f.Value, fw, 1, 1000); ok {
					e.Count = c
				}
			case "after":
				s, at, ok := d.Scalar(f.Value, fw)
				if ok {
					e.After = s
					p.mark(fw, at)
				}
			case "within":
				if dur, ok := d.Duration(f.Value, fw, false, MaxDuration); ok {
					e.Within = Seconds(dur.Seconds())
					if e.Within < 1 {
						d.Problem(f.Value, "%s must be at least 1s", fw)
					}
				}
				p.mark(fw, f.Value)
			default:
				d.Unknown(Pair(f), "an expectation", expectKeys)
			}
		}
		label := e.Name
		if label == "" {
			label = what
		}
		switch {
		case given["name"] == nil:
			d.Problem(it, "%s has no name: give it one (name: io-named) for the report", what)
		case given["do"] == nil:
			d.Problem(it, "expectation %s has no action: say what is expected with do: (%s)", label, strings.Join(Actions, ", "))
		case given["within"] == nil:
			d.Problem(it, "expectation %s has no deadline: say by when with within:, e.g. within: 10m", label)
		}
		if e.Do != "" {
			allowed := paramsOf[e.Do]
			for _, k := range []string{"role", "audience", "phase", "contains", "kind", "count", "by"} {
				if at := given[k]; at != nil && !slices.Contains(allowed, k) {
					d.Problem(at, "%s does not go with do: %s%s", k, e.Do, takes(e.Do))
				}
			}
			if r := requiredParam[e.Do]; r != "" && given[r] == nil {
				d.Problem(it, "expectation %s: do: %s needs %s:", label, e.Do, r)
			}
		}
		if e.Name == "" {
			continue
		}
		if slices.ContainsFunc(p.sc.Expect, func(x Expectation) bool { return x.Name == e.Name }) {
			d.Problem(it, "expectation name %s is used twice: expectation names are unique within a scenario", e.Name)
			continue
		}
		if e.Do == DoCheckIn && e.Count == 0 {
			e.Count = 1
		}
		p.mark(what, it)
		p.sc.Expect = append(p.sc.Expect, e)
	}
}

// Pair is yamlcheck's key: value, for Unknown.
type Pair = yamlcheck.Pair

func takes(do string) string {
	ps := paramsOf[do]
	if len(ps) == 0 {
		return " (it takes none of role, audience, phase, contains, kind, count, by)"
	}
	return " (it takes " + strings.Join(ps, ", ") + ")"
}

// timings checks what the times of the whole scenario allow: injects in time
// order and before the end, triggers that exist, deadlines before the end.
func (p *parser) timings() {
	sc, d := p.sc, p.d
	at := func(key string) (int, int) {
		if pos, ok := p.pos[key]; ok {
			return pos[0], pos[1]
		}
		return 1, 1
	}
	for i, in := range sc.Injects {
		key := in.key + ".at"
		if i > 0 && in.At < sc.Injects[i-1].At {
			line, col := at(key)
			d.ProblemAt(line, col, "inject %s at %s comes before the inject above it (%s at %s): list injects in time order", in.Name, in.At, sc.Injects[i-1].Name, sc.Injects[i-1].At)
		}
		if sc.Duration > 0 && in.At >= sc.Duration {
			line, col := at(key)
			d.ProblemAt(line, col, "inject %s at %s is not before the scenario ends (duration %s)", in.Name, in.At, sc.Duration)
		}
	}
	first := sc.FirstAlert()
	for i := range sc.Expect {
		e := &sc.Expect[i]
		key := e.key
		if e.After == "" {
			e.After = AfterDeclared
			if e.Do == DoDeclare {
				e.After = AfterStart
				if first != nil {
					e.After = first.Name
				}
			}
		}
		var from Seconds
		switch e.After {
		case AfterStart:
		case AfterDeclared:
			if e.Do == DoDeclare {
				line, col := at(key + ".after")
				d.ProblemAt(line, col, "expectation %s: the declaration cannot be expected after itself: measure it from start or an inject", e.Name)
				continue
			}
			if first != nil && sc.Declare != DeclareStart {
				from = first.At // no declaration before the first alert
			}
		default:
			in := sc.Inject(e.After)
			if in == nil {
				var names []string
				for _, in := range sc.Injects {
					names = append(names, in.Name)
				}
				line, col := at(key + ".after")
				d.ProblemAt(line, col, "expectation %s runs after %q, which is neither start, declared nor an inject%s", e.Name, yamlcheck.Clip(e.After, 40), yamlcheck.DidYouMean(e.After, append(names, AfterStart, AfterDeclared)))
				continue
			}
			from = in.At
		}
		if e.Do == DoDeclare && sc.Declare == DeclareStart {
			line, col := at(key)
			d.ProblemAt(line, col, "expectation %s expects a declaration, but with declare: start the exercise declares the incident itself", e.Name)
		}
		if sc.Duration > 0 && e.Within > 0 && from+e.Within > sc.Duration {
			line, col := at(key + ".within")
			d.ProblemAt(line, col, "expectation %s is due at %s (%s after %s at %s), after the scenario ends (duration %s): shorten within or lengthen the scenario", e.Name, from+e.Within, e.Within, e.After, from, sc.Duration)
		}
	}
}
