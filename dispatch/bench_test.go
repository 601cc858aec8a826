package dispatch

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sitrep-ir/sitrep"
)

// benchRules makes n rules of the usual shapes, none of which matches the
// benchmark's alerts until the last: the worst case, every rule tried.
func benchRules(b *testing.B, n int) *Rules {
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := 0; i < n-1; i++ {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&src, "  - name: r%d\n    match: {source: [\"edr-%d\", \"fw-%d-*\"]}\n    action: hold\n", i, i, i)
		case 1:
			fmt.Fprintf(&src, "  - name: r%d\n    match: {labels: {alertname: \"~Disk%d.*\", job: node}}\n    action: hold\n", i, i)
		case 2:
			fmt.Fprintf(&src, "  - name: r%d\n    match: {summary: \"(?i)ransom%d\", severity_at_most: 2}\n    action: hold\n", i, i)
		case 3:
			fmt.Fprintf(&src, "  - name: r%d\n    match: {kind: grafana, labels: {team: \"t%d\"}, not: {labels: {env: staging}}}\n    action: hold\n", i, i)
		}
	}
	src.WriteString("  - name: last\n    match: {labels: {host: \"~db[0-9]+\"}}\n    action: declare\n    kind: outage\n    group_by: [host]\n")
	rs, problems := Parse("bench.yaml", []byte(src.String()))
	if len(problems) > 0 {
		b.Fatal(problems)
	}
	return rs
}

// BenchmarkMatch: one alert through 10, 100 and 1000 rules, with its group
// key and title made as the dispatcher does.
func BenchmarkMatch(b *testing.B) {
	al := &sitrep.Alert{Source: "prometheus", Severity: 2, Summary: "Disk on db7 will fill within 4 hours",
		Labels: map[string]string{"alertname": "DiskWillFillIn4Hours", "host": "db7", "job": "node", "instance": "db7:9100"}}
	for _, n := range []int{10, 100, 1000} {
		rs := benchRules(b, n)
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := rs.Match(al, "alertmanager")
				if r == nil || r.Name != "last" {
					b.Fatal("the last rule did not match")
				}
				_ = r.GroupKey(al)
				_ = r.IncidentTitle(al)
			}
		})
	}
}

// BenchmarkParse: a file of 1000 rules.
func BenchmarkParse(b *testing.B) {
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range 1000 {
		fmt.Fprintf(&src, "  - name: r%d\n    match:\n      source: [\"edr-%d\", \"fw-*\"]\n      labels: {alertname: \"~Disk%d.*\"}\n    action: declare\n    kind: outage\n    title: \"{{ .Labels.alertname }}\"\n    group_by: [alertname]\n", i, i, i)
	}
	data := []byte(src.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, problems := Parse("bench.yaml", data); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}

// BenchmarkDispatch: new alerts through the real ingester and dispatcher
// on SQLite, in calls of 100, each alert matched and acted on by the
// worker; ns/op is one alert, from the sender's call to the decision.
func BenchmarkDispatch(b *testing.B) {
	for _, bc := range []struct {
		name, summary, alertname string
	}{
		{"hold", "CPU hot", "CPU"},           // no rule matches: read and matched
		{"suppress", "test alert", "CPU"},    // taken off the desk
		{"attach", "Disk fills", "DiskFull"}, // one group: attached to its incident
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, deskRules)
			e.start(Options{})
			e.send("am", ev("seed", "Disk fills", "alertname=DiskFull"))
			ctx := context.Background()
			b.ResetTimer()
			const per = 100
			for i := 0; i < b.N; i += per {
				events := make([]sitrep.AlertEvent, min(per, b.N-i))
				for j := range events {
					events[j] = ev(fmt.Sprintf("%s-%d", bc.name, i+j), bc.summary, "alertname="+bc.alertname)
				}
				if _, err := e.d.Ingest(ctx, "am", events); err != nil {
					b.Fatal(err)
				}
			}
			if err := e.d.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if got := e.decisions(bc.name, map[string]string{"hold": "", "suppress": "noise", "attach": "disk"}[bc.name]); got < float64(b.N) {
				b.Fatalf("%v %s decisions for %d alerts", got, bc.name, b.N)
			}
		})
	}
}
