package sitrep

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPlanIngest(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := func(action, key string, sev int, raw string) AlertEvent {
		return AlertEvent{Action: action, DedupKey: key, Severity: sev, Summary: "alert " + key, Raw: raw}
	}
	batch := []Ingest{
		{Source: "edr", Event: ev(ActionTrigger, "a", 3, "a1"), ReceivedAt: at.Add(2 * time.Second)},
		{Source: "edr", Event: ev(ActionTrigger, "b", 0, ""), ReceivedAt: at},
		{Source: "edr", Event: ev(ActionTrigger, "a", 1, "a2"), ReceivedAt: at},
		{Source: "edr", Event: ev(ActionResolve, "a", 0, ""), ReceivedAt: at.Add(3 * time.Second)},
		{Source: "edr", Event: ev(ActionTrigger, "a", 0, "a3"), ReceivedAt: at.Add(4 * time.Second)},
		{Source: "mail", Event: ev(ActionTrigger, "a", 2, ""), ReceivedAt: at},
		{Source: "edr", Event: ev(ActionAcknowledge, "b", 0, ""), ReceivedAt: at},
	}
	batch[0].Event.Labels = map[string]string{"host": "db1"}
	p, err := PlanIngest(batch)
	if err != nil {
		t.Fatal(err)
	}
	type op struct {
		Action, Source, Key string
		Count               int64
		Severity            int
		Labels, Samples     string
		First, Last         time.Time
	}
	var got []op
	for _, o := range p.Ops {
		got = append(got, op{o.Action, o.Source, o.Key, o.Count, o.Severity, o.Labels, o.Samples, o.First, o.Last})
	}
	want := []op{
		{ActionTrigger, "edr", "a", 2, 1, `{"host":"db1"}`, `["a1","a2"]`, at, at.Add(2 * time.Second)},
		{ActionTrigger, "edr", "b", 1, 0, `{}`, `[]`, at, at},
		{ActionResolve, "edr", "a", 0, 0, ``, ``, at.Add(3 * time.Second), at.Add(3 * time.Second)},
		{ActionTrigger, "edr", "a", 1, 0, `{}`, `["a3"]`, at.Add(4 * time.Second), at.Add(4 * time.Second)},
		{ActionTrigger, "mail", "a", 1, 2, `{}`, `[]`, at, at},
		{ActionAcknowledge, "edr", "b", 0, 0, ``, ``, at, at},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("ops (-want +got):\n%s", d)
	}

	// The store's answers become one result per event.
	for i, o := range p.Ops {
		o.AlertID, o.Inserted = int64(10+i), true
	}
	p.Ops[2].AlertID, p.Ops[2].Inserted = 10, false // the resolve closed the first alert
	p.Ops[5].AlertID, p.Ops[5].Inserted, p.Ops[5].Ignored = 0, false, true
	wantResults := []IngestResult{
		{AlertID: 10, New: true}, {AlertID: 11, New: true}, {AlertID: 10}, {AlertID: 10},
		{AlertID: 13, New: true}, {AlertID: 14, New: true}, {Ignored: true},
	}
	if d := cmp.Diff(wantResults, p.Results()); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
}

func TestPlanIngestStormIsOneWrite(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	batch := make([]Ingest, 1000)
	for i := range batch {
		batch[i] = Ingest{Source: "edr", ReceivedAt: at,
			Event: AlertEvent{Action: ActionTrigger, DedupKey: "storm", Raw: strconv.Itoa(i)}}
	}
	p, err := PlanIngest(batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Ops) != 1 || p.Ops[0].Count != 1000 || p.Ops[0].Samples != `["0","1","997","998","999"]` {
		t.Fatalf("a storm of 1000 triggers: %d ops, first %+v", len(p.Ops), p.Ops[0])
	}
}

func TestPlanIngestRefuses(t *testing.T) {
	at := time.Now()
	for _, tc := range []struct {
		name  string
		in    Ingest
		field string
	}{
		{"no source", Ingest{Event: AlertEvent{Action: ActionTrigger, DedupKey: "k"}, ReceivedAt: at}, "batch[1].source"},
		{"bad action", Ingest{Source: "s", Event: AlertEvent{Action: "explode", DedupKey: "k"}, ReceivedAt: at}, "batch[1].action"},
		{"no key", Ingest{Source: "s", Event: AlertEvent{Action: ActionTrigger}, ReceivedAt: at}, "batch[1].dedup_key"},
		{"severity", Ingest{Source: "s", Event: AlertEvent{Action: ActionTrigger, DedupKey: "k", Severity: 9}, ReceivedAt: at}, "batch[1].severity"},
		{"no time", Ingest{Source: "s", Event: AlertEvent{Action: ActionTrigger, DedupKey: "k"}}, "batch[1].received_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := Ingest{Source: "s", Event: AlertEvent{Action: ActionTrigger, DedupKey: "k"}, ReceivedAt: at}
			_, err := PlanIngest([]Ingest{good, tc.in})
			e, ok := errors.AsType[*Error](err)
			if !ok || e.Kind != EInvalid || e.Field != tc.field {
				t.Errorf("got %v, want EInvalid on %s", err, tc.field)
			}
		})
	}
}

func TestColumnString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          "plain",
		"nul\x00inside":  "nulinside",
		"bad \xff utf-8": "bad \uFFFD utf-8",
	} {
		if got := ColumnString(in); got != want {
			t.Errorf("ColumnString(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMergeAlertSamples(t *testing.T) {
	got := MergeAlertSamples([]string{"1", "2", "3", "4", "5"}, []string{"6", "7"})
	if d := cmp.Diff([]string{"1", "2", "5", "6", "7"}, got); d != "" {
		t.Errorf("merged samples (-want +got):\n%s", d)
	}
	if got := MergeAlertSamples(nil, []string{"1", "", "2"}); !cmp.Equal(got, []string{"1", "2"}) {
		t.Errorf("empty payloads are not samples: %q", got)
	}
}

// FuzzLabelsJSON: labels and samples are encoded as encoding/json would.
func FuzzLabelsJSON(f *testing.F) {
	for _, s := range []string{"", "db1", `a"b\c`, "<script>&amp;", "ünïcode", "nul\x00", "\xff\xfe", "line\nbreak", "\u2028"} {
		f.Add(s, s+"v")
	}
	f.Fuzz(func(t *testing.T, k, v string) {
		labels := map[string]string{k: v, "host": v}
		got, err := labelsJSON(labels)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(labels)
		if got != string(want) {
			t.Errorf("labelsJSON(%q) = %s, encoding/json gives %s", labels, got, want)
		}
		b, err := appendJSONString(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := json.Marshal(v); string(b) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, encoding/json gives %s", v, b, want)
		}
	})
}
