package status_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/app"
	"github.com/sitrep-ir/sitrep/status"
	"github.com/sitrep-ir/sitrep/store/storetest"
)

var start = time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)

const token = "sitrep_test-token-of-the-administrator-0123456789"

// server is a running sitrep on a SQLite file.
type server struct {
	t     *testing.T
	ctx   context.Context
	db    string
	clock *storetest.Clock
	app   *app.App
	svc   *sitrep.Service
	admin *sitrep.User
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{t: t, ctx: context.Background(), db: "sqlite:" + filepath.Join(t.TempDir(), "sitrep.db"), clock: storetest.NewClock(start, time.Second)}
	s.start()
	s.admin = &sitrep.User{Name: "admin", Role: sitrep.OrgAdmin}
	return s
}

func (s *server) start() {
	s.t.Helper()
	a, err := app.New(s.ctx, app.Config{Addr: "127.0.0.1:0", DB: s.db, Clock: s.clock, BootstrapToken: token})
	if err != nil {
		s.t.Fatalf("start the server: %v", err)
	}
	if err := a.Start(); err != nil {
		s.t.Fatalf("start the server: %v", err)
	}
	s.app, s.svc = a, a.Service()
	s.t.Cleanup(func() {
		if s.app == a {
			s.stop()
		}
	})
}

func (s *server) stop() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 20*time.Second)
	defer cancel()
	if err := s.app.Stop(ctx); err != nil {
		s.t.Errorf("stop the server: %v", err)
	}
	s.app = nil
}

func (s *server) user(name string) *sitrep.User {
	s.t.Helper()
	u, err := s.svc.CreateUser(s.ctx, s.admin, sitrep.User{Name: name, Role: sitrep.OrgResponder})
	if err != nil {
		s.t.Fatalf("add user %s: %v", name, err)
	}
	return u
}

func (s *server) declare(by *sitrep.User, in sitrep.DeclareInput) string {
	s.t.Helper()
	inc, _, err := s.svc.Declare(s.ctx, by, in)
	if err != nil {
		s.t.Fatalf("declare %q: %v", in.Title, err)
	}
	return inc.ID
}

func (s *server) do(by *sitrep.User, id string, cmds ...sitrep.Command) {
	s.t.Helper()
	for _, cmd := range cmds {
		if _, _, err := s.svc.Do(s.ctx, by, id, cmd); err != nil {
			s.t.Fatalf("%s by %s on %s: %v", cmd.Action(), by.Name, id, err)
		}
	}
}

// get fetches path with the request headers hdr.
func (s *server) get(path string, hdr ...string) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.app.URL()+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return resp, body
}

// fromAlert posts an alert to the generic intake and declares an incident
// from it, returning the incident's ID.
func (s *server) fromAlert() string {
	s.t.Helper()
	_, key, err := s.svc.CreateSource(s.ctx, s.admin, sitrep.Source{Name: "monitor", Kind: "generic"})
	if err != nil {
		s.t.Fatalf("add a source: %v", err)
	}
	alert := `{"summary": "db-primary-3 replication lag", "severity": 2, "dedup_key": "db-primary-3/replication", "labels": {"host": "db-primary-3", "team": "SECRET-LABEL"}}`
	resp, err := http.Post(s.app.URL()+"/intake/generic/"+key, "application/json", strings.NewReader(alert))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		s.t.Fatalf("post an alert: %s", resp.Status)
	}
	alerts, err := s.svc.Alerts(s.ctx, s.admin, sitrep.AlertFilter{})
	if err != nil || len(alerts) != 1 {
		s.t.Fatalf("alerts: %d, %v", len(alerts), err)
	}
	inc, _, err := s.svc.DeclareFromAlert(s.ctx, s.admin, alerts[0].ID, sitrep.DeclareInput{Kind: "outage"})
	if err != nil {
		s.t.Fatalf("declare from the alert: %v", err)
	}
	return inc.ID
}

// atomFeed is what the test reads of the feed, element by element.
type atomFeed struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"id"`
	Title   string   `xml:"title"`
	Updated string   `xml:"updated"`
	Author  []struct {
		Name string `xml:"name"`
	} `xml:"author"`
	Links []struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	} `xml:"link"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Content struct {
			Type string `xml:"type,attr"`
			Text string `xml:",chardata"`
		} `xml:"content"`
	} `xml:"entry"`
}

// The page and the feed say what the Information Officer published to the
// public, and nothing else the incidents hold: not their titles, notes,
// people, assets, alerts, nor what went to internal audiences or
// regulators, nor anything of confidential incidents and exercises.
func TestOnlyPublicStatementsAppear(t *testing.T) {
	s := newServer(t)
	ioName := s.user("zofia-kowalczyk")
	ops := s.user("bartholomew-ops")

	// An incident with everything a real one holds.
	a := s.declare(s.admin, sitrep.DeclareInput{Title: "SECRET-TITLE ransomware on FIN-LAPTOP-7", Kind: "malware", Severity: 2})
	s.do(ioName, a, sitrep.CheckIn{})
	s.do(ops, a, sitrep.CheckIn{})
	s.do(s.admin, a,
		sitrep.Assign{Role: sitrep.RoleInformation, User: ioName.Name},
		sitrep.Assign{Role: sitrep.RoleOperations, User: ops.Name},
		sitrep.LinkAsset{Kind: "host", Name: "SECRET-HOST-FIN7"},
		sitrep.AddTask{Section: sitrep.RoleOperations, Title: "SECRET-TASK reimage the laptop", Assignee: ops.Name},
	)
	s.do(ops, a, sitrep.AddNote{Text: "SECRET-NOTE the attacker used the VPN account of the CFO"})
	s.do(ioName, a,
		sitrep.Publish{Audience: "internal", Text: "SECRET-INTERNAL one laptop in Finance is encrypted"},
		sitrep.Publish{Audience: "customers", Text: "Some customers cannot sign in.\nWe are working on it."},
		sitrep.Publish{Audience: "regulators", Text: "SECRET-REGULATORS personal data of 1,200 people may be affected"},
		sitrep.Publish{Audience: "executives", Text: "SECRET-EXECUTIVES ransom demand received"},
	)
	s.do(s.admin, a, sitrep.ChangePhase{Phase: sitrep.PhaseContainment, Reason: "SECRET-REASON laptop isolated"})
	s.do(ioName, a, sitrep.Publish{Audience: "external", Text: "Sign-in works again for most customers."})

	// An incident declared from an alert, with its labels.
	b := s.fromAlert()
	s.do(s.admin, b, sitrep.Publish{Audience: "press", Text: "E-mail to our support desk is delayed; <b>replies</b> may take a day."})

	// A confidential incident's public statement stays off the page.
	c := s.declare(s.admin, sitrep.DeclareInput{Title: "SECRET-CONFIDENTIAL-TITLE insider", Kind: "data-breach", Severity: 1, Confidential: true})
	s.do(s.admin, c, sitrep.Publish{Audience: "customers", Text: "SECRET-CONFIDENTIAL-STATEMENT"})

	// An exercise never reaches an external audience, and its internal
	// updates are not public either.
	d := s.declare(s.admin, sitrep.DeclareInput{Title: "SECRET-EXERCISE-TITLE drill", Severity: 1, Exercise: true})
	s.do(s.admin, d, sitrep.Publish{Audience: "internal", Text: "SECRET-EXERCISE-UPDATE"})
	if _, _, err := s.svc.Do(s.ctx, s.admin, d, sitrep.Publish{Audience: "customers", Text: "SECRET-EXERCISE-PUBLIC"}); sitrep.ErrorKind(err) != sitrep.EForbidden {
		t.Fatalf("an exercise published to customers: %v", err)
	}

	secrets := []string{"SECRET", "zofia", "kowalczyk", "bartholomew", "FIN-LAPTOP", "admin", "malware", "data-breach", "db-primary-3", "replication", c, d}
	public := []string{"Some customers cannot sign in.", "We are working on it.", "Sign-in works again for most customers.", a, b}

	resp, page := s.get("/status")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /status: %s %s\n%s", resp.Status, resp.Header.Get("Content-Type"), page)
	}
	html := string(page)
	for _, secret := range secrets {
		if strings.Contains(strings.ToLower(html), strings.ToLower(secret)) {
			t.Errorf("the page shows %q:\n%s", secret, html)
		}
	}
	for _, want := range public {
		if !strings.Contains(html, want) {
			t.Errorf("the page does not show %q:\n%s", want, html)
		}
	}
	for _, want := range []string{"E-mail to our support desk is delayed; &lt;b&gt;replies&lt;/b&gt; may take a day.", "severity high", "containing", "investigating",
		`name="viewport"`, `href="/status/feed.atom"`} {
		if !strings.Contains(html, want) {
			t.Errorf("the page does not show %q:\n%s", want, html)
		}
	}
	if strings.Contains(strings.ToLower(html), "<script") {
		t.Errorf("the page has a script:\n%s", html)
	}
	// Newest first: the incident with the latest update, and its latest
	// update before its first.
	if ib, ia := strings.Index(html, `id="`+b+`"`), strings.Index(html, `id="`+a+`"`); ib < 0 || ia < 0 || ib > ia {
		t.Errorf("%s (updated last) is not above %s:\n%s", b, a, html)
	}
	if strings.Index(html, "Sign-in works again") > strings.Index(html, "Some customers cannot sign in") {
		t.Errorf("the latest update of %s is not first:\n%s", a, html)
	}

	// The feed: the same statements, valid Atom.
	resp, body := s.get("/status/feed.atom")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
		t.Fatalf("GET /status/feed.atom: %s %s\n%s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	for _, secret := range secrets {
		if strings.Contains(strings.ToLower(string(body)), strings.ToLower(secret)) {
			t.Errorf("the feed shows %q:\n%s", secret, body)
		}
	}
	f := parseFeed(t, body)
	if f.ID == "" || f.Title != status.DefaultTitle || len(f.Author) != 1 || f.Author[0].Name == "" {
		t.Errorf("feed id %q, title %q, authors %v", f.ID, f.Title, f.Author)
	}
	updated, err := time.Parse(time.RFC3339, f.Updated)
	if err != nil {
		t.Errorf("feed updated %q: %v", f.Updated, err)
	}
	var self bool
	for _, l := range f.Links {
		self = self || (l.Rel == "self" && l.Href == s.app.URL()+"/status/feed.atom")
	}
	if !self {
		t.Errorf("no self link to the feed: %+v", f.Links)
	}
	var texts, ids []string
	var newest time.Time
	for _, e := range f.Entries {
		at, err := time.Parse(time.RFC3339, e.Updated)
		if err != nil || e.ID == "" || e.Title == "" || e.Content.Type != "text" {
			t.Errorf("entry %+v (updated: %v)", e, err)
		}
		if at.After(newest) {
			newest = at
		}
		texts, ids = append(texts, e.Content.Text), append(ids, e.ID)
	}
	wantTexts := []string{
		"E-mail to our support desk is delayed; <b>replies</b> may take a day.",
		"Sign-in works again for most customers.",
		"Some customers cannot sign in.\nWe are working on it.",
	}
	if !slices.Equal(texts, wantTexts) {
		t.Errorf("feed entries say %q, want %q", texts, wantTexts)
	}
	if !newest.Equal(updated) {
		t.Errorf("the feed's updated %s is not its newest entry's %s", updated, newest)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
		t.Errorf("entry IDs repeat: %q", ids)
	}

	// Entry IDs stay the same after a restart (on another port).
	s.stop()
	s.start()
	_, body = s.get("/status/feed.atom")
	again := parseFeed(t, body)
	var idsAgain []string
	for _, e := range again.Entries {
		idsAgain = append(idsAgain, e.ID)
	}
	if again.ID != f.ID || !slices.Equal(idsAgain, ids) {
		t.Errorf("after a restart the feed is %q with entries %q; before, %q with %q", again.ID, idsAgain, f.ID, ids)
	}
}

// The page is cacheable: Cache-Control, an ETag and Last-Modified, and 304
// to a client that has the page already.
func TestConditionalRequests(t *testing.T) {
	s := newServer(t)
	id := s.declare(s.admin, sitrep.DeclareInput{Title: "Outage", Severity: 3})
	s.do(s.admin, id, sitrep.Publish{Audience: "customers", Text: "The shop is down."})

	for _, path := range []string{"/status", "/status/", "/status/feed.atom"} {
		resp, body := s.get(path)
		etag, modified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		if resp.StatusCode != http.StatusOK || len(body) == 0 || etag == "" || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
			t.Fatalf("GET %s: %s, ETag %q, Cache-Control %q", path, resp.Status, etag, resp.Header.Get("Cache-Control"))
		}
		if lm, err := http.ParseTime(modified); err != nil || lm.After(start.Add(time.Minute)) || lm.Before(start) {
			t.Errorf("GET %s: Last-Modified %q is not the update's time", path, modified)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		resp, body = s.get(path, "If-None-Match", etag)
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("GET %s If-None-Match the ETag: %s, %d bytes", path, resp.Status, len(body))
		}
		resp, _ = s.get(path, "If-Modified-Since", modified)
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-Modified-Since Last-Modified: %s", path, resp.Status)
		}
		resp, _ = s.get(path, "If-None-Match", `"something-else"`)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with another ETag: %s", path, resp.Status)
		}
	}
	// The HTML page and the feed are different representations.
	r1, _ := s.get("/status")
	r2, _ := s.get("/status/feed.atom")
	if r1.Header.Get("ETag") == r2.Header.Get("ETag") {
		t.Errorf("the page and the feed share the ETag %s", r1.Header.Get("ETag"))
	}
	// Nothing else is served under /status, and nothing is written.
	if resp, _ := s.get("/status/other"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /status/other: %s", resp.Status)
	}
	resp, err := http.Post(s.app.URL()+"/status", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /status: %s", resp.Status)
	}
}

// An empty page is still a page and a valid feed.
func TestEmpty(t *testing.T) {
	s := newServer(t)
	resp, page := s.get("/status")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "No incidents to report.") {
		t.Fatalf("GET /status: %s\n%s", resp.Status, page)
	}
	_, body := s.get("/status/feed.atom")
	f := parseFeed(t, body)
	if f.ID == "" || f.Updated == "" || len(f.Entries) != 0 {
		t.Errorf("feed %+v", f)
	}
}

// Build keeps the page bounded: the incidents with the latest updates and
// the latest updates of each, counting those left out; internal audiences
// never, whatever it is asked to show.
func TestBuildBounds(t *testing.T) {
	var incs []*sitrep.Incident
	for i := range 30 {
		inc := &sitrep.Incident{ID: sitrep.FormatID(2026, i+1), Severity: 4, Phase: sitrep.PhaseRecovery}
		for j := range 15 {
			inc.Communications = append(inc.Communications, sitrep.Communication{
				Seq: int64(j + 2), Audience: "customers", Text: fmt.Sprintf("update %d of %d", j, i),
				At: start.Add(time.Duration(i)*time.Hour + time.Duration(j)*time.Minute),
			})
		}
		inc.Communications = append(inc.Communications,
			sitrep.Communication{Seq: 100, Audience: "internal", Text: "internal", At: start.Add(100 * time.Hour)},
			sitrep.Communication{Seq: 101, Audience: "customers", Text: "from an exercise", At: start.Add(100 * time.Hour), Exercise: true})
		incs = append(incs, inc)
	}
	p := status.Build("T", incs, []string{"customers", "internal"}, 5, 3)
	if len(p.Incidents) != 5 {
		t.Fatalf("%d incidents, want 5", len(p.Incidents))
	}
	for k, inc := range p.Incidents {
		if want := sitrep.FormatID(2026, 30-k); inc.ID != want {
			t.Errorf("incident %d is %s, want %s", k, inc.ID, want)
		}
		if len(inc.Updates) != 3 || inc.More != 12 || inc.Updates[0].Text != fmt.Sprintf("update 14 of %d", 29-k) || inc.Phase != "recovering" || inc.Severity != "low" {
			t.Errorf("incident %s: %+v", inc.ID, inc)
		}
		if !inc.First.Equal(start.Add(time.Duration(29-k) * time.Hour)) {
			t.Errorf("incident %s: first update %s", inc.ID, inc.First)
		}
	}
	if !p.Updated.Equal(start.Add(29*time.Hour + 14*time.Minute)) {
		t.Errorf("updated %s", p.Updated)
	}
}

func parseFeed(t *testing.T, body []byte) atomFeed {
	t.Helper()
	if !bytes.HasPrefix(body, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Errorf("the feed has no XML declaration:\n%s", body)
	}
	var f atomFeed
	if err := xml.Unmarshal(body, &f); err != nil {
		t.Fatalf("the feed is not Atom: %v\n%s", err, body)
	}
	return f
}
