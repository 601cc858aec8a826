package e2e

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// needTool returns the path of a real client the test drives, or skips
// (fails where every dependency is required).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SITREP_TEST_REQUIRE_ALL") == "1" {
			t.Fatalf("%s is needed (apt-get install %s): %v", name, pkg, err)
		}
		t.Skipf("%s not found (apt-get install %s): %v", name, pkg, err)
	}
	return path
}

// listening returns the address a listener of the server said it listens on.
func listening(t *testing.T, s *server, name string) (host, port string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` listening on (\S+)$`).FindStringSubmatch(s.output())
	if m == nil {
		t.Fatalf("sitrep serve did not say where %s listens:\n%s", name, s.output())
	}
	host, port, err := net.SplitHostPort(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// TestListeners runs the server with its syslog and SMTP listeners, adds
// sources with the CLI, sends with logger and swaks, and finds the alerts
// on the triage desk.
func TestListeners(t *testing.T) {
	logger := needTool(t, "logger", "bsdutils")
	swaks := needTool(t, "swaks", "swaks")
	db := "sqlite:" + filepath.Join(t.TempDir(), "sitrep.db")
	s := startServer(t, nil, "--db", db, "--syslog-udp", "127.0.0.1:0", "--syslog-tcp", "127.0.0.1:0", "--smtp", "127.0.0.1:0")
	udpHost, udpPort := listening(t, s, "syslog udp")
	tcpHost, tcpPort := listening(t, s, "syslog tcp")
	smtpHost, smtpPort := listening(t, s, "smtp")

	out := sitrep(t, s.URL, s.Token, "source", "add", "fw", "--kind", "syslog", "--allow", "127.0.0.0/8")
	for _, want := range []string{"Allowed from: 127.0.0.0/8.", "--syslog-tcp", "logger --tcp --server 127.0.0.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("source add --kind syslog does not say %q:\n%s", want, out)
		}
	}
	out = sitrep(t, s.URL, s.Token, "source", "add", "siem", "--kind", "email")
	key := regexp.MustCompile(`\b[0-9a-f]{32}\b`).FindString(out)
	if key == "" || !strings.Contains(out, key+"@[127.0.0.1]") || !strings.Contains(out, "--smtp") {
		t.Fatalf("source add --kind email does not give the address to mail to:\n%s", out)
	}

	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), name, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
		}
	}
	run(logger, "--tcp", "--rfc5424", "--server", tcpHost, "--port", tcpPort, "-t", "edr", "-p", "auth.crit", "malware found on ws42")
	run(logger, "--tcp", "--octet-count", "--server", tcpHost, "--port", tcpPort, "-t", "edr", "-p", "auth.crit", "malware found on ws42")
	run(logger, "--udp", "--rfc3164", "--server", udpHost, "--port", udpPort, "-t", "cron", "-p", "cron.warning", "backup job failed")
	run(swaks, "--server", smtpHost, "--port", smtpPort, "--from", "siem@example.com", "--to", key+"+edr@alerts.example.org",
		"--header", "Subject: [CRITICAL] Lateral movement from ws42", "--body", "SIEM correlation rule 7 fired", "--timeout", "20")

	type alert struct {
		Source   string            `json:"source"`
		Summary  string            `json:"summary"`
		Severity int               `json:"severity"`
		Count    int64             `json:"count"`
		Labels   map[string]string `json:"labels"`
	}
	want := map[string]alert{
		"malware found on ws42":                 {Source: "fw", Severity: 1, Count: 2},
		"backup job failed":                     {Source: "fw", Severity: 3, Count: 1},
		"[CRITICAL] Lateral movement from ws42": {Source: "siem", Severity: 1, Count: 1},
	}
	var got map[string]alert
	deadline := time.Now().Add(30 * time.Second)
	for {
		var desk struct {
			Alerts []alert `json:"alerts"`
		}
		jsonOf(t, sitrep(t, s.URL, s.Token, "alert", "ls", "--all", "-o", "json"), &desk)
		got = map[string]alert{}
		for _, al := range desk.Alerts {
			got[al.Summary] = al
		}
		total := int64(0)
		for _, al := range got {
			total += al.Count
		}
		if total >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(got) != len(want) {
		t.Errorf("alerts %+v, want %d", got, len(want))
	}
	for summary, w := range want {
		g, ok := got[summary]
		if !ok || g.Source != w.Source || g.Severity != w.Severity || g.Count != w.Count {
			t.Errorf("alert %q: %+v, want %+v", summary, g, w)
		}
	}
	if al := got["malware found on ws42"]; al.Labels["app"] != "edr" || al.Labels["sender"] != "127.0.0.1" {
		t.Errorf("syslog alert labels %v", al.Labels)
	}

	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`sitrep_syslog_messages_total{format="rfc5424",transport="tcp"} 2`, `sitrep_syslog_messages_total{format="rfc3164",transport="udp"} 1`, "sitrep_smtp_messages_total 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
