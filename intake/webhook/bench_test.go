package webhook

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParseGenericBatch100 parses a generic batch of 100 alerts, each
// with a few labels, a severity word and a time.
func BenchmarkParseGenericBatch100(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("[")
	for i := range 100 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"summary":"Backup of db%d failed with exit code 12","severity":"critical","status":"firing",`+
			`"labels":{"host":"db%d.example.org","job":"nightly-backup","team":"dba","attempt":%d},"source":"cron",`+
			`"occurred_at":"2026-11-25T03:00:12Z"}`, i, i, i%3)
	}
	sb.WriteString("]")
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		events, err := ParseGeneric(body)
		if err != nil || len(events) != 100 {
			b.Fatal(len(events), err)
		}
	}
}

// BenchmarkParseAlertmanager parses the two-alert firing group of the
// testdata, as Alertmanager 0.34 sends it.
func BenchmarkParseAlertmanager(b *testing.B) {
	body := readFile(b, "testdata/alertmanager/firing.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAlertmanager(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePagerDuty parses the trigger of the testdata.
func BenchmarkParsePagerDuty(b *testing.B) {
	body := readFile(b, "testdata/pagerduty/trigger.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePagerDuty(body); err != nil {
			b.Fatal(err)
		}
	}
}
