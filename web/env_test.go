package web

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitrep-ir/sitrep"
	"github.com/sitrep-ir/sitrep/password"
	"github.com/sitrep-ir/sitrep/store/sqlite"
)

// cheap hashes keep the tests fast; stored hashes carry their parameters,
// so verification is the real code path.
var cheap = password.Params{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

func cheapHash(pw string) (string, error) { return cheap.Hash(pw) }

// clock is a clock the tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a web UI on a real SQLite file, served on 127.0.0.1.
type env struct {
	t     testing.TB
	svc   *sitrep.Service
	hub   *Hub
	web   *Server
	srv   *httptest.Server
	clock *clock
	admin *sitrep.User
}

type envOption func(*Config)

func withPublicURL(u string) envOption { return func(c *Config) { c.PublicURL = u } }

func withRegistry(r prometheus.Registerer) envOption { return func(c *Config) { c.Registry = r } }

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sitrep.db"), nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	svc := sitrep.NewService(store, nil)
	c := &clock{now: time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)}
	svc.Clock = c
	if _, err := svc.Bootstrap(context.Background(), "admin", ""); err != nil {
		t.Fatal(err)
	}
	hub := NewHub(store, nil, 50*time.Millisecond)
	svc.Appended = hub.Publish
	cfg := Config{Service: svc, Hub: hub}
	for _, o := range opts {
		o(&cfg)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dummy, _ := cheapHash("dummy")
	w.dummyHash = func() string { return dummy }
	srv := httptest.NewServer(w)
	ctx, cancel := context.WithCancel(context.Background())
	go hub.Run(ctx)
	t.Cleanup(func() {
		hub.Close()
		cancel()
		srv.Close()
	})
	admin, err := store.User(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, svc: svc, hub: hub, web: w, srv: srv, clock: c, admin: admin}
	e.setPassword("admin", "admin passphrase")
	return e
}

// user adds a person with a password ("NAME passphrase").
func (e *env) user(name string, role sitrep.OrgRole) *sitrep.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(context.Background(), e.admin, sitrep.User{Name: name, Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	e.setPassword(name, name+" passphrase")
	return u
}

func (e *env) setPassword(name, pw string) {
	e.t.Helper()
	if err := e.svc.SetPassword(context.Background(), e.admin, name, pw, cheapHash); err != nil {
		e.t.Fatal(err)
	}
}

// browser is a client with its own cookies that does not follow redirects.
type browser struct {
	e  *env
	c  *http.Client
	as string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// signedIn returns a browser signed in as name.
func (e *env) signedIn(name string) *browser {
	e.t.Helper()
	b := e.browser()
	r := b.post("/login", url.Values{"name": {name}, "password": {name + " passphrase"}})
	if r.code != http.StatusSeeOther {
		e.t.Fatalf("sign in as %s: %d\n%s", name, r.code, r.body)
	}
	b.as = name
	return b
}

type response struct {
	code   int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) response {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.t.Fatalf("%s %s: read: %v", req.Method, req.URL, err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(path string) response {
	b.e.t.Helper()
	req, err := http.NewRequest("GET", b.e.srv.URL+path, nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as a browser on the page would: same origin.
func (b *browser) post(path string, form url.Values, headers ...string) response {
	b.e.t.Helper()
	req, err := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

// ok requires a page to answer 200 and returns its body.
func (b *browser) ok(path string) string {
	b.e.t.Helper()
	r := b.get(path)
	if r.code != http.StatusOK {
		b.e.t.Fatalf("GET %s as %s: %d\n%s", path, b.as, r.code, r.body)
	}
	return r.body
}

// act posts a form of the incident page and requires the redirect back.
func (b *browser) act(path string, form url.Values) {
	b.e.t.Helper()
	r := b.post(path, form)
	if r.code != http.StatusSeeOther {
		b.e.t.Fatalf("POST %s as %s: %d, want 303\n%s", path, b.as, r.code, r.body)
	}
}

func (e *env) declare(u *sitrep.User, in sitrep.DeclareInput) *sitrep.Incident {
	e.t.Helper()
	inc, _, err := e.svc.Declare(context.Background(), u, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return inc
}

func (e *env) do(u *sitrep.User, id string, cmd sitrep.Command) *sitrep.Incident {
	e.t.Helper()
	inc, _, err := e.svc.Do(context.Background(), u, id, cmd)
	if err != nil {
		e.t.Fatalf("%s by %s: %v", cmd.Action(), u.Name, err)
	}
	return inc
}
