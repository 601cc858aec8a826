package notify_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/app"
	"github.com/sitrep-ir/sitrep/notify"
	"github.com/sitrep-ir/sitrep/store/storetest"
)

// startFixture starts a server as newFixture does, with tweak applied to
// its configuration first.
func startFixture(t *testing.T, db string, tweak func(*app.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), db: db, clock: storetest.NewClock(start, 0), smtp: newSMTPSink(t)}
	cfg := app.Config{Addr: "127.0.0.1:0", DB: db, Clock: f.clock, Notify: quick(f.smtp), BootstrapToken: "sitrep_test-token-of-the-administrator-0123456789"}
	if tweak != nil {
		tweak(&cfg)
	}
	f.nc = cfg.Notify
	a, err := app.New(f.ctx, cfg)
	if err != nil {
		t.Fatalf("start the server: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("start the server: %v", err)
	}
	f.app, f.svc = a, a.Service()
	t.Cleanup(func() {
		if f.app == a {
			f.stop()
		}
	})
	f.admin = &sitrep.User{Name: "admin", Role: sitrep.OrgAdmin}
	return f
}

// listsPlan is a plan with notify lists of every kind: responders paged,
// executives told (one list at severity 1 only), and bare addresses, one of
// them outside the organisation.
const listsPlan = `title: Malware
kinds: [malware]
notify:
  - audience: responders
    to: [carol]
  - audience: executives
    severity: 2
    to: [dave, ciso@example.org]
  - audience: executives
    severity: 1
    to: [erin, board@example.org]
  - audience: regulators
    to: [dpo@regulator.example]
`

func withPlan(plan string) func(*app.Config) {
	return func(c *app.Config) {
		dir := c.Plans
		if dir == "" {
			panic("withPlan needs Plans set")
		}
		if err := os.WriteFile(filepath.Join(dir, "malware.yaml"), []byte(plan), 0o644); err != nil {
			panic(err)
		}
	}
}

func plansDir(t *testing.T, plan string) func(*app.Config) {
	dir := t.TempDir()
	return func(c *app.Config) {
		c.Plans = dir
		withPlan(plan)(c)
	}
}

// byRecipient returns the notifications of ns to who.
func byRecipient(ns []notify.Notification, who string) []notify.Notification {
	var out []notify.Notification
	for _, n := range ns {
		if n.Recipient == who {
			out = append(out, n)
		}
	}
	return out
}

// The declaration goes to the plan's notify lists at the incident's
// severity: its responders are paged (then the roster, if they do not
// answer), the others told, the bare addresses e-mailed; without a plan,
// the roster is paged.
func TestDeclarationGoesToThePlansLists(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := startFixture(t, db, plansDir(t, listsPlan))
		bob, carol, dave, erin := f.user("bob", sitrep.OrgResponder), f.user("carol", sitrep.OrgResponder), f.user("dave", sitrep.OrgResponder), f.user("erin", sitrep.OrgResponder)
		for _, u := range []*sitrep.User{f.admin, carol, dave, erin} {
			f.email(u)
		}
		inc, _, err := f.svc.Declare(f.ctx, bob, sitrep.DeclareInput{Title: "Ransomware on FIN-LAPTOP-7", Kind: "malware", Severity: 2})
		if err != nil {
			t.Fatal(err)
		}
		if inc.Plan == nil || len(inc.Plan.Notify) != 3 {
			t.Fatalf("the plan's lists at severity 2: %+v", inc.Plan)
		}
		ns := f.settled(inc.ID, 4)
		for _, n := range ns {
			if n.Event != "incident.declared" || n.Status != notify.StatusSent || n.Channel != notify.ChannelEmail {
				t.Errorf("notification %+v", n)
			}
		}
		if c := byRecipient(ns, "carol"); len(c) != 1 || !c[0].NeedsAck || !slices.Equal(c[0].Ladder, []string{"carol", "admin"}) {
			t.Errorf("carol's page (then the roster): %+v", c)
		}
		if d := byRecipient(ns, "dave"); len(d) != 1 || d[0].NeedsAck {
			t.Errorf("dave is told, with no page: %+v", d)
		}
		for _, who := range []string{"erin", "admin", "board@example.org"} {
			if got := byRecipient(ns, who); len(got) != 0 {
				t.Errorf("%s is not on a list at severity 2 and got %+v", who, got)
			}
		}
		for _, addr := range []string{"ciso@example.org", "dpo@regulator.example"} {
			got := byRecipient(ns, addr)
			if len(got) != 1 || got[0].NeedsAck || got[0].Address != addr {
				t.Errorf("%s: %+v", addr, got)
			}
			m := f.smtp.to(addr)
			if len(m) != 1 || m[0].Subject != inc.ID+" declared: Ransomware on FIN-LAPTOP-7" || !strings.Contains(m[0].Text, "bob declared "+inc.ID) || !strings.Contains(m[0].Text, "notify list") {
				t.Errorf("e-mail to %s: %+v", addr, m)
			}
			// An address has no account to open the incident's page with.
			if len(m) == 1 && strings.Contains(m[0].Text, "/incidents/") {
				t.Errorf("e-mail to %s links the incident's page:\n%s", addr, m[0].Text)
			}
		}

		// Nobody on the plan's responders list answers: the roster is next.
		f.advance(f.nc.AckTimeout + 1)
		f.sweep() // repeat to carol
		f.advance(f.nc.AckTimeout + 1)
		f.sweep() // escalation to admin
		f.settled(inc.ID, 6)
		if m := f.smtp.to("admin@example.org"); len(m) != 1 || !strings.HasPrefix(m[0].Subject, "ESCALATION: carol has not acknowledged") {
			t.Errorf("admin's e-mails: %+v", m)
		}

		// Without a plan (or a responders list), the roster is paged.
		other, _, err := f.svc.Declare(f.ctx, bob, sitrep.DeclareInput{Title: "Mail outage", Kind: "outage", Severity: 2})
		if err != nil {
			t.Fatal(err)
		}
		if ns := f.settled(other.ID, 1); ns[0].Recipient != "admin" || !ns[0].NeedsAck {
			t.Errorf("without a plan: %+v", ns)
		}
	})
}

// A confidential incident's declaration is told to the plan's addresses
// without its title; its users are told only if they may see it, and the
// roster is paged when none of the plan's responders may.
func TestConfidentialDeclarationToAddresses(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "sitrep.db")
	f := startFixture(t, db, plansDir(t, listsPlan))
	bob, carol, dave := f.user("bob", sitrep.OrgResponder), f.user("carol", sitrep.OrgResponder), f.user("dave", sitrep.OrgResponder)
	f.email(carol)
	f.email(dave)
	inc, _, err := f.svc.Declare(f.ctx, bob, sitrep.DeclareInput{Title: "Insider copying the payroll", Kind: "malware", Severity: 2, Confidential: true})
	if err != nil {
		t.Fatal(err)
	}
	// The two addresses, and the roster (an administrator, who may see
	// it) in place of carol; dave may not see it.
	ns := f.settled(inc.ID, 3)
	for _, n := range ns {
		if !strings.Contains(n.Recipient, "@") && n.Recipient != "admin" {
			t.Errorf("%s was told of a confidential incident: %+v", n.Recipient, n)
		}
	}
	for _, m := range f.smtp.all() {
		if !strings.HasSuffix(m.To, "example.org") && !strings.HasSuffix(m.To, "regulator.example") || m.To == "carol@example.org" || m.To == "dave@example.org" {
			t.Errorf("e-mail to %s", m.To)
		}
		if strings.Contains(m.Subject+m.Text+m.HTML, "payroll") {
			t.Errorf("the e-mail to %s names the confidential incident:\n%s\n%s", m.To, m.Subject, m.Text)
		}
		if !strings.Contains(m.Subject, "confidential") {
			t.Errorf("subject %q", m.Subject)
		}
	}
}

// Everything an exercise sends says EXERCISE, in the e-mail's subject and
// both its bodies and in every webhook form; the plan's list of an external
// audience hears nothing of it (ICS rule 7).
func TestExerciseNotificationsSayExercise(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		f := startFixture(t, db, plansDir(t, listsPlan))
		carol, dave := f.user("carol", sitrep.OrgResponder), f.user("dave", sitrep.OrgResponder)
		alice, bob := f.user("alice", sitrep.OrgResponder), f.user("bob", sitrep.OrgResponder)
		f.email(carol)
		f.email(dave)
		f.email(f.admin)
		jsonHook, slackHook, teamsHook := newHook(t), newHook(t), newHook(t)
		f.webhook(alice, jsonHook.srv.URL+"/sitrep", notify.FormatJSON)
		f.webhook(bob, slackHook.srv.URL+"/slack", notify.FormatSlack)
		f.webhook(bob, teamsHook.srv.URL+"/teams", notify.FormatTeams)

		inc, _, err := f.svc.Declare(f.ctx, f.admin, sitrep.DeclareInput{Title: "Drill: ransomware", Kind: "malware", Severity: 2, Exercise: true})
		if err != nil {
			t.Fatal(err)
		}
		id := inc.ID
		f.do(alice, id, sitrep.CheckIn{})
		f.do(bob, id, sitrep.CheckIn{})
		f.do(f.admin, id, sitrep.Assign{Role: sitrep.RoleOperations, User: "alice"})
		f.do(f.admin, id, sitrep.AddTask{Section: sitrep.RoleOperations, Title: "Isolate the laptop", Assignee: "bob"})
		f.do(f.admin, id, sitrep.ChangePhase{Phase: sitrep.PhaseContainment, Reason: "Laptop isolated"})
		f.do(f.admin, id, sitrep.Publish{Audience: "responders", Text: "Stand by for the reimage"})
		if _, _, err := f.svc.Do(f.ctx, f.admin, id, sitrep.Publish{Audience: "customers", Text: "We are investigating"}); sitrep.ErrorKind(err) != sitrep.EForbidden {
			t.Errorf("an exercise's statement to customers: %v", err)
		}
		// declaration: carol (page), dave, ciso@example.org; role: alice;
		// task: bob (slack, teams); phase: alice, bob ×2; update: alice, bob ×2.
		ns := f.settled(id, 12)
		for _, n := range ns {
			if n.Status != notify.StatusSent || !n.Message.Exercise {
				t.Errorf("notification %+v", n)
			}
			if n.Recipient == "dpo@regulator.example" {
				t.Errorf("an exercise reached the regulators' list: %+v", n)
			}
		}
		if m := f.smtp.to("dpo@regulator.example"); len(m) != 0 {
			t.Errorf("the regulators were e-mailed about an exercise: %+v", m)
		}
		mails := f.smtp.all()
		if len(mails) != 3 {
			t.Errorf("%d e-mails, want 3 (carol, dave, ciso)", len(mails))
		}
		for _, m := range mails {
			if !strings.HasPrefix(m.Subject, "[EXERCISE] ") || !strings.HasPrefix(m.Text, "EXERCISE: this is a rehearsal") || !strings.Contains(m.HTML, "<strong>EXERCISE</strong>") {
				t.Errorf("e-mail to %s does not say EXERCISE:\n%s\n%s\n%s", m.To, m.Subject, m.Text, m.HTML)
			}
		}
		for name, h := range map[string]*hook{"json": jsonHook, "slack": slackHook, "teams": teamsHook} {
			_, bodies := h.deliveries()
			if len(bodies) != 3 {
				t.Errorf("the %s hook got %d deliveries, want 3", name, len(bodies))
			}
			for _, b := range bodies {
				if !json.Valid(b) || !strings.Contains(string(b), "[EXERCISE] ") || !strings.Contains(string(b), "EXERCISE: this is a rehearsal") {
					t.Errorf("the %s hook's body does not say EXERCISE: %s", name, b)
				}
			}
			if name == "json" {
				for _, b := range bodies {
					var ev notify.Event
					if err := json.Unmarshal(b, &ev); err != nil || !ev.Incident.Exercise {
						t.Errorf("the JSON event is not marked exercise: %s", b)
					}
				}
			}
		}
	})
}
