package api

import (
	"net/http"
	"testing"

	"github.com/sitrep-ir/sitrep"
)

// FuzzAPI posts arbitrary bodies to the routes that decode one: whatever the
// body, the answer is never a 5xx, an error is a problem, and every answer
// matches the OpenAPI document.
func FuzzAPI(f *testing.F) {
	e := newEnv(f, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder)
	e.addUser("bob", sitrep.OrgResponder)
	id := e.declare(alice, sitrep.DeclareInput{Title: "Fuzzed"})
	base := "/api/v1/incidents/" + id
	e.change(alice, "POST", base+"/tasks", map[string]any{"section": "operations", "title": "Look"})

	targets := []struct {
		method, path string
		as           *caller
	}{
		{"POST", "/api/v1/incidents", alice},
		{"PATCH", base, alice},
		{"POST", base + "/notes", alice},
		{"POST", base + "/roles", alice},
		{"POST", base + "/tasks", alice},
		{"PATCH", base + "/tasks/1", alice},
		{"POST", base + "/phase", alice},
		{"PATCH", base + "/report", alice},
		{"POST", base + "/communications", alice},
		{"POST", base + "/checkout", alice},
		{"POST", base + "/checkin", alice},
		{"POST", "/api/v1/users", e.admin},
		{"POST", "/api/v1/tokens", alice},
	}
	seeds := []string{
		`{"title": "Disk full", "kind": "outage", "severity": 2}`,
		`{"severity": 1, "reason": "worse"}`,
		`{"text": "a note"}`,
		`{"role": "safety", "user": "bob"}`,
		`{"section": "operations", "title": "Look", "assignee": "alice"}`,
		`{"status": "done", "reason": "looked"}`,
		`{"phase": "containment", "reason": "contained"}`,
		`{"follow_ups": [{"action": "a", "owner": "alice"}], "accept_draft": true}`,
		`{"audience": "internal", "text": "hello"}`,
		`{"user": "bob"}`,
		``,
		`{"name": "zed", "role": "viewer", "email": "zed@example.com"}`,
		`{"label": "ci"}`,
		`{"text": "\u0000\ud800"}`,
		`{"title": null, "severity": 1e400}`,
		`[[[[[[[[[[[[]]]]]]]]]]]]`,
		`{"follow_ups": [{"action": "x", "owner": "ghost"}, null]}`,
		`{"assignee": "", "status": "open"}`,
		"\xff\xfe{",
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, target uint8, body []byte) {
		e := e.with(t)
		tg := targets[int(target)%len(targets)]
		req := request{method: tg.method, path: tg.path, as: tg.as, body: body, fuzzed: true}
		r, err := e.send(req)
		if err != nil {
			t.Fatal(err)
		}
		if r.status >= 500 {
			t.Fatalf("%s %s with %q: %s", tg.method, tg.path, body, r)
		}
		if r.status >= 400 {
			r.problem(t)
		} else if r.status != http.StatusOK && r.status != http.StatusCreated {
			t.Fatalf("%s %s: unexpected %s", tg.method, tg.path, r)
		}
		if err := e.validate(req, r); err != nil {
			t.Fatalf("%s %s with %q: %v", tg.method, tg.path, body, err)
		}
	})
}
