package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const diskRules = `rules:
  - name: disk-filling
    match:
      kind: alertmanager
      labels:
        alertname: "~Disk.*"
    action: declare
    kind: outage
    title: "{{ .Labels.alertname }}: {{ .Summary }}"
    group_by: [alertname]
`

// TestDispatchFromAlertmanager: a rules file in the plans directory, an
// Alertmanager notification posted to the URL `sitrep source add` printed,
// and the incident is declared by dispatch, which is Command until a
// responder on scene takes command; the group's next alert joins the same
// incident, and `sitrep show` lists both alerts with their running counts.
func TestDispatchFromAlertmanager(t *testing.T) {
	plans := t.TempDir()
	rules := filepath.Join(plans, "dispatch.yaml")
	if err := os.WriteFile(rules, []byte(diskRules), 0o644); err != nil {
		t.Fatal(err)
	}
	lint := sitrep(t, "", "", "dispatch", "lint", "--plans", plans)
	if !strings.Contains(lint, "1 rule, no problems") || !strings.Contains(lint, "disk-filling") {
		t.Errorf("dispatch lint of the rules:\n%s", lint)
	}
	s := startServer(t, nil, "--db", "sqlite:"+filepath.Join(t.TempDir(), "sitrep.db"), "--plans", plans)
	admin := s.Token

	var src struct {
		URL string `json:"url"`
	}
	jsonOf(t, sitrep(t, s.URL, admin, "source", "add", "prometheus", "--kind", "alertmanager", "-o", "json"), &src)
	firing, err := os.ReadFile("../../intake/webhook/testdata/alertmanager/firing.json")
	if err != nil {
		t.Fatal(err)
	}
	// First the group's first alert alone, as Alertmanager sends a new
	// group; later the whole group (that alert again, and a second).
	var group map[string]any
	if err := json.Unmarshal(firing, &group); err != nil {
		t.Fatal(err)
	}
	group["alerts"] = group["alerts"].([]any)[:1]
	first, err := json.Marshal(group)
	if err != nil {
		t.Fatal(err)
	}
	post(t, src.URL, first)

	id := waitFor(t, "dispatch to declare an incident", func() (string, bool) {
		var list struct {
			Incidents []incident `json:"incidents"`
		}
		jsonOf(t, sitrep(t, s.URL, admin, "ls", "-o", "json"), &list)
		if len(list.Incidents) == 0 {
			return "", false
		}
		return list.Incidents[0].ID, true
	})
	var inc struct {
		incident
		Title    string `json:"title"`
		Kind     string `json:"kind"`
		Rule     string `json:"rule"`
		GroupKey string `json:"group_key"`
		Alerts   []struct {
			ID       int64  `json:"id"`
			Summary  string `json:"summary"`
			Count    int64  `json:"count"`
			Status   string `json:"status"`
			LastSeen string `json:"last_seen"`
		} `json:"alerts"`
	}
	jsonOf(t, sitrep(t, s.URL, admin, "show", id, "-o", "json"), &inc)
	if inc.Command != "dispatch" || inc.Kind != "outage" || inc.Rule != "disk-filling" || inc.GroupKey != `alertname="DiskWillFillIn4Hours"` ||
		inc.Title != "DiskWillFillIn4Hours: Disk on db1 will fill within 4 hours" || len(inc.Alerts) != 1 {
		t.Fatalf("declared by dispatch: %+v", inc)
	}

	// A responder checks in and takes command from dispatch.
	sitrep(t, s.URL, admin, "user", "add", "alice")
	var tok struct {
		Token string `json:"token"`
	}
	jsonOf(t, sitrep(t, s.URL, admin, "token", "create", "--user", "alice", "-o", "json"), &tok)
	sitrep(t, s.URL, tok.Token, "checkin", id)
	if out := sitrep(t, s.URL, tok.Token, "accept-command", id); !strings.Contains(out, "You are Command of "+id) {
		t.Errorf("accept-command:\n%s", out)
	}

	// The whole group: the first alert repeats, the second is new and
	// joins the incident of its group.
	post(t, src.URL, firing)
	waitFor(t, "the second alert of the group to be attached", func() (string, bool) {
		jsonOf(t, sitrep(t, s.URL, tok.Token, "show", id, "-o", "json"), &inc)
		return "", len(inc.Alerts) == 2
	})
	if inc.Command != "alice" {
		t.Errorf("command %s, want alice", inc.Command)
	}
	counts := map[string]int64{}
	for _, al := range inc.Alerts {
		for _, host := range []string{"db1", "db2"} {
			if strings.Contains(al.Summary, host) {
				counts[host] = al.Count
			}
		}
		if al.Status != "firing" || al.LastSeen == "" {
			t.Errorf("alert %d: status %q, last seen %q", al.ID, al.Status, al.LastSeen)
		}
	}
	if counts["db1"] != 2 || counts["db2"] != 1 {
		t.Errorf("alerts on %s and their counts: %v; want db1's seen twice and db2's once", id, counts)
	}
	var list struct {
		Incidents []incident `json:"incidents"`
	}
	jsonOf(t, sitrep(t, s.URL, admin, "ls", "-o", "json"), &list)
	if len(list.Incidents) != 1 {
		t.Errorf("%d incidents, want the one of the group", len(list.Incidents))
	}
	if out := sitrep(t, s.URL, tok.Token, "show", id); !strings.Contains(out, "Alerts (2):") || !strings.Contains(out, "2×") ||
		!strings.Contains(out, "declared by dispatch rule disk-filling") {
		t.Errorf("show does not list the alerts with their counts:\n%s", out)
	}

	// SIGHUP reloads the rules file.
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the server to log the reload on SIGHUP", func() (string, bool) {
		return "", strings.Contains(s.output(), "SIGHUP: reloading the dispatch rules")
	})
}

// post sends an Alertmanager notification and requires a 2xx answer.
func post(t *testing.T, url string, body []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %s\n%s", url, resp.Status, b)
	}
}

// waitFor polls cond until it holds (dispatch happens after the sender's
// answer) and returns its value; it fails the test after 30 s.
func waitFor(t *testing.T, what string, cond func() (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if v, ok := cond(); ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
