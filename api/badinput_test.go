package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
)

// TestBadInput checks that bad requests are answered with a 4xx problem that
// names what is wrong, never with a 5xx.
func TestBadInput(t *testing.T) {
	e := newEnv(t, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder)
	e.addUser("bob", sitrep.OrgResponder)
	id := e.declare(alice, sitrep.DeclareInput{Title: "Bad input"})
	base := "/api/v1/incidents/" + id
	e.change(alice, "POST", base+"/tasks", map[string]any{"section": "operations", "title": "Look"})
	e.change(alice, "POST", base+"/assets", map[string]any{"kind": "host", "name": "web-01"})
	post := func(path string, body any) request {
		return request{method: "POST", path: path, as: alice, body: body}
	}
	patchTask := func(task string, body any) request {
		return request{method: "PATCH", path: base + "/tasks/" + task, as: alice, body: body}
	}
	get := func(path string) request { return request{method: "GET", path: path, as: alice} }

	tests := []struct {
		name    string
		req     request
		status  int
		field   string // the problem's field, when it must name one
		mention string // the problem's detail contains this
	}{
		// Domain values.
		{"unknown role", post(base+"/roles", map[string]any{"role": "Boss!", "user": "bob"}), 400, "role", `role "Boss!" is not valid`},
		{"command is not assigned", post(base+"/roles", map[string]any{"role": "command", "user": "bob"}), 400, "role", "transfer of command"},
		{"bad phase", post(base+"/phase", map[string]any{"phase": "done", "reason": "x"}), 400, "phase", `phase "done" is not valid`},
		{"phase without reason", post(base+"/phase", map[string]any{"phase": "containment"}), 400, "reason", "reason is required"},
		{"severity out of range", post("/api/v1/incidents", map[string]any{"title": "t", "severity": 9}), 400, "severity", "severity 9 is out of range"},
		{"title too long", post("/api/v1/incidents", map[string]any{"title": strings.Repeat("x", 201)}), 400, "title", "the limit is 200"},
		{"no such user", post(base+"/roles", map[string]any{"role": "safety", "user": "ghost"}), 400, "user", "no user named ghost"},
		{"not a user name", post(base+"/members", map[string]any{"user": "Not A Name"}), 400, "user", "not a valid name"},
		{"unknown asset kind", request{method: "DELETE", path: base + "/assets/server/web-01?reason=r", as: alice}, 400, "kind", `asset kind "server" is not valid`},
		{"unlink without reason", request{method: "DELETE", path: base + "/assets/host/web-01", as: alice}, 400, "reason", "reason is required"},
		{"bad task status", patchTask("1", map[string]any{"status": "finished"}), 400, "status", `task status "finished" is not valid`},
		{"task assignee and status", patchTask("1", map[string]any{"assignee": "", "status": "done"}), 400, "body", "not both"},
		{"task patch empty", patchTask("1", map[string]any{}), 400, "body", "nothing to change"},
		{"edit without changes", request{method: "PATCH", path: base, as: alice, body: map[string]any{"reason": "r"}}, 400, "", "nothing to change"},
		{"bad org role", request{method: "POST", path: "/api/v1/users", as: e.admin, body: map[string]any{"name": "zed", "role": "root"}}, 400, "role", `role "root" is not valid`},
		{"bad email", request{method: "POST", path: "/api/v1/users", as: e.admin, body: map[string]any{"name": "zed", "email": "zed at example"}}, 400, "email", "not an e-mail address"},
		{"duplicate user", request{method: "POST", path: "/api/v1/users", as: e.admin, body: map[string]any{"name": "bob"}}, 409, "", "bob"},
		{"token for nobody", request{method: "POST", path: "/api/v1/tokens", as: e.admin, body: map[string]any{"user": "ghost"}}, 404, "", "ghost"},

		// Bodies.
		{"malformed JSON", post(base+"/notes", `{"text": "abc",}`), 400, "body", "body: invalid JSON at offset 16"},
		{"JSON ends early", post(base+"/notes", `{"text": "ab`), 400, "body", "ends early"},
		{"unknown field", post(base+"/notes", `{"text": "a", "foo": 1}`), 400, "foo", `body: unknown field "foo"`},
		{"wrong type", post(base+"/notes", `{"text": 5}`), 400, "text", `field "text" must be a string, not a number`},
		{"fraction for a whole number", post("/api/v1/incidents", `{"title": "t", "severity": 1.5}`), 400, "severity", "must be a whole number"},
		{"not an object", post(base+"/notes", `["text"]`), 400, "body", "must be a JSON object, not an array"},
		{"trailing data", post(base+"/notes", `{"text": "a"} {"text": "b"}`), 400, "body", "unexpected data after the JSON object"},
		{"empty body", post(base+"/notes", nil), 400, "body", "a JSON object is required"},
		{"deeply nested", post(base+"/notes", `{"text": `+strings.Repeat("[", 20000)+`}`), 400, "body", "body: "},
		{"unknown field on an empty command", post(base+"/checkin", `{"force": true}`), 400, "force", `unknown field "force"`},
		{"oversized body", post(base+"/notes", map[string]any{"text": strings.Repeat("x", DefaultMaxBody)}), 413, "body", "limit of 1048576 bytes"},
		{"oversized chunked body", request{method: "POST", path: base + "/notes", as: alice, body: strings.Repeat(" ", DefaultMaxBody+1), chunked: true}, 413, "body", "limit of 1048576 bytes"},
		{"wrong content type", request{method: "POST", path: base + "/notes", as: alice, body: `{"text": "a"}`, contentType: "text/plain"}, 415, "Content-Type", `Content-Type "text/plain" is not supported`},
		{"no content type", request{method: "POST", path: base + "/notes", as: alice, body: `{"text": "a"}`, contentType: "none"}, 415, "Content-Type", "Content-Type none is not supported"},
		{"form content type", request{method: "POST", path: "/api/v1/incidents", as: alice, body: "title=x", contentType: "application/x-www-form-urlencoded"}, 415, "Content-Type", "application/json"},

		// Incidents that are not there.
		{"unknown incident", get("/api/v1/incidents/IR-2026-0999"), 404, "id", "IR-2026-0999"},
		{"malformed incident ID", get("/api/v1/incidents/nope"), 404, "id", "IR-2026-0042"},
		{"change of an unknown incident", post("/api/v1/incidents/IR-2026-0999/notes", map[string]any{"text": "a"}), 404, "id", "IR-2026-0999"},
		{"unknown task", patchTask("99", map[string]any{"status": "done"}), 404, "task", "no task 99"},

		// Query and path values.
		{"after not a number", get(base + "/timeline?after=abc"), 400, "after", "after="},
		{"negative limit", get(base + "/timeline?limit=-1"), 400, "limit", "limit="},
		{"limit too large", get(base + "/timeline?limit=10001"), 400, "limit", "from 1 to 10000"},
		{"all not a boolean", get("/api/v1/incidents?all=maybe"), 400, "all", "all="},
		{"unknown report format", get(base + "/report?format=pdf"), 400, "format", "format="},
		{"task not a number", patchTask("x", map[string]any{"status": "done"}), 400, "task", `task "x" is not a task number`},
		{"task zero", patchTask("0", map[string]any{"status": "done"}), 400, "task", "is not a task number"},

		// Routes that are not there.
		{"unknown route", get("/api/v1/nope"), 404, "", "/api/v1/nope"},
		{"unknown route outside the API", get("/nope"), 404, "", "/nope"},
		{"method not allowed", request{method: "DELETE", path: "/api/v1/me", as: alice}, 405, "", "use GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			p := e.fail(tt.status, tt.mention, tt.req)
			if tt.field != "" && p.Field != tt.field {
				t.Errorf("field = %q, want %q (%+v)", p.Field, tt.field, p)
			}
		})
	}
	e.verified(alice, id)
}

// TestInternalErrorsStayInTheLog checks that a failing store answers 500
// "internal error" while the log keeps the real error.
func TestInternalErrorsStayInTheLog(t *testing.T) {
	e := newEnv(t, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder)
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, req := range []request{
		{method: "GET", path: "/api/v1/me", as: alice},
		{method: "GET", path: "/api/v1/users", as: e.admin},
	} {
		r := e.call(req)
		if r.status != http.StatusInternalServerError {
			t.Fatalf("%s on a closed store: %s", req.path, r)
		}
		if p := r.problem(t); p.Detail != "internal error" || p.Type != "urn:sitrep:problem:internal" || p.Field != "" || p.Rule != "" {
			t.Errorf("problem %+v", p)
		}
	}
	if logs := e.logs.String(); !strings.Contains(logs, `"msg":"request failed"`) || !strings.Contains(logs, "closed") {
		t.Errorf("the log does not keep the store's error:\n%s", logs)
	}
	r := e.call(request{method: "GET", path: "/readyz"})
	if p := r.problem(t); r.status != http.StatusServiceUnavailable || p.Type != "urn:sitrep:problem:unavailable" || strings.Contains(p.Detail, "closed") {
		t.Errorf("readyz on a closed store: %s", r)
	}
}

// TestPanicAnswersProblem checks that a panic while serving is logged and
// answered with a 500 problem, and the server goes on serving.
func TestPanicAnswersProblem(t *testing.T) {
	logs := &logBuffer{}
	// A Service without a store panics on the first request that needs one.
	a := New(Config{Service: &sitrep.Service{}, Logger: slogTo(logs)})
	srv := httptest.NewServer(a)
	defer srv.Close()
	e := &env{t: t, server: &server{srv: srv}}
	for range 2 {
		r, err := e.send(request{method: "GET", path: "/api/v1/me", as: &caller{"x", "sitrep_" + strings.Repeat("x", 40)}})
		if err != nil {
			t.Fatal(err)
		}
		if p := r.problem(t); r.status != 500 || p.Detail != "internal error" {
			t.Errorf("after a panic: %s", r)
		}
	}
	if !strings.Contains(logs.String(), "panic serving request") {
		t.Errorf("the panic is not logged:\n%s", logs)
	}
}

// TestReadyz checks /readyz against the Ready function.
func TestReadyz(t *testing.T) {
	var down error
	a := New(Config{Service: &sitrep.Service{}, Ready: func(context.Context) error { return down }})
	srv := httptest.NewServer(a)
	defer srv.Close()
	e := &env{t: t, server: &server{srv: srv}}
	for _, tt := range []struct {
		down error
		want int
	}{{nil, 200}, {errors.New("connection refused"), 503}, {nil, 200}} {
		down = tt.down
		r, err := e.send(request{method: "GET", path: "/readyz"})
		if err != nil {
			t.Fatal(err)
		}
		if r.status != tt.want {
			t.Errorf("ready error %v: got %s, want %d", tt.down, r, tt.want)
		}
		if tt.want == 503 {
			if p := r.problem(t); strings.Contains(p.Detail, "refused") {
				t.Errorf("the problem shows the internal error: %+v", p)
			}
		}
	}
}

// TestMaxBody checks that Config.MaxBody is the body limit.
func TestMaxBody(t *testing.T) {
	e := newEnv(t, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder)
	id := e.declare(alice, sitrep.DeclareInput{Title: "Small bodies"})
	small := httptest.NewServer(New(Config{Service: e.svc, MaxBody: 64}))
	defer small.Close()
	s := &env{t: t, server: &server{srv: small}}
	for _, tt := range []struct {
		text string
		want int
	}{{"short", 200}, {strings.Repeat("x", 64), 413}} {
		r, err := s.send(request{method: "POST", path: "/api/v1/incidents/" + id + "/notes", as: alice, body: map[string]string{"text": tt.text}})
		if err != nil {
			t.Fatal(err)
		}
		if r.status != tt.want {
			t.Errorf("%d-byte note: got %s, want %d", len(tt.text), r, tt.want)
		}
	}
}

// TestMetrics checks the request metrics: labelled by route pattern, never
// by raw path, and served at /metrics.
func TestMetrics(t *testing.T) {
	e := newEnv(t, sqliteStore)
	alice := e.addUser("alice", sitrep.OrgResponder)
	id := e.declare(alice, sitrep.DeclareInput{Title: "Metrics"})
	for range 3 {
		e.incident(alice, id)
	}
	e.call(request{method: "GET", path: "/api/v1/incidents/IR-2026-0999", as: alice})
	e.call(request{method: "GET", path: "/no/such/thing", as: alice})
	e.call(request{method: "BREW", path: "/api/v1/me", as: alice})

	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	var observed uint64
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
				if strings.Contains(l.GetValue(), "IR-") || strings.Contains(l.GetValue(), "such") {
					t.Errorf("%s has a raw path in a label: %s=%s", f.GetName(), l.GetName(), l.GetValue())
				}
			}
			switch f.GetName() {
			case "sitrep_http_requests_total":
				counts[labels["method"]+" "+labels["route"]+" "+labels["code"]] = m.GetCounter().GetValue()
			case "sitrep_http_request_duration_seconds":
				if labels["route"] == "/api/v1/incidents/{id}" {
					observed = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	for key, want := range map[string]float64{
		"GET /api/v1/incidents/{id} 200": 3,
		"GET /api/v1/incidents/{id} 404": 1,
		"POST /api/v1/incidents 201":     1,
		"GET unmatched 404":              1,
	} {
		if counts[key] != want {
			t.Errorf("sitrep_http_requests_total{%s} = %v, want %v", key, counts[key], want)
		}
	}
	if observed != 4 {
		t.Errorf("duration observations of /api/v1/incidents/{id}: %d, want 4", observed)
	}
	r := e.ok(http.StatusOK, request{method: "GET", path: "/metrics"})
	if !strings.Contains(string(r.body), `sitrep_http_requests_total{code="200",method="GET",route="/api/v1/incidents/{id}"} 3`) {
		t.Errorf("/metrics does not serve the request counts:\n%s", clip(string(r.body), 2000))
	}
	if logs := e.logs.String(); !strings.Contains(logs, `"msg":"request","method":"GET","route":"/api/v1/incidents/{id}","status":200`) || !strings.Contains(logs, `"user":"alice"`) {
		t.Errorf("no access log line for the requests:\n%s", clip(logs, 3000))
	}

	// Two APIs may share a registry; without one there is nothing to serve.
	New(Config{Service: e.svc, Registry: e.reg})
	bare := httptest.NewServer(New(Config{Service: e.svc}))
	defer bare.Close()
	b := &env{t: t, server: &server{srv: bare}}
	r, err = b.send(request{method: "GET", path: "/metrics"})
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusNotFound {
		t.Errorf("/metrics without a registry: %s", r)
	}
	// A registerer that cannot be gathered is fed but not served.
	wrapped := prometheus.WrapRegistererWithPrefix("x_", prometheus.NewRegistry())
	New(Config{Service: e.svc, Registry: wrapped})
}
