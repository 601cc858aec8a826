package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/app"
)

// TestMain lets the test binary stand in for sitrep when `bench intake
// --spawn` starts its own executable as the server.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "serve" || os.Args[1] == "bench") {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// benchRun runs `sitrep bench intake … -o json` and returns its report.
func benchRun(t *testing.T, args ...string) *benchReport {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{"bench", "intake", "-o", "json"}, args...)
	if code := runContext(context.Background(), all, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("sitrep %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(all, " "), code, out.String(), errOut.String())
	}
	var r benchReport
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("the report is not the report's JSON: %v\n%s", err, out.String())
	}
	return &r
}

// storedAlerts returns the alerts the store at db holds from sources named
// bench-… but the syslog warm-up's: how many alerts and the sum of their
// counts.
func storedAlerts(t *testing.T, db string) (alerts, events int64) {
	t.Helper()
	st, err := app.OpenStore(t.Context(), db, nil)
	if err != nil {
		t.Fatalf("open the store the server used: %v", err)
	}
	defer st.Close()
	list, err := st.(sitrep.AlertStore).Alerts(t.Context(), sitrep.AlertFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	for _, al := range list {
		// The messages the tool sends before a syslog run, to know the
		// listener knows the run's source, are not the run's.
		if strings.HasPrefix(al.Source, "bench-") && !strings.Contains(al.Summary, "the listener knows the source") {
			alerts++
			events += al.Count
		}
	}
	return alerts, events
}

// TestBenchIntakeSpawned runs each HTTP mode briefly against a server the
// tool starts, and checks that what it reports is what the server stored.
func TestBenchIntakeSpawned(t *testing.T) {
	for _, tc := range []struct {
		name           string
		args           []string
		alerts, events int64
	}{
		{"generic batches of unique alerts", []string{"--batch", "50", "--count", "2000", "--concurrency", "4"}, 2000, 2000},
		{"generic one alert per request", []string{"--batch", "1", "--count", "300", "--concurrency", "8"}, 300, 300},
		{"generic hashed keys", []string{"--batch", "100", "--count", "1000", "--hashed-keys"}, 1000, 1000},
		{"generic storm of three keys", []string{"--keys", "3", "--count", "3000", "--batch", "100", "--probe-incident", "new"}, 3, 3000},
		{"pagerduty", []string{"--path", "pagerduty", "--count", "300", "--concurrency", "4"}, 300, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := "sqlite:" + filepath.Join(t.TempDir(), "bench.db")
			r := benchRun(t, append([]string{"--spawn", "--db", db}, tc.args...)...)
			if len(r.Errors) > 0 {
				t.Errorf("errors: %v", r.Errors)
			}
			if r.Sent != tc.events || r.Accepted != tc.events || r.Stored != tc.events {
				t.Errorf("sent %d, accepted %d, server counted %d; want %d each", r.Sent, r.Accepted, r.Stored, tc.events)
			}
			wantRequests := tc.events
			if r.Batch > 1 {
				wantRequests = (tc.events + int64(r.Batch) - 1) / int64(r.Batch)
			}
			if r.Requests != wantRequests || r.Latency == nil || r.Latency.Count != wantRequests || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 || r.Latency.Max < r.Latency.P99 {
				t.Errorf("requests %d, latency %+v; want %d requests and ordered percentiles", r.Requests, r.Latency, wantRequests)
			}
			if r.AlertsPerSec <= 0 || r.Server.PID == 0 || r.Server.HWMKB <= 0 || r.Server.RSSMaxKB <= 0 || !r.Server.ExitedCleanly {
				t.Errorf("alerts/s %v, server %+v; want a rate and the server's memory, and a clean exit", r.AlertsPerSec, r.Server)
			}
			if r.DB.Store != "sqlite" || r.DB.GrowthBytes <= 0 || r.DB.AfterStopBytes <= 0 {
				t.Errorf("database %+v; want the SQLite file's growth", r.DB)
			}
			if slices.Contains(tc.args, "--probe-incident") && (r.Probe == nil || r.Probe.Requests == 0 || r.Probe.Errors != 0 || r.Probe.Incident == "") {
				t.Errorf("probe %+v; want reads of the incident without errors", r.Probe)
			}
			alerts, events := storedAlerts(t, db)
			if alerts != tc.alerts || events != tc.events {
				t.Errorf("the store holds %d alerts seen %d times; want %d seen %d times", alerts, events, tc.alerts, tc.events)
			}
		})
	}
}

// TestBenchIntakeSyslog sends syslog over TCP and UDP to a server the tool
// starts: over TCP every message is stored; over UDP what the tool calls
// lost is what the store lacks.
func TestBenchIntakeSyslog(t *testing.T) {
	for _, tc := range []struct {
		path     string
		args     []string
		keys     int64 // distinct alerts; 0: one per message
		mayLose  bool
		sentWant int64
	}{
		{path: "syslog-tcp", args: []string{"--count", "3000", "--concurrency", "3"}, sentWant: 3000},
		{path: "syslog-tcp", args: []string{"--count", "2000", "--keys", "5", "--concurrency", "2"}, keys: 5, sentWant: 2000},
		{path: "syslog-udp", args: []string{"--count", "1000", "--rate", "5000", "--concurrency", "2"}, mayLose: true, sentWant: 1000},
	} {
		t.Run(tc.path+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			db := "sqlite:" + filepath.Join(t.TempDir(), "bench.db")
			r := benchRun(t, append([]string{"--spawn", "--db", db, "--path", tc.path, "--settle", "3s"}, tc.args...)...)
			if r.Sent != tc.sentWant || r.Accepted != r.Stored || r.Stored+r.Lost != r.Sent || len(r.Errors) > 0 {
				t.Errorf("sent %d, stored %d (accepted %d), lost %d, errors %v; want %d sent, stored and lost adding up to it", r.Sent, r.Stored, r.Accepted, r.Lost, r.Errors, tc.sentWant)
			}
			if !tc.mayLose && r.Lost != 0 {
				t.Errorf("%d messages lost over TCP", r.Lost)
			}
			if r.Latency != nil || r.Requests != 0 {
				t.Errorf("latency %+v and %d requests reported for syslog, which answers nothing", r.Latency, r.Requests)
			}
			alerts, events := storedAlerts(t, db)
			wantAlerts := r.Stored
			if tc.keys > 0 {
				wantAlerts = tc.keys
			}
			if events != r.Stored || alerts != wantAlerts {
				t.Errorf("the store holds %d alerts seen %d times; the tool reported %d stored (want %d alerts)", alerts, events, r.Stored, wantAlerts)
			}
		})
	}
}

// TestBenchIntakeRunningServer loads a server that runs already: the tool
// adds its source with the token, and measures nothing of the process.
func TestBenchIntakeRunningServer(t *testing.T) {
	s := startServer(t)
	r := benchRun(t, "--server", s.URL, "--token", s.Admin, "--count", "500", "--batch", "20", "--duration", "1m")
	if r.Accepted != 500 || r.Stored != 500 || len(r.Errors) > 0 {
		t.Errorf("accepted %d, counted %d, errors %v; want 500, 500, none", r.Accepted, r.Stored, r.Errors)
	}
	if r.Server.PID != 0 {
		t.Errorf("server %+v measured without --pid", r.Server)
	}
	if alerts, events := storedAlerts(t, "sqlite:"+s.DB); alerts != 500 || events != 500 {
		t.Errorf("the store holds %d alerts seen %d times; want 500", alerts, events)
	}
}

// TestBenchIntakeRefuses: the tool loads only this machine, and says what
// is wrong with its command line.
func TestBenchIntakeRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", "http://192.0.2.1:8080/intake/generic/k"}, "loopback"},
		{[]string{"--path", "syslog-udp", "--syslog", "example.com:514"}, "loopback"},
		{[]string{"--path", "ftp"}, "--path"},
		{[]string{"--keys", "some"}, "--keys"},
		{[]string{"--batch", "0"}, "--batch"},
		{[]string{"--path", "pagerduty", "--batch", "10"}, "--batch"},
		{[]string{"--count", "0", "--duration", "0"}, "--count"},
		{[]string{"--spawn", "--url", "http://127.0.0.1:1/"}, "--spawn"},
		{[]string{"--path", "syslog-tcp"}, "--syslog"},
		{[]string{"--server-cpuprofile", "cpu.prof"}, "--spawn"},
	} {
		var out, errOut bytes.Buffer
		code := runContext(context.Background(), append([]string{"bench", "intake"}, tc.args...), strings.NewReader(""), &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("bench intake %s: exit %d, stderr %q; want exit %d naming %s", strings.Join(tc.args, " "), code, errOut.String(), exitUsage, tc.want)
		}
		checkErrorOutput(t, errOut.String())
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for us := 1; us <= 10000; us++ {
		h.record(time.Duration(us) * time.Microsecond)
	}
	r := h.report()
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", r.P50, 5}, {"p90", r.P90, 9}, {"p99", r.P99, 9.9}, {"max", r.Max, 10}} {
		if c.got < c.want*0.98 || c.got > c.want*1.001 {
			t.Errorf("%s of 1 µs … 10 ms: %v ms, want %v ms within 2%%", c.name, c.got, c.want)
		}
	}
	for i := range 2000 {
		if v := histValue(histIndex(uint64(i * 97))); v > uint64(i*97) || float64(uint64(i*97)-v) > float64(i*97)/64 {
			t.Fatalf("bucket of %d µs starts at %d µs", i*97, v)
		}
	}
}

func TestSumMetrics(t *testing.T) {
	body := []byte(`# HELP sitrep_intake_events_total Alert events stored.
# TYPE sitrep_intake_events_total counter
sitrep_intake_events_total{kind="generic"} 1200
sitrep_intake_events_total{kind="pagerduty"} 3e+02
sitrep_intake_events_total_other 7
sitrep_syslog_messages_total{format="rfc5424",transport="tcp"} 5
`)
	if got := sumMetrics(body, storedMetrics...); got != 1505 {
		t.Errorf("sum of stored events: %d, want 1505", got)
	}
}
