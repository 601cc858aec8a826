package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitrep-ir/sitrep/app"
)

// server is a real sitrep server on a loopback port, on a SQLite file of
// the test's own.
type server struct {
	URL   string
	Admin string // the administrator's token
	DB    string // the SQLite file
}

func startServer(t *testing.T) *server {
	t.Helper()
	s, _ := startApp(t, "")
	return s
}

// startApp starts a server on a fresh SQLite database, with the plans in
// the directory plans (none when it is ""), stopped when the test ends.
func startApp(t *testing.T, plans string) (*server, *app.App) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "sitrep.db")
	a, err := app.New(context.Background(), app.Config{
		Addr:   "127.0.0.1:0",
		DB:     "sqlite:" + db,
		Plans:  plans,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	if a.AdminToken() == "" {
		t.Fatal("a fresh server made no administrator token")
	}
	return &server{URL: a.URL(), Admin: a.AdminToken(), DB: db}, a
}

// result is what one run of the command line did.
type result struct {
	code           int
	stdout, stderr string
}

// sitrepIn runs the command line in-process, with stdin, as the holder of
// token, and returns what it did.
func (s *server) run(token, stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	all := append([]string{"--server", s.URL, "--token", token}, args...)
	code := runContext(context.Background(), all, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// ok runs a command that must succeed and returns its standard output.
func (s *server) ok(t *testing.T, token string, args ...string) string {
	t.Helper()
	r := s.run(token, "", args...)
	if r.code != 0 {
		t.Fatalf("sitrep %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("sitrep %s wrote to stderr on success:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r.stdout
}

// okJSON runs a command with -o json that must succeed and decodes its
// output into v, refusing fields v does not know: the output is the API's
// JSON, which the domain's types describe.
func (s *server) okJSON(t *testing.T, token string, v any, args ...string) {
	t.Helper()
	out := s.ok(t, token, append(args, "-o", "json")...)
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("sitrep %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
	if dec.More() {
		t.Fatalf("sitrep %s -o json printed more than one JSON value:\n%s", strings.Join(args, " "), out)
	}
}

// fails runs a command that must fail with exit code want and returns its
// standard error, which must be the one-line "sitrep: …" message.
func (s *server) fails(t *testing.T, token string, want int, args ...string) string {
	t.Helper()
	r := s.run(token, "", args...)
	if r.code != want {
		t.Fatalf("sitrep %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	checkErrorOutput(t, r.stderr)
	return r.stderr
}

// checkErrorOutput checks that an error reads as the CLI promises: it
// starts "sitrep: " and shows no Go stack.
func checkErrorOutput(t *testing.T, stderr string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "sitrep: ") {
		t.Errorf("stderr does not start with \"sitrep: \":\n%s", stderr)
	}
	for _, bad := range []string{"goroutine ", "panic", ".go:", "Error: "} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr shows %q:\n%s", bad, stderr)
		}
	}
}

// contains fails the test unless s contains every one of want.
func contains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}

// lacks fails the test if s contains any of bad.
func lacks(t *testing.T, what, s string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(s, b) {
			t.Errorf("%s contains %q:\n%s", what, b, s)
		}
	}
}

// person makes a user with the given organisation role and returns their
// token, as an administrator does from the command line.
func (s *server) person(t *testing.T, name, role string) string {
	t.Helper()
	out := s.ok(t, s.Admin, "user", "add", name, "--role", role, "--email", name+"@example.com")
	contains(t, "user add", out, "Added "+name+" ("+role+")")
	var tok struct {
		ID        string    `json:"id"`
		User      string    `json:"user"`
		Label     string    `json:"label"`
		CreatedAt time.Time `json:"created_at"`
		Token     string    `json:"token"`
	}
	s.okJSON(t, s.Admin, &tok, "token", "create", "--user", name, "--label", "test")
	if tok.User != name || !strings.HasPrefix(tok.Token, "sitrep_") {
		t.Fatalf("token create --user %s: %+v", name, tok)
	}
	return tok.Token
}

// lockedBuffer is a buffer that a command writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
