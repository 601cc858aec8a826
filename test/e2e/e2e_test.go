// Package e2e runs the real sitrep binary as users do: `sitrep serve` in a
// process of its own, and the client commands against it.
package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep/internal/pgtest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sitrep-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sitrep")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/sitrep")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sitrep:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a `sitrep serve` process.
type server struct {
	t     *testing.T
	cmd   *exec.Cmd
	URL   string
	Token string // the bootstrap token, when this start printed one
	out   *bytes.Buffer
	mu    sync.Mutex
}

var (
	listenRE = regexp.MustCompile(`sitrep listening on (http://\S+)`)
	tokenRE  = regexp.MustCompile(`(?m)^\s+(sitrep_\S+)\s*$`)
)

// startServer runs `sitrep serve --addr 127.0.0.1:0 args…` and waits until it
// says where it listens.
func startServer(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	s := &server{t: t, out: &bytes.Buffer{}}
	s.cmd = exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = &lockedWriter{w: s.out, mu: &s.mu}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sitrep serve: %v", err)
	}
	t.Cleanup(func() { s.stop() })
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		var text strings.Builder
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.out.WriteString(line + "\n")
			s.mu.Unlock()
			text.WriteString(line + "\n")
			if m := tokenRE.FindStringSubmatch(line); m != nil && s.Token == "" {
				s.Token = m[1]
			}
			if m := listenRE.FindStringSubmatch(line); m != nil && !signalled {
				s.URL = m[1]
				signalled = true
				close(found)
			}
		}
		if !signalled {
			close(found)
		}
	}()
	select {
	case <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("sitrep serve did not start; output:\n%s", s.output())
	}
	if s.URL == "" {
		t.Fatalf("sitrep serve exited before listening; output:\n%s", s.output())
	}
	return s
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			s.t.Errorf("sitrep serve did not exit cleanly on SIGTERM: %v\n%s", err, s.output())
		}
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		s.t.Errorf("sitrep serve ignored SIGTERM for 30 s")
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// sitrep runs a client command against srv as the holder of token and
// returns its standard output; it fails the test if the command fails.
func sitrep(t *testing.T, srv, token string, args ...string) string {
	t.Helper()
	out, errOut, err := run(srv, token, args...)
	if err != nil {
		t.Fatalf("sitrep %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// sitrepFails runs a command that must fail and returns its standard error.
func sitrepFails(t *testing.T, srv, token string, args ...string) string {
	t.Helper()
	out, errOut, err := run(srv, token, args...)
	if err == nil {
		t.Fatalf("sitrep %s succeeded, want a refusal; stdout:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

func run(srv, token string, args ...string) (string, string, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "SITREP_SERVER="+srv, "SITREP_TOKEN="+token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func jsonOf(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
}

type incident struct {
	ID       string `json:"id"`
	Command  string `json:"command"`
	Seq      int64  `json:"seq"`
	Phase    string `json:"phase"`
	Warnings []struct {
		Message string `json:"message"`
	} `json:"warnings"`
}

// TestFirstStartAndRestart: the first start prints the administrator's token
// once; a restart on the same file keeps everything and prints none.
func TestFirstStartAndRestart(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "sitrep.db")
	s := startServer(t, nil, "--db", db)
	if s.Token == "" {
		t.Fatalf("first start printed no token:\n%s", s.output())
	}
	out := sitrep(t, s.URL, s.Token, "declare", "--title", "Ransomware on FIN-LAPTOP-7", "--kind", "malware", "--severity", "2")
	id := regexp.MustCompile(`IR-\d{4}-\d{4}`).FindString(out)
	if id == "" {
		t.Fatalf("declare printed no incident ID:\n%s", out)
	}
	sitrep(t, s.URL, s.Token, "note", id, "EDR isolated the laptop")
	s.stop()

	s2 := startServer(t, nil, "--db", db)
	if s2.Token != "" {
		t.Errorf("a restart printed a new bootstrap token:\n%s", s2.output())
	}
	var inc incident
	jsonOf(t, sitrep(t, s2.URL, s.Token, "show", id, "-o", "json"), &inc)
	if inc.Command != "admin" || inc.Seq != 2 {
		t.Errorf("after restart: command %q, seq %d; want admin, 2", inc.Command, inc.Seq)
	}
	if out := sitrep(t, s2.URL, s.Token, "verify", id); !strings.Contains(strings.ToLower(out), "ok") {
		t.Errorf("verify after restart:\n%s", out)
	}
}

// TestBootstrapTokenFromEnvironment: automation sets the first token.
func TestBootstrapTokenFromEnvironment(t *testing.T) {
	token := "sitrep_automation_" + randomHex(16)
	s := startServer(t, []string{"SITREP_BOOTSTRAP_TOKEN=" + token, "SITREP_DB=sqlite:" + filepath.Join(t.TempDir(), "s.db")})
	if s.Token != token {
		t.Fatalf("bootstrap printed %q, want the token from SITREP_BOOTSTRAP_TOKEN", s.Token)
	}
	if out := sitrep(t, s.URL, token, "whoami"); !strings.Contains(out, "admin") {
		t.Errorf("whoami with the bootstrap token:\n%s", out)
	}
	if errOut := sitrepFails(t, s.URL, "sitrep_wrong_"+randomHex(16), "ls"); !strings.Contains(errOut, "token") {
		t.Errorf("a wrong token's error does not mention the token:\n%s", errOut)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// postgresDB makes a fresh database on the test PostgreSQL server and
// returns its URL, or skips.
func postgresDB(t *testing.T) string { return pgtest.FreshDatabase(t) }

// TestReplicasOnPostgres runs two `sitrep serve` processes on one PostgreSQL
// database, as behind a load balancer, and has responders write to the same
// incident through both at once: the timeline keeps every entry once, in one
// unbroken chain.
func TestReplicasOnPostgres(t *testing.T) {
	db := postgresDB(t)
	token := "sitrep_replicas_" + randomHex(16)
	env := []string{"SITREP_BOOTSTRAP_TOKEN=" + token}
	a := startServer(t, env, "--db", db)
	b := startServer(t, env, "--db", db)
	if a.Token == "" && b.Token == "" {
		t.Fatal("neither replica bootstrapped the administrator")
	}
	var res struct {
		Incident incident `json:"incident"`
	}
	jsonOf(t, sitrep(t, a.URL, token, "declare", "--title", "Worm across the fleet", "-o", "json"), &res)
	id := res.Incident.ID

	const writers, notes = 6, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*notes)
	for w := range writers {
		srv := a.URL
		if w%2 == 1 {
			srv = b.URL
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range notes {
				if _, errOut, err := run(srv, token, "note", id, fmt.Sprintf("writer %d note %d", w, n)); err != nil {
					errs <- fmt.Errorf("writer %d note %d: %v: %s", w, n, err, errOut)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var inc incident
	jsonOf(t, sitrep(t, b.URL, token, "show", id, "-o", "json"), &inc)
	if want := int64(1 + writers*notes); inc.Seq != want {
		t.Errorf("timeline has %d entries, want %d", inc.Seq, want)
	}
	var v struct {
		OK      bool  `json:"ok"`
		Entries int64 `json:"entries"`
	}
	jsonOf(t, sitrep(t, a.URL, token, "verify", id, "-o", "json"), &v)
	if !v.OK || v.Entries != inc.Seq {
		t.Errorf("verify: ok %v, %d entries; want ok and %d", v.OK, v.Entries, inc.Seq)
	}
}

// TestIntakeThroughServer: a source added with the CLI takes alerts at the
// URL it printed, stored and on the triage desk after the server answered,
// and kept across a restart.
func TestIntakeThroughServer(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "sitrep.db")
	s := startServer(t, nil, "--db", db, "--public-url", "http://sitrep.example.test:8080/")
	var src struct {
		URL string `json:"url"`
		Key string `json:"key"`
	}
	jsonOf(t, sitrep(t, s.URL, s.Token, "source", "add", "scanner", "--kind", "generic", "-o", "json"), &src)
	const public = "http://sitrep.example.test:8080/"
	if !strings.HasPrefix(src.URL, public) || src.Key == "" || !strings.Contains(src.URL, src.Key) {
		t.Fatalf("source add: url %q key %q; want the public URL with the key in it", src.URL, src.Key)
	}
	intake := s.URL + "/" + strings.TrimPrefix(src.URL, public)
	for i := 0; i < 3; i++ {
		resp, err := http.Post(intake, "application/json", strings.NewReader(`{"summary":"Port scan from 203.0.113.9","severity":"critical","dedup_key":"scan-203.0.113.9"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s: %s\n%s", intake, resp.Status, body)
		}
	}
	s.stop()
	s2 := startServer(t, nil, "--db", db)
	var desk struct {
		Alerts []struct {
			Summary string `json:"summary"`
			Count   int64  `json:"count"`
			Triage  string `json:"triage"`
		} `json:"alerts"`
	}
	jsonOf(t, sitrep(t, s2.URL, s.Token, "alert", "ls", "-o", "json"), &desk)
	alerts := desk.Alerts
	if len(alerts) != 1 || alerts[0].Count != 3 || alerts[0].Triage != "pending" || alerts[0].Summary != "Port scan from 203.0.113.9" {
		t.Fatalf("after three posts of one alert and a restart, the triage desk holds %+v; want one pending alert seen 3 times", alerts)
	}
}
