package webhook

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/intaketest"
)

// seed adds every file of the testdata folder dirs to f's corpus, and more.
func seed(f *testing.F, dirs []string, more ...string) {
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range more {
		f.Add([]byte(s))
	}
}

// fuzzEvents checks what a parser returned for body: events within the
// limits or an EInvalid error, never both, never neither.
func fuzzEvents(t *testing.T, body []byte, events []sitrep.AlertEvent, err error) {
	t.Helper()
	if err != nil {
		if events != nil {
			t.Fatalf("events and error %v for %q", err, body)
		}
		if cerr := intaketest.CheckError(err); cerr != nil {
			t.Fatal(cerr)
		}
		return
	}
	if len(events) == 0 {
		t.Fatalf("no events and no error for %q", body)
	}
	for i, ev := range events {
		if cerr := intaketest.CheckEvent(ev); cerr != nil {
			t.Fatalf("event %d of %q: %v", i, body, cerr)
		}
		if cerr := intaketest.CheckText(ev); cerr != nil {
			t.Fatalf("event %d of %q: %v", i, body, cerr)
		}
	}
}

func FuzzParseGeneric(f *testing.F) {
	seed(f, []string{"generic"},
		`{"summary":"s","severity":2.0,"labels":{"a":1e400}}`,
		`[{"labels":{"a":null}},{"summary":"x","status":"ack"}]`,
		`{"summary":"\ud800","labels":{"\u0000":"\xff"}}`,
		`{"summary":"s","occurred_at":"0001-01-01T00:00:00Z"}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := ParseGeneric(body)
		fuzzEvents(t, body, events, err)
	})
}

func FuzzParseAlertmanager(f *testing.F) {
	seed(f, []string{"alertmanager", "grafana"},
		`{"alerts":[{"status":"firing","labels":{"alertname":"A"}}]}`,
		`{"alerts":[null]}`,
		`{"alerts":[{"status":"resolved","annotations":{"summary":"s"},"endsAt":"9999-12-31T23:59:59.999999999Z"}]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := ParseAlertmanager(body)
		fuzzEvents(t, body, events, err)
	})
}

func FuzzParseGrafana(f *testing.F) {
	seed(f, []string{"grafana", "alertmanager"},
		`{"orgId":"x","alerts":[{"status":"firing","labels":{"alertname":"A"}}]}`,
		`{"orgId":{},"groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"A"}}]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := ParseGrafana(body)
		fuzzEvents(t, body, events, err)
	})
}

func FuzzParsePagerDuty(f *testing.F) {
	seed(f, []string{"pagerduty"},
		`{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","custom_details":{"":1,"a":[{}]}}}`,
		`{"routing_key":"k","event_action":"acknowledge","dedup_key":"d","payload":null}`,
		`{"routing_key":"k","payload":{"summary":"s","custom_details":7}}`,
	)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, parse := range []func([]byte) (PagerDutyEvent, error){ParsePagerDuty, ParsePagerDutyChange} {
			ev, err := parse(body)
			var events []sitrep.AlertEvent
			if err == nil {
				events = []sitrep.AlertEvent{ev.Event}
			} else {
				if r := PagerDutyRejected(err); len(r.Errors) == 0 {
					t.Fatalf("400 body without errors for %v", err)
				}
			}
			fuzzEvents(t, body, events, err)
		}
	})
}
