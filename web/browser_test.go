package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/app"
	"github.com/sitrep-ir/sitrep/client"
)

// chromium finds the browser the tests drive (Debian's chromium). Without
// one the test skips, unless SITREP_TEST_REQUIRE_ALL=1.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SITREP_TEST_REQUIRE_ALL") == "1" {
		t.Fatal("Chromium is required (SITREP_TEST_REQUIRE_ALL=1): install Debian's chromium")
	}
	t.Skip("no Chromium on PATH: install Debian's chromium to run the browser tests")
	return ""
}

// page is one signed-in person's browser: its own cookies.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// eval runs JavaScript in the page and returns its value.
func eval[T any](p *page, what, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds.
func (p *page) waitFor(what, js string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		p.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// text returns the text of the element sel. It reads it in one step in the
// page: a live update may replace the element between two protocol calls.
func (p *page) text(sel string) string {
	p.t.Helper()
	return eval[string](p, "text of "+sel, `(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? e.textContent.trim() : "(no "+`+jsString(sel)+`+")"; })()`)
}

// click clicks the element sel, found when the click happens: a live update
// may have replaced the one found a moment earlier.
func (p *page) click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		ok, err := chromedp.Evaluate[bool](`(() => { const e = document.querySelector(`+jsString(sel)+`); if (!e) return false; e.click(); return true; })()`)(ctx, t)
		if err == nil && !ok {
			err = fmt.Errorf("no %s to click", sel)
		}
		return chromedp.Void{}, err
	})
}

// fillAndClick sets form fields and clicks sel in one step in the page, so
// that a live update between protocol calls cannot replace a field after it
// was found. A value starting with "+" is appended to what the field holds,
// as typing would.
func (p *page) fillAndClick(fields [][2]string, sel string) chromedp.Action[chromedp.Void] {
	js := `(() => {`
	for _, f := range fields {
		js += `{ const e = document.querySelector(` + jsString(f[0]) + `); if (!e) return "no " + ` + jsString(f[0]) + `; `
		if strings.HasPrefix(f[1], "+") {
			js += `e.value += ` + jsString(f[1][1:]) + `; }`
		} else {
			js += `e.value = ` + jsString(f[1]) + `; }`
		}
	}
	js += `const b = document.querySelector(` + jsString(sel) + `); if (!b) return "no " + ` + jsString(sel) + `; b.click(); return ""; })()`
	return chromedp.Action[chromedp.Void](func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		missing, err := chromedp.Evaluate[string](js)(ctx, t)
		if err == nil && missing != "" {
			err = fmt.Errorf("%s in the page", missing)
		}
		return chromedp.Void{}, err
	})
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (p *page) signIn(name, pw string) {
	p.t.Helper()
	p.do("sign in as "+name,
		chromedp.Navigate(p.base+"/"),
		chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#name", name),
		chromedp.SendKeys("#password", pw),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("#me"),
	)
}

// live holds once a page has caught up from its event stream (the stream
// announces the incident's latest entry when it opens).
const live = `Number(document.querySelector("[data-live]").dataset.updates || 0) >= 1`

// rig is the whole server on 127.0.0.1 with a Chromium to drive it.
type rig struct {
	t       *testing.T
	ctx     context.Context
	base    string
	admin   *client.Client
	browser context.Context
}

// newRig starts the server on a temporary SQLite file and Chromium with an
// empty profile and nothing that calls home.
func newRig(t *testing.T, ctx context.Context) *rig {
	t.Helper()
	exe := chromium(t)
	srv, err := app.New(ctx, app.Config{Addr: "127.0.0.1:0", DB: "sqlite:" + filepath.Join(t.TempDir(), "sitrep.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &rig{t: t, ctx: ctx, base: srv.URL(), admin: client.New(srv.URL(), srv.AdminToken()), browser: browser}
}

// person adds a responder with the password "NAME passphrase" and returns
// an API client acting as them.
func (r *rig) person(name string) *client.Client {
	r.t.Helper()
	if _, err := r.admin.CreateUser(r.ctx, name, sitrep.OrgResponder, ""); err != nil {
		r.t.Fatal(err)
	}
	if err := r.admin.SetPassword(r.ctx, name, name+" passphrase"); err != nil {
		r.t.Fatal(err)
	}
	tok, err := r.admin.CreateToken(r.ctx, name, "tests")
	if err != nil {
		r.t.Fatal(err)
	}
	return client.New(r.base, tok.Secret)
}

// page opens a browser context of its own (its own cookies) signed in as
// name.
func (r *rig) page(name string) *page {
	r.t.Helper()
	ctx, cancel := chromedp.NewContext(r.browser, chromedp.WithNewBrowserContext())
	r.t.Cleanup(cancel)
	p := &page{t: r.t, ctx: ctx, base: r.base}
	p.signIn(name, name+" passphrase")
	return p
}

// screenshot saves the page as dir/name.png when SITREP_SCREENSHOTS names
// a directory (docs/screenshots for the README's), and does nothing
// otherwise, so that test runs leave the tree alone.
func (p *page) screenshot(name string) {
	p.t.Helper()
	dir := os.Getenv("SITREP_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// TestInTheBrowser drives the command post in Chromium against the real
// server, two people in two browsers: sign in, declare, watch the board and
// the incident page follow what others do without a reload, check in from
// the page, see only the buttons one may use, have a forged post refused
// with the rule's words, staff the Information Officer who then speaks for
// the incident, and run a transfer of command through its offer,
// acceptance and acknowledgements, each browser following the other's.
func TestInTheBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := newRig(t, ctx)
	base := r.base
	r.person("ada")
	bobAPI := r.person("bob")
	ada := r.page("ada")

	// Declare.
	ada.do("declare",
		ada.click(`a[href="/declare"]`),
		chromedp.WaitVisible("#title"),
		chromedp.SendKeys("#title", "Ransomware on FIN-LAPTOP-7"),
		chromedp.SetValue("#severity", "2"),
		chromedp.Submit("#title"),
		chromedp.WaitVisible("#command"),
	)
	if got := ada.text("#command"); got != "ada" {
		t.Fatalf("Command of the declared incident: %q", got)
	}
	first := strings.TrimPrefix(eval[string](ada, "location", "location.pathname"), "/incidents/")

	// The board follows a declaration made by someone else, without a reload.
	ada.do("open the board", chromedp.Navigate(base+"/"), chromedp.WaitVisible(`tr[data-id="`+first+`"]`))
	ada.waitFor("the board to go live", live)
	eval[bool](ada, "mark the page", "window.notReloaded = true")
	res, err := bobAPI.Declare(ctx, sitrep.DeclareInput{Title: "Phishing wave", Severity: 1})
	if err != nil {
		t.Fatal(err)
	}
	second := res.Incident.ID
	ada.waitFor("the new incident on the board", `document.querySelector('tr[data-id="`+second+`"]') !== null`)
	rows := eval[[]string](ada, "board order", `Array.from(document.querySelectorAll("tr[data-id]")).map(r => r.dataset.id)`)
	if strings.Join(rows, " ") != second+" "+first {
		t.Errorf("board rows %v, want the severity 1 incident first", rows)
	}
	if !eval[bool](ada, "still the same page", "window.notReloaded === true") {
		t.Errorf("the board reloaded instead of updating")
	}

	// bob checks in from his browser; ada's page shows him on scene.
	ada.do("open the incident", chromedp.Navigate(base+"/incidents/"+first), chromedp.WaitVisible("#timeline"))
	ada.waitFor("the incident page to go live", live)
	eval[bool](ada, "mark the page", "window.notReloaded = true")
	bob := r.page("bob")
	bob.do("open the incident", chromedp.Navigate(base+"/incidents/"+first), chromedp.WaitVisible("#timeline"))
	if eval[bool](bob, "note form", `document.getElementById("note-text") !== null`) {
		t.Errorf("bob, not checked in, may add a note")
	}
	bob.do("check in", bob.click("#checkin"), chromedp.WaitVisible("#note-text"))
	ada.waitFor("bob on scene", `document.querySelector('tr[data-user="bob"]') !== null`)
	if _, err := bobAPI.AddNote(ctx, first, "EDR shows a LockBit variant"); err != nil {
		t.Fatal(err)
	}
	ada.waitFor("the note on the timeline", `document.getElementById("timeline").textContent.includes("EDR shows a LockBit variant")`)
	if !eval[bool](ada, "still the same page", "window.notReloaded === true") {
		t.Errorf("the incident page reloaded instead of updating")
	}
	if !eval[bool](ada, "assign form", `document.getElementById("assign-form") !== null`) {
		t.Errorf("Command sees no assign form")
	}

	// A responder without command sees no assign button, and a forged post
	// is refused with the rule's words.
	if eval[bool](bob, "assign form", `document.getElementById("assign-form") !== null || document.getElementById("transfer-form") !== null`) {
		t.Errorf("bob, not Command, sees the assign or transfer form")
	}
	eval[bool](bob, "forge a post", `(() => {
		const f = document.createElement("form");
		f.method = "post";
		f.action = "/incidents/`+first+`/assign";
		for (const [k, v] of [["role", "operations"], ["user", "bob"]]) {
			const i = document.createElement("input");
			i.type = "hidden"; i.name = k; i.value = v;
			f.appendChild(i);
		}
		document.body.appendChild(f);
		f.submit();
		return true;
	})()`)
	bob.do("the refusal", chromedp.WaitVisible("#error-text"))
	if got := bob.text("#error-text"); !strings.Contains(got, "only Command (ada) may assign roles on "+first) {
		t.Errorf("the forged post's refusal: %q", got)
	}

	// Command makes bob the Information Officer; his page offers him the
	// publish form without a reload, and what he publishes reaches ada's.
	bob.do("back to the incident", chromedp.Navigate(base+"/incidents/"+first), chromedp.WaitVisible("#timeline"))
	bob.waitFor("bob's page to go live", live)
	eval[bool](bob, "mark the page", "window.notReloaded = true")
	if eval[bool](bob, "publish form", `document.getElementById("publish-form") !== null`) {
		t.Errorf("bob publishes before he is Information Officer")
	}
	ada.do("assign the Information Officer",
		ada.fillAndClick([][2]string{{"#assign-role", "information"}, {"#assign-user", "bob"}}, "#assign"),
		chromedp.WaitVisible(`.box[data-role="information"] .holder`),
	)
	if got := ada.text(`.box[data-role="information"] .holder`); got != "bob" {
		t.Errorf("the Information Officer on the chart: %q", got)
	}
	ada.waitFor("ada's page to go live", live)
	eval[bool](ada, "mark the page", "window.notReloaded = true")
	bob.waitFor("the publish form on bob's page", `document.getElementById("publish-form") !== null`)
	bob.do("publish",
		bob.fillAndClick([][2]string{{"#publish-audience", "internal"}, {"#publish-text", "+One Finance laptop has ransomware; it is isolated."}}, "#publish"),
		chromedp.WaitVisible(".comm-text"),
	)
	ada.waitFor("the statement on ada's page", `Array.from(document.querySelectorAll(".comm-text")).some(e => e.textContent.includes("it is isolated"))`)
	if !eval[bool](ada, "still the same page", "window.notReloaded === true") {
		t.Errorf("ada's page reloaded instead of updating")
	}
	ada.screenshot("command-page")

	// Transfer of command. What ada types is kept while the page updates.
	bob.do("back to the incident", chromedp.Navigate(base+"/incidents/"+first), chromedp.WaitVisible("#timeline"))
	bob.waitFor("bob's page to go live", live)
	eval[bool](bob, "mark the page", "window.notReloaded = true")
	ada.do("start a briefing", chromedp.SendKeys("#transfer-briefing", "Laptop isolated; "))
	if _, err := bobAPI.AddNote(ctx, first, "Backups are intact"); err != nil {
		t.Fatal(err)
	}
	ada.waitFor("the second note", `document.getElementById("timeline").textContent.includes("Backups are intact")`)
	if got := eval[string](ada, "briefing", `document.getElementById("transfer-briefing").value`); got != "Laptop isolated; " {
		t.Errorf("the briefing being typed was %q after the update, want it kept", got)
	}
	ada.do("offer command",
		ada.fillAndClick([][2]string{{"#transfer-briefing", "+reimage pending"}, {"#transfer-to", "bob"}}, "#transfer"),
		chromedp.WaitVisible("#offer-to"),
	)
	bob.waitFor("the offer on bob's page", `document.getElementById("accept") !== null`)
	if got := bob.text(".transfer .briefing"); got != "Laptop isolated; reimage pending" {
		t.Errorf("bob sees the briefing %q", got)
	}
	if !eval[bool](bob, "still the same page", "window.notReloaded === true") {
		t.Errorf("bob's page reloaded instead of updating")
	}
	ada.waitFor("ada's page to settle", live)
	eval[bool](ada, "mark the page", "window.notReloaded = true")
	bob.do("accept command", bob.click("#accept"), chromedp.WaitVisible("#ack-pending"))
	if got := bob.text("#command"); got != "bob" {
		t.Errorf("Command after accepting: %q", got)
	}
	if got := bob.text("#ack-pending"); !strings.Contains(got, "ada") {
		t.Errorf("bob's page should list ada as not acknowledged: %q", got)
	}
	ada.waitFor("the acknowledge button on ada's page", `document.getElementById("ack") !== null`)
	if got := ada.text("#command"); got != "bob" {
		t.Errorf("Command on ada's page after the transfer: %q", got)
	}
	if !eval[bool](ada, "still the same page", "window.notReloaded === true") {
		t.Errorf("ada's page reloaded instead of updating")
	}
	ada.do("acknowledge", ada.click("#ack"), chromedp.WaitVisible("#ack-complete"))
	bob.waitFor("everyone acknowledged, on bob's page", `document.getElementById("ack-complete") !== null`)
	if eval[bool](ada, "assign form", `document.getElementById("assign-form") !== null`) {
		t.Errorf("ada, no longer Command, still sees the assign form")
	}

	ada.do("open the board", chromedp.Navigate(base+"/"), chromedp.WaitVisible(`tr[data-id="`+first+`"]`))
	ada.waitFor("the board to go live", live)
	ada.screenshot("board")
}

// pageBudget is what a first page may transfer, everything it needs
// included: the command post must open fast on a poor link.
const pageBudget = 100 << 10

// TestFirstPageWeight loads the board and the command page of a staffed
// incident with nothing cached and holds them to the budget: the bytes of
// every response the page needs, and no chained requests (the stylesheet
// and the script are named by the HTML itself, and the page fetches
// nothing more when its event stream opens). The event stream is the only
// request the script makes.
func TestFirstPageWeight(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := newRig(t, ctx)
	adaAPI, bobAPI := r.person("ada"), r.person("bob")
	res, err := adaAPI.Declare(ctx, sitrep.DeclareInput{Title: "Ransomware on the file server", Severity: 2})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Incident.ID
	if _, err := bobAPI.CheckIn(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := adaAPI.Assign(ctx, id, sitrep.RoleInformation, "bob"); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := bobAPI.AddNote(ctx, id, fmt.Sprintf("observation %d: an observation from the field, of a length people write at 3 a.m.", i)); err != nil {
			t.Fatal(err)
		}
	}
	ada := r.page("ada")
	if _, err := chromedp.Call(ada.ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		t.Fatal(err)
	}

	type request struct {
		url, initiator, kind string
		bytes                int64
		done                 bool
	}
	var mu sync.Mutex
	var reqs map[network.RequestID]*request
	var order []network.RequestID
	if err := chromedp.Listen(ada.ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		if reqs == nil {
			return
		}
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			rq := &request{url: ev.Request.URL, kind: string(ev.Type)}
			if ev.Initiator != nil {
				rq.initiator = string(ev.Initiator.Type)
			}
			if _, ok := reqs[ev.RequestID]; !ok {
				order = append(order, ev.RequestID)
			}
			reqs[ev.RequestID] = rq
		case *network.EventLoadingFinished:
			if rq := reqs[ev.RequestID]; rq != nil {
				rq.bytes, rq.done = int64(ev.EncodedDataLength), true
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/incidents/" + id} {
		mu.Lock()
		reqs, order = map[network.RequestID]*request{}, nil
		mu.Unlock()
		ada.do("open "+path, chromedp.Navigate(r.base+path), chromedp.WaitVisible("[data-live]"))
		ada.waitFor("the page to go live", live)
		ada.waitFor("the page to load", `document.readyState === "complete"`)
		mu.Lock()
		var total int64
		var log []string
		for _, rid := range order {
			rq := reqs[rid]
			total += rq.bytes
			log = append(log, fmt.Sprintf("%s %s (%s, by %s): %d bytes", rq.kind, strings.TrimPrefix(rq.url, r.base), map[bool]string{true: "done", false: "open"}[rq.done], rq.initiator, rq.bytes))
			switch {
			case rq.kind == "Document", rq.kind == "Stylesheet" && rq.initiator == "parser", rq.kind == "Script" && rq.initiator == "parser":
			case rq.kind == "EventSource":
			default:
				t.Errorf("%s: a chained request: %s %s by %s", path, rq.kind, rq.url, rq.initiator)
			}
		}
		mu.Unlock()
		t.Logf("%s: %d bytes in %d requests\n\t%s", path, total, len(log), strings.Join(log, "\n\t"))
		if total > pageBudget {
			t.Errorf("%s transferred %d bytes, over the budget of %d", path, total, pageBudget)
		}
		if len(log) < 3 {
			t.Errorf("%s: %d requests seen, want the page, its stylesheet and script at least", path, len(log))
		}
	}
}
