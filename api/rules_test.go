package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sitrep-ir/sitrep"
)

// TestICSRefusals checks that every ICS rule the server enforces refuses over
// HTTP with 403, the rule's name in the problem, and a rule.refused entry on
// the timeline.
func TestICSRefusals(t *testing.T) {
	e := newEnv(t, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder) // Command
	bob := e.addUser("bob", sitrep.OrgResponder)     // on scene, no role
	carol := e.addUser("carol", sitrep.OrgResponder) // operations chief
	dave := e.addUser("dave", sitrep.OrgResponder)   // not checked in
	id := e.declare(alice, sitrep.DeclareInput{Title: "Ransomware on the file server", Kind: "malware"})
	base := "/api/v1/incidents/" + id
	e.change(bob, "POST", base+"/checkin", nil)
	e.change(carol, "POST", base+"/checkin", nil)
	e.change(alice, "POST", base+"/roles", map[string]any{"role": "operations", "user": "carol"})
	e.change(carol, "POST", base+"/tasks", map[string]any{"section": "operations", "title": "Image the disks", "assignee": "carol"})
	e.change(alice, "POST", base+"/assets", map[string]any{"kind": "host", "name": "files-01"})

	exercise := e.declare(alice, sitrep.DeclareInput{Title: "Tabletop", Exercise: true})

	tests := []struct {
		name  string
		setup func(e *env)
		req   request
		rule  string
		id    string // the incident refused on; default id
	}{
		{"only Command assigns roles", nil, request{method: "POST", path: base + "/roles", as: bob, body: map[string]any{"role": "safety", "user": "carol"}}, "freelancing", ""},
		{"only Command removes roles", nil, request{method: "DELETE", path: base + "/roles/operations", as: bob}, "freelancing", ""},
		{"only Command names people", nil, request{method: "POST", path: base + "/members", as: bob, body: map[string]any{"user": "dave"}}, "freelancing", ""},
		{"only Command edits", nil, request{method: "PATCH", path: base, as: bob, body: map[string]any{"severity": 1}}, "freelancing", ""},
		{"only Command changes the phase", nil, request{method: "POST", path: base + "/phase", as: carol, body: map[string]any{"phase": "containment", "reason": "now"}}, "freelancing", ""},
		{"only Command offers command", nil, request{method: "POST", path: base + "/transfer", as: bob, body: map[string]any{"to": "carol", "briefing": "take it"}}, "freelancing", ""},
		{"only Command releases others", nil, request{method: "POST", path: base + "/checkout", as: bob, body: map[string]any{"user": "carol"}}, "freelancing", ""},
		{"tasks only from Command or the section's chief", nil, request{method: "POST", path: base + "/tasks", as: bob, body: map[string]any{"section": "operations", "title": "Pull the plug"}}, "freelancing", ""},
		{"a chief directs only their section", nil, request{method: "POST", path: base + "/tasks", as: carol, body: map[string]any{"section": "planning", "title": "Write the plan"}}, "freelancing", ""},
		{"task reassigned only by Command or the chief", nil, request{method: "PATCH", path: base + "/tasks/1", as: bob, body: map[string]any{"assignee": "bob"}}, "freelancing", ""},
		{"task cancelled only by Command or the chief", nil, request{method: "PATCH", path: base + "/tasks/1", as: bob, body: map[string]any{"status": "cancelled"}}, "freelancing", ""},
		{"assets linked only by Command or a chief", nil, request{method: "POST", path: base + "/assets", as: bob, body: map[string]any{"kind": "host", "name": "nas-02"}}, "freelancing", ""},
		{"the post mortem written only by Command or planning", nil, request{method: "PATCH", path: base + "/report", as: bob, body: map[string]any{"what_worked": "everything"}}, "freelancing", ""},
		{"act only when checked in", nil, request{method: "POST", path: base + "/notes", as: dave, body: map[string]any{"text": "I saw something"}}, "check-in", ""},
		{"Command cannot leave without handing over", nil, request{method: "POST", path: base + "/checkout", as: alice}, "one-command", ""},
		{"only the person offered command accepts it", func(e *env) {
			e.change(alice, "POST", base+"/transfer", map[string]any{"to": "carol", "briefing": "Disks imaged."})
		}, request{method: "POST", path: base + "/accept-command", as: bob}, "transfer-of-command", ""},
		{"one voice", nil, request{method: "POST", path: base + "/communications", as: bob, body: map[string]any{"audience": "internal", "text": "All fine"}}, "one-voice", ""},
		{"exercises never reach external audiences", nil, request{method: "POST", path: "/api/v1/incidents/" + exercise + "/communications", as: alice, body: map[string]any{"audience": "external", "text": "We were hacked"}}, "exercise", exercise},
		{"nothing deleted under legal hold", func(e *env) {
			e.change(e.admin, "PATCH", base, map[string]any{"legal_hold": true, "reason": "litigation expected"})
		}, request{method: "DELETE", path: base + "/assets/host/files-01?reason=wrong+host", as: alice}, "legal-hold", ""},
		{"only an administrator lifts a legal hold", nil, request{method: "PATCH", path: base, as: alice, body: map[string]any{"legal_hold": false}}, "legal-hold", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			p := e.fail(http.StatusForbidden, "", tt.req)
			if p.Rule != tt.rule || p.Type != "urn:sitrep:problem:forbidden" {
				t.Errorf("problem %+v, want rule %s", p, tt.rule)
			}
			refused := tt.id
			if refused == "" {
				refused = id
			}
			tl := e.timeline(alice, refused)
			last := tl[len(tl)-1]
			var data sitrep.Refused
			if err := json.Unmarshal(last.Data, &data); err != nil || last.Type != "rule.refused" || data.Rule != tt.rule || last.Actor != tt.req.as.name {
				t.Errorf("last entry is %s by %s (%s), want the refusal (%s) by %s", last.Type, last.Actor, last.Data, tt.rule, tt.req.as.name)
			}
		})
	}
	e.verified(alice, id)
	e.verified(alice, exercise)
}

// TestConfidential checks ICS rule 8 over HTTP: a confidential incident is
// not found for an outsider, exactly like an incident that does not exist,
// and visible to administrators and to the people named on it.
func TestConfidential(t *testing.T) {
	e := newEnv(t, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder)
	bob := e.addUser("bob", sitrep.OrgResponder)
	erin := e.addUser("erin", sitrep.OrgResponder)
	id := e.declare(alice, sitrep.DeclareInput{Title: "Insider copying payroll data", Confidential: true})
	e.declare(alice, sitrep.DeclareInput{Title: "Printer on fire"})
	e.change(alice, "POST", "/api/v1/incidents/"+id+"/members", map[string]any{"user": "erin"})
	unknown := "IR-2026-9999"

	listed := func(c *caller) bool {
		var list struct{ Incidents []sitrep.IncidentView }
		e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/incidents", as: c}).decode(t, &list)
		for _, inc := range list.Incidents {
			if inc.ID == id {
				return true
			}
		}
		return false
	}
	for _, sub := range []string{"", "/timeline", "/verify", "/report", "/communications"} {
		t.Run("outsider GET "+sub, func(t *testing.T) {
			e := e.with(t)
			p := e.fail(http.StatusNotFound, id, request{method: "GET", path: "/api/v1/incidents/" + id + sub, as: bob})
			q := e.fail(http.StatusNotFound, unknown, request{method: "GET", path: "/api/v1/incidents/" + unknown + sub, as: bob})
			p.Detail = strings.ReplaceAll(p.Detail, id, unknown)
			if p != q {
				t.Errorf("a confidential incident answers %+v, an unknown one %+v: they must not differ", p, q)
			}
		})
	}
	t.Run("outsider changes", func(t *testing.T) {
		e := e.with(t)
		e.fail(http.StatusNotFound, id, request{method: "POST", path: "/api/v1/incidents/" + id + "/checkin", as: bob})
		e.fail(http.StatusNotFound, id, request{method: "POST", path: "/api/v1/incidents/" + id + "/notes", as: bob, body: map[string]any{"text": "hi"}})
	})
	if listed(bob) {
		t.Errorf("the outsider's list shows the confidential incident")
	}
	for _, c := range []*caller{e.admin, alice, erin} {
		t.Run("visible to "+c.name, func(t *testing.T) {
			e := e.with(t)
			if got := e.incident(c, id); got.ID != id || !got.Confidential {
				t.Errorf("got %+v", got.Incident)
			}
			if !listed(c) {
				t.Errorf("not in %s's list", c.name)
			}
		})
	}
	// The named member may check in and work.
	e.change(erin, "POST", "/api/v1/incidents/"+id+"/checkin", nil)
	e.change(erin, "POST", "/api/v1/incidents/"+id+"/notes", map[string]any{"text": "Payroll share access logs pulled."})
	e.verified(erin, id)
}

// validBodies holds a valid body for every route that changes something, so
// that tests can show it is refused for another reason than the body.
var validBodies = map[string]any{
	"POST /api/v1/users":                                 map[string]any{"name": "zed"},
	"POST /api/v1/tokens":                                nil,
	"PUT /api/v1/users/{name}/password":                  map[string]any{"password": "long enough"},
	"POST /api/v1/incidents":                             map[string]any{"title": "Viewer's incident"},
	"PATCH /api/v1/incidents/{id}":                       map[string]any{"severity": 1},
	"POST /api/v1/incidents/{id}/checkin":                nil,
	"POST /api/v1/incidents/{id}/checkout":               nil,
	"POST /api/v1/incidents/{id}/ack":                    nil,
	"POST /api/v1/incidents/{id}/accept-command":         nil,
	"POST /api/v1/incidents/{id}/members":                map[string]any{"user": "alice"},
	"POST /api/v1/incidents/{id}/roles":                  map[string]any{"role": "safety", "user": "alice"},
	"DELETE /api/v1/incidents/{id}/roles/{role}":         nil,
	"POST /api/v1/incidents/{id}/transfer":               map[string]any{"to": "alice", "briefing": "all yours"},
	"DELETE /api/v1/incidents/{id}/transfer":             nil,
	"POST /api/v1/incidents/{id}/tasks":                  map[string]any{"section": "operations", "title": "Look"},
	"PATCH /api/v1/incidents/{id}/tasks/{task}":          map[string]any{"status": "done"},
	"POST /api/v1/incidents/{id}/notes":                  map[string]any{"text": "note"},
	"POST /api/v1/incidents/{id}/communications":         map[string]any{"audience": "internal", "text": "update"},
	"POST /api/v1/incidents/{id}/drafts/{draft}/approve": nil,
	"POST /api/v1/incidents/{id}/drafts/{draft}/reject":  map[string]any{"reason": "not yet"},
	"POST /api/v1/incidents/{id}/assets":                 map[string]any{"kind": "host", "name": "h"},
	"DELETE /api/v1/incidents/{id}/assets/{kind}/{name}": nil,
	"POST /api/v1/incidents/{id}/phase":                  map[string]any{"phase": "containment", "reason": "r"},
	"PATCH /api/v1/incidents/{id}/report":                map[string]any{"what_worked": "w"},
	"POST /api/v1/sources":                               map[string]any{"name": "edr", "kind": "generic"},
	"DELETE /api/v1/sources/{name}":                      nil,
	"POST /api/v1/alerts/{alert}/declare":                nil,
	"POST /api/v1/alerts/{alert}/attach":                 map[string]any{"incident": "IR-2026-0001"},
	"POST /api/v1/alerts/{alert}/suppress":               nil,
}

// fillPath replaces the wildcards of a route path with values for incident id.
// Routes that take a reason in the query get one.
func fillPath(path, id string) string {
	filled := strings.NewReplacer("{id}", id, "{role}", "operations", "{task}", "1", "{kind}", "host", "{name}", "h", "{alert}", "1", "{draft}", "1").Replace(path)
	if strings.HasPrefix(path, "/api/v1/incidents/{id}/assets/") || strings.HasSuffix(path, "/transfer") {
		filled += "?reason=because"
	}
	return filled
}

// TestViewerChangesNothing checks that a viewer is refused every change of an
// incident with 403, and that the incident is unchanged afterwards.
func TestViewerChangesNothing(t *testing.T) {
	e := newEnv(t, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder)
	vic := e.addUser("vic", sitrep.OrgViewer)
	id := e.declare(alice, sitrep.DeclareInput{Title: "Phishing wave"})
	e.change(alice, "POST", "/api/v1/incidents/"+id+"/tasks", map[string]any{"section": "operations", "title": "Block the sender"})
	before := e.incident(alice, id)

	for _, rt := range routes {
		if rt.method == "GET" || rt.pattern() == "POST /api/v1/tokens" || rt.public || notifyRoute(rt) || exerciseRoute(rt) {
			// Reading is allowed; people make their own tokens; the
			// intake takes source keys, not users (TestIntake); this
			// env runs no exercises (TestExercisesAPI refuses viewers).
			continue
		}
		body, ok := validBodies[rt.pattern()]
		if !ok {
			t.Errorf("%s: add a valid body to validBodies", rt.pattern())
			continue
		}
		t.Run(rt.pattern(), func(t *testing.T) {
			e := e.with(t)
			p := e.fail(http.StatusForbidden, "", request{method: rt.method, path: fillPath(rt.path, id), as: vic, body: body})
			if p.Type != "urn:sitrep:problem:forbidden" {
				t.Errorf("problem %+v", p)
			}
		})
	}
	if after := e.incident(vic, id); after.Seq != before.Seq {
		t.Errorf("the viewer changed the incident: seq %d → %d", before.Seq, after.Seq)
	}
}

// TestAuthentication checks that every route but the public ones needs a
// valid bearer token, and says so with 401 and WWW-Authenticate.
func TestAuthentication(t *testing.T) {
	e := newEnv(t, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder)
	id := e.declare(alice, sitrep.DeclareInput{Title: "Auth"})
	bad := []struct {
		name   string
		header string
	}{
		{"no header", ""},
		{"unknown token", "Bearer sitrep_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"empty token", "Bearer "},
		{"another scheme", "Basic " + alice.token},
		{"no scheme", alice.token},
		{"oversized token", "Bearer " + strings.Repeat("x", 4000)},
	}
	for _, rt := range routes {
		if rt.public && (rt.method != "GET" || notifyRoute(rt)) {
			continue // the intake: source keys authenticate it (TestIntake); signed links (TestNotifyRoutes)
		}
		if rt.public {
			t.Run(rt.pattern()+" is public", func(t *testing.T) {
				e := e.with(t)
				e.ok(http.StatusOK, request{method: rt.method, path: rt.path})
			})
			continue
		}
		for _, b := range bad {
			t.Run(rt.pattern()+" "+b.name, func(t *testing.T) {
				e := e.with(t)
				req := request{method: rt.method, path: fillPath(rt.path, id), body: validBodies[rt.pattern()]}
				if b.header != "" {
					req.header = map[string]string{"Authorization": b.header}
				}
				r := e.call(req)
				challenge := r.header.Get("WWW-Authenticate")
				if r.status != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer") {
					t.Fatalf("want 401 with WWW-Authenticate: Bearer, got %s (WWW-Authenticate %q)", r, challenge)
				}
				if invalid := strings.Contains(challenge, `error="invalid_token"`); invalid != (b.header != "") {
					t.Errorf("WWW-Authenticate %q: a token was sent: %t", challenge, b.header != "")
				}
				if p := r.problem(t); p.Type != "urn:sitrep:problem:unauthorized" {
					t.Errorf("problem %+v", p)
				}
			})
		}
	}
	if got := e.incident(alice, id); got.Seq != 1 {
		t.Errorf("unauthenticated requests changed the incident: seq %d", got.Seq)
	}
}
