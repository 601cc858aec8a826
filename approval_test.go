package sitrep

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// breachPlan is a plan whose statements to customers and to the press need
// Command's authorisation; executives are told without it.
var breachPlan = &PlanSpec{
	Name: "data-breach", Title: "Breach of personal data", SHA256: strings.Repeat("ab", 32),
	Communications: []PlanTemplate{
		{Name: "executive-brief", Audience: "executives", Text: "{{id}}: {{title}}. Phase {{phase}}.\nCommand: {{command}}; speaking for us: {{ information_officer }}."},
		{Name: "customer-notice", Audience: "customers", CommandApproval: true, Text: "About {{id}}: <what happened>."},
		{Name: "press-holding", Audience: "press", CommandApproval: true, Text: "We are investigating."},
		// One template to the press without the flag: the audience still
		// needs approval, or any statement could go around it.
		{Name: "press-update", Audience: "press", Text: "An update on {{title}}."},
	},
}

// planned declares an incident by ada run with breachPlan, with cy on scene.
func planned(t testing.TB, in DeclareInput) *scene {
	t.Helper()
	s := declare(t, "ada", in)
	a := &appender{inc: s.inc, actor: "ada", at: s.now}
	if err := applyPlan(a, breachPlan, time.Time{}); err != nil {
		t.Fatalf("apply plan: %v", err)
	}
	s.entries = append(s.entries, a.entries...)
	return s.must("cy", CheckIn{})
}

// withIO is planned with bob as Information Officer.
func withIO(t testing.TB) *scene {
	return planned(t, DeclareInput{Title: "customer table for sale"}).assign(RoleInformation, "bob")
}

// drafted is withIO after bob drafted a statement to customers.
func drafted(t testing.TB) *scene {
	return withIO(t).must("bob", Publish{Audience: "customers", Text: "We are writing about an incident."})
}

func notFoundIn(field string, msg ...string) wantErr {
	return wantErr{kind: ENotFound, field: field, msg: msg}
}

// TestCommandApproval holds ICS rule 5's second half: communications to an
// audience the plan marks need Command's authorisation.
func TestCommandApproval(t *testing.T) {
	published := func(audience, text string) func(t *testing.T, s *scene) {
		return func(t *testing.T, s *scene) {
			t.Helper()
			if ts := s.lastTypes(); ts[len(ts)-1] != "communication.published" {
				t.Errorf("entries %v; want the last to publish", ts)
			}
			c := s.inc.Communications[len(s.inc.Communications)-1]
			if c.Audience != audience || c.Text != text {
				t.Errorf("published %q to %s; want %q to %s", c.Text, c.Audience, text, audience)
			}
		}
	}
	tests := []struct {
		name  string
		setup func(testing.TB) *scene
		actor string
		cmd   Command
		want  wantErr
		then  func(t *testing.T, s *scene)
	}{
		{
			name: "the Information Officer's statement to customers waits for Command", setup: withIO,
			actor: "bob", cmd: Publish{Audience: "customers", Text: "We are writing about an incident."}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if diff := cmp.Diff([]string{"communication.drafted"}, s.lastTypes()); diff != "" {
					t.Errorf("entries (-want +got):\n%s", diff)
				}
				if len(s.inc.Communications) != 0 {
					t.Errorf("a draft reached customers: %+v", s.inc.Communications)
				}
				want := []Draft{{ID: 1, Audience: "customers", Text: "We are writing about an incident.", By: "bob", At: s.now, Status: DraftPending}}
				if diff := cmp.Diff(want, s.inc.PendingDrafts()); diff != "" {
					t.Errorf("pending drafts (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "an audience with one approved template needs approval for every statement", setup: withIO,
			actor: "bob", cmd: Publish{Audience: "press", Template: "press-update"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				d := s.inc.Drafts[0]
				if d.Text != "An update on customer table for sale." || d.Template != "press-update" || d.Status != DraftPending {
					t.Errorf("draft %+v; want the press update filled in, pending", d)
				}
			},
		},
		{
			name: "executives are told without approval", setup: withIO,
			actor: "bob", cmd: Publish{Audience: "executives", Text: "Customer table for sale; no confirmed loss yet."}, want: permitted,
			then: published("executives", "Customer table for sale; no confirmed loss yet."),
		},
		{
			name:  "Command publishing while no one is Information Officer needs no approval",
			setup: func(t testing.TB) *scene { return planned(t, DeclareInput{}) },
			actor: "ada", cmd: Publish{Audience: "customers", Text: "We are investigating."}, want: permitted,
			then: published("customers", "We are investigating."),
		},
		{
			name: "Command does not speak over the Information Officer", setup: withIO,
			actor: "ada", cmd: Publish{Audience: "customers", Text: "We are investigating."},
			want: refused("one-voice", "only the Information Officer (bob) publishes"),
		},
		{
			name: "without a plan nothing waits", setup: func(t testing.TB) *scene { return staffed(t, "bob").assign(RoleInformation, "bob") },
			actor: "bob", cmd: Publish{Audience: "customers", Text: "We are investigating."}, want: permitted,
			then: published("customers", "We are investigating."),
		},
		{
			name: "an exercise's draft to customers is refused before it is written",
			setup: func(t testing.TB) *scene {
				return planned(t, DeclareInput{Exercise: true}).assign(RoleInformation, "bob")
			},
			actor: "bob", cmd: Publish{Audience: "customers", Text: "drill"},
			want: refused("exercise", "exercises never reach an external audience"),
		},

		// Command decides.
		{
			name: "Command approves: the draft is published", setup: drafted,
			actor: "ada", cmd: ApproveDraft{Draft: 1}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if diff := cmp.Diff([]string{"communication.approved", "communication.published"}, s.lastTypes()); diff != "" {
					t.Errorf("entries (-want +got):\n%s", diff)
				}
				published("customers", "We are writing about an incident.")(t, s)
				d := s.inc.Drafts[0]
				if d.Status != DraftApproved || d.DecidedBy != "ada" || d.DecidedAt == nil || !d.DecidedAt.Equal(s.now) || len(s.inc.PendingDrafts()) != 0 {
					t.Errorf("draft after approval %+v", d)
				}
			},
		},
		{
			name: "Command rejects with a reason", setup: drafted,
			actor: "ada", cmd: RejectDraft{Draft: 1, Reason: "legal has not cleared it"}, want: permitted,
			then: func(t *testing.T, s *scene) {
				if diff := cmp.Diff([]string{"communication.rejected"}, s.lastTypes()); diff != "" {
					t.Errorf("entries (-want +got):\n%s", diff)
				}
				if d := s.inc.Drafts[0]; d.Status != DraftRejected || d.Reason != "legal has not cleared it" || d.DecidedBy != "ada" || len(s.inc.Communications) != 0 {
					t.Errorf("draft after rejection %+v, communications %+v", d, s.inc.Communications)
				}
			},
		},
		{
			name: "a rejection needs a reason", setup: drafted,
			actor: "ada", cmd: RejectDraft{Draft: 1},
			want: invalid("reason", "reason is required"),
		},
		{
			name: "the Information Officer does not approve their own draft", setup: drafted,
			actor: "bob", cmd: ApproveDraft{Draft: 1},
			want: refused("one-voice", "approve: only Command (ada) authorises communications on IR-2026-0042"),
		},
		{
			name: "no one else rejects", setup: drafted,
			actor: "cy", cmd: RejectDraft{Draft: 1, Reason: "I do not like it"},
			want: refused("one-voice", "reject: only Command (ada) authorises communications"),
		},
		{
			name: "a draft is approved once", setup: func(t testing.TB) *scene { return drafted(t).must("ada", ApproveDraft{Draft: 1}) },
			actor: "ada", cmd: ApproveDraft{Draft: 1},
			want: conflict("draft", "draft 1 was already approved by ada"),
		},
		{
			name: "a rejected draft is not approved", setup: func(t testing.TB) *scene { return drafted(t).must("ada", RejectDraft{Draft: 1, Reason: "no"}) },
			actor: "ada", cmd: ApproveDraft{Draft: 1},
			want: conflict("draft", "draft 1 was already rejected by ada"),
		},
		{
			name: "an unknown draft", setup: drafted,
			actor: "ada", cmd: ApproveDraft{Draft: 2},
			want: notFoundIn("draft", "IR-2026-0042 has no draft 2"),
		},
		{
			name: "after a transfer of command the new Command approves", setup: func(t testing.TB) *scene {
				return drafted(t).must("ada", OfferCommand{To: "cy", Briefing: briefing}).must("cy", AcceptCommand{})
			},
			actor: "cy", cmd: ApproveDraft{Draft: 1}, want: permitted,
			then: published("customers", "We are writing about an incident."),
		},

		// Templates.
		{
			name: "a template fills the text and the audience", setup: withIO,
			actor: "bob", cmd: Publish{Template: "executive-brief"}, want: permitted,
			then: published("executives", "IR-2026-0042: customer table for sale. Phase identification.\nCommand: ada; speaking for us: bob."),
		},
		{
			name: "an unknown template", setup: withIO,
			actor: "bob", cmd: Publish{Template: "press-release"},
			want: invalid("template", "plan data-breach has no template press-release", "executive-brief, customer-notice, press-holding"),
		},
		{
			name: "a template and a text", setup: withIO,
			actor: "bob", cmd: Publish{Template: "press-holding", Text: "my own words"},
			want: invalid("text", "a text or a template, not both"),
		},
		{
			name: "a template to another audience", setup: withIO,
			actor: "bob", cmd: Publish{Audience: "regulators", Template: "press-holding"},
			want: invalid("audience", "template press-holding is for press, not regulators"),
		},
		{
			name: "a template without a plan", setup: func(t testing.TB) *scene { return staffed(t) },
			actor: "ada", cmd: Publish{Audience: "customers", Template: "customer-notice"},
			want: invalid("template", "runs with no plan"),
		},
		{
			name: "a template name that is no name", setup: withIO,
			actor: "bob", cmd: Publish{Template: "Press Release!"},
			want: invalid("template", "not a valid name"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.setup(t)
			before, n := clone(t, s.inc), len(s.entries)
			err := s.do(tt.actor, tt.cmd)
			tt.want.check(t, err)
			if err != nil {
				if diff := cmp.Diff(before, s.inc); diff != "" || len(s.entries) != n {
					t.Errorf("refused %s changed the incident (-before +after):\n%s", tt.cmd.Action(), diff)
				}
				return
			}
			if v := violations(s.inc); len(v) > 0 {
				t.Errorf("ICS invariants broken: %v", v)
			}
			if tt.then != nil {
				tt.then(t, s)
			}
			replayed, err := replay(s.entries)
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			if d := stateDiff(s.inc, replayed); d != "" {
				t.Errorf("the timeline replays to another state: %s", d)
			}
		})
	}
}

// TestTemplates: the plan's templates are offered filled in from the
// incident as it stands, with whether their audience needs approval.
func TestTemplates(t *testing.T) {
	s := planned(t, DeclareInput{Title: "customer table for sale", Kind: "data-breach", Severity: 1})
	got := s.inc.Templates()
	want := []Template{
		{Name: "executive-brief", Audience: "executives", Text: "IR-2026-0042: customer table for sale. Phase identification.\nCommand: ada; speaking for us: ada."},
		{Name: "customer-notice", Audience: "customers", CommandApproval: true, Text: "About IR-2026-0042: <what happened>."},
		{Name: "press-holding", Audience: "press", CommandApproval: true, Text: "We are investigating."},
		{Name: "press-update", Audience: "press", CommandApproval: true, Text: "An update on customer table for sale."},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("templates (-want +got):\n%s", diff)
	}
	s.assign(RoleInformation, "bob").must("ada", ChangePhase{Phase: PhaseContainment, Reason: "access confirmed"})
	if got := s.inc.Templates()[0].Text; !strings.Contains(got, "Phase containment") || !strings.Contains(got, "speaking for us: bob") {
		t.Errorf("executive brief after staffing and a phase change: %q", got)
	}
	values := s.inc.TemplateValues()
	for _, name := range Placeholders {
		if _, ok := values[name]; !ok {
			t.Errorf("placeholder %s has no value", name)
		}
	}
	if values["declared_at"] != "2026-03-14 03:00 UTC" || values["severity"] != "1" || values["plan"] != "Breach of personal data" || values["kind"] != "data-breach" {
		t.Errorf("values %v", values)
	}
	if got := declare(t, "ada", DeclareInput{}).inc.Templates(); got == nil || len(got) != 0 {
		t.Errorf("templates without a plan = %#v, want none (and not null)", got)
	}
}

func TestRenderTemplate(t *testing.T) {
	values := map[string]string{"id": "IR-2026-0042", "title": "fs01 {{id}}"}
	tests := []struct{ text, want string }{
		{"", ""},
		{"no placeholders", "no placeholders"},
		{"{{id}}", "IR-2026-0042"},
		{"{{ id }}: {{title}}", "IR-2026-0042: fs01 {{id}}"}, // values are not rendered again
		{"{{unknown}}!", "!"},
		{"open {{id and\n{{id}}", "open {{id and\nIR-2026-0042"},
		{"{{id}} {{", "IR-2026-0042 {{"},
		{"{{{id}}}", "}"},
		{"}} {{}}", "}} "},
	}
	for _, tt := range tests {
		if got := RenderTemplate(tt.text, values); got != tt.want {
			t.Errorf("RenderTemplate(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}
