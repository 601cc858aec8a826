package api

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
)

// triageRoute reports whether rt belongs to the triage desk or its intake,
// whose routes TestTriage and TestIntake exercise (TestScenario covers the
// incident routes).
func triageRoute(rt route) bool {
	return deskRoute(rt) || intakeRoute(rt)
}

// deskRoute reports whether rt is one of the triage desk's API routes.
func deskRoute(rt route) bool {
	return strings.HasPrefix(rt.path, "/api/v1/sources") || strings.HasPrefix(rt.path, "/api/v1/alerts")
}

// intakeRoute reports whether rt is an intake endpoint.
func intakeRoute(rt route) bool {
	return strings.HasPrefix(rt.path, "/intake/") || strings.HasPrefix(rt.path, "/v2/")
}

func TestTriageSQLite(t *testing.T)   { testTriage(t, sqliteStore) }
func TestTriagePostgres(t *testing.T) { testTriage(t, postgresStore) }

// testTriage runs the triage desk over real HTTP: sources are added and
// removed by administrators, alerts land on the desk, and the dispatcher
// declares an incident from one, attaches another and suppresses a third.
// Every exchange is checked against the OpenAPI document.
func testTriage(t *testing.T, open storeFunc) {
	e := newEnv(t, open)
	alice := e.addUser("alice", sitrep.OrgResponder)
	bob := e.addUser("bob", sitrep.OrgResponder)
	vera := e.addUser("vera", sitrep.OrgViewer)

	// Sources: the administrator adds them; the key is shown once.
	var created struct {
		Source sitrep.Source `json:"source"`
		Key    string        `json:"key"`
		URL    string        `json:"url"`
	}
	r := e.ok(http.StatusCreated, request{method: "POST", path: "/api/v1/sources", as: e.admin,
		body: map[string]any{"name": "prometheus", "kind": "alertmanager", "allow": []string{"10.1.2.3/8"}}})
	r.decode(t, &created)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(created.Key) {
		t.Errorf("source key %q is not 32 hex digits", created.Key)
	}
	if want := e.srv.URL + "/intake/alertmanager/" + created.Key; created.URL != want {
		t.Errorf("url = %q, want %q", created.URL, want)
	}
	if got := r.header.Get("Location"); got != "/api/v1/sources/prometheus" {
		t.Errorf("Location = %q", got)
	}
	if diff := cmp.Diff([]string{"10.0.0.0/8"}, created.Source.Allow); diff != "" {
		t.Errorf("allow is kept as the masked range (-want +got):\n%s", diff)
	}
	if created.Source.CreatedBy != "admin" || created.Source.Kind != "alertmanager" {
		t.Errorf("source: %+v", created.Source)
	}
	urls := map[string]string{
		"generic":   e.srv.URL + "/intake/generic/",
		"grafana":   e.srv.URL + "/intake/grafana/",
		"pagerduty": e.srv.URL + "/v2/enqueue",
		"syslog":    "",
		"email":     "",
	}
	for kind, want := range urls {
		var c struct {
			Key, URL string
		}
		e.ok(http.StatusCreated, request{method: "POST", path: "/api/v1/sources", as: e.admin, body: map[string]any{"name": kind + "-1", "kind": kind}}).decode(t, &c)
		if kind == "generic" || kind == "grafana" {
			want += c.Key
		}
		if c.URL != want {
			t.Errorf("%s source: url = %q, want %q", kind, c.URL, want)
		}
	}

	tests := []struct {
		name    string
		status  int
		mention string
		req     request
	}{
		{"a responder adds a source", http.StatusForbidden, "only administrators", request{method: "POST", path: "/api/v1/sources", as: alice, body: map[string]any{"name": "x", "kind": "generic"}}},
		{"a name taken", http.StatusConflict, "", request{method: "POST", path: "/api/v1/sources", as: e.admin, body: map[string]any{"name": "prometheus", "kind": "generic"}}},
		{"an unknown kind", http.StatusBadRequest, `source kind "nagios" is not valid`, request{method: "POST", path: "/api/v1/sources", as: e.admin, body: map[string]any{"name": "n", "kind": "nagios"}}},
		{"a bad range", http.StatusBadRequest, `"10.0.0.300/8" is not a network range`, request{method: "POST", path: "/api/v1/sources", as: e.admin, body: map[string]any{"name": "n", "kind": "syslog", "allow": []string{"10.0.0.300/8"}}}},
		{"too many ranges", http.StatusBadRequest, "more than the limit of 64", request{method: "POST", path: "/api/v1/sources", as: e.admin, body: map[string]any{"name": "n", "kind": "syslog", "allow": slices.Repeat([]string{"10.0.0.0/8"}, 65)}}},
		{"a bad name", http.StatusBadRequest, "not a valid name", request{method: "POST", path: "/api/v1/sources", as: e.admin, body: map[string]any{"name": "Prom Two", "kind": "generic"}}},
		{"no token", http.StatusUnauthorized, "bearer token", request{method: "GET", path: "/api/v1/sources"}},
		{"a responder removes a source", http.StatusForbidden, "only administrators", request{method: "DELETE", path: "/api/v1/sources/prometheus", as: alice}},
		{"an unknown source removed", http.StatusNotFound, "", request{method: "DELETE", path: "/api/v1/sources/nope", as: e.admin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.with(t).fail(tt.status, tt.mention, tt.req)
			if tt.status == http.StatusBadRequest && p.Field == "" {
				t.Errorf("a 400 names no field: %+v", p)
			}
		})
	}

	var srcs struct{ Sources []sitrep.Source }
	r = e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/sources", as: vera})
	r.decode(t, &srcs)
	var names []string
	for _, s := range srcs.Sources {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"email-1", "generic-1", "grafana-1", "pagerduty-1", "prometheus", "syslog-1"}, names); diff != "" {
		t.Errorf("sources (-want +got):\n%s", diff)
	}
	if strings.Contains(string(r.body), created.Key) {
		t.Errorf("the source listing shows a key: %s", r)
	}

	// Alerts arrive: three repetitions of one are one alert seen 3 times.
	e.ingest("prometheus",
		sitrep.AlertEvent{DedupKey: "disk", Summary: "Disk full on db-01", Severity: 2, Labels: map[string]string{"host": "db-01"}},
		sitrep.AlertEvent{DedupKey: "cpu", Summary: "CPU hot on web-01", Severity: 3},
		sitrep.AlertEvent{DedupKey: "disk", Summary: "Disk full on db-01", Severity: 2, Labels: map[string]string{"host": "db-01"}},
		sitrep.AlertEvent{DedupKey: "noise", Summary: "Flapping probe"},
		sitrep.AlertEvent{DedupKey: "disk", Summary: "Disk full on db-01", Severity: 2, Labels: map[string]string{"host": "db-01"}},
	)
	desk := e.alerts(vera, "?triage=pending")
	byKey := map[string]sitrep.Alert{}
	for _, al := range desk {
		byKey[al.DedupKey] = al
	}
	if len(desk) != 3 || byKey["disk"].Count != 3 || byKey["cpu"].Count != 1 || byKey["disk"].Triage != sitrep.TriagePending {
		t.Fatalf("triage desk: %+v", desk)
	}
	disk, cpu, noise := byKey["disk"], byKey["cpu"], byKey["noise"]
	var got sitrep.Alert
	e.ok(http.StatusOK, request{method: "GET", path: alertPath(disk.ID), as: vera}).decode(t, &got)
	if got.ID != disk.ID || got.Summary != "Disk full on db-01" || got.Labels["host"] != "db-01" || got.Source != "prometheus" || got.Severity != 2 {
		t.Errorf("alert %d: %+v", disk.ID, got)
	}

	// Declared from the desk: the caller is Command, the title and
	// severity are the alert's, the alert is on the incident's record.
	r = e.ok(http.StatusCreated, request{method: "POST", path: alertPath(disk.ID) + "/declare", as: alice})
	var res sitrep.Result
	r.decode(t, &res)
	inc := res.Incident
	if inc.Command != "alice" || inc.Title != "Disk full on db-01" || inc.Severity != 2 || len(inc.Alerts) != 1 || inc.Alerts[0].ID != disk.ID {
		t.Errorf("declared from alert: %+v", inc.Incident)
	}
	if got := r.header.Get("Location"); got != "/api/v1/incidents/"+inc.ID {
		t.Errorf("Location = %q", got)
	}
	if diff := cmp.Diff([]string{"incident.declared", "alert.attached"}, types(res.Entries)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	e.ok(http.StatusOK, request{method: "GET", path: alertPath(disk.ID), as: alice}).decode(t, &got)
	if got.Triage != sitrep.TriageDeclared || got.IncidentID != inc.ID {
		t.Errorf("alert after declare: triage %s incident %q", got.Triage, got.IncidentID)
	}

	// A second incident declared with a title and kind of its own; the
	// noise is suppressed, and the CPU alert attached to the first.
	e.ingest("prometheus", sitrep.AlertEvent{DedupKey: "mem", Summary: "Memory low", Severity: 4})
	mem := e.alerts(vera, "?triage=pending&open=true&limit=1")[0]
	if mem.DedupKey != "mem" {
		t.Fatalf("the most recently seen pending alert is %q, want mem", mem.DedupKey)
	}
	res = sitrep.Result{}
	e.ok(http.StatusCreated, request{method: "POST", path: alertPath(mem.ID) + "/declare", as: bob,
		body: map[string]any{"title": "Memory leak in billing", "kind": "outage", "severity": 1}}).decode(t, &res)
	if res.Incident.Title != "Memory leak in billing" || res.Incident.Kind != "outage" || res.Incident.Severity != 1 || res.Incident.Command != "bob" {
		t.Errorf("declared with a body: %+v", res.Incident.Incident)
	}
	leak := res.Incident.ID
	if leak == inc.ID {
		t.Fatalf("two declarations made one incident %s", leak)
	}
	// bob is not on alice's incident: attaching is not acting on it.
	res = sitrep.Result{}
	e.ok(http.StatusOK, request{method: "POST", path: alertPath(cpu.ID) + "/attach", as: bob, body: map[string]string{"incident": inc.ID}}).decode(t, &res)
	if res.Incident.ID != inc.ID || len(res.Incident.Alerts) != 2 || !slices.Equal(types(res.Entries), []string{"alert.attached"}) {
		t.Errorf("after attach: alerts %+v entries %v", res.Incident.Alerts, types(res.Entries))
	}
	e.ok(http.StatusOK, request{method: "POST", path: alertPath(noise.ID) + "/suppress", as: alice}).decode(t, &got)
	if got.Triage != sitrep.TriageSuppressed || got.ID != noise.ID {
		t.Errorf("suppressed: %+v", got)
	}
	if desk := e.alerts(alice, "?triage=pending"); len(desk) != 0 {
		t.Errorf("the desk is not clear: %+v", desk)
	}
	triage := map[string]string{}
	for _, al := range e.alerts(alice, "") {
		triage[al.DedupKey] = al.Triage + " " + al.IncidentID
	}
	want := map[string]string{"disk": "declared " + inc.ID, "cpu": "attached " + inc.ID, "noise": "suppressed ", "mem": "declared " + leak}
	if diff := cmp.Diff(want, triage); diff != "" {
		t.Errorf("triage decisions (-want +got):\n%s", diff)
	}
	tl := e.timeline(alice, inc.ID)
	if n := strings.Count(strings.Join(types(tl), " "), "alert.attached"); n != 2 {
		t.Errorf("the record holds %d alert.attached entries, want 2: %v", n, types(tl))
	}
	e.verified(alice, inc.ID)

	refusals := []struct {
		name    string
		status  int
		mention string
		req     request
	}{
		{"declared twice", http.StatusConflict, "is already declared on " + inc.ID, request{method: "POST", path: alertPath(disk.ID) + "/declare", as: bob}},
		{"suppressed twice", http.StatusConflict, "is already suppressed", request{method: "POST", path: alertPath(noise.ID) + "/suppress", as: bob, body: map[string]any{}}},
		{"attached twice", http.StatusConflict, "already attached", request{method: "POST", path: alertPath(cpu.ID) + "/attach", as: bob, body: map[string]string{"incident": inc.ID}}},
		{"a viewer declares", http.StatusForbidden, "viewers cannot change anything", request{method: "POST", path: alertPath(disk.ID) + "/declare", as: vera}},
		{"a viewer suppresses", http.StatusForbidden, "viewers cannot change anything", request{method: "POST", path: alertPath(noise.ID) + "/suppress", as: vera}},
		{"an unknown alert", http.StatusNotFound, "", request{method: "GET", path: alertPath(99999), as: alice}},
		{"an unknown alert declared", http.StatusNotFound, "", request{method: "POST", path: alertPath(99999) + "/declare", as: alice}},
		{"not an alert number", http.StatusBadRequest, `alert "x1" is not an alert number`, request{method: "GET", path: "/api/v1/alerts/x1", as: alice}},
		{"alert zero", http.StatusBadRequest, "not an alert number", request{method: "POST", path: "/api/v1/alerts/0/suppress", as: alice}},
		{"attach to nothing", http.StatusBadRequest, "give the incident", request{method: "POST", path: alertPath(cpu.ID) + "/attach", as: alice, body: map[string]string{}}},
		{"attach without a body", http.StatusBadRequest, "a JSON object is required", request{method: "POST", path: alertPath(cpu.ID) + "/attach", as: alice}},
		{"attach to an unknown incident", http.StatusNotFound, "", request{method: "POST", path: alertPath(cpu.ID) + "/attach", as: alice, body: map[string]string{"incident": "IR-2026-9999"}}},
		{"declare with an unknown field", http.StatusBadRequest, `unknown field "owner"`, request{method: "POST", path: alertPath(disk.ID) + "/declare", as: alice, body: map[string]string{"owner": "alice"}}},
		{"suppress with a field", http.StatusBadRequest, `unknown field "reason"`, request{method: "POST", path: alertPath(noise.ID) + "/suppress", as: alice, body: map[string]string{"reason": "noise"}}},
		{"an unknown triage", http.StatusBadRequest, `triage "later" is not valid`, request{method: "GET", path: "/api/v1/alerts?triage=later", as: alice}},
		{"a limit of 0", http.StatusBadRequest, "limit", request{method: "GET", path: "/api/v1/alerts?limit=0", as: alice}},
		{"open is not a boolean", http.StatusBadRequest, "open", request{method: "GET", path: "/api/v1/alerts?open=perhaps", as: alice}},
		{"no token", http.StatusUnauthorized, "bearer token", request{method: "GET", path: "/api/v1/alerts"}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			e.with(t).fail(tt.status, tt.mention, tt.req)
		})
	}

	// A removed source's alerts stay on the record.
	e.ok(http.StatusNoContent, request{method: "DELETE", path: "/api/v1/sources/prometheus", as: e.admin})
	e.fail(http.StatusNotFound, "", request{method: "DELETE", path: "/api/v1/sources/prometheus", as: e.admin})
	if n := len(e.alerts(alice, "")); n != 4 {
		t.Errorf("%d alerts after the source was removed, want 4", n)
	}

	var missing []string
	for _, rt := range routes {
		if deskRoute(rt) && !e.covered[rt.pattern()] {
			missing = append(missing, rt.pattern())
		}
	}
	if len(missing) > 0 {
		t.Errorf("the triage test did not exercise these routes with success: %s", strings.Join(missing, "; "))
	}
}

func alertPath(id int64) string { return "/api/v1/alerts/" + strconv.FormatInt(id, 10) }

// ingest stores alert events of a source as the intake does, in one batch.
func (e *env) ingest(source string, events ...sitrep.AlertEvent) []sitrep.IngestResult {
	e.t.Helper()
	as, ok := e.store.(sitrep.AlertStore)
	if !ok {
		e.t.Fatalf("the store %T keeps no alerts", e.store)
	}
	batch := make([]sitrep.Ingest, len(events))
	for i, ev := range events {
		ev.Normalize()
		batch[i] = sitrep.Ingest{Source: source, Event: ev, ReceivedAt: time.Now().UTC().Truncate(time.Microsecond)}
	}
	res, err := as.IngestAlerts(context.Background(), batch)
	if err != nil {
		e.t.Fatalf("ingest: %v", err)
	}
	return res
}

// alerts lists alerts as c with the query (such as "?triage=pending").
func (e *env) alerts(c *caller, query string) []sitrep.Alert {
	e.t.Helper()
	var out struct{ Alerts []sitrep.Alert }
	e.ok(http.StatusOK, request{method: "GET", path: "/api/v1/alerts" + query, as: c}).decode(e.t, &out)
	return out.Alerts
}
