package webhook

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/google/go-cmp/cmp"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/intaketest"
)

const routingKey = "e93facc04764012d7bfb002500d5d1a6"

var hexKey = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestParsePagerDutyTestdata(t *testing.T) {
	got, err := ParsePagerDuty(readFile(t, "testdata/pagerduty/trigger.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := PagerDutyEvent{RoutingKey: routingKey, Event: sitrep.AlertEvent{
		Action: "trigger", DedupKey: "srv01/HTTP", Severity: 1,
		Summary: "DISK at 99% on machine prod-datapipe03.example.com",
		Labels: map[string]string{
			"source": "prod-datapipe03.example.com", "component": "mysql", "group": "prod-datapipe", "class": "disk",
			"details.free space": "1%", "details.ping time": "1500ms", "details.load avg": "0.75",
			"client": "Sample Monitoring Service",
		},
		OccurredAt: time.Date(2026, 11, 25, 20, 48, 0, 0, time.UTC),
	}}
	if diff := cmp.Diff(want, got, ignoreRaw); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	// The routing key is a credential: it does not reach the stored Raw,
	// which is otherwise the event as sent.
	if strings.Contains(got.Event.Raw, routingKey) || !strings.Contains(got.Event.Raw, `"routing_key":"(hidden)"`) ||
		!strings.Contains(got.Event.Raw, `"links":[{"href":"https://example.com/runbook","text":"Runbook"}]`) {
		t.Errorf("raw = %q, want the event without its routing key", got.Event.Raw)
	}
	got, err = ParsePagerDuty([]byte(`{"routing_key":"k","event_action":"trigger","payload":{"summary":"<b>5 > 3 & 2 < 4</b>","source":"h","severity":"info"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.Event.Raw, `"summary":"<b>5 > 3 & 2 < 4</b>"`) {
		t.Errorf("raw = %q, want the summary as sent", got.Event.Raw)
	}

	got, err = ParsePagerDuty(readFile(t, "testdata/pagerduty/resolve.json"))
	if err != nil {
		t.Fatal(err)
	}
	want = PagerDutyEvent{RoutingKey: routingKey, Event: sitrep.AlertEvent{Action: "resolve", DedupKey: "srv01/HTTP", Labels: map[string]string{}}}
	if diff := cmp.Diff(want, got, ignoreRaw); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
}

func TestParsePagerDuty(t *testing.T) {
	trigger := func(payload string) string {
		return `{"routing_key":"k","event_action":"trigger","dedup_key":"d","payload":` + payload + `}`
	}
	long := strings.Repeat("é", 600)
	tests := []struct {
		name string
		body string
		want sitrep.AlertEvent
	}{
		{"minimal trigger", trigger(`{"summary":"s","source":"h","severity":"warning"}`),
			sitrep.AlertEvent{Action: "trigger", DedupKey: "d", Severity: 3, Summary: "s", Labels: map[string]string{"source": "h"}}},
		{"severity info", trigger(`{"summary":"s","source":"h","severity":"info"}`),
			sitrep.AlertEvent{Action: "trigger", DedupKey: "d", Severity: 4, Summary: "s", Labels: map[string]string{"source": "h"}}},
		{"summary over 1024 bytes is cut", trigger(`{"summary":"` + long + `","source":"h","severity":"error"}`),
			sitrep.AlertEvent{Action: "trigger", DedupKey: "d", Severity: 2, Summary: sitrep.Truncate(long, sitrep.MaxAlertSummary), Labels: map[string]string{"source": "h"}}},
		{"timestamp with an offset without colon", trigger(`{"summary":"s","source":"h","severity":"error","timestamp":"2026-11-25T21:48:00.000+0100"}`),
			sitrep.AlertEvent{Action: "trigger", DedupKey: "d", Severity: 2, Summary: "s", Labels: map[string]string{"source": "h"},
				OccurredAt: time.Date(2026, 11, 25, 20, 48, 0, 0, time.UTC)}},
		{"custom details as text", trigger(`{"summary":"s","source":"h","severity":"error","custom_details":"free text"}`),
			sitrep.AlertEvent{Action: "trigger", DedupKey: "d", Severity: 2, Summary: "s", Labels: map[string]string{"source": "h", "details": "free text"}}},
		{"nested custom details as JSON", trigger(`{"summary":"s","source":"h","severity":"error","custom_details":{"a":{"b":1},"c":[1, 2]}}`),
			sitrep.AlertEvent{Action: "trigger", DedupKey: "d", Severity: 2, Summary: "s",
				Labels: map[string]string{"source": "h", "details.a": `{"b":1}`, "details.c": "[1, 2]"}}},
		{"acknowledge needs no payload", `{"routing_key":"k","event_action":"acknowledge","dedup_key":"d"}`,
			sitrep.AlertEvent{Action: "acknowledge", DedupKey: "d", Labels: map[string]string{}}},
		{"resolve with a payload keeps its text", `{"routing_key":"k","event_action":"resolve","dedup_key":"d","payload":{"summary":"fixed","source":"h","severity":"bogus"}}`,
			sitrep.AlertEvent{Action: "resolve", DedupKey: "d", Summary: "fixed", Labels: map[string]string{"source": "h"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePagerDuty([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got.RoutingKey != "k" || got.KeyGenerated {
				t.Errorf("routing key %q, key generated %v", got.RoutingKey, got.KeyGenerated)
			}
			if diff := cmp.Diff(tt.want, got.Event, ignoreRaw); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			checkEvents(t, []sitrep.AlertEvent{got.Event})
		})
	}

	t.Run("trigger without dedup key gets a new one", func(t *testing.T) {
		body := []byte(`{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"critical"}}`)
		a, err := ParsePagerDuty(body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParsePagerDuty(body)
		if err != nil {
			t.Fatal(err)
		}
		if !a.KeyGenerated || !hexKey.MatchString(a.Event.DedupKey) {
			t.Errorf("generated %v key %q, want a new 32-hex key", a.KeyGenerated, a.Event.DedupKey)
		}
		if a.Event.DedupKey == b.Event.DedupKey {
			t.Errorf("two keyless triggers got the same key %q: PagerDuty makes each a new alert", a.Event.DedupKey)
		}
	})
}

func TestParsePagerDutyRefuses(t *testing.T) {
	tests := []struct {
		name, body, field string
		problems          []string
	}{
		{"empty", "", "", []string{"the body is empty: send an event object"}},
		{"not JSON", "event_action=trigger", "", []string{"not valid JSON: invalid character 'e' looking for beginning of value (at byte 1)"}},
		{"an array", `[{}]`, "", []string{"the body must be a JSON object"}},
		{"nothing", `{}`, "routing_key", []string{"'routing_key' is missing or blank", "'event_action' is missing or blank"}},
		{"unknown action", `{"routing_key":"k","event_action":"escalate","dedup_key":"d"}`, "event_action",
			[]string{"'event_action' is invalid (must be one of 'trigger', 'acknowledge' or 'resolve')"}},
		{"trigger without payload", `{"routing_key":"k","event_action":"trigger"}`, "payload", []string{"'payload' is missing or not an object"}},
		{"trigger with a payload that is not an object", `{"routing_key":"k","event_action":"trigger","payload":"disk full"}`, "payload",
			[]string{"'payload' is missing or not an object"}},
		{"trigger with an empty payload", `{"routing_key":"k","event_action":"trigger","payload":{}}`, "payload.summary",
			[]string{"'payload.summary' is missing or blank", "'payload.source' is missing or blank", "'payload.severity' is missing or blank"}},
		{"trigger with a bad severity", `{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"CRITICAL"}}`,
			"payload.severity", []string{"'payload.severity' is invalid (must be one of 'critical', 'error', 'warning' or 'info')"}},
		{"trigger with a bad timestamp", `{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","timestamp":"last tuesday"}}`,
			"payload.timestamp", []string{"'payload.timestamp' is invalid (must be an ISO 8601 time such as 2026-01-02T15:04:05Z)"}},
		{"summary of the wrong type", `{"routing_key":"k","event_action":"trigger","payload":{"summary":5,"source":"h","severity":"info"}}`,
			"payload.summary", []string{"'payload.summary' is invalid (is a JSON number, want a string)"}},
		{"acknowledge without dedup key", `{"routing_key":"k","event_action":"acknowledge"}`, "dedup_key",
			[]string{"'dedup_key' is missing or blank (required to acknowledge an event)"}},
		{"resolve without routing key or dedup key", `{"event_action":"resolve","dedup_key":"  "}`, "routing_key",
			[]string{"'routing_key' is missing or blank", "'dedup_key' is missing or blank (required to resolve an event)"}},
		{"dedup key too long", `{"routing_key":"k","event_action":"resolve","dedup_key":"` + strings.Repeat("k", 256) + `"}`, "dedup_key",
			[]string{"'dedup_key' is too long (must be at most 255 characters)"}},
		{"routing key a number", `{"routing_key":12,"event_action":"resolve","dedup_key":"d"}`, "routing_key",
			[]string{"routing_key: is a JSON number, want a string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePagerDuty([]byte(tt.body))
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if err := intaketest.CheckError(err); err != nil {
				t.Fatal(err)
			}
			if f := sitrep.AsError(err).Field; f != tt.field {
				t.Errorf("field = %q, want %q", f, tt.field)
			}
			if want := strings.Join(tt.problems, "; "); err.Error() != want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), want)
			}
			want := PagerDutyResponse{Status: "invalid event", Message: "Event object is invalid", Errors: tt.problems}
			if diff := cmp.Diff(want, PagerDutyRejected(err)); diff != "" {
				t.Errorf("400 body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePagerDutyChange(t *testing.T) {
	got, err := ParsePagerDutyChange(readFile(t, "testdata/pagerduty/change.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := sitrep.AlertEvent{
		Action: "trigger", Severity: 4, Summary: "Build Success: Increase snapshot create timeout to 30 seconds",
		Labels: map[string]string{
			"event_type": "change", "source": "acme-build-pipeline-tool-default-i-9999",
			"details.build_state": "passed", "details.build_number": "2", "details.run_time": "1236s",
		},
		OccurredAt: time.Date(2026, 11, 25, 20, 46, 12, 0, time.UTC),
	}
	if diff := cmp.Diff(want, got.Event, ignoreRaw, ignoreDedupKey); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	if got.RoutingKey != routingKey || !got.KeyGenerated || !hexKey.MatchString(got.Event.DedupKey) {
		t.Errorf("routing key %q, generated %v, key %q", got.RoutingKey, got.KeyGenerated, got.Event.DedupKey)
	}

	tests := []struct {
		name, body, want string
	}{
		{"no payload", `{"routing_key":"k"}`, "'payload' is missing or not an object"},
		{"no summary", `{"routing_key":"k","payload":{"source":"ci"}}`, "'payload.summary' is missing or blank"},
		{"no routing key, bad time", `{"payload":{"summary":"s","timestamp":"soon"}}`,
			"'routing_key' is missing or blank; 'payload.timestamp' is invalid (must be an ISO 8601 time such as 2026-01-02T15:04:05Z)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePagerDutyChange([]byte(tt.body))
			if err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

var ignoreDedupKey = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".DedupKey" }, cmp.Ignore())

// pdServer is an Events API v2 endpoint on loopback that parses what it
// receives with ParsePagerDuty and ParsePagerDutyChange and answers as
// PagerDuty does: what the HTTP layer will do, without the store.
type pdServer struct {
	*httptest.Server
	mu       sync.Mutex
	events   []PagerDutyEvent
	requests []*http.Request
}

func newPDServer(t *testing.T) *pdServer {
	s := &pdServer{}
	mux := http.NewServeMux()
	handle := func(parse func([]byte) (PagerDutyEvent, error), accepted func(PagerDutyEvent) PagerDutyResponse) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(io.LimitReader(r.Body, 512<<10))
			if err != nil {
				t.Errorf("read body: %v", err)
			}
			ev, err := parse(body)
			s.mu.Lock()
			s.requests = append(s.requests, r)
			w.Header().Set("Content-Type", "application/json")
			if err != nil {
				s.mu.Unlock()
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(PagerDutyRejected(err))
				return
			}
			s.events = append(s.events, ev)
			s.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
			_ = json.NewEncoder(w).Encode(accepted(ev))
		}
	}
	mux.Handle("POST /v2/enqueue", handle(ParsePagerDuty, func(ev PagerDutyEvent) PagerDutyResponse { return PagerDutyAccepted(ev.Event.DedupKey) }))
	mux.Handle("POST /v2/change/enqueue", handle(ParsePagerDutyChange, func(PagerDutyEvent) PagerDutyResponse { return PagerDutyChangeAccepted() }))
	s.Server = httptest.NewServer(mux) // listens on 127.0.0.1
	t.Cleanup(s.Close)
	return s
}

func (s *pdServer) last(t *testing.T) PagerDutyEvent {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		t.Fatal("the server took no event")
	}
	return s.events[len(s.events)-1]
}

// TestPagerDutyClient sends events with PagerDuty's own Go client library to
// a loopback server that parses them: what the library sends must parse, and
// what sitrep answers must be what the library understands.
func TestPagerDutyClient(t *testing.T) {
	srv := newPDServer(t)
	client := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(srv.URL))
	ctx := t.Context()

	// A trigger without a dedup key: sitrep makes one and answers with it.
	resp, err := client.ManageEventWithContext(ctx, &pagerduty.V2Event{
		RoutingKey: routingKey,
		Action:     "trigger",
		Client:     "nightly checks",
		ClientURL:  "https://ci.example.org",
		Links:      []any{map[string]string{"href": "https://runbooks.example.org/ssl", "text": "Runbook"}},
		Payload: &pagerduty.V2Payload{
			Summary:   "TLS certificate of www.example.org expires in 3 days",
			Source:    "www.example.org",
			Severity:  "warning",
			Timestamp: "2026-11-25T20:50:00Z",
			Component: "nginx",
			Group:     "web",
			Class:     "certificate",
			Details:   map[string]any{"days_left": 3, "issuer": "R11"},
		},
	})
	if err != nil {
		t.Fatalf("trigger: %v", err)
	}
	got := srv.last(t)
	if resp.Status != "success" || resp.Message != "Event processed" || resp.DedupKey != got.Event.DedupKey || !hexKey.MatchString(resp.DedupKey) {
		t.Fatalf("answer %+v, parsed key %q", resp, got.Event.DedupKey)
	}
	want := PagerDutyEvent{RoutingKey: routingKey, KeyGenerated: true, Event: sitrep.AlertEvent{
		Action: "trigger", DedupKey: resp.DedupKey, Severity: 3,
		Summary: "TLS certificate of www.example.org expires in 3 days",
		Labels: map[string]string{
			"source": "www.example.org", "component": "nginx", "group": "web", "class": "certificate",
			"details.days_left": "3", "details.issuer": "R11", "client": "nightly checks",
		},
		OccurredAt: time.Date(2026, 11, 25, 20, 50, 0, 0, time.UTC),
	}}
	if diff := cmp.Diff(want, got, ignoreRaw); diff != "" {
		t.Errorf("trigger as parsed (-want +got):\n%s", diff)
	}
	checkEvents(t, []sitrep.AlertEvent{got.Event})

	// Acknowledge and resolve it with the key the answer gave.
	for _, action := range []string{"acknowledge", "resolve"} {
		resp, err := client.ManageEventWithContext(ctx, &pagerduty.V2Event{RoutingKey: routingKey, Action: action, DedupKey: resp.DedupKey})
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		got := srv.last(t)
		if got.Event.Action != action || got.Event.DedupKey != resp.DedupKey || got.KeyGenerated {
			t.Errorf("%s parsed as %+v (generated %v)", action, got.Event, got.KeyGenerated)
		}
	}

	// An event PagerDuty would refuse is refused with PagerDuty's 400.
	_, err = client.ManageEventWithContext(ctx, &pagerduty.V2Event{
		RoutingKey: routingKey, Action: "trigger",
		Payload: &pagerduty.V2Payload{Summary: "no source", Severity: "fatal"},
	})
	var apiErr pagerduty.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest {
		t.Fatalf("invalid trigger: err = %v, want the library's 400 APIError", err)
	}

	// A change event.
	cresp, err := client.CreateChangeEventWithContext(ctx, pagerduty.ChangeEvent{
		RoutingKey: routingKey,
		Payload: pagerduty.ChangeEventPayload{
			Summary:       "Deployed api v2.14.0",
			Source:        "deploy-bot",
			Timestamp:     "2026-11-25T20:55:00Z",
			CustomDetails: map[string]any{"commit": "9f3e2c1"},
		},
		Links: []pagerduty.ChangeEventLink{{Href: "https://ci.example.org/builds/812", Text: "build 812"}},
	})
	if err != nil {
		t.Fatalf("change: %v", err)
	}
	if cresp.Status != "success" || cresp.Message != "Change event processed" {
		t.Errorf("change answer %+v", cresp)
	}
	got = srv.last(t)
	wantChange := sitrep.AlertEvent{
		Action: "trigger", Severity: 4, Summary: "Deployed api v2.14.0",
		Labels:     map[string]string{"event_type": "change", "source": "deploy-bot", "details.commit": "9f3e2c1"},
		OccurredAt: time.Date(2026, 11, 25, 20, 55, 0, 0, time.UTC),
	}
	if diff := cmp.Diff(wantChange, got.Event, ignoreRaw, ignoreDedupKey); diff != "" {
		t.Errorf("change as parsed (-want +got):\n%s", diff)
	}
	if !strings.Contains(got.Event.Raw, "ci.example.org/builds/812") {
		t.Errorf("change raw lost its links: %q", got.Event.Raw)
	}

	// What the library sent, as PagerDuty would see it.
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, r := range srv.requests {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s sent Content-Type %q", r.URL.Path, ct)
		}
		if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "go-pagerduty/") {
			t.Errorf("%s sent User-Agent %q", r.URL.Path, ua)
		}
	}
}

func TestPagerDutyResponses(t *testing.T) {
	tests := []struct {
		name string
		resp PagerDutyResponse
		want string
	}{
		{"accepted", PagerDutyAccepted("srv01/HTTP"), `{"status":"success","message":"Event processed","dedup_key":"srv01/HTTP"}`},
		{"change accepted", PagerDutyChangeAccepted(), `{"status":"success","message":"Change event processed"}`},
		{"rejected", PagerDutyRejected(sitrep.Invalid("x", "bad x")), `{"status":"invalid event","message":"Event object is invalid","errors":["bad x"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}
