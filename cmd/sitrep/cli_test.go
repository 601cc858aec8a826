package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sitrep-ir/sitrep"
)

// TestUsageErrors: a wrong command line exits 2 with one line that says
// what is wrong and where the help is, before anything is sent.
func TestUsageErrors(t *testing.T) {
	// No server listens here: a usage error must not need one.
	s := &server{URL: "http://127.0.0.1:1", Admin: "sitrep_unused_token_for_usage_tests_0000"}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"frobnicate"}, []string{`unknown command "frobnicate" for "sitrep"`, "Run 'sitrep --help'"}},
		{[]string{"delcare"}, []string{"did you mean declare?"}},
		{[]string{"task", "frob"}, []string{`unknown command "frob" for "sitrep task"`, "Run 'sitrep task --help'"}},
		{[]string{"show"}, []string{"sitrep show takes ID (1 argument), got 0", "Run 'sitrep show --help'"}},
		{[]string{"assign", "IR-2026-0001", "operations"}, []string{"takes ID ROLE USER (3 arguments), got 2"}},
		{[]string{"declare"}, []string{"sitrep declare needs --title"}},
		{[]string{"declare", "Ransomware", "on", "a", "laptop"}, []string{`takes no arguments, got "Ransomware": put the title in --title`}},
		{[]string{"declare", "--title", "x", "--severity", "bad"}, []string{`invalid argument "bad" for "--severity"`}},
		{[]string{"ls", "--bogus"}, []string{"unknown flag: --bogus"}},
		{[]string{"ls", "-o", "yaml"}, []string{`-o "yaml": use text or json`}},
		{[]string{"task", "done", "IR-2026-0001", "first"}, []string{`task "first" is not a task number`}},
		{[]string{"task", "add", "IR-2026-0001", "title"}, []string{"sitrep task add needs --section"}},
		{[]string{"task", "assign", "IR-2026-0001", "2"}, []string{"takes ID TASK USER"}},
		{[]string{"phase", "IR-2026-0001", "containment"}, []string{"sitrep phase needs --reason"}},
		{[]string{"transfer", "IR-2026-0001", "--to", "bob"}, []string{"sitrep transfer needs --briefing"}},
		{[]string{"transfer", "IR-2026-0001", "--withdraw", "--to", "bob"}, []string{"give --withdraw alone"}},
		{[]string{"update", "IR-2026-0001", "hello"}, []string{"sitrep update needs --audience"}},
		{[]string{"asset", "rm", "IR-2026-0001", "host", "x"}, []string{"sitrep asset rm needs --reason"}},
		{[]string{"edit", "IR-2026-0001"}, []string{"nothing to change"}},
		{[]string{"report", "IR-2026-0001", "--format", "pdf"}, []string{`--format "pdf": use md or json`}},
		{[]string{"report", "edit", "IR-2026-0001"}, []string{"nothing to change"}},
		{[]string{"report", "edit", "IR-2026-0001", "--follow-up", "backups"}, []string{`"ACTION=OWNER"`}},
		{[]string{"report", "edit", "IR-2026-0001", "--follow-up", "backups="}, []string{"both the action and the owner"}},
		{[]string{"report", "edit", "IR-2026-0001", "--narrative", "a", "--narrative-file", "b"}, []string{"not both"}},
		{[]string{"timeline", "IR-2026-0001", "--after", "-1"}, []string{"--after -1"}},
		{[]string{"note", "IR-2026-0001"}, []string{"takes ID and the TEXT"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			errOut := s.fails(t, s.Admin, 2, tt.args...)
			contains(t, "stderr", errOut, tt.want...)
			if n := strings.Count(errOut, "\n"); n > 2 {
				t.Errorf("a usage error of %d lines:\n%s", n, errOut)
			}
		})
	}
}

// TestHelp: help goes to stdout, exits 0, and speaks the ICS vocabulary
// with examples.
func TestHelp(t *testing.T) {
	s := &server{URL: "http://127.0.0.1:1"}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Incident Command System", "Incidents:", "declare", "SITREP_SERVER", "SITREP_TOKEN"}},
		{[]string{}, []string{"Usage:", "declare"}},
		{[]string{"declare", "--help"}, []string{"You become its Command", "Examples:", "--severity"}},
		{[]string{"transfer", "--help"}, []string{"briefing", "accept-command", "--withdraw"}},
		{[]string{"task"}, []string{"add", "done", "cancel", "reopen", "assign", "ls"}},
		{[]string{"update", "--help"}, []string{"I can't talk to people about", "Information Officer"}},
		{[]string{"report", "edit", "--help"}, []string{"--follow-up", "ACTION=OWNER", "--accept-draft"}},
		{[]string{"help", "timeline"}, []string{"--follow", "--after"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := s.run("", "", tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
			}
			contains(t, "help", r.stdout, tt.want...)
		})
	}
}

// TestServerErrors: what goes wrong on the way to the server, or is
// refused by it, reads as one line and exits 1.
func TestServerErrors(t *testing.T) {
	s := startServer(t)
	// A port nothing listens on: one that was free a moment ago.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := &server{URL: "http://" + ln.Addr().String(), Admin: s.Admin}
	ln.Close()
	viewer := s.person(t, "vera", "viewer")

	tests := []struct {
		name  string
		srv   *server
		token string
		args  []string
		want  []string
	}{
		{"no server", down, s.Admin, []string{"ls"}, []string{"reach the sitrep server at " + down.URL, "is `sitrep serve` running there?"}},
		{"bad server URL", &server{URL: "127.0.0.1:8080"}, s.Admin, []string{"ls"}, []string{`server address "127.0.0.1:8080" is not valid`}},
		{"wrong token", s, "sitrep_wrong_token_0123456789abcdef0123", []string{"ls"}, []string{"token is not valid"}},
		{"no token", s, "", []string{"whoami"}, []string{"bearer token", "set --token or SITREP_TOKEN"}},
		{"unknown incident", s, s.Admin, []string{"show", "IR-2026-9999"}, []string{"incident IR-2026-9999 not found"}},
		{"malformed incident ID", s, s.Admin, []string{"show", "IR-1/../../users"}, []string{"not found"}},
		{"invalid severity", s, s.Admin, []string{"declare", "--title", "x", "--severity", "9"}, []string{"severity 9 is out of range"}},
		{"viewer declares", s, viewer, []string{"declare", "--title", "x"}, []string{"viewers cannot change anything"}},
		{"responder adds a user", s, viewer, []string{"user", "add", "mallory"}, []string{"only administrators add users"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errOut := tt.srv.fails(t, tt.token, 1, tt.args...)
			contains(t, "stderr", errOut, tt.want...)
			if strings.Count(errOut, "\n") != 1 {
				t.Errorf("not one line:\n%s", errOut)
			}
		})
	}
}

// TestEnvironment: SITREP_SERVER and SITREP_TOKEN stand in for the flags,
// and the flags win over them.
func TestEnvironment(t *testing.T) {
	s := startServer(t)
	env := map[string]string{"SITREP_SERVER": s.URL, "SITREP_TOKEN": s.Admin}
	c := &cli{lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	if c.serverURL() != s.URL || c.tokenValue() != s.Admin {
		t.Fatalf("from the environment: server %q, token %q", c.serverURL(), c.tokenValue())
	}
	c.server, c.token = "http://example.invalid", "sitrep_flag"
	if c.serverURL() != "http://example.invalid" || c.tokenValue() != "sitrep_flag" {
		t.Errorf("flags do not win: server %q, token %q", c.serverURL(), c.tokenValue())
	}
	c = &cli{lookupEnv: func(string) (string, bool) { return "", false }}
	if c.serverURL() != defaultServer {
		t.Errorf("default server %q", c.serverURL())
	}

	// And through a real run: the process environment.
	t.Setenv("SITREP_SERVER", s.URL)
	t.Setenv("SITREP_TOKEN", s.Admin)
	var out, errOut bytes.Buffer
	if code := runContext(context.Background(), []string{"whoami"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("whoami from the environment: exit %d: %s", code, errOut.String())
	}
	contains(t, "whoami", out.String(), "admin (admin) on "+s.URL)
}

// TestTimelineFollow: --follow prints entries as they are added, until it
// is stopped, and exits 0 then.
func TestTimelineFollow(t *testing.T) {
	s := startServer(t)
	id := idRE.FindString(s.ok(t, s.Admin, "declare", "--title", "Worm in the lab"))
	s.ok(t, s.Admin, "note", id, "before following")

	for _, mode := range []string{"text", "json"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errOut lockedBuffer
			done := make(chan int, 1)
			go func() {
				done <- runContext(ctx, []string{"--server", s.URL, "--token", s.Admin, "-o", mode, "timeline", id, "--after", "1", "--follow", "--poll", "20ms"},
					strings.NewReader(""), &out, &errOut)
			}()
			note := "seen while following in " + mode
			waitFor(t, &out, "before following")
			s.ok(t, s.Admin, "note", id, note)
			waitFor(t, &out, note)
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("follow ended with exit %d: %s", code, errOut.String())
			}
			// Each entry once, from the first after --after 1, in order.
			var seqs []int64
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if mode == "text" {
					var seq int64
					if _, err := fmt.Sscanf(line, "#%d", &seq); err != nil {
						t.Errorf("follow line %q: %v", line, err)
					}
					seqs = append(seqs, seq)
					continue
				}
				var e sitrep.EntryView
				if err := json.Unmarshal([]byte(line), &e); err != nil || e.IncidentID != id {
					t.Errorf("follow -o json line %q: %v", line, err)
				}
				seqs = append(seqs, e.Seq)
			}
			if len(seqs) < 2 || seqs[0] != 2 {
				t.Fatalf("follow printed entries %v, want 2, 3, …", seqs)
			}
			for i := 1; i < len(seqs); i++ {
				if seqs[i] != seqs[i-1]+1 {
					t.Errorf("follow printed entries %v: not each once in order", seqs)
				}
			}
		})
	}
}

func waitFor(t *testing.T, out *lockedBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("%q did not appear; output so far:\n%s", s, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConfidentialIncident: a confidential incident is hidden from people
// not named on it until Command invites them.
func TestConfidentialIncident(t *testing.T) {
	s := startServer(t)
	dana := s.person(t, "dana", "responder")
	out := s.ok(t, s.Admin, "declare", "--title", "Customer data on a paste site", "--kind", "data-breach", "--severity", "1", "--confidential")
	id := idRE.FindString(out)
	contains(t, "declare", out, "[CONFIDENTIAL]", "kind data-breach · severity 1")

	contains(t, "ls by dana", s.ok(t, dana, "ls"), "No open incidents")
	contains(t, "show by dana", s.fails(t, dana, 1, "show", id), "incident "+id+" not found")
	contains(t, "invite", s.ok(t, s.Admin, "invite", id, "dana"), "named dana on the incident")
	contains(t, "show by dana", s.ok(t, dana, "show", id), "[CONFIDENTIAL]")
	contains(t, "checkin by dana", s.ok(t, dana, "checkin", id), "Checked in")
	contains(t, "invite twice", s.fails(t, s.Admin, 1, "invite", id, "dana"), "already named")
}

// TestCheckoutAndLegalHold: people check out or are released; Command
// cannot leave without a transfer; a legal hold forbids removing assets.
func TestCheckoutAndLegalHold(t *testing.T) {
	s := startServer(t)
	erin := s.person(t, "erin", "responder")
	frank := s.person(t, "frank", "responder")
	id := idRE.FindString(s.ok(t, s.Admin, "declare", "--title", "DDoS on the shop"))
	s.ok(t, erin, "checkin", id)
	s.ok(t, frank, "checkin", id)
	s.ok(t, s.Admin, "assign", id, "logistics", "erin")

	contains(t, "Command checks out", s.fails(t, s.Admin, 1, "checkout", id), "transfer command first", "(rule: one-command)")
	contains(t, "frank releases erin", s.fails(t, frank, 1, "checkout", id, "--user", "erin"), "(rule: freelancing)")
	contains(t, "Command releases erin", s.ok(t, s.Admin, "checkout", id, "--user", "erin"), "erin checked out; roles back to Command: logistics")
	contains(t, "frank checks out", s.ok(t, frank, "checkout", id), "frank checked out")
	out := s.ok(t, s.Admin, "show", id)
	contains(t, "show", out, "On scene (1):", "Checked out: erin, frank")
	if !regexp.MustCompile(`(?m)^\s+logistics\s+\(Command\)$`).MatchString(out) {
		t.Errorf("logistics did not go back to Command:\n%s", out)
	}

	s.ok(t, s.Admin, "asset", "add", id, "service", "shop")
	contains(t, "legal hold", s.ok(t, s.Admin, "edit", id, "--legal-hold", "--reason", "counsel asked"), "set legal hold true: counsel asked")
	contains(t, "show", s.ok(t, s.Admin, "show", id), "[LEGAL HOLD]")
	contains(t, "asset rm under hold", s.fails(t, s.Admin, 1, "asset", "rm", id, "service", "shop", "--reason", "typo"), "under legal hold", "(rule: legal-hold)")
	s.ok(t, s.Admin, "edit", id, "--legal-hold=false", "--reason", "case settled")
	s.ok(t, s.Admin, "asset", "rm", id, "service", "shop", "--reason", "typo")

	// Withdrawing an offer of command.
	s.ok(t, frank, "checkin", id)
	s.ok(t, s.Admin, "transfer", id, "--to", "frank", "--briefing", "take over")
	contains(t, "withdraw", s.ok(t, s.Admin, "transfer", id, "--withdraw", "--reason", "frank was called away"), "withdrew the offer of command to frank: frank was called away")
	contains(t, "accept after withdraw", s.fails(t, frank, 1, "accept-command", id), "no transfer of command is pending")
	contains(t, "unassign nothing", s.fails(t, s.Admin, 1, "unassign", id, "logistics"), "Command already holds it")
}

// TestSpanOfControlWarning: more than seven people reporting to Command
// puts a WARNING line on show and on every change.
func TestSpanOfControlWarning(t *testing.T) {
	s := startServer(t)
	id := idRE.FindString(s.ok(t, s.Admin, "declare", "--title", "Everything is on fire"))
	var last string
	for i := range 8 {
		tok := s.person(t, fmt.Sprintf("r%d", i), "responder")
		last = s.ok(t, tok, "checkin", id)
	}
	want := "WARNING: span of control: admin (command) directs 8 people"
	contains(t, "the eighth checkin", last, want)
	out := s.ok(t, s.Admin, "show", id)
	contains(t, "show", out, want, "sitrep assign "+id+" operations USER")
	contains(t, "note", s.ok(t, s.Admin, "note", id, "too many people"), want)
}

// TestNarrativeFile: the narrative comes from a file or standard input,
// within the size limit.
func TestNarrativeFile(t *testing.T) {
	s := startServer(t)
	id := idRE.FindString(s.ok(t, s.Admin, "declare", "--title", "Phishing wave"))
	path := filepath.Join(t.TempDir(), "narrative.md")
	if err := os.WriteFile(path, []byte("It began with one e-mail.\n\nThen forty.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.ok(t, s.Admin, "report", "edit", id, "--narrative-file", path)
	var rep sitrep.Report
	s.okJSON(t, s.Admin, &rep, "report", id)
	if rep.Incident.Narrative != "It began with one e-mail.\n\nThen forty.\n" {
		t.Errorf("narrative %q", rep.Incident.Narrative)
	}
	if r := s.run(s.Admin, "From standard input.", "report", "edit", id, "--narrative-file", "-"); r.code != 0 {
		t.Fatalf("narrative from stdin: exit %d: %s", r.code, r.stderr)
	}
	s.okJSON(t, s.Admin, &rep, "report", id)
	if rep.Incident.Narrative != "From standard input." {
		t.Errorf("narrative %q", rep.Incident.Narrative)
	}

	big := filepath.Join(t.TempDir(), "big.md")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), sitrep.MaxText*5+1), 0o600); err != nil {
		t.Fatal(err)
	}
	contains(t, "too big", s.fails(t, s.Admin, 1, "report", "edit", id, "--narrative-file", big), "longer than the limit of 100000 bytes")
	contains(t, "missing file", s.fails(t, s.Admin, 1, "report", "edit", id, "--narrative-file", filepath.Join(t.TempDir(), "nope.md")), "no such file")
	r := s.run(s.Admin, strings.Repeat("y", sitrep.MaxText+1), "note", id, "-")
	if r.code != 1 || !strings.Contains(r.stderr, "longer than the limit") {
		t.Errorf("an oversize note from stdin: exit %d: %s", r.code, r.stderr)
	}
}

// TestVersion: version needs no server.
func TestVersion(t *testing.T) {
	s := &server{URL: "http://127.0.0.1:1"}
	contains(t, "version", s.ok(t, "", "version"), "sitrep ", "go1.")
	var v struct {
		Version string `json:"version"`
		Go      string `json:"go"`
		OS      string `json:"os"`
		Arch    string `json:"arch"`
		Commit  string `json:"commit"`
	}
	s.okJSON(t, "", &v, "version")
	if v.Version == "" || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("version -o json: %+v", v)
	}
}

// TestVerifyBroken: an entry edited behind the server's back is found,
// named, and makes verify exit 1, in text and in JSON.
func TestVerifyBroken(t *testing.T) {
	s := startServer(t)
	id := idRE.FindString(s.ok(t, s.Admin, "declare", "--title", "Insider deleting logs"))
	s.ok(t, s.Admin, "note", id, "the admin account deleted /var/log/auth.log")
	s.ok(t, s.Admin, "note", id, "HR informed")

	// As someone with write access to the file would.
	db, err := sql.Open("sqlite", "file:"+s.DB+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TRIGGER entries_no_update`); err != nil {
		t.Fatalf("drop the append-only trigger: %v", err)
	}
	if _, err := db.Exec(`UPDATE entries SET data = '{"text":"nothing happened"}' WHERE incident_id = ? AND seq = 2`, id); err != nil {
		t.Fatalf("tamper: %v", err)
	}

	errOut := s.fails(t, s.Admin, 1, "verify", id)
	contains(t, "verify", errOut, "BROKEN: the record of "+id+" does not hold up at entry 2", "entry 2 was altered")
	r := s.run(s.Admin, "", "verify", id, "-o", "json")
	var v sitrep.Verification
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 1 {
		t.Fatalf("verify -o json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if v.OK || v.BrokenSeq != 2 {
		t.Errorf("verify -o json: %+v", v)
	}
}
