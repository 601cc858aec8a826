package sitrep

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Test helpers shared by the domain's tests. Commands' decide are pure
// functions of the incident's state, so these tests build state through the
// commands themselves, without a store.

// t0 is when every scene's incident is declared.
var t0 = time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)

// user returns the person called name: "root" administers sitrep, "vic" is a
// viewer, everyone else is a responder.
func user(name string) *User {
	switch name {
	case "root":
		return &User{Name: name, Role: OrgAdmin}
	case "vic":
		return &User{Name: name, Role: OrgViewer}
	}
	return &User{Name: name, Role: OrgResponder}
}

// scene is one incident and its timeline, changed only by commands.
type scene struct {
	t       testing.TB
	inc     *Incident
	entries []Entry
	// last holds the entries of the latest successful command.
	last []Entry
	now  time.Time
}

// declare opens an incident declared by by, the way Service.Declare does.
func declare(t testing.TB, by string, in DeclareInput) *scene {
	t.Helper()
	if in.Title == "" {
		in.Title = "ransomware on the file server"
	}
	if in.Kind == "" {
		in.Kind = DefaultKind
	}
	if in.Severity == 0 {
		in.Severity = DefaultSeverity
	}
	s := &scene{t: t, inc: &Incident{ID: "IR-2026-0042"}, now: t0}
	a := &appender{inc: s.inc, actor: by, at: s.now}
	if err := a.add(&Declared{Title: in.Title, Kind: in.Kind, Severity: in.Severity, Confidential: in.Confidential, Exercise: in.Exercise}); err != nil {
		t.Fatalf("declare: %v", err)
	}
	s.entries, s.last = a.entries, a.entries
	return s
}

// staffed declares an incident by ada (Command) and checks in the others.
func staffed(t testing.TB, others ...string) *scene {
	t.Helper()
	s := declare(t, "ada", DeclareInput{})
	for _, u := range others {
		s.must(u, CheckIn{})
	}
	return s
}

// do runs cmd as actor the way Service.Do does inside the store's
// transaction: on a copy of the state, after the checks every command shares;
// the copy is kept only when the command succeeds, since decide may have
// changed it before refusing.
func (s *scene) do(actor string, cmd Command) error {
	s.t.Helper()
	s.now = s.now.Add(time.Minute)
	u := user(actor)
	if err := requireWriter(u, cmd.Action()); err != nil {
		return err
	}
	inc := clone(s.t, s.inc)
	if !inc.VisibleTo(u) {
		return notFound(inc.ID)
	}
	if err := new(Service).allowed(inc, u, cmd); err != nil {
		return err
	}
	a := &appender{inc: inc, actor: actor, at: s.now}
	if err := cmd.decide(inc, u, a); err != nil {
		return err
	}
	if len(a.entries) == 0 {
		s.t.Fatalf("%s by %s succeeded without a timeline entry", cmd.Action(), actor)
	}
	s.inc = inc
	s.entries = append(s.entries, a.entries...)
	s.last = a.entries
	return nil
}

// must runs cmd and fails the test if it is refused.
func (s *scene) must(actor string, cmd Command) *scene {
	s.t.Helper()
	if err := s.do(actor, cmd); err != nil {
		s.t.Fatalf("%s by %s: %v", cmd.Action(), actor, err)
	}
	return s
}

// assign checks user in if needed and gives them role, as Command.
func (s *scene) assign(role, u string) *scene {
	s.t.Helper()
	if !s.inc.CheckedIn(u) {
		s.must(u, CheckIn{})
	}
	return s.must(s.inc.Command, Assign{Role: role, User: u})
}

// lastTypes returns the types of the latest command's entries.
func (s *scene) lastTypes() []string {
	var ts []string
	for _, e := range s.last {
		ts = append(ts, e.Type)
	}
	return ts
}

// clone deep-copies an incident through JSON, the form the stores keep.
func clone(t testing.TB, inc *Incident) *Incident {
	t.Helper()
	b, err := json.Marshal(inc)
	if err != nil {
		t.Fatalf("encode incident: %v", err)
	}
	var c Incident
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("decode incident: %v", err)
	}
	return &c
}

// replay rebuilds an incident from its timeline alone, checking the chain as
// Service.Verify does.
func replay(entries []Entry) (*Incident, error) {
	inc := &Incident{}
	prev := ""
	for i := range entries {
		e := &entries[i]
		if e.Seq != int64(i+1) {
			return nil, fmt.Errorf("entry %d has seq %d", i+1, e.Seq)
		}
		if e.PrevHash != prev {
			return nil, fmt.Errorf("entry %d: prev_hash %.12s, previous hash %.12s", e.Seq, e.PrevHash, prev)
		}
		if h := e.ComputeHash(); h != e.Hash {
			return nil, fmt.Errorf("entry %d: hash %.12s, content hashes to %.12s", e.Seq, e.Hash, h)
		}
		if err := Apply(inc, e); err != nil {
			return nil, err
		}
		prev = e.Hash
	}
	return inc, nil
}

// violations lists the ICS invariants the state breaks: exactly one Command,
// on scene; delegated roles held once each, by people on scene other than
// Command; a pending transfer to someone on scene; an announcement whose
// pending people are on scene; tasks numbered 1…n.
func violations(inc *Incident) []string {
	var v []string
	if inc.Command == "" {
		v = append(v, "no Command")
	}
	if !inc.CheckedIn(inc.Command) && inc.Open() {
		v = append(v, fmt.Sprintf("Command %s is not checked in", inc.Command))
	}
	seen := map[string]bool{}
	for _, r := range inc.Roles {
		if seen[r.Role] {
			v = append(v, fmt.Sprintf("role %s is held twice", r.Role))
		}
		seen[r.Role] = true
		if r.Role == RoleCommand {
			v = append(v, "command is a delegated role")
		}
		if r.User == inc.Command {
			v = append(v, fmt.Sprintf("Command %s holds %s as a delegated role", r.User, r.Role))
		}
		if !inc.CheckedIn(r.User) {
			v = append(v, fmt.Sprintf("%s holds %s but is not checked in", r.User, r.Role))
		}
	}
	if tr := inc.Transfer; tr != nil {
		if tr.To == inc.Command {
			v = append(v, "command is offered to Command")
		}
		if !inc.CheckedIn(tr.To) {
			v = append(v, fmt.Sprintf("command is offered to %s, who is not checked in", tr.To))
		}
		if tr.From != inc.Command {
			v = append(v, fmt.Sprintf("command is offered by %s, who is not Command", tr.From))
		}
	}
	if an := inc.Announcement; an != nil {
		for _, u := range an.Pending {
			if !inc.CheckedIn(u) {
				v = append(v, fmt.Sprintf("%s must acknowledge but is not checked in", u))
			}
		}
		if len(an.Pending) == 0 && an.Complete == nil {
			v = append(v, "announcement acknowledged by all but not complete")
		}
		if len(an.Pending) > 0 && an.Complete != nil {
			v = append(v, "announcement complete with people pending")
		}
	}
	for i, task := range inc.Tasks {
		if task.ID != i+1 {
			v = append(v, fmt.Sprintf("task %d has id %d", i+1, task.ID))
		}
	}
	return v
}

// wantErr checks err against the expected kind, rule, field and a part of the
// message that says why. An empty kind means the command must succeed.
type wantErr struct {
	kind  Kind
	rule  string
	field string
	msg   []string
}

func (w wantErr) check(t testing.TB, err error) {
	t.Helper()
	if w.kind == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("allowed; want %s (rule %q)", w.kind, w.rule)
	}
	e := AsError(err)
	if e == nil {
		t.Fatalf("error %v is not an *Error", err)
	}
	if e.Kind != w.kind || e.Rule != w.rule {
		t.Errorf("kind %s, rule %q; want %s, rule %q (%v)", e.Kind, e.Rule, w.kind, w.rule, err)
	}
	if w.field != "" && e.Field != w.field {
		t.Errorf("field %q; want %q (%v)", e.Field, w.field, err)
	}
	for _, m := range w.msg {
		if !strings.Contains(e.Message, m) {
			t.Errorf("message %q does not say %q", e.Message, m)
		}
	}
}

// permitted, refused and friends make the rule tables read like the rules.
var permitted = wantErr{}

func refused(rule string, msg ...string) wantErr {
	return wantErr{kind: EForbidden, rule: rule, msg: msg}
}

func conflict(field string, msg ...string) wantErr {
	return wantErr{kind: EConflict, field: field, msg: msg}
}

func invalid(field string, msg ...string) wantErr {
	return wantErr{kind: EInvalid, field: field, msg: msg}
}

// ptr returns a pointer to v, for the optional fields of Edit and EditReport.
func ptr[T any](v T) *T { return &v }

// entryTypes returns the sorted registered entry types.
func entryTypes() []string {
	var ts []string
	for k := range changeTypes {
		ts = append(ts, k)
	}
	slices.Sort(ts)
	return ts
}
