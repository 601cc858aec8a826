package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
)

func TestBoard(t *testing.T) {
	e := newEnv(t)
	alice := e.user("alice", sitrep.OrgResponder)
	old := e.declare(alice, sitrep.DeclareInput{Title: "Old outage", Severity: 2})
	e.clock.add(2 * time.Hour)
	worst := e.declare(alice, sitrep.DeclareInput{Title: "Ransomware", Severity: 1, Kind: "malware"})
	e.clock.add(time.Hour)
	young := e.declare(alice, sitrep.DeclareInput{Title: "New outage", Severity: 2})
	drill := e.declare(alice, sitrep.DeclareInput{Title: "Drill", Severity: 4, Exercise: true})
	secret := e.declare(e.admin, sitrep.DeclareInput{Title: "Board member's mailbox", Severity: 1, Confidential: true})
	e.clock.add(5 * time.Minute)

	page := e.signedIn("alice").ok("/")
	got := regexp.MustCompile(`data-id="(IR-[0-9-]+)"`).FindAllStringSubmatch(page, -1)
	var order []string
	for _, m := range got {
		order = append(order, m[1])
	}
	want := []string{worst.ID, old.ID, young.ID, drill.ID}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("board order %v, want %v (severity, then the longest running)", order, want)
	}
	for _, s := range []string{"Ransomware", "malware", "EXERCISE", "3h 5m", "identification", "Triage desk: <strong id=\"pending\">0</strong>"} {
		if !strings.Contains(page, s) {
			t.Errorf("the board does not show %q", s)
		}
	}
	if strings.Contains(page, secret.ID) || strings.Contains(page, "mailbox") {
		t.Errorf("the board shows a confidential incident to someone not named on it")
	}
	admin := e.signedIn("admin").ok("/board/rows")
	if !strings.Contains(admin, secret.ID) || !strings.Contains(admin, "CONFIDENTIAL") {
		t.Errorf("the administrator's board lacks the confidential incident or its marker")
	}
	if strings.Contains(admin, "<html") {
		t.Errorf("the board fragment carries the layout")
	}
}

// staffed declares an incident by ada with bob and cy on scene.
func staffed(e *env) (inc *sitrep.Incident, ada, bob, cy *sitrep.User) {
	ada, bob, cy = e.user("ada", sitrep.OrgResponder), e.user("bob", sitrep.OrgResponder), e.user("cy", sitrep.OrgResponder)
	inc = e.declare(ada, sitrep.DeclareInput{Title: "Ransomware on the file server", Severity: 2})
	e.do(bob, inc.ID, sitrep.CheckIn{})
	e.do(cy, inc.ID, sitrep.CheckIn{})
	return inc, ada, bob, cy
}

func TestButtonsFollowTheRules(t *testing.T) {
	e := newEnv(t)
	inc, _, _, _ := staffed(e)
	e.user("vic", sitrep.OrgViewer)
	e.user("dee", sitrep.OrgResponder)
	path := "/incidents/" + inc.ID

	forms := map[string]string{
		"assign": `id="assign-form"`, "transfer": `id="transfer-form"`, "phase": `action="` + path + `/phase"`,
		"publish": `id="publish-form"`, "note": `id="note-text"`, "task": `action="` + path + `/tasks"`,
		"checkin": `id="checkin"`, "checkout": `id="checkout"`,
	}
	for who, want := range map[string][]string{
		"ada": {"assign", "transfer", "phase", "publish", "note", "task"},
		"bob": {"note", "checkout"},
		"dee": {"checkin"},
		"vic": {},
	} {
		page := e.signedIn(who).ok(path)
		for form, marker := range forms {
			shown := strings.Contains(page, marker)
			if shown != contains(want, form) {
				t.Errorf("%s sees the %s form: %t, want %t", who, form, shown, !shown)
			}
		}
	}

	// A forged post is refused by the server with the rule's own words,
	// and the refusal goes on the record.
	bob := e.signedIn("bob")
	r := bob.post(path+"/assign", url.Values{"role": {"operations"}, "user": {"cy"}})
	if r.code != http.StatusForbidden {
		t.Fatalf("bob assigning a role: %d, want 403", r.code)
	}
	for _, s := range []string{"Refused (freelancing)", "only Command (ada) may assign roles on " + inc.ID} {
		if !strings.Contains(r.body, s) {
			t.Errorf("the refusal page lacks %q:\n%s", s, r.body)
		}
	}
	if !strings.Contains(bob.ok(path), "REFUSED assign (freelancing)") {
		t.Errorf("the refusal is not on the timeline")
	}
	vic := e.signedIn("vic")
	if r := vic.post(path+"/note", url.Values{"text": {"hello"}}); r.code != http.StatusForbidden || !strings.Contains(r.body, "viewers cannot change anything") {
		t.Errorf("a viewer's note: %d\n%s", r.code, r.body)
	}
}

func TestCommandPageFlow(t *testing.T) {
	e := newEnv(t)
	inc, _, _, _ := staffed(e)
	path := "/incidents/" + inc.ID
	ada, bob, cy := e.signedIn("ada"), e.signedIn("bob"), e.signedIn("cy")

	ada.act(path+"/assign", url.Values{"role": {"information"}, "user": {"bob"}})
	ada.act(path+"/assign", url.Values{"role": {"operations"}, "user": {"cy"}})
	e.do(e.user("dee", sitrep.OrgResponder), inc.ID, sitrep.CheckIn{})
	ada.act(path+"/tasks", url.Values{"section": {"operations"}, "title": {"Isolate fs01"}, "assignee": {"dee"}})

	page := ada.ok(path)
	for _, s := range []string{
		`data-role="information"`, `<div class="holder">bob</div>`, `<div class="holder">cy</div>`,
		`open <span>(Command holds it)</span>`, "Isolate fs01", "chief: cy",
	} {
		if !strings.Contains(page, s) {
			t.Errorf("ada's page lacks %q", s)
		}
	}
	// dee works a task in operations: the chart draws her in its box.
	if !regexp.MustCompile(`(?s)data-role="operations">.*?<ul class="people"[^>]*><li>dee</li>`).MatchString(page) {
		t.Errorf("the operations box does not list dee, who works its task")
	}

	// One voice: Command may no longer publish; the Information Officer may.
	r := ada.post(path+"/publish", url.Values{"audience": {"internal"}, "text": {"We are on it"}})
	if r.code != http.StatusForbidden || !strings.Contains(r.body, "I can&#39;t talk to people about this incident") {
		t.Errorf("Command publishing while bob is Information Officer: %d\n%s", r.code, r.body)
	}
	bob.act(path+"/publish", url.Values{"audience": {"internal"}, "text": {"One file server is encrypted."}})
	if !strings.Contains(cy.ok(path), "One file server is encrypted.") {
		t.Errorf("the communication is not shown")
	}
	dee := e.signedIn("dee")
	dee.act(path+"/tasks/1/status", url.Values{"status": {"done"}})

	// Transfer of command: offer with a briefing, accept, acknowledgements.
	ada.act(path+"/transfer", url.Values{"to": {"cy"}, "briefing": {"fs01 isolated; bob speaks for us"}})
	cyPage := cy.ok(path)
	if !strings.Contains(cyPage, `id="accept"`) || !strings.Contains(cyPage, "fs01 isolated; bob speaks for us") {
		t.Errorf("cy is offered command but sees no accept button or briefing")
	}
	if strings.Contains(bob.ok(path), `id="accept"`) {
		t.Errorf("bob sees the accept button of an offer to cy")
	}
	cy.act(path+"/accept", nil)
	for who, b := range map[string]*browser{"ada": ada, "bob": bob, "dee": dee} {
		p := b.ok(path)
		if !strings.Contains(p, `id="ack"`) {
			t.Errorf("%s must acknowledge but has no button", who)
		}
	}
	bob.act(path+"/ack", nil)
	dee.act(path+"/ack", nil)
	p := cy.ok(path)
	pending := regexp.MustCompile(`(?s)<ul class="names" id="ack-pending">(.*?)</ul>`).FindStringSubmatch(p)
	if pending == nil || !strings.Contains(pending[1], "ada") || strings.Contains(pending[1], "bob") {
		t.Errorf("Command's page should list ada alone as not acknowledged: %v", pending)
	}
	if !strings.Contains(p, `id="command">cy<`) {
		t.Errorf("the page does not show cy as Command")
	}
	ada.act(path+"/ack", nil)
	if !strings.Contains(cy.ok(path), `id="ack-complete"`) {
		t.Errorf("after every acknowledgement the page still waits")
	}

	// Command changes the severity and releases someone.
	cy.act(path+"/severity", url.Values{"severity": {"1"}, "reason": {"customer data involved"}})
	if r := ada.post(path+"/checkout", url.Values{"user": {"dee"}}); r.code != http.StatusForbidden {
		t.Errorf("ada, no longer Command, releasing dee: %d", r.code)
	}
	if !strings.Contains(cy.ok(path), `aria-label="Release dee"`) {
		t.Errorf("Command has no release button for dee")
	}
	cy.act(path+"/checkout", url.Values{"user": {"dee"}})
	p = ada.ok(path)
	if strings.Contains(p, `data-user="dee"`) || !strings.Contains(p, `sev1`) {
		t.Errorf("after release and the severity change, dee is still on scene or the severity is not 1")
	}
}

func TestSpanOfControlWarning(t *testing.T) {
	e := newEnv(t)
	ada := e.user("ada", sitrep.OrgResponder)
	inc := e.declare(ada, sitrep.DeclareInput{Title: "Breach"})
	for _, n := range []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"} {
		e.do(e.user(n, sitrep.OrgResponder), inc.ID, sitrep.CheckIn{})
	}
	page := e.signedIn("ada").ok("/incidents/" + inc.ID)
	if !strings.Contains(page, "Span of control:") || !strings.Contains(page, "directs 8 people") {
		t.Errorf("no span-of-control warning for 8 people under Command")
	}
	if !strings.Contains(page, `box filled over command`) {
		t.Errorf("Command's box is not marked over its span")
	}
}

func TestConfidentialIncidentIsHidden(t *testing.T) {
	e := newEnv(t)
	e.user("alice", sitrep.OrgResponder)
	inc := e.declare(e.admin, sitrep.DeclareInput{Title: "Insider", Confidential: true})
	alice := e.signedIn("alice")
	for _, p := range []string{"", "/state", "/timeline?after=0", "/events"} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/incidents/"+inc.ID+p, nil)
		if r := alice.do(req); r.code != http.StatusNotFound || strings.Contains(r.body, "Insider") {
			t.Errorf("GET %s by someone not named: %d, want 404 without its title", p, r.code)
		}
	}
	if r := alice.post("/incidents/"+inc.ID+"/checkin", nil); r.code != http.StatusNotFound {
		t.Errorf("checking in to a confidential incident one is not named on: %d, want 404", r.code)
	}
}

func TestDeclareForm(t *testing.T) {
	e := newEnv(t)
	e.user("alice", sitrep.OrgResponder)
	b := e.signedIn("alice")
	if !strings.Contains(b.ok("/declare"), `name="title"`) {
		t.Fatalf("no declare form")
	}
	r := b.post("/declare", url.Values{"title": {"Phishing wave"}, "kind": {"phishing"}, "severity": {"2"}, "exercise": {"1"}})
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/incidents/IR-2026-") {
		t.Fatalf("declare: %d to %q\n%s", r.code, r.header.Get("Location"), r.body)
	}
	page := b.ok(r.header.Get("Location"))
	for _, s := range []string{"Phishing wave", "phishing", "EXERCISE", `id="command">alice<`} {
		if !strings.Contains(page, s) {
			t.Errorf("the new incident's page lacks %q", s)
		}
	}
	r = b.post("/declare", url.Values{"title": {"  "}, "kind": {"Not A Kind"}})
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, "title is required") {
		t.Errorf("declare without a title: %d\n%s", r.code, r.body)
	}
	r = b.post("/declare", url.Values{"title": {"Kept"}, "kind": {"Not A Kind"}})
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, `value="Kept"`) || !strings.Contains(r.body, "kind") {
		t.Errorf("a refused declaration does not keep what was typed: %d", r.code)
	}
	if r := b.post("/declare", url.Values{"title": {strings.Repeat("x", maxForm)}}); r.code != http.StatusBadRequest || !strings.Contains(r.body, "form is larger") {
		t.Errorf("an oversized form: %d", r.code)
	}
}

func TestTriageDesk(t *testing.T) {
	e := newEnv(t)
	e.user("alice", sitrep.OrgResponder)
	e.user("vic", sitrep.OrgViewer)
	as := e.svc.Store.(sitrep.AlertStore)
	if _, _, err := e.svc.CreateSource(context.Background(), e.admin, sitrep.Source{Name: "edr", Kind: "generic"}); err != nil {
		t.Fatal(err)
	}
	var batch []sitrep.Ingest
	for range 1200 {
		batch = append(batch, sitrep.Ingest{Source: "edr", ReceivedAt: e.clock.Now(), Event: sitrep.AlertEvent{Action: sitrep.ActionTrigger, DedupKey: "virus-fin-7", Summary: "Virus on FIN-LAPTOP-7", Severity: 2}})
	}
	batch = append(batch, sitrep.Ingest{Source: "edr", ReceivedAt: e.clock.Now(), Event: sitrep.AlertEvent{Action: sitrep.ActionTrigger, DedupKey: "scan", Summary: "Port scan from 10.0.0.9", Severity: 4}})
	res, err := as.IngestAlerts(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	storm, scan := res[0].AlertID, res[len(res)-1].AlertID

	b := e.signedIn("alice")
	page := b.ok("/triage")
	for _, s := range []string{"Virus on FIN-LAPTOP-7", "seen 1\u202f200 times", "Port scan from 10.0.0.9", "seen once", `action="/triage/`} {
		if !strings.Contains(page, s) {
			t.Errorf("the triage desk lacks %q", s)
		}
	}
	if strings.Count(page, "Virus on FIN-LAPTOP-7") > 3 {
		t.Errorf("a storm of one alert is listed more than once")
	}
	if !strings.Contains(b.ok("/"), `<strong id="pending">2</strong>`) {
		t.Errorf("the board does not count 2 alerts waiting")
	}
	if strings.Contains(e.signedIn("vic").ok("/triage"), `action="/triage/`) {
		t.Errorf("a viewer sees the triage buttons")
	}

	r := b.post("/triage/"+itoa(storm)+"/declare", url.Values{"title": {""}})
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/incidents/") {
		t.Fatalf("declare from the storm: %d\n%s", r.code, r.body)
	}
	inc := b.ok(r.header.Get("Location"))
	if !strings.Contains(inc, "Virus on FIN-LAPTOP-7") || !strings.Contains(inc, `data-type="alert.attached"`) {
		t.Errorf("the declared incident does not carry the alert")
	}
	r = b.post("/triage/"+itoa(storm)+"/suppress", nil)
	if r.code != http.StatusConflict || !strings.Contains(r.body, "already declared") {
		t.Errorf("suppressing a declared alert: %d\n%s", r.code, r.body)
	}
	b.act("/triage/"+itoa(scan)+"/suppress", nil)
	if page := b.ok("/triage"); strings.Contains(page, "Port scan") || !strings.Contains(page, "Nothing waits") {
		t.Errorf("suppressed alerts stay on the desk")
	}
}

func TestFragments(t *testing.T) {
	e := newEnv(t)
	inc, ada, _, _ := staffed(e)
	e.do(ada, inc.ID, sitrep.AddNote{Text: "first note"})
	b := e.signedIn("ada")
	tl := b.ok("/incidents/" + inc.ID + "/timeline?after=3")
	if strings.Count(tl, "<li") != 1 || !strings.Contains(tl, "first note") || !strings.Contains(tl, `data-seq="4"`) {
		t.Errorf("the entries after 3:\n%s", tl)
	}
	if b.ok("/incidents/"+inc.ID+"/timeline?after=4") != "\n" && strings.Contains(b.ok("/incidents/"+inc.ID+"/timeline?after=4"), "<li") {
		t.Errorf("entries after the last one")
	}
	if r := b.get("/incidents/" + inc.ID + "/timeline?after=x"); r.code != http.StatusBadRequest {
		t.Errorf("after=x: %d", r.code)
	}
	st := b.ok("/incidents/" + inc.ID + "/state")
	if strings.Contains(st, "<html") || !strings.Contains(st, "Organisation") || strings.Contains(st, `id="timeline"`) {
		t.Errorf("the state fragment is not the page's live part")
	}
	if r := b.get("/nowhere"); r.code != http.StatusNotFound {
		t.Errorf("an unknown page: %d", r.code)
	}
	if r := b.post("/incidents/"+inc.ID+"/launch", nil); r.code != http.StatusNotFound || !strings.Contains(r.body, "no action") {
		t.Errorf("an unknown action: %d\n%s", r.code, r.body)
	}
}

func TestStaticAndHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	page := b.ok("/login")
	m := regexp.MustCompile(`/static/app\.css\?v=[0-9a-f]{12}`).FindString(page)
	if m == "" {
		t.Fatalf("the page does not link its stylesheet by hash")
	}
	r := b.get(m)
	if r.code != http.StatusOK || !strings.Contains(r.header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %v", r.code, r.header)
	}
	if r := b.get("/static/nothing.js"); r.code != http.StatusNotFound {
		t.Errorf("a missing asset: %d", r.code)
	}
	r = b.get("/login")
	for h, want := range map[string]string{"Content-Security-Policy": "script-src 'self'", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
		if !strings.Contains(r.header.Get(h), want) {
			t.Errorf("%s: %q, want %q", h, r.header.Get(h), want)
		}
	}
	if strings.Contains(page, "https://") || strings.Contains(page, "http://") {
		t.Errorf("the page loads something from another site")
	}
}

func FuzzCommand(f *testing.F) {
	f.Add("assign", "", "", "role=operations&user=bob")
	f.Add("status", "1", "", "status=done&reason=x")
	f.Add("severity", "", "", "severity=abc")
	f.Add("phase", "", "", "phase=closed&reason=%ff")
	f.Add("assign", "+1", "", "assignee=")
	f.Add("reject", "", "2", "reason=not+yet")
	f.Add("approve", "", "x", "")
	f.Fuzz(func(t *testing.T, action, task, draft, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		cmd, err := command(action, task, draft, form)
		if err != nil {
			if sitrep.AsError(err) == nil {
				t.Fatalf("command(%q, %q, %q, %q): %v is not a sitrep error", action, task, draft, body, err)
			}
			return
		}
		if cmd == nil || cmd.Action() == "" {
			t.Fatalf("command(%q, %q, %q, %q) returned no command", action, task, draft, body)
		}
	})
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// onePlan answers every kind with its plan.
type onePlan struct{ spec *sitrep.PlanSpec }

func (p onePlan) PlanFor(string) *sitrep.PlanSpec { return p.spec }

func TestPlanPositionsOnTheChart(t *testing.T) {
	e := newEnv(t)
	e.svc.Plans = onePlan{&sitrep.PlanSpec{Name: "ransomware", Title: "Ransomware", SHA256: strings.Repeat("a", 64), Severity: 2, Positions: []sitrep.Position{
		{Role: "information", Severity: 4, People: []string{"bob"}, Why: "customers will ask"},
		{Role: "forensics", Severity: 2, People: []string{"cy", "dee"}},
	}}}
	ada := e.user("ada", sitrep.OrgResponder)
	inc := e.declare(ada, sitrep.DeclareInput{Title: "Ransomware", Kind: "ransomware", Severity: 2})
	page := e.signedIn("ada").ok("/incidents/" + inc.ID)
	for _, want := range []string{
		`planned" data-role="information"`, "the plan staffs it: customers will ask; suggested: bob",
		`planned" data-role="forensics"`, "suggested: cy, dee",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
	if !strings.Contains(page, `<option value="forensics">forensics</option>`) {
		t.Errorf("Command cannot assign the plan's forensics role or add tasks in it")
	}
	if strings.Contains(page, `planned" data-role="safety"`) {
		t.Errorf("a position the plan does not ask for is marked planned")
	}
}
