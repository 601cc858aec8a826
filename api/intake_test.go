package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/ingest"
)

// newIntakeEnv starts a server whose API takes alerts in through the real
// group-commit ingester on the env's store.
func newIntakeEnv(t testing.TB, open storeFunc) *env {
	t.Helper()
	e := newEnv(t, open)
	as, ok := e.store.(sitrep.AlertStore)
	if !ok {
		t.Fatalf("the store %T keeps no alerts", e.store)
	}
	ing := ingest.New(as, ingest.Options{})
	t.Cleanup(func() { ing.Close() })
	a := New(Config{Service: e.svc, Logger: slogTo(e.logs), Registry: e.reg, Ready: e.store.Ping, Ingester: ing})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	e.api, e.srv = a, srv
	return e
}

// testdata returns a payload the webhook parsers' tests use: what the real
// senders send.
func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "intake", "webhook", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// addSource adds a source as the administrator and returns its key.
func (e *env) addSource(name, kind string, allow ...string) string {
	e.t.Helper()
	body := map[string]any{"name": name, "kind": kind}
	if len(allow) > 0 {
		body["allow"] = allow
	}
	var c struct{ Key string }
	e.ok(http.StatusCreated, request{method: "POST", path: "/api/v1/sources", as: e.admin, body: body}).decode(e.t, &c)
	return c.Key
}

// withRoutingKey returns a PagerDuty event with its routing_key replaced.
func withRoutingKey(t testing.TB, event []byte, key string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(event, &m); err != nil {
		t.Fatal(err)
	}
	m["routing_key"] = key
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIntakeSQLite(t *testing.T)   { testIntake(t, sqliteStore) }
func TestIntakePostgres(t *testing.T) { testIntake(t, postgresStore) }

// testIntake sends each intake endpoint what the real senders send, over
// real HTTP: the alerts are stored before the answer, land on the triage
// desk, and an incident is declared from one. Wrong keys, kinds, addresses
// and bodies are refused, finally (4xx), and counted.
func testIntake(t *testing.T, open storeFunc) {
	e := newIntakeEnv(t, open)
	alice := e.addUser("alice", sitrep.OrgResponder)
	generic := e.addSource("siem", "generic")
	am := e.addSource("prometheus", "alertmanager", "127.0.0.0/8", "::1/128")
	grafana := e.addSource("grafana", "grafana")
	pd := e.addSource("pd-bridge", "pagerduty")
	faraway := e.addSource("faraway", "generic", "10.0.0.0/8")

	// What each sender sends, and what is stored.
	type stored struct {
		Accepted int     `json:"accepted"`
		Alerts   []int64 `json:"alerts"`
	}
	tests := []struct {
		name     string
		req      request
		status   int
		accepted int // events taken in
		alerts   int // alerts they touched
	}{
		{"generic, one alert", request{method: "POST", path: "/intake/generic/" + generic, body: testdata(t, "generic/single.json")}, http.StatusAccepted, 1, 1},
		{"generic batch, key in Authorization", request{method: "POST", path: "/intake/generic", body: testdata(t, "generic/batch.json"),
			header: map[string]string{"Authorization": "Bearer " + generic}}, http.StatusAccepted, 3, 2},
		{"generic, key in the query", request{method: "POST", path: "/intake/generic?key=" + generic,
			body: `{"summary":"Failed logins on vpn-01","severity":"warning","labels":{"host":"vpn-01"}}`}, http.StatusAccepted, 1, 1},
		{"generic from Kibana, JSON labelled as a form", request{method: "POST", path: "/intake/generic/" + generic, contentType: "application/x-www-form-urlencoded",
			body: `{"summary":"Kibana rule: error rate above 5%","severity":"error","labels":{"rule":"error-rate"}}`}, http.StatusAccepted, 1, 1},
		{"generic without a Content-Type", request{method: "POST", path: "/intake/generic/" + generic, contentType: "none",
			body: `{"summary":"cron job late","labels":{"job":"rotate"}}`}, http.StatusAccepted, 1, 1},
		{"alertmanager, older version", request{method: "POST", path: "/intake/alertmanager/" + am, body: testdata(t, "alertmanager/older-firing.json")}, http.StatusOK, -1, -1},
		{"alertmanager, firing", request{method: "POST", path: "/intake/alertmanager/" + am, body: testdata(t, "alertmanager/firing.json")}, http.StatusOK, -1, -1},
		{"alertmanager, partly resolved", request{method: "POST", path: "/intake/alertmanager/" + am, body: testdata(t, "alertmanager/partly-resolved.json")}, http.StatusOK, -1, -1},
		{"grafana, firing", request{method: "POST", path: "/intake/grafana/" + grafana, body: testdata(t, "grafana/firing.json")}, http.StatusOK, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			var got stored
			e.ok(tt.status, tt.req).decode(t, &got)
			if tt.accepted >= 0 && (got.Accepted != tt.accepted || len(got.Alerts) != tt.alerts) {
				t.Errorf("stored %+v, want %d events on %d alerts", got, tt.accepted, tt.alerts)
			}
			if got.Accepted == 0 {
				t.Errorf("nothing taken in: %+v", got)
			}
			// Stored before the answer: every alert is there now.
			for _, id := range got.Alerts {
				var al sitrep.Alert
				e.ok(http.StatusOK, request{method: "GET", path: alertPath(id), as: alice}).decode(t, &al)
				if al.Triage != sitrep.TriagePending || al.Source == "" {
					t.Errorf("alert %d: %+v", id, al)
				}
			}
		})
	}

	// PagerDuty's Events API v2, answered as PagerDuty answers.
	var pdAnswer struct {
		Status   string   `json:"status"`
		Message  string   `json:"message"`
		DedupKey string   `json:"dedup_key"`
		Errors   []string `json:"errors"`
	}
	e.ok(http.StatusAccepted, request{method: "POST", path: "/v2/enqueue", body: withRoutingKey(t, testdata(t, "pagerduty/trigger.json"), pd)}).decode(t, &pdAnswer)
	if pdAnswer.Status != "success" || pdAnswer.Message != "Event processed" || pdAnswer.DedupKey != "srv01/HTTP" {
		t.Errorf("trigger: %+v", pdAnswer)
	}
	pdAnswer.DedupKey = ""
	e.ok(http.StatusAccepted, request{method: "POST", path: "/v2/enqueue",
		body: `{"routing_key":"` + pd + `","event_action":"trigger","payload":{"summary":"Queue backlog","source":"mq-01","severity":"warning"}}`}).decode(t, &pdAnswer)
	if len(pdAnswer.DedupKey) != 32 {
		t.Errorf("a trigger without a dedup_key is not told the new one: %+v", pdAnswer)
	}
	e.ok(http.StatusAccepted, request{method: "POST", path: "/v2/change/enqueue", body: withRoutingKey(t, testdata(t, "pagerduty/change.json"), pd)}).decode(t, &pdAnswer)
	if pdAnswer.Status != "success" || pdAnswer.Message != "Change event processed" {
		t.Errorf("change: %+v", pdAnswer)
	}
	r := e.call(request{method: "POST", path: "/v2/enqueue", body: `{"routing_key":"` + pd + `","event_action":"trigger","payload":{"summary":"x"}}`})
	pdAnswer = struct {
		Status   string   `json:"status"`
		Message  string   `json:"message"`
		DedupKey string   `json:"dedup_key"`
		Errors   []string `json:"errors"`
	}{}
	r.decode(t, &pdAnswer)
	if r.status != http.StatusBadRequest || pdAnswer.Status != "invalid event" || pdAnswer.Message != "Event object is invalid" || len(pdAnswer.Errors) != 2 {
		t.Errorf("invalid event: %s", r)
	}

	// The triage desk has them all: one alert per key, by source.
	bySource := map[string]int{}
	var fromPD *sitrep.Alert
	for _, al := range e.alerts(alice, "?triage=pending") {
		bySource[al.Source]++
		if al.DedupKey == "srv01/HTTP" {
			fromPD = &al
		}
	}
	for _, src := range []string{"siem", "prometheus", "grafana", "pd-bridge"} {
		if bySource[src] == 0 {
			t.Errorf("no alert from %s on the desk: %v", src, bySource)
		}
	}
	resolved := 0
	for _, al := range e.alerts(alice, "") {
		if al.Source == "prometheus" && al.Status == sitrep.AlertResolved && al.ResolvedAt != nil {
			resolved++
		}
	}
	if resolved == 0 {
		t.Errorf("Alertmanager's resolved alerts did not resolve any alert")
	}
	if fromPD == nil || fromPD.Severity != 1 || fromPD.Summary != "DISK at 99% on machine prod-datapipe03.example.com" {
		t.Fatalf("the PagerDuty alert on the desk: %+v", fromPD)
	}
	if strings.Contains(strings.Join(fromPD.Samples, ""), pd) {
		t.Errorf("the routing key is stored with the alert: %v", fromPD.Samples)
	}

	// Declared from the desk.
	var res sitrep.Result
	e.ok(http.StatusCreated, request{method: "POST", path: alertPath(fromPD.ID) + "/declare", as: alice, body: map[string]any{"kind": "outage"}}).decode(t, &res)
	if res.Incident.Command != "alice" || res.Incident.Title != fromPD.Summary || res.Incident.Severity != 1 || len(res.Incident.Alerts) != 1 {
		t.Errorf("declared from a PagerDuty alert: %+v", res.Incident.Incident)
	}

	// Refusals: final (4xx), and counted by reason.
	refusedBefore := map[string]float64{}
	for _, reason := range []string{refusedNoKey, refusedBadKey, refusedWrongKind, refusedAddress, refusedTooLarge, refusedMedia, refusedInvalid} {
		refusedBefore[reason] = e.refused(reason)
	}
	wrong := "0123456789abcdef0123456789abcdef"
	big := `{"summary":"big","labels":{"x":"` + strings.Repeat("x", DefaultMaxBody) + `"}}`
	refusals := []struct {
		name    string
		req     request
		status  int
		reason  string
		mention string
	}{
		{"generic, wrong key", request{method: "POST", path: "/intake/generic/" + wrong, body: `{"summary":"x"}`}, http.StatusUnauthorized, refusedBadKey, "not valid"},
		{"generic, wrong bearer key", request{method: "POST", path: "/intake/generic", body: `{"summary":"x"}`, header: map[string]string{"Authorization": "Bearer " + wrong}}, http.StatusUnauthorized, refusedBadKey, "not valid"},
		{"generic, no key", request{method: "POST", path: "/intake/generic", body: `{"summary":"x"}`}, http.StatusUnauthorized, refusedNoKey, "a source key is required"},
		{"alertmanager, wrong key", request{method: "POST", path: "/intake/alertmanager/" + wrong, body: testdata(t, "alertmanager/firing.json")}, http.StatusUnauthorized, refusedBadKey, "not valid"},
		{"grafana, wrong key", request{method: "POST", path: "/intake/grafana/" + wrong, body: testdata(t, "grafana/firing.json")}, http.StatusUnauthorized, refusedBadKey, "not valid"},
		{"alertmanager key on the generic endpoint", request{method: "POST", path: "/intake/generic/" + am, body: `{"summary":"x"}`}, http.StatusForbidden, refusedWrongKind, "of kind alertmanager: it sends to /intake/alertmanager/KEY"},
		{"generic key on the grafana endpoint", request{method: "POST", path: "/intake/grafana/" + generic, body: testdata(t, "grafana/firing.json")}, http.StatusForbidden, refusedWrongKind, "not to the grafana endpoint"},
		{"an address not allowed", request{method: "POST", path: "/intake/generic/" + faraway, body: `{"summary":"x"}`}, http.StatusForbidden, refusedAddress, "does not allow alerts from this address"},
		{"a body over 1 MiB", request{method: "POST", path: "/intake/generic/" + generic, body: big}, http.StatusRequestEntityTooLarge, refusedTooLarge, "larger than the limit"},
		{"a body over 1 MiB, chunked", request{method: "POST", path: "/intake/generic/" + generic, body: big, chunked: true}, http.StatusRequestEntityTooLarge, refusedTooLarge, "larger than the limit"},
		{"not JSON", request{method: "POST", path: "/intake/generic/" + generic, contentType: "text/plain", body: "disk full"}, http.StatusUnsupportedMediaType, refusedMedia, "text/plain"},
		{"an alert without summary or labels", request{method: "POST", path: "/intake/generic/" + generic, body: `[{"summary":"ok"},{"severity":"critical"}]`}, http.StatusBadRequest, refusedInvalid, "alerts[1]"},
		{"alertmanager, not its format", request{method: "POST", path: "/intake/alertmanager/" + am, body: `[1,2]`}, http.StatusBadRequest, refusedInvalid, ""},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			p := e.with(t).fail(tt.status, tt.mention, tt.req)
			if strings.Contains(p.Detail, generic) || strings.Contains(p.Detail, am) {
				t.Errorf("the refusal shows a key: %q", p.Detail)
			}
		})
	}
	pdRefusals := []struct {
		name   string
		body   string
		status int
		reason string
	}{
		{"an unknown routing key", string(withRoutingKey(t, testdata(t, "pagerduty/trigger.json"), wrong)), http.StatusUnauthorized, refusedBadKey},
		{"a generic source's key", string(withRoutingKey(t, testdata(t, "pagerduty/trigger.json"), generic)), http.StatusForbidden, refusedWrongKind},
		{"no routing key", `{"event_action":"resolve","dedup_key":"x"}`, http.StatusBadRequest, refusedInvalid},
	}
	for _, tt := range pdRefusals {
		t.Run("pagerduty, "+tt.name, func(t *testing.T) {
			e := e.with(t)
			r := e.call(request{method: "POST", path: "/v2/enqueue", body: tt.body})
			var a struct {
				Status  string   `json:"status"`
				Message string   `json:"message"`
				Errors  []string `json:"errors"`
			}
			r.decode(t, &a)
			if r.status != tt.status || a.Status != "invalid event" || len(a.Errors) == 0 {
				t.Errorf("want %d with PagerDuty's answer, got %s", tt.status, r)
			}
		})
	}
	want := map[string]float64{}
	for _, tt := range refusals {
		want[tt.reason]++
	}
	for _, tt := range pdRefusals {
		want[tt.reason]++
	}
	got := map[string]float64{}
	for reason, before := range refusedBefore {
		got[reason] = e.refused(reason) - before
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("refusals counted (-want +got):\n%s", diff)
	}
	metrics := e.ok(http.StatusOK, request{method: "GET", path: "/metrics"})
	if !bytes.Contains(metrics.body, []byte(`sitrep_intake_refused_total{reason="bad_key"}`)) {
		t.Errorf("/metrics has no sitrep_intake_refused_total")
	}
	if bytes.Contains(metrics.body, []byte(generic)) || strings.Contains(e.logs.String(), generic) {
		t.Errorf("a source key is in the metrics or the log")
	}

	var missing []string
	for _, rt := range routes {
		if intakeRoute(rt) && !e.covered[rt.pattern()] {
			missing = append(missing, rt.pattern())
		}
	}
	if len(missing) > 0 {
		t.Errorf("the intake test did not exercise these routes with success: %s", strings.Join(missing, "; "))
	}
}

// TestIntakeOff: a server without an ingester answers the intake 404, so a
// sender pointed at it learns at once that nothing is taken in.
func TestIntakeOff(t *testing.T) {
	e := newEnv(t, sqliteStore)
	key := e.addSource("siem", "generic")
	e.fail(http.StatusNotFound, "not enabled", request{method: "POST", path: "/intake/generic/" + key, body: `{"summary":"x"}`})
	r := e.call(request{method: "POST", path: "/v2/enqueue", body: `{"routing_key":"` + key + `","event_action":"trigger","payload":{"summary":"x","source":"y","severity":"info"}}`})
	if r.status != http.StatusNotFound || !strings.Contains(string(r.body), "not enabled") {
		t.Errorf("PagerDuty event without intake: %s", r)
	}
	if n := e.refused(refusedDisabled); n != 2 {
		t.Errorf("intake_off counted %v times, want 2", n)
	}
	if desk := e.alerts(e.admin, ""); len(desk) != 0 {
		t.Errorf("alerts stored without an ingester: %+v", desk)
	}
}

// refused returns sitrep_intake_refused_total for reason, as the registry
// exports it.
func (e *env) refused(reason string) float64 {
	e.t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		e.t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != "sitrep_intake_refused_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	e.t.Fatalf("sitrep_intake_refused_total{reason=%q} is not exported", reason)
	return 0
}

// TestIntakeConcurrent: many senders at once, their alerts stored with
// group commit. Every 2xx means stored: once all are answered, the counts
// add up to what was sent.
func TestIntakeConcurrent(t *testing.T) {
	e := newIntakeEnv(t, sqliteStore)
	key := e.addSource("fleet", "generic")
	const senders, posts, keys = 16, 20, 5
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for p := range posts {
				body := fmt.Sprintf(`[{"summary":"disk full on db-%d","dedup_key":"db-%d/disk","severity":"error"},{"summary":"sender %d","labels":{"sender":"%d"}}]`, p%keys, p%keys, s, s)
				r, err := e.send(request{method: "POST", path: "/intake/generic/" + key, body: body})
				if err != nil {
					t.Errorf("sender %d: %v", s, err)
					return
				}
				if r.status != http.StatusAccepted {
					t.Errorf("sender %d: %s", s, r)
					return
				}
			}
		})
	}
	wg.Wait()
	counts := map[string]int64{}
	for _, al := range e.alerts(e.admin, "?limit=5000") {
		counts[al.DedupKey] = al.Count
	}
	var disks, total int64
	for k, n := range counts {
		total += n
		if strings.HasSuffix(k, "/disk") {
			disks += n
		}
	}
	if len(counts) != keys+senders || disks != senders*posts || total != 2*senders*posts {
		t.Errorf("stored %d alerts, %d disk events, %d events in all; want %d, %d, %d: %v", len(counts), disks, total, keys+senders, senders*posts, 2*senders*posts, counts)
	}
}

// FuzzIntake posts arbitrary bodies to the intake endpoints with valid
// keys: whatever the body, the answer is never a 5xx, and every answer
// matches the OpenAPI document.
func FuzzIntake(f *testing.F) {
	e := newIntakeEnv(f, sqliteStore)
	keys := map[string]string{}
	for _, kind := range []string{"generic", "alertmanager", "grafana", "pagerduty"} {
		keys[kind] = e.addSource(kind+"-src", kind)
	}
	targets := []string{
		"/intake/generic/" + keys["generic"],
		"/intake/alertmanager/" + keys["alertmanager"],
		"/intake/grafana/" + keys["grafana"],
		"/v2/enqueue",
		"/v2/change/enqueue",
		"/intake/generic?key=" + keys["generic"],
	}
	for i, name := range []string{"generic/single.json", "alertmanager/firing.json", "grafana/firing.json", "pagerduty/trigger.json", "pagerduty/change.json", "generic/batch.json"} {
		body := testdata(f, name)
		if strings.HasPrefix(name, "pagerduty/") {
			body = withRoutingKey(f, body, keys["pagerduty"])
		}
		f.Add(uint8(i), body)
	}
	for _, s := range []string{``, `{}`, `[]`, `null`, `{"alerts":[null]}`, `{"routing_key":"` + keys["pagerduty"] + `","event_action":"resolve"}`, "\xff\xfe{", `[{"summary":"\u0000\ud800","severity":1e400}]`} {
		f.Add(uint8(len(s)), []byte(s))
	}
	f.Fuzz(func(t *testing.T, target uint8, body []byte) {
		e := e.with(t)
		path := targets[int(target)%len(targets)]
		req := request{method: "POST", path: path, body: body, contentType: "application/json", fuzzed: true}
		r, err := e.send(req)
		if err != nil {
			t.Fatal(err)
		}
		if r.status >= 500 {
			t.Fatalf("POST %s with %q: %s", path, body, r)
		}
		if r.status >= 400 && !strings.HasPrefix(path, "/v2/") {
			r.problem(t)
		}
		if err := e.validate(req, r); err != nil {
			t.Fatalf("POST %s with %q: %v", path, body, err)
		}
	})
}
