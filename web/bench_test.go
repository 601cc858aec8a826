package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sitrep-ir/sitrep"
)

// benchIncident is a busy incident: 20 people on scene, the sections
// staffed, 40 tasks and 500 timeline entries.
func benchIncident(b *testing.B, e *env) (*sitrep.Incident, *http.Cookie) {
	ada := e.user("ada", sitrep.OrgResponder)
	inc := e.declare(ada, sitrep.DeclareInput{Title: "Breach of the customer database", Severity: 1})
	var people []*sitrep.User
	for i := range 19 {
		u := e.user(fmt.Sprintf("p%02d", i), sitrep.OrgResponder)
		e.do(u, inc.ID, sitrep.CheckIn{})
		people = append(people, u)
	}
	for i, r := range append(sitrep.Officers, sitrep.Sections...) {
		e.do(ada, inc.ID, sitrep.Assign{Role: r, User: people[i].Name})
	}
	for i := range 40 {
		e.do(ada, inc.ID, sitrep.AddTask{Section: sitrep.Sections[i%4], Title: fmt.Sprintf("task %d", i), Assignee: people[7+i%12].Name})
	}
	for inc.Seq < 500 {
		inc = e.do(people[int(inc.Seq)%19], inc.ID, sitrep.AddNote{Text: "an observation from the field, of a length people write at 3 a.m."})
	}
	br := e.signedIn("ada")
	return inc, br.cookie()
}

// cookie returns the browser's session cookie.
func (b *browser) cookie() *http.Cookie {
	req, _ := http.NewRequest("GET", b.e.srv.URL+"/", nil)
	for _, c := range b.c.Jar.Cookies(req.URL) {
		if c.Name == cookiePlain {
			return c
		}
	}
	b.e.t.Fatal("no session cookie")
	return nil
}

// serve answers GET path in process, as the server would, and fails on
// anything but 200.
func serve(b *testing.B, w *Server, path string, c *http.Cookie) int {
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET %s: %d", path, rec.Code)
	}
	return rec.Body.Len()
}

// BenchmarkIncidentPage renders the whole command page of a busy incident,
// from the session lookup through the store reads to the HTML.
func BenchmarkIncidentPage(b *testing.B) {
	e := newEnv(b)
	inc, c := benchIncident(b, e)
	size := 0
	for b.Loop() {
		size = serve(b, e.web, "/incidents/"+inc.ID, c)
	}
	b.ReportMetric(float64(size), "bytes/page")
}

// BenchmarkIncidentState renders the live part a page fetches on a change.
func BenchmarkIncidentState(b *testing.B) {
	e := newEnv(b)
	inc, c := benchIncident(b, e)
	for b.Loop() {
		serve(b, e.web, "/incidents/"+inc.ID+"/state", c)
	}
}

// BenchmarkBoard renders the board of 100 open incidents.
func BenchmarkBoard(b *testing.B) {
	e := newEnv(b)
	ada := e.user("ada", sitrep.OrgResponder)
	for i := range 100 {
		e.declare(ada, sitrep.DeclareInput{Title: fmt.Sprintf("incident %d", i), Severity: 1 + i%4})
	}
	c := e.signedIn("ada").cookie()
	for b.Loop() {
		serve(b, e.web, "/", c)
	}
}
