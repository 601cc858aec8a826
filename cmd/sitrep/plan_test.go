package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/plan"
)

// lint runs `sitrep plan lint` in-process; it needs no server.
func lint(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runContext(context.Background(), append([]string{"plan", "lint"}, args...), strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func TestPlanLintStarterLibrary(t *testing.T) {
	r := lint(t, filepath.Join("..", "..", "plans"))
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("lint of the starter plans: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	contains(t, "stdout", r.stdout, "7 plans in", "no problems", "PLAN", "KINDS", "VERSION",
		"data-breach        data-breach", "legal-request      legal-request,subpoena", "sha256:")
}

func TestPlanLintProblems(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "title: A\nkinds: [malware]\nserverity: 2\n")
	write("b.yaml", "title: B\nkinds: [malware]\nchecklists:\n  identification:\n    - task: Isolate\n      section: opertions\n")
	write("dispatch.yaml", "this is: [not a plan\n")

	r := lint(t, dir)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	want := []string{
		a + `:3:1: unknown field "serverity" in the plan; did you mean severity?`,
		b + ":2:9: kind malware is answered by two plans: this one and a (" + a + ")",
		b + `:6:16: section "opertions" is neither an ICS section or officer nor a role this plan adds under roles; did you mean operations?`,
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d lines", r.stdout, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d:\n got %s\nwant %s…", i+1, lines[i], want[i])
		}
	}
	contains(t, "stderr", r.stderr, "sitrep: "+dir+": 3 problems in 2 files")

	r = lint(t, "-o", "json", dir)
	var got []plan.Problem
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 1 {
		t.Fatalf("-o json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if len(got) != 3 || got[0].File != a || got[0].Line != 3 || got[0].Column != 1 || !strings.HasPrefix(got[0].Message, `unknown field "serverity"`) {
		t.Errorf("-o json problems = %+v", got)
	}
}

func TestPlanLintJSONClean(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "outage.yaml"), []byte("title: Outage\nkinds: [outage]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := lint(t, "-o", "json", dir)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("-o json of clean plans: exit %d, %q", r.code, r.stdout)
	}
}

func TestPlanLintMissingDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "plnas")
	r := lint(t, missing)
	if r.code != 1 || !strings.Contains(r.stderr, "plans directory "+missing+" does not exist") {
		t.Errorf("lint of a missing directory: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = lint(t, "a", "b")
	if r.code != 2 || !strings.Contains(r.stderr, "takes at most one DIR") {
		t.Errorf("two directories: exit %d\n%s", r.code, r.stderr)
	}
}

// startServerWithPlans is startServer with a plans directory.
func startServerWithPlans(t *testing.T, plans string) *server {
	t.Helper()
	s, a := startApp(t, plans)
	if a.Plans().Current().Len() != 7 {
		t.Fatalf("the server loaded %d plans from %s", a.Plans().Current().Len(), plans)
	}
	return s
}

// TestPlanWalkthrough declares a PII breach through the CLI against a server
// with the starter plans: the plan is applied, its open positions, checklist
// and targets are shown, and staffing and phase changes move them on.
func TestPlanWalkthrough(t *testing.T) {
	s := startServerWithPlans(t, filepath.Join("..", "..", "plans"))
	out := s.ok(t, s.Admin, "declare", "--title", "Customer table for sale", "--kind", "data-breach")
	id := regexp.MustCompile(`IR-\d{4}-\d{4}`).FindString(out)
	contains(t, "declare", out, "severity 1")

	show := s.ok(t, s.Admin, "show", id)
	contains(t, "show", show,
		"CONFIDENTIAL",
		"Plan: data-breach, Breach of personal data (PII) (sha256:",
		"Open positions (Command holds them until assigned: sitrep assign "+id+" ROLE USER):",
		"  liaison      Legal counsel",
		"  finance      Finance business partner",
		"  forensics    Incident response retainer",
		"Checklists opened: identification",
		"Establish what data is involved, whose, and how many people, by country",
		"Targets:", "  information officer    15m0s   pending", "  command                5m0s    met",
	)

	bob := s.person(t, "bob", "responder")
	s.ok(t, s.Admin, "invite", id, "bob")
	s.ok(t, bob, "checkin", id)
	s.ok(t, s.Admin, "assign", id, "information", "bob")
	s.ok(t, s.Admin, "phase", id, "containment", "--reason", "access confirmed")
	show = s.ok(t, s.Admin, "show", id)
	contains(t, "show after staffing", show, "Checklists opened: identification, containment",
		"Close the access - revoke keys, tokens and sessions, fix the exposed resource", "  information officer    15m0s   met")
	if i := strings.Index(show, "Open positions"); i < 0 || strings.Contains(show[i:strings.Index(show[i:], "Checklists")+i], "  information ") {
		t.Errorf("information is still an open position once bob holds it:\n%s", show)
	}

	var inc sitrep.IncidentView
	s.okJSON(t, s.Admin, &inc, "show", id)
	if inc.Plan == nil || inc.Plan.Name != "data-breach" || len(inc.Plan.SHA256) != 64 {
		t.Errorf("show -o json plan = %+v", inc.Plan)
	}
	timeline := s.ok(t, s.Admin, "timeline", id)
	contains(t, "timeline", timeline, "plan data-breach applied (sha256:", "positions to staff: information, liaison, finance, operations, planning, forensics",
		"plan checklist for identification: 4 tasks", "plan checklist for containment: 3 tasks")
	contains(t, "verify", s.ok(t, s.Admin, "verify", id), "OK: the record of "+id+" holds up")
}

// TestPlanLsAndShow lists the server's plans and shows one, for people and
// as JSON.
func TestPlanLsAndShow(t *testing.T) {
	s := startServerWithPlans(t, filepath.Join("..", "..", "plans"))
	viewer := s.person(t, "vic", "viewer")
	ls := s.ok(t, viewer, "plan", "ls")
	contains(t, "plan ls", ls, "PLAN", "KINDS", "data-breach ", "Breach of personal data (PII)", "legal-request", "sha256:")
	lacks(t, "plan ls", ls, "latest reload")
	var list sitrep.PlanList
	s.okJSON(t, viewer, &list, "plan", "ls")
	if len(list.Plans) != 7 || list.Plans[1].Name != "data-breach" || !strings.HasSuffix(list.Plans[1].File, "data-breach.yaml") {
		t.Errorf("plan ls -o json = %+v", list)
	}

	show := s.ok(t, viewer, "plan", "show", "data-breach")
	contains(t, "plan show", show,
		"data-breach: Breach of personal data (PII)",
		"kinds data-breach · severity 1 · CONFIDENTIAL",
		"Roles to staff (Command holds each until assigned):",
		"forensics (added)",
		"Checklists:\n  identification\n",
		"regulator-notice: to regulators, with Command's approval",
		"Notification of a personal data breach, our reference {{id}}.",
		"Targets: declare 30m · command 5m · information officer 15m · first internal update 1h · contained 4h",
	)
	var p plan.Plan
	s.okJSON(t, viewer, &p, "plan", "show", "data-breach")
	if p.Name != "data-breach" || p.Targets.Declare != 30*time.Minute || p.Template("regulator-notice") == nil || !p.Template("regulator-notice").CommandApproval {
		t.Errorf("plan show -o json = %+v", p)
	}
	if e := s.fails(t, viewer, 1, "plan", "show", "breach"); !strings.Contains(e, `no plan named "breach"`) {
		t.Errorf("an unknown plan: %s", e)
	}
	s.fails(t, viewer, 2, "plan", "ls", "data-breach")
}

// TestCommandApprovesCommunications runs ICS rule 5 through the CLI: the
// Information Officer's statement to customers under the PII breach plan
// waits for Command, who rejects one and approves the next; the plan's
// templates are filled in and offered.
func TestCommandApprovesCommunications(t *testing.T) {
	s := startServerWithPlans(t, filepath.Join("..", "..", "plans"))
	out := s.ok(t, s.Admin, "declare", "--title", "Customer table for sale", "--kind", "data-breach")
	id := regexp.MustCompile(`IR-\d{4}-\d{4}`).FindString(out)
	bob := s.person(t, "bob", "responder")
	s.ok(t, s.Admin, "invite", id, "bob")
	s.ok(t, bob, "checkin", id)
	s.ok(t, s.Admin, "assign", id, "information", "bob")

	tpl := s.ok(t, bob, "update", "templates", id)
	contains(t, "update templates", tpl, "regulator-notice  to regulators  (needs Command's approval)",
		"  Notification of a personal data breach, our reference "+id+".", "executive-brief  to executives\n",
		"Publish one: sitrep update "+id+" --template=NAME")

	dry := s.ok(t, bob, "update", id, "--audience", "customers", "--template", "--dry-run")
	contains(t, "update --template --dry-run", dry, "Template customer-notice to customers (from the Information Officer it waits for Command's approval):",
		"  We are writing to tell you about an incident that involved your")
	if v := s.ok(t, s.Admin, "show", id); strings.Contains(v, "Drafts waiting") {
		t.Errorf("a dry run drafted something:\n%s", v)
	}

	// bob's own words to customers wait; Command rejects them.
	out = s.ok(t, bob, "update", id, "--audience", "customers", "We are looking into it.")
	contains(t, "update to customers", out, "draft 1 to customers awaits Command's approval: We are looking into it.",
		"Draft 1 waits for Command's approval: it reaches no one until Command (admin) runs sitrep approve "+id+" 1, or sitrep reject "+id+" 1 --reason TEXT.")
	contains(t, "show", s.ok(t, s.Admin, "show", id), "Drafts waiting for Command's approval", "  #1 ", "to customers by bob: We are looking into it.")
	if e := s.fails(t, bob, 1, "approve", id, "1"); !strings.Contains(e, "only Command (admin) authorises communications") || !strings.Contains(e, "one-voice") {
		t.Errorf("bob approving his own draft: %s", e)
	}
	s.fails(t, s.Admin, 2, "reject", id, "1")
	contains(t, "reject", s.ok(t, s.Admin, "reject", id, "1", "--reason", "use the notice counsel cleared"), "rejected draft 1: use the notice counsel cleared")

	// From the template, approved: published.
	out = s.ok(t, bob, "update", id, "--audience", "customers", "--template")
	contains(t, "update --template", out, "draft 2 to customers awaits Command's approval: We are writing to tell you", "sitrep approve "+id+" 2")
	contains(t, "approve", s.ok(t, s.Admin, "approve", id, "#2"), "approved draft 2 for publication", "update to customers: We are writing to tell you")
	if e := s.fails(t, s.Admin, 1, "approve", id, "2"); !strings.Contains(e, "draft 2 was already approved by admin") {
		t.Errorf("approving twice: %s", e)
	}
	ls := s.ok(t, bob, "update", "ls", id)
	contains(t, "update ls", ls, "to customers  by admin", "We are writing to tell you about an incident")

	// Executives are told at once, by the template's name.
	out = s.ok(t, bob, "update", id, "--template=executive-brief")
	contains(t, "update --template=NAME", out, "update to executives: CONFIDENTIAL - PRIVILEGED. "+id+": Customer table for sale.")
	lacks(t, "update --template=NAME", out, "awaits")

	// Mistakes are named.
	if e := s.fails(t, bob, 1, "update", id, "--audience", "press", "--template=customer-notice"); !strings.Contains(e, "template customer-notice is for customers, not press") {
		t.Errorf("a template to another audience: %s", e)
	}
	if e := s.fails(t, bob, 1, "update", id, "--audience", "law-enforcement", "--template"); !strings.Contains(e, "has no template for law-enforcement") || !strings.Contains(e, "regulator-notice (to regulators)") {
		t.Errorf("no template for the audience: %s", e)
	}
	s.fails(t, bob, 2, "update", id, "--template")
	s.fails(t, bob, 2, "update", id, "--template", "regulator-notice")
	s.fails(t, bob, 2, "approve", id, "first")
	contains(t, "verify", s.ok(t, s.Admin, "verify", id), "OK: the record of "+id+" holds up")
}

// TestUpdateTemplateChoice: an audience with several templates needs one
// named.
func TestUpdateTemplateChoice(t *testing.T) {
	s := startServerWithPlans(t, filepath.Join("..", "..", "plans"))
	out := s.ok(t, s.Admin, "declare", "--title", "Checkout fails for EU customers", "--kind", "customer-bug")
	id := regexp.MustCompile(`IR-\d{4}-\d{4}`).FindString(out)
	if e := s.fails(t, s.Admin, 2, "update", id, "--audience", "customers", "--template"); !strings.Contains(e, "2 templates for customers (customer-acknowledgement, customer-resolved): choose one with --template=NAME") {
		t.Errorf("two templates for customers: %s", e)
	}
	out = s.ok(t, s.Admin, "update", id, "--template=customer-acknowledgement")
	contains(t, "update --template=NAME", out, "update to customers: ")
}
