package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sitrep-ir/sitrep"
)

// withApproval runs incidents with a plan whose statements to executives
// wait for Command's authorisation.
func withApproval(e *env) {
	e.svc.Plans = onePlan{&sitrep.PlanSpec{Name: "ransomware", Title: "Ransomware", SHA256: strings.Repeat("a", 64), Severity: 2,
		Communications: []sitrep.PlanTemplate{{Name: "exec-brief", Audience: "executives", CommandApproval: true, Text: "{{.ID}} is under way"}}}}
}

func TestDraftsWaitForCommand(t *testing.T) {
	e := newEnv(t)
	withApproval(e)
	inc, ada, _, _ := staffed(e)
	path := "/incidents/" + inc.ID
	e.do(ada, inc.ID, sitrep.Assign{Role: sitrep.RoleInformation, User: "bob"})
	adaB, bobB, cyB := e.signedIn("ada"), e.signedIn("bob"), e.signedIn("cy")

	bobB.act(path+"/publish", url.Values{"audience": {"executives"}, "text": {"Finance laptops are being reimaged"}})
	bobB.act(path+"/publish", url.Values{"audience": {"executives"}, "text": {"We may need a statement for the press"}})

	// The Information Officer sees that the drafts wait; nothing reached
	// the executives yet.
	page := bobB.ok(path)
	for _, want := range []string{`id="drafts"`, "Waiting for Command's approval (2)", "Finance laptops are being reimaged", "It reaches no one until Command (ada) approves it."} {
		if !strings.Contains(page, want) {
			t.Errorf("bob's page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="approve-1"`) {
		t.Errorf("bob, the Information Officer, may not approve his own draft, yet sees the button")
	}
	if strings.Contains(cyB.ok(path), `id="approve-1"`) {
		t.Errorf("cy, not Command, sees the approve button")
	}
	// Only Command decides: a forged approval is refused in the rule's words.
	r := bobB.post(path+"/drafts/1/approve", nil)
	if r.code != http.StatusForbidden || !strings.Contains(r.body, "only Command (ada) authorises communications") {
		t.Errorf("bob approving his draft: %d\n%s", r.code, r.body)
	}

	page = adaB.ok(path)
	for _, want := range []string{`id="approve-1"`, `id="reject-2"`, `id="reject-2-reason"`} {
		if !strings.Contains(page, want) {
			t.Errorf("Command's page lacks %q", want)
		}
	}
	adaB.act(path+"/drafts/1/approve", nil)
	// A rejection needs its reason.
	if r := adaB.post(path+"/drafts/2/reject", url.Values{"reason": {""}}); r.code != http.StatusBadRequest {
		t.Errorf("a rejection without a reason: %d, want 400", r.code)
	}
	adaB.act(path+"/drafts/2/reject", url.Values{"reason": {"Legal speaks to the press"}})
	if r := adaB.post(path+"/drafts/2/approve", nil); r.code != http.StatusConflict {
		t.Errorf("approving a rejected draft: %d, want 409", r.code)
	}

	page = bobB.ok(path)
	if strings.Contains(page, `id="drafts"`) {
		t.Errorf("decided drafts are still shown as waiting")
	}
	for _, want := range []string{"Draft 2 to executives by bob was rejected by ada: Legal speaks to the press", `<p class="comm-text">Finance laptops are being reimaged</p>`} {
		if !strings.Contains(page, want) {
			t.Errorf("bob's page lacks %q", want)
		}
	}
	if r := adaB.post(path+"/drafts/x/approve", nil); r.code != http.StatusBadRequest {
		t.Errorf("a draft that is not a number: %d, want 400", r.code)
	}
}

func TestReportsPage(t *testing.T) {
	e := newEnv(t)
	inc, ada, _, _ := staffed(e)
	e.do(ada, inc.ID, sitrep.AddNote{Text: "EDR shows a LockBit variant"})
	e.do(ada, inc.ID, sitrep.Assign{Role: sitrep.RolePlanning, User: "cy"})
	path := "/incidents/" + inc.ID + "/report"
	adaB, bobB, cyB := e.signedIn("ada"), e.signedIn("bob"), e.signedIn("cy")

	page := bobB.ok(path)
	for _, want := range []string{"Incident Report: " + inc.ID, "Response Report: " + inc.ID, "Ransomware on the file server",
		"Not written yet. Drafted from the timeline:", "EDR shows a LockBit variant", "narrative is empty", `data-print`} {
		if !strings.Contains(page, want) {
			t.Errorf("the report page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="report-form"`) {
		t.Errorf("bob, neither Command nor the Planning chief, sees the report form")
	}
	if !strings.Contains(adaB.ok(path), `id="report-form"`) || !strings.Contains(cyB.ok(path), `id="report-form"`) {
		t.Errorf("Command and the Planning chief should both see the report form")
	}
	if !strings.Contains(adaB.ok("/incidents/"+inc.ID), `href="`+path+`"`) {
		t.Errorf("the command page has no link to the reports")
	}

	// The Planning chief writes it; the page shows it saved.
	form := url.Values{"narrative": {"A laptop in Finance ran LockBit."}, "what_worked": {"EDR isolation"},
		"needs_improvement": {"Backups took an hour to find"},
		"fu_action":         {"Document the backup location", "", ""}, "fu_owner": {"cy", "", ""}}
	r := cyB.post(path, form)
	if r.code != http.StatusSeeOther || r.header.Get("Location") != path+"?saved=1" {
		t.Fatalf("save the report: %d %s\n%s", r.code, r.header.Get("Location"), r.body)
	}
	page = bobB.ok(path)
	for _, want := range []string{`<div class="prose" id="narrative">A laptop in Finance ran LockBit.</div>`, "EDR isolation",
		"<td>Document the backup location</td><td>cy</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the saved report lacks %q", want)
		}
	}
	if strings.Contains(page, "what worked is empty") {
		t.Errorf("the report still lists what worked as missing")
	}

	// A follow-up without an owner is refused in the domain's words and
	// the form keeps what was typed.
	form.Set("what_worked", "EDR isolation, fast")
	form["fu_action"] = []string{"Document the backup location", "Test restores monthly"}
	form["fu_owner"] = []string{"cy", ""}
	r = adaB.post(path, form)
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, "has no owner") || !strings.Contains(r.body, "Test restores monthly") || !strings.Contains(r.body, "EDR isolation, fast") {
		t.Errorf("a follow-up without an owner: %d\n%s", r.code, r.body)
	}
	// Someone else is refused, and the refusal goes on the record.
	r = bobB.post(path, url.Values{"narrative": {"mine"}, "what_worked": {""}, "needs_improvement": {""}})
	if r.code != http.StatusForbidden || !strings.Contains(r.body, "only Command (ada) or the planning chief writes the post mortem") {
		t.Errorf("bob writing the report: %d\n%s", r.code, r.body)
	}
	if r := bobB.post(path, url.Values{"fu_action": {"a", "b"}, "fu_owner": {"cy"}}); r.code != http.StatusBadRequest {
		t.Errorf("unpaired follow-up rows: %d, want 400", r.code)
	}

	// Taking the drafted narrative.
	inc2 := e.declare(ada, sitrep.DeclareInput{Title: "Phishing wave", Severity: 3})
	r = adaB.post("/incidents/"+inc2.ID+"/report", url.Values{"accept": {"1"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("accept the draft: %d\n%s", r.code, r.body)
	}
	if page := adaB.ok("/incidents/" + inc2.ID + "/report"); !strings.Contains(page, `id="narrative"`) || strings.Contains(page, "narrative is empty") {
		t.Errorf("the drafted narrative was not taken:\n%s", page)
	}
}

func FuzzReportEdit(f *testing.F) {
	f.Add("narrative=x&what_worked=y&needs_improvement=z&fu_action=a&fu_owner=b")
	f.Add("accept=1")
	f.Add("fu_action=a&fu_action=b&fu_owner=c")
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		cmd, err := reportEdit(form)
		if err != nil {
			if sitrep.AsError(err) == nil {
				t.Fatalf("reportEdit(%q): %v is not a sitrep error", body, err)
			}
			return
		}
		if !cmd.AcceptDraft && (cmd.Narrative == nil || cmd.FollowUps == nil) {
			t.Fatalf("reportEdit(%q) leaves fields unset: %+v", body, cmd)
		}
	})
}
