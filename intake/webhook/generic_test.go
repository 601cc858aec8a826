package webhook

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/intake/intaketest"
)

// ignoreRaw compares events without their Raw, which tests check apart.
var ignoreRaw = cmpopts.IgnoreFields(sitrep.AlertEvent{}, "Raw")

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkEvents fails t when an event breaks the limits of a normalised event.
func checkEvents(t testing.TB, events []sitrep.AlertEvent) {
	t.Helper()
	for i, ev := range events {
		if err := intaketest.CheckEvent(ev); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
		if err := intaketest.CheckText(ev); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
}

func TestParseGenericTestdata(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		body := readFile(t, "testdata/generic/single.json")
		got, err := ParseGeneric(body)
		if err != nil {
			t.Fatal(err)
		}
		want := []sitrep.AlertEvent{{
			Action:     sitrep.ActionTrigger,
			DedupKey:   "backup/db1",
			Severity:   1,
			Summary:    "Backup of db1 failed",
			Labels:     map[string]string{"host": "db1", "job": "nightly-backup", "attempt": "3", "source": "cron"},
			OccurredAt: time.Date(2026, 11, 25, 3, 0, 12, 0, time.UTC),
		}}
		if diff := cmp.Diff(want, got, ignoreRaw); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		// The field sitrep does not know is kept, not refused.
		if !strings.Contains(got[0].Raw, `"exit_code":12`) {
			t.Errorf("raw %q lost the unknown field", got[0].Raw)
		}
		checkEvents(t, got)
	})
	t.Run("batch", func(t *testing.T) {
		got, err := ParseGeneric(readFile(t, "testdata/generic/batch.json"))
		if err != nil {
			t.Fatal(err)
		}
		want := []sitrep.AlertEvent{
			{Action: sitrep.ActionTrigger, Severity: 2, Summary: "Backup of db1 failed", Labels: map[string]string{"host": "db1"},
				DedupKey: sitrep.DeriveDedupKey("Backup of db1 failed", map[string]string{"host": "db1"})},
			{Action: sitrep.ActionTrigger, Severity: 3, Summary: "Backup of db2 failed", Labels: map[string]string{"host": "db2"},
				DedupKey: sitrep.DeriveDedupKey("Backup of db2 failed", map[string]string{"host": "db2"})},
			{Action: sitrep.ActionResolve, DedupKey: "backup/db0", Labels: map[string]string{"host": "db0"}},
		}
		if diff := cmp.Diff(want, got, ignoreRaw); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		// Each event of a batch keeps its own part of the body.
		if got[1].Raw != `{"summary":"Backup of db2 failed","severity":"warning","labels":{"host":"db2"},"action":"trigger"}` {
			t.Errorf("raw of the second alert = %q", got[1].Raw)
		}
		checkEvents(t, got)
	})
}

func TestParseGeneric(t *testing.T) {
	long := strings.Repeat("x", sitrep.MaxAlertSummary+100)
	tests := []struct {
		name string
		body string
		want sitrep.AlertEvent
	}{
		{"summary only", `{"summary":"db1 down"}`,
			sitrep.AlertEvent{Action: "trigger", Summary: "db1 down", DedupKey: sitrep.DeriveDedupKey("db1 down", nil)}},
		{"labels only", `{"labels":{"host":"db1"}}`,
			sitrep.AlertEvent{Action: "trigger", Labels: map[string]string{"host": "db1"}, DedupKey: sitrep.DeriveDedupKey("", map[string]string{"host": "db1"})}},
		{"numbers and booleans in labels become text, null leaves the label out", `{"summary":"s","dedup_key":"k","labels":{"port":443,"ratio":0.5,"tls":true,"gone":null}}`,
			sitrep.AlertEvent{Action: "trigger", Summary: "s", DedupKey: "k", Labels: map[string]string{"port": "443", "ratio": "0.5", "tls": "true"}}},
		{"severity as a number in a string", `{"summary":"s","dedup_key":"k","severity":"2"}`,
			sitrep.AlertEvent{Action: "trigger", Summary: "s", DedupKey: "k", Severity: 2}},
		{"severity 0 means not said", `{"summary":"s","dedup_key":"k","severity":0}`,
			sitrep.AlertEvent{Action: "trigger", Summary: "s", DedupKey: "k"}},
		{"unknown severity word means not said", `{"summary":"s","dedup_key":"k","severity":"spicy"}`,
			sitrep.AlertEvent{Action: "trigger", Summary: "s", DedupKey: "k"}},
		{"status resolved", `{"summary":"s","dedup_key":"k","status":"resolved"}`,
			sitrep.AlertEvent{Action: "resolve", Summary: "s", DedupKey: "k"}},
		{"action acknowledge", `{"dedup_key":"k","action":"acknowledge","summary":"s"}`,
			sitrep.AlertEvent{Action: "acknowledge", Summary: "s", DedupKey: "k"}},
		{"action and status that agree", `{"summary":"s","dedup_key":"k","action":"resolve","status":"resolved"}`,
			sitrep.AlertEvent{Action: "resolve", Summary: "s", DedupKey: "k"}},
		{"case of words does not matter", `{"summary":"s","dedup_key":"k","status":"FIRING","severity":"Critical"}`,
			sitrep.AlertEvent{Action: "trigger", Summary: "s", DedupKey: "k", Severity: 1}},
		{"labels' own source wins over the field", `{"summary":"s","dedup_key":"k","source":"cron","labels":{"source":"backup"}}`,
			sitrep.AlertEvent{Action: "trigger", Summary: "s", DedupKey: "k", Labels: map[string]string{"source": "backup"}}},
		{"time with an offset is kept in UTC", `{"summary":"s","dedup_key":"k","occurred_at":"2026-11-25T21:00:00.123456789+01:00"}`,
			sitrep.AlertEvent{Action: "trigger", Summary: "s", DedupKey: "k", OccurredAt: time.Date(2026, 11, 25, 20, 0, 0, 123456000, time.UTC)}},
		{"long summary is cut", `{"dedup_key":"k","summary":"` + long + `"}`,
			sitrep.AlertEvent{Action: "trigger", Summary: sitrep.Truncate(long, sitrep.MaxAlertSummary), DedupKey: "k"}},
		{"white space around the body", " \n{\"summary\":\"s\",\"dedup_key\":\"k\"}\n",
			sitrep.AlertEvent{Action: "trigger", Summary: "s", DedupKey: "k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGeneric([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]sitrep.AlertEvent{tt.want}, got, ignoreRaw); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			checkEvents(t, got)
		})
	}
}

func TestParseGenericRefuses(t *testing.T) {
	tooMany := "[" + strings.Repeat(`{"summary":"s"},`, MaxBatch) + `{"summary":"s"}]`
	tests := []struct {
		name, body, field, want string
	}{
		{"empty body", "", "", "the body is empty: send a JSON object or an array of objects"},
		{"not JSON", "summary=disk+full", "", "not valid JSON: invalid character 's' looking for beginning of value (at byte 1)"},
		{"a string", `"disk full"`, "", "the body must be a JSON object or an array of objects"},
		{"broken object", `{"summary":"s"`, "", "not valid JSON: unexpected end of JSON input (at byte 14)"},
		{"trailing data", `{"summary":"s"} {}`, "", "not valid JSON: invalid character '{' after top-level value (at byte 17)"},
		{"empty batch", `[]`, "", "the batch is empty: send at least one alert"},
		{"batch over the limit", tooMany, "", "the batch has 1001 alerts, over the limit of 1000: split it"},
		{"no summary and no labels", `{"severity":"critical"}`, "", "the alert has no summary and no labels: say what is wrong"},
		{"no summary and no labels in a batch", `[{"summary":"a"},{"summary":"b"},{"summary":"c"},{"summary":"  ","labels":{}}]`,
			"alerts[3]", "alerts[3]: the alert has no summary and no labels: say what is wrong"},
		{"not an object in a batch", `[{"summary":"a"},7]`, "alerts[1]", "alerts[1]: an alert must be a JSON object"},
		{"unknown status", `[{"summary":"a"},{"summary":"b","status":"flaming"}]`, "alerts[1].status",
			`alerts[1].status: "flaming" is not firing, resolved, trigger, acknowledge or resolve`},
		{"unknown action", `{"summary":"a","action":"explode"}`, "action", `action: "explode" is not trigger, acknowledge or resolve`},
		{"action and status disagree", `{"summary":"a","action":"trigger","status":"resolved"}`, "", `action "trigger" and status "resolved" disagree`},
		{"severity out of range", `{"summary":"a","severity":7}`, "severity", "severity: 7 is not a severity from 1 (worst) to 4"},
		{"severity negative in a string", `{"summary":"a","severity":"-1"}`, "severity", "severity: -1 is not a severity from 1 (worst) to 4"},
		{"severity a fraction", `[{"summary":"a","severity":1.5}]`, "alerts[0].severity", "alerts[0].severity: 1.5 is not a severity from 1 (worst) to 4"},
		{"severity true", `{"summary":"a","severity":true}`, "severity", "severity: true is not a severity: use a word such as critical or a number from 1 to 4"},
		{"severity an object", `{"summary":"a","severity":{}}`, "severity", "severity: is an object, want a string or a number"},
		{"labels an array", `{"summary":"a","labels":["host"]}`, "labels", "labels: must be an object of names to strings"},
		{"label an array", `[{"summary":"a"},{"summary":"a"},{"summary":"a"},{"summary":"a","labels":{"host":"h","tags":["a","b"]}}]`,
			"alerts[3].labels", `alerts[3].labels: "tags" is an array, want a string or a number`},
		{"label an object", `{"summary":"a","labels":{"where":{"dc":"x"}}}`, "labels", `labels: "where" is an object, want a string or a number`},
		{"label with an empty name", `{"summary":"a","labels":{" ":"x"}}`, "labels", "labels: a name is empty"},
		{"summary a number", `{"summary":42}`, "summary", "summary: is a JSON number, want a string"},
		{"dedup key an object", `[{"summary":"a","dedup_key":{}}]`, "alerts[0].dedup_key", "alerts[0].dedup_key: is a JSON object, want a string"},
		{"bad time", `{"summary":"a","occurred_at":"yesterday"}`, "occurred_at", `occurred_at: "yesterday" is not an RFC 3339 time such as 2026-01-02T15:04:05Z`},
		{"time a number", `{"summary":"a","occurred_at":1700000000}`, "occurred_at", "occurred_at: is a JSON number, want a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGeneric([]byte(tt.body))
			checkRefusal(t, got, err, tt.field, tt.want)
		})
	}
}

// checkRefusal checks that a parser refused with exactly the error text and
// field wanted, as an EInvalid *sitrep.Error, and returned no events.
func checkRefusal(t *testing.T, events []sitrep.AlertEvent, err error, field, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted: %+v", events)
	}
	if events != nil {
		t.Errorf("returned events with the error: %+v", events)
	}
	if err := intaketest.CheckError(err); err != nil {
		t.Fatal(err)
	}
	if err.Error() != want {
		t.Errorf("error\n got %q\nwant %q", err.Error(), want)
	}
	if f := sitrep.AsError(err).Field; f != field {
		t.Errorf("field = %q, want %q", f, field)
	}
}

func TestLooksLikeJSON(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"summary":"x"}`, true},
		{" \r\n[1,2]\n", true},
		{"\xef\xbb\xbf{\"a\":1}", true},
		{`{"summary":`, false},
		{`summary=disk+full&severity=critical`, false},
		{`"just a string"`, false},
		{`42`, false},
		{``, false},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			if got := LooksLikeJSON([]byte(tt.body)); got != tt.want {
				t.Errorf("LooksLikeJSON(%q) = %v, want %v", tt.body, got, tt.want)
			}
		})
	}
}
